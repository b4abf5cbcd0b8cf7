"""``pifocus lens probe|set|nudge``: find and drive focus hardware over ssh, without OctoPrint.

``probe`` lists what this machine has (I2C buses, V4L2 nodes with ``focus_absolute``,
camera-streamer); ``set`` and ``nudge`` move one lens, chosen with ``--driver`` and that
driver's options. :func:`add_lens_options` and :func:`open_lens_from_args` are shared with
any other command that needs a lens (an autofocus command, for one).
"""
from __future__ import annotations

import argparse
import math
from contextlib import closing
from typing import Any, Dict, List

from ..lenses import CHIPS, DEFAULT_ADDRESS, DEFAULT_URL, nudge_target, open_lens, probe_all
from ..lenses.base import describe, format_number, units_label
from ..lenses.i2c_vcm import check_bus, parse_address
from ..redact import mask_url
from ..sources.base import TIMEOUT_MAX
from .options import number

#: The drivers a command line can open on its own (printer-z needs OctoPrint's printer).
CLI_DRIVERS = ("i2c", "v4l2", "camera-streamer", "simulated")
#: Which driver each driver-specific option belongs to.
OPTION_DRIVERS = {"bus": ("i2c",), "address": ("i2c",), "chip": ("i2c",), "force": ("i2c",),
                  "device": ("v4l2", "camera-streamer"), "url": ("camera-streamer",)}


