"""Calibration: which toolhead positions to visit, and an autofocus at each.

The plan is the user's choice of points (a few heights, a line, a grid, corners and centre);
:func:`calibrate` visits them through callables, so the same loop runs the printer through
OctoPrint in the plugin and the simulation in the tests and the benchmark. Moving the
toolhead safely (the user's limits, no moves during a print) is the ``go_to`` callable's job.
"""
from __future__ import annotations

import itertools
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from .model import MAX_POINTS, CalibrationPoint, FocusMapError

Position = Dict[str, float]


def grid_points(ranges: Mapping[str, Tuple[float, float]], count: int) -> List[Position]:
    """``count`` evenly spaced positions per axis over ``ranges`` (every combination), in
    serpentine order so the toolhead travels little between points."""
    if not isinstance(count, int) or isinstance(count, bool) or count < 2:
        raise FocusMapError(f"A calibration grid needs at least 2 points per axis, not {count!r:.20}.")
    axes = sorted(ranges)
    if not axes:
        raise FocusMapError("A calibration grid needs at least one axis.")
    total = count ** len(axes)
    if total > MAX_POINTS:
        raise FocusMapError(f"{count} points per axis over {len(axes)} axes make {total} points; "
                            f"a focus map holds at most {MAX_POINTS}.")
    values = {}
    for axis in axes:
        low, high = (float(v) for v in ranges[axis])
        if not low < high:
            raise FocusMapError(f"The {axis.upper()} range of a calibration grid must go from low to high, "
                                f"not {low:g}..{high:g}.")
        values[axis] = [low + (high - low) * i / (count - 1) for i in range(count)]
    result: List[Position] = []
    for index, combo in enumerate(itertools.product(*(values[a] for a in axes[:-1]))):
        last = values[axes[-1]] if index % 2 == 0 else values[axes[-1]][::-1]
        for value in last:
            result.append(dict(zip(axes, combo + (value,))))
    return result


def corners_and_centre(ranges: Mapping[str, Tuple[float, float]]) -> List[Position]:
    """The four corners of an X/Y rectangle and its centre: the least a plane needs, with a
    spare point to check it. Other axes in ``ranges`` are held at the middle of their range."""
    if "x" not in ranges or "y" not in ranges:
        raise FocusMapError("Corners and centre need an X and a Y range.")
    (x0, x1), (y0, y1) = ranges["x"], ranges["y"]
    rest = {a: (float(lo) + float(hi)) / 2 for a, (lo, hi) in ranges.items() if a not in ("x", "y")}
    corners = [(x0, y0), (x1, y0), (x1, y1), (x0, y1), ((x0 + x1) / 2, (y0 + y1) / 2)]
    return [dict(x=float(x), y=float(y), **rest) for x, y in corners]


def calibrate(positions: Sequence[Mapping[str, float]], go_to: Callable[[Mapping[str, float]], None],
              focus: Callable[[], object], progress: Optional[Callable[[int, CalibrationPoint], None]] = None,
              should_cancel: Optional[Callable[[], bool]] = None) -> List[CalibrationPoint]:
    """Visit ``positions``, autofocus at each, and return the points in order.

    ``go_to(position)`` moves the toolhead and returns once it is there (raising stops the
    calibration: the error is the caller's to report); ``focus()`` runs an autofocus and
    returns its :class:`~octoprint_pifocus.focus.AutofocusResult`. A failed autofocus is kept as
    a point with ``ok=False`` (the map leaves it out and the user sees it); a cancelled one, or
    ``should_cancel()``, ends the run with the points so far.
    """
    if len(positions) > MAX_POINTS:
        raise FocusMapError(f"A focus map holds at most {MAX_POINTS} points, not {len(positions)}.")
    points: List[CalibrationPoint] = []
    for index, position in enumerate(positions):
        if should_cancel is not None and should_cancel():
            break
        go_to(position)
        result = focus()
        if getattr(result, "cancelled", False):
            break
        point = CalibrationPoint.from_autofocus(position, result)
        points.append(point)
        if progress is not None:
            progress(index, point)
    return points
