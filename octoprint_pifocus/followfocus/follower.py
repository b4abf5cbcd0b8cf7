"""When to move the lens as the toolhead moves: often enough to stay sharp, never more.

A print sends thousands of moves a minute; a lens moved after each would wear, flood the
I2C bus or the printer's queue, and gain nothing: the picture stays sharp while the lens is
within its depth of field. So :class:`Follower` moves the lens only when

- the map's value differs from where the lens is by more than ``threshold`` depth-of-field
  widths (a quarter by default, so the lens never drifts to the edge of the sharp band);
- at least ``min_interval`` seconds passed since the last move (a wanted move that comes too
  early is held: :attr:`Decision.due_in` says when to ask again);

and always to a position snapped to the lens's resolution and inside its limits. Leaving the
calibrated range is reported once per excursion, not once per move. The clock is injectable,
so the logic is tested without sleeping.
"""
from __future__ import annotations

import math
import time
from typing import Callable, Mapping, NamedTuple, Optional, Tuple

from .model import FocusMap, FocusMapError

#: Move when the lens is off by more than this share of the depth of field.
DEFAULT_THRESHOLD = 0.25
#: Never move the lens more often than this (seconds).
DEFAULT_MIN_INTERVAL = 0.5

MOVE, HOLD, WAIT, UNKNOWN = "move", "hold", "wait", "unknown"


class Decision(NamedTuple):
    """What to do now. ``action`` is ``move`` (to ``target``), ``hold`` (the lens is close
    enough), ``wait`` (a move is wanted but comes too soon: ask again in ``due_in`` s) or
    ``unknown`` (the toolhead position is not known on a map axis). ``notice`` is a message to
    show once (leaving the calibrated range), else None."""

    action: str
    target: Optional[float] = None
    clamped: bool = False
    due_in: float = 0.0
    notice: Optional[str] = None
    reason: str = ""


class Follower:
    """Decides the lens moves for one device from the toolhead position and the map.

    ``limits`` and ``resolution`` are the lens's; ``dof_width`` is the depth of field in lens
    units (the whole sharp band). Call :meth:`decide` with each new position and the lens's
    current position; a ``move`` answer counts as made (its time starts the interval).
    """

    def __init__(self, focus_map: FocusMap, limits: Tuple[float, float], resolution: float,
                 dof_width: float, threshold: float = DEFAULT_THRESHOLD,
                 min_interval: float = DEFAULT_MIN_INTERVAL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        low, high = float(limits[0]), float(limits[1])
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise ValueError(f"lens limits must be two finite numbers, low < high, not {limits!r}")
        if not (math.isfinite(resolution) and resolution > 0):
            raise ValueError(f"lens resolution must be a positive number, not {resolution!r}")
        if not (math.isfinite(dof_width) and dof_width > 0):
            raise ValueError(f"depth of field must be a positive number of lens units, not {dof_width!r}")
        if not (math.isfinite(threshold) and threshold >= 0):
            raise ValueError(f"threshold must be a share of the depth of field >= 0, not {threshold!r}")
        if not (math.isfinite(min_interval) and min_interval >= 0):
            raise ValueError(f"min_interval must be seconds >= 0, not {min_interval!r}")
        self.map = focus_map
        self.limits = (low, high)
        self.resolution = float(resolution)
        self.dof_width = float(dof_width)
        self.threshold = float(threshold)
        self.min_interval = float(min_interval)
        self._clock = clock
        self._last_move: Optional[float] = None
        self._outside = False
        self.moves = 0

    @property
    def threshold_units(self) -> float:
        """The smallest difference, in lens units, that is worth a move."""
        return self.threshold * self.dof_width

    def snap(self, value: float) -> float:
        """``value`` on the lens's resolution grid (counted from the low limit), inside the limits."""
        low, high = self.limits
        steps = round((min(max(value, low), high) - low) / self.resolution)
        snapped = low + steps * self.resolution
        if snapped > high + 1e-9 * self.resolution:  # the grid's last step may stop short of high
            snapped -= self.resolution
        # Round away float dust (0.1 * 3 = 0.30000000000000004) at the resolution's decimals.
        decimals = max(0, -int(math.floor(math.log10(self.resolution))) + 2)
        return round(min(max(snapped, low), high), decimals)

    def target(self, position: Mapping[str, Optional[float]]) -> Decision:
        """The lens target for an on-demand move (``@PIFOCUS MAP``): snapped, inside the
        limits, with the clamp notice every time; the rate limit and its state are untouched."""
        try:
            evaluation = self.map.evaluate(position)
        except FocusMapError as error:
            return Decision(UNKNOWN, reason=str(error))
        notice = _outside_notice(evaluation.clamped_axes) if evaluation.clamped else None
        return Decision(MOVE, self.snap(evaluation.value), evaluation.clamped, notice=notice,
                        reason="asked for the map's value")

    def decide(self, position: Mapping[str, Optional[float]], lens_position: Optional[float]) -> Decision:
        """The decision for the toolhead at ``position`` with the lens at ``lens_position``
        (None when not known: then any target is a move)."""
        try:
            evaluation = self.map.evaluate(position)
        except FocusMapError as error:
            return Decision(UNKNOWN, reason=str(error))
        notice = None
        if evaluation.clamped and not self._outside:
            notice = _outside_notice(evaluation.clamped_axes)
        self._outside = evaluation.clamped
        target = self.snap(evaluation.value)
        if lens_position is not None:
            off = abs(target - float(lens_position))
            if off < self.resolution * 0.5 or off <= self.threshold_units:
                return Decision(HOLD, target, evaluation.clamped, notice=notice,
                                reason=f"the lens is {off:g} from the map's value, within the threshold")
        now = self._clock()
        if self._last_move is not None:
            wait = self._last_move + self.min_interval - now
            if wait > 1e-9:  # a timer that fires on the dot is not early
                return Decision(WAIT, target, evaluation.clamped, due_in=wait, notice=notice,
                                reason=f"the last move was less than {self.min_interval:g} s ago")
        self._last_move = now
        self.moves += 1
        return Decision(MOVE, target, evaluation.clamped, notice=notice, reason="the map's value moved")


def _outside_notice(axes) -> str:
    names = " and ".join(axis.upper() for axis in axes)
    return (f"The toolhead is outside the focus map's calibrated range in {names}: the lens "
            "stays at the nearest calibrated value until it comes back.")
