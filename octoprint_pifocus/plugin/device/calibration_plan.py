"""What a calibration request asks for, checked before anything moves.

A calibration names the axes the focus depends on (one of :data:`~...followfocus.AXIS_SETS`),
2 to :data:`~...followfocus.MAX_POINTS` toolhead positions and the surface to fit. Every
position must lie inside the user's limits before the first move: X and Y (and Z, for a
camera that does not focus with Z) inside OctoPrint's printer profile volume, and nothing in
Z for a device whose lens IS printer Z (its map is a height map over X and Y; the autofocus
moves Z, inside the device's Z window). A bad request is a ``ValueError`` (HTTP 400) whose
message says which point and what to do; nothing has moved by then.
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Tuple

from flask_babel import gettext

from ...errors import PiFocusError
from ...followfocus import AXIS_SETS, MAX_POINTS
from ...followfocus.model import SURFACES
from ...lenses.base import format_number
from ...messages import Message
from ..settings import shown

Bounds = Dict[str, Tuple[float, float]]


class PlanError(PiFocusError, ValueError):
    """A calibration request that cannot be run as asked (HTTP 400); nothing moved."""


class Plan(NamedTuple):
    """A checked calibration request: axes in :data:`AXIS_SETS` order, positions in mm."""

    axes: Tuple[str, ...]
    positions: List[Dict[str, float]]
    surface: str


def profile_bounds(profile: Optional[Mapping[str, Any]]) -> Optional[Bounds]:
    """The printable volume of OctoPrint's printer profile as ``{"x": (low, high), ...}`` in mm.

    A custom bounding box wins (``volume.custom_box``); else the origin decides: ``lowerleft``
    is 0..width, ``center`` is -width/2..width/2 (Z is 0..height either way). None when the
    profile says nothing usable (no printer profile: every move is then refused).
    """
    volume = (profile or {}).get("volume") if isinstance(profile, Mapping) else None
    if not isinstance(volume, Mapping):
        return None
    try:
        width, depth, height = (float(volume[k]) for k in ("width", "depth", "height"))
    except (KeyError, TypeError, ValueError):
        return None
    if volume.get("origin") == "center":
        bounds = {"x": (-width / 2, width / 2), "y": (-depth / 2, depth / 2), "z": (0.0, height)}
    else:
        bounds = {"x": (0.0, width), "y": (0.0, depth), "z": (0.0, height)}
    box = volume.get("custom_box")
    if isinstance(box, Mapping):
        for axis in ("x", "y", "z"):
            try:
                bounds[axis] = (float(box[f"{axis}_min"]), float(box[f"{axis}_max"]))
            except (KeyError, TypeError, ValueError):
                pass
    if not all(math.isfinite(lo) and math.isfinite(hi) and lo < hi for lo, hi in bounds.values()):
        return None
    return bounds


def parse_axes(raw: Any) -> Tuple[str, ...]:
    """``raw`` ("xy", "x,y", ["x", "y"]) as one of :data:`AXIS_SETS`."""
    if isinstance(raw, str):
        names = [c for c in raw.lower() if c in "xyz"] if "," not in raw else [p.strip().lower() for p in raw.split(",")]
    elif isinstance(raw, (list, tuple)) and all(isinstance(a, str) for a in raw):
        names = [a.strip().lower() for a in raw]
    else:
        names = []
    for choice in AXIS_SETS:
        if sorted(choice) == sorted(names):
            return choice
    allowed = "; ".join(", ".join(a.upper() for a in choice) for choice in AXIS_SETS)
    raise ValueError(gettext("'axes' must be one of: %(allowed)s (e.g. [\"x\", \"y\"]), not %(value)s",
                             allowed=allowed, value=str(raw)[:40]))


def parse_plan(data: Mapping[str, Any], printer_z: bool, bounds: Optional[Bounds]) -> Plan:
    """The checked plan of a ``calibrate`` request (see the module docstring).

    ``printer_z``: the device focuses with printer Z (Z may not be an axis, points carry no
    Z); ``bounds``: :func:`profile_bounds`.
    """
    axes = parse_axes(data.get("axes"))
    if printer_z and "z" in axes:
        raise PlanError(Message("calibration.z_is_lens"))
    surface = data.get("surface") or "auto"
    if surface not in SURFACES:
        raise ValueError(gettext("'surface' must be one of %(allowed)s, not %(value)s",
                                 allowed=", ".join(SURFACES), value=str(surface)[:40]))
    raw_points = data.get("points")
    if not isinstance(raw_points, list) or not 2 <= len(raw_points) <= MAX_POINTS:
        raise ValueError(gettext("'points' must be a list of 2 to %(count)d positions in mm "
                                 "(like {\"x\": 100, \"y\": 50}), not %(value)s",
                                 count=MAX_POINTS, value=shown(raw_points)))
    if bounds is None:
        raise PlanError(Message("calibration.position_unknown",
                                error="OctoPrint has no printer profile with a build volume"))
    positions = []
    for index, raw in enumerate(raw_points, start=1):
        if not isinstance(raw, Mapping):
            raise ValueError(gettext("Point %(index)d must be an object like {\"x\": 100, \"y\": 50}, not %(value)s",
                                     index=index, value=shown(raw)))
        position: Dict[str, float] = {}
        for axis in axes:
            value = _number(raw.get(axis), index, axis)
            low, high = bounds[axis]
            if not low <= value <= high:
                raise PlanError(Message("calibration.outside_volume", index=str(index), axis=axis.upper(),
                                        value=format_number(value), low=format_number(low),
                                        high=format_number(high)))
            position[axis] = value
        positions.append(position)
    return Plan(axes, positions, surface)


def _number(value: Any, index: int, axis: str) -> float:
    try:
        if isinstance(value, bool) or value is None:
            raise ValueError
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        number = math.nan
    if not math.isfinite(number):
        raise ValueError(gettext("Point %(index)d needs a finite %(axis)s position in mm, not %(value)s",
                                 index=index, axis=axis.upper(), value=shown(value)))
    return number
