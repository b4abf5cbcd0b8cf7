"""``pifocus map``: the focus map's lens position for a toolhead position, and the lens moved there.

The command-line side of ``@PIFOCUS MAP`` and the API's ``map_apply``, for scripts and ssh:
the map comes from a file (``--map``, a stored ``focus_map`` as JSON) or, through
``octoprint plugins pifocus:map --focus-device NAME``, from that device's settings; the position
is given (``--at x=100,y=60,z=0.3``: a command line has no printer to follow). With ``--driver``
and its options the lens is moved there (a VCM, V4L2 or camera-streamer lens; printer Z needs
OctoPrint's printer: use ``@PIFOCUS MAP`` or the API). Outside the calibrated range the value
is the nearest calibrated one, and the command says so.
"""
from __future__ import annotations

import argparse
import json
import math
from contextlib import closing
from pathlib import Path
from typing import Dict

from ..followfocus import FocusMap, Follower
from ..lenses.base import describe, format_number
from .lens import add_lens_options, open_lens_from_args


def parse_at(text: str) -> Dict[str, float]:
    """``x=100,y=60,z=0.3`` as ``{"x": 100.0, ...}`` (mm)."""
    position: Dict[str, float] = {}
    for part in text.replace(" ", "").split(","):
        axis, _, value = part.partition("=")
        axis = axis.lower()
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if axis not in ("x", "y", "z") or not math.isfinite(number):
            raise argparse.ArgumentTypeError(f"--at takes x=..,y=..,z=.. in mm, e.g. x=100,y=60,z=0.3; got {text!r}")
        position[axis] = number
    return position


def add_parser(sub) -> None:
    parser = sub.add_parser("map", help="the focus map's lens position for a toolhead position (and move there)",
                            description="Look up a focus map (from calibration) at a toolhead position; with "
                                        "--driver, move that lens there.")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--map", dest="map_file", help="a focus map as JSON (a device's stored focus_map)")
    source.add_argument("--map-json", help=argparse.SUPPRESS)  # what --focus-device passes
    parser.add_argument("--at", type=parse_at, required=True, help="toolhead position, e.g. x=100,y=60,z=0.3 (mm)")
    add_lens_options(parser)
    driver = parser._option_string_actions["--driver"]
    driver.required, driver.help = False, "move this lens to the map's value (without it: only print the value)"
    parser.set_defaults(func=run_map)


def run_map(args: argparse.Namespace) -> int:
    raw = args.map_json if args.map_json is not None else Path(args.map_file).read_text()
    try:
        data = json.loads(raw)
    except ValueError:
        raise ValueError("The focus map is not JSON: give the file a calibration stored (its focus_map).") from None
    focus_map = FocusMap.from_dict(data)
    evaluation = focus_map.evaluate(args.at)
    note = ""
    if evaluation.clamped:
        note = (f" (outside the calibrated range in {' and '.join(a.upper() for a in evaluation.clamped_axes)}: "
                "the nearest calibrated value)")
    if args.driver is None:
        print(f"map value {format_number(round(evaluation.value, 4))}{note}")
        return 0
    with closing(open_lens_from_args(args)) as lens:
        limits = tuple(float(v) for v in lens.limits)
        resolution = float(getattr(lens, "resolution", 0) or 0) or 1e-6
        dof = focus_map.dof_width or (limits[1] - limits[0]) * 0.03
        target = Follower(focus_map, limits, resolution, dof).target(args.at).target
        lens.move_to(target)
        print(f"{describe(lens)}: moved to {format_number(lens.position)}, the map's value{note}")
    return 0