def _address(text: str) -> int:
    try:
        return parse_address(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _bus(text: str) -> int:
    try:
        return check_bus(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_lens_options(parser: argparse.ArgumentParser) -> None:
    """``--driver`` and every driver's options."""
    parser.add_argument("--driver", required=True, choices=CLI_DRIVERS,
                        help="which focus hardware to drive")
    group = parser.add_argument_group("i2c driver (voice-coil chip)")
    group.add_argument("--bus", type=_bus, default=None,
                       help="I2C bus number, e.g. 10 (default: the first that answers, in the order 10, 0, 11, 1, 22)")
    group.add_argument("--address", type=_address, default=None,
                       help=f"7-bit I2C address (default 0x{DEFAULT_ADDRESS:02X})")
    group.add_argument("--chip", choices=sorted(CHIPS), default=None,
                       help="lens driver chip (default dw9714, the Arducam one; Camera Module 3: dw9817)")
    group.add_argument("--force", action="store_true", default=None,
                       help="use the address although a kernel driver claimed it (races libcamera)")
    group = parser.add_argument_group("v4l2 and camera-streamer drivers")
    group.add_argument("--device", default=None,
                       help="v4l2: the node, /dev/videoN or /dev/v4l-subdevN or a link to one (default: the "
                            "first with focus_absolute); "
                            "camera-streamer: the device name in /option (default CAMERA)")
    group.add_argument("--url", default=None, help=f"camera-streamer base URL (default {DEFAULT_URL})")
    _add_dev_dir(parser)


def _add_dev_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dev-dir", default="/dev", help=argparse.SUPPRESS)


def open_lens_from_args(args: argparse.Namespace):
    """The lens ``args`` describe; an option given for another driver is an error, not ignored."""
    options: Dict[str, Any] = {}
    for option, drivers in OPTION_DRIVERS.items():
        value = getattr(args, option, None)
        if value is None:
            continue
        if args.driver not in drivers:
            raise ValueError(f"--{option} is an option of the {' and '.join(drivers)} driver, "
                             f"not of {args.driver}")
        options[option] = value
    if args.driver in ("i2c", "v4l2"):
        options["dev_dir"] = args.dev_dir
    return open_lens(args.driver, **options)


def add_parser(sub) -> None:
    parser = sub.add_parser("lens", help="find focus hardware and move a lens",
                            description="Find the focus hardware on this machine and move a lens "
                                        "by hand: I2C voice-coil chips, V4L2 focus_absolute, "
                                        "camera-streamer.")
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True

    probe = actions.add_parser("probe", help="list every focus device found on this machine")
    probe.add_argument("--address", type=_address, default=DEFAULT_ADDRESS,
                       help=f"I2C address to look for (default 0x{DEFAULT_ADDRESS:02X})")
    probe.add_argument("--chip", choices=sorted(CHIPS), default="dw9714",
                       help="I2C chip assumed when reading a position (default dw9714)")
    probe.add_argument("--url", default=DEFAULT_URL, help=f"camera-streamer base URL (default {DEFAULT_URL})")
    probe.add_argument("--timeout", type=number("--timeout", high=TIMEOUT_MAX, above=0), default=0.5,
                       help="seconds to wait for camera-streamer (default 0.5)")
    _add_dev_dir(probe)
    probe.set_defaults(func=run_probe)

    move = actions.add_parser("set", help="move the lens to VALUE",
                              description="Move the lens to VALUE, in the driver's units (I2C and "
                                          "V4L2: codes; camera-streamer: dioptres). Out of range "
                                          "is refused.")
    move.add_argument("value", metavar="VALUE", help="the position")
    add_lens_options(move)
    move.set_defaults(func=run_set)

    nudge = actions.add_parser("nudge", help="move the lens by DELTA",
                               description="Move the lens by DELTA from where it is; a nudge past "
                                           "an end stops at the end unless --no-clamp.")
    nudge.add_argument("delta", metavar="DELTA", help="how far, e.g. 10 or -0.25")
    nudge.add_argument("--no-clamp", dest="clamp", action="store_false",
                       help="refuse a nudge past an end instead of stopping at it")
    add_lens_options(nudge)
    nudge.set_defaults(func=run_nudge)


def _number(text: str, what: str):
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{what} must be a number, e.g. 512 or 2.5; got {text!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number, e.g. 512 or 2.5; got {text!r}")
    return int(value) if value.is_integer() and "." not in text and "e" not in text.lower() else value


def run_set(args: argparse.Namespace) -> int:
    value = _number(args.value, "VALUE")
    with closing(open_lens_from_args(args)) as lens:
        before = lens.position if getattr(lens, "position_known", True) else None
        lens.move_to(value)
        _report(lens, before, "")
    return 0


def run_nudge(args: argparse.Namespace) -> int:
    delta = _number(args.delta, "DELTA")
    with closing(open_lens_from_args(args)) as lens:
        before = lens.position
        target, clamped = nudge_target(lens, delta, args.clamp)
        lens.move_to(target)
        _report(lens, before, " (stopped at the end of the range)" if clamped else "")
    return 0


def _report(lens, before, note: str) -> None:
    was = f"{format_number(before)} -> " if before is not None else ""
    print(f"{describe(lens, with_range=True)}: {was}{format_number(lens.position)}{note}")


def run_probe(args: argparse.Namespace) -> int:
    entries = probe_all(dev_dir=args.dev_dir, url=args.url, timeout=args.timeout,
                        address=args.address, chip=args.chip)
    found = [e for e in entries if e["found"]]
    others = [e for e in entries if not e["found"] and e["driver"] != "camera-streamer"]
    if not found and not others:
        print(f"No focus devices found: no I2C buses or V4L2 nodes in {args.dev_dir}, "
              f"and no camera-streamer at {mask_url(args.url)}.")
        return 0
    if found:
        print("Focus devices:")
        for line in _lines(found):
            print(f"  {line}")
    else:
        print("No focus device answered.")
    if others:
        print("Also looked at:")
        for entry in others:
            print(f"  {entry['driver']:<15} {entry['device']}: {entry['message']}")
    return 0


def _lines(entries: List[Dict[str, Any]]) -> List[str]:
    lines = []
    for e in entries:
        where = e["device"] + (f" at 0x{e['address']:02X}" if e.get("address") is not None else "")
        chip = (e.get("chip") or "?") + (" (assumed: --chip to change)" if e.get("chip_assumed") else "")
        span = ""
        if e.get("limits"):
            low, high = e["limits"]
            span = f"range {format_number(low)}..{format_number(high)} {units_label(e.get('units') or '')}".rstrip()
        current = "current " + (format_number(e["position"]) if e.get("position") is not None else "unknown")
        lines.append(f"{e['driver']:<15} {where}  {chip}  {span}  {current}"
                     + (f"  ({e['message']})" if e.get("message") else ""))
    return lines
