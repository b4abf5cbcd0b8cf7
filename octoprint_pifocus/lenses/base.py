"""What every lens driver shares: argument checks, range refusal, the probe record.

The drivers differ in how they talk to hardware, not in how they treat a position: each
refuses a value outside its limits *before* anything is sent (a VCM or a printer must never
see it), names itself the same way in every message, and reports what it found in the same
dictionary format, so the command line and the plugin can list any mix of devices.
"""
from __future__ import annotations

import math
import numbers
import time
from typing import Any, Dict, Optional, Tuple, Union

from ..errors import MoveRefused
from ..messages import text_of

Number = Union[int, float]


def as_number(value: Any, what: str = "position") -> Number:
    """``value`` as an int or float, or :class:`MoveRefused` saying what was wrong with it.

    A ``bool`` is refused although Python counts it as a number: ``move_to(True)`` is a bug.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise MoveRefused("lens.not_a_number", what=what, value=repr(value))
    if not math.isfinite(value):
        raise MoveRefused("lens.not_finite", what=what, value=repr(value))
    return value if isinstance(value, int) else float(value)


def check_limits(limits: Tuple[Number, Number], what: str = "limits") -> Tuple[Number, Number]:
    """Two finite numbers, low < high; ``ValueError`` otherwise (a configuration mistake)."""
    try:
        low, high = limits
    except (TypeError, ValueError):
        raise ValueError(f"The {what} must be two numbers (low, high); got {limits!r}") from None
    for v in (low, high):
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
            raise ValueError(f"The {what} must be two finite numbers; got {limits!r}")
    if not low < high:
        raise ValueError(f"The {what} must have low < high; got {limits!r}")
    return low, high


def format_number(value: Number) -> str:
    """A position as a person would write it: ``512``, ``2.5``, ``12.35``."""
    if isinstance(value, int):
        return str(value)
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def units_label(units: str) -> str:
    """Units for "0..1023 codes": plural where English wants it, abbreviations as they are."""
    return units + "s" if units and units[-1].isalpha() and len(units) > 2 and not units.endswith("s") else units


def describe(lens: Any, with_range: bool = False) -> str:
    """How messages name ``lens``: where it is ("DW9714 at 0x0C on /dev/i2c-10"), else its name,
    else its kind; ``with_range`` adds "(range 0..1023 codes)". Never a Python repr."""
    text = str(getattr(lens, "where", None) or getattr(lens, "name", None) or type(lens).__name__)
    limits = getattr(lens, "limits", None)
    if with_range and limits:
        low, high = limits
        units = units_label(getattr(lens, "units", "") or "")
        text += f" (range {format_number(low)}..{format_number(high)}{' ' + units if units else ''})"
    return text


def clamp(value: Number, limits: Tuple[Number, Number]) -> Number:
    low, high = limits
    return min(high, max(low, value))


def snap(value: float, resolution: float, origin: float = 0.0) -> float:
    """``value`` on the grid ``origin + k * resolution``, tidied to the resolution's decimals."""
    if resolution <= 0:
        return value
    snapped = origin + round((value - origin) / resolution) * resolution
    decimals = max(0, -int(math.floor(math.log10(resolution))) + 1)
    return round(snapped, decimals)


def probe_entry(driver: str, device: str, *, found: bool, chip: Optional[str] = None,
                limits: Optional[Tuple[Number, Number]] = None, resolution: Optional[Number] = None,
                units: Optional[str] = None, position: Optional[Number] = None,
                message: str = "", **extra: Any) -> Dict[str, Any]:
    """The one dictionary format ``probe()`` and ``probe_all()`` return.

    ``found`` says whether a focus device is there (something answered, a control exists);
    ``message`` says why not, or adds what a user should know. ``position`` is the current
    value where the hardware reports it, else the last commanded one, else ``None``.
    """
    entry: Dict[str, Any] = {
        "driver": driver,
        "device": device,
        "found": bool(found),
        "chip": chip,
        "limits": list(limits) if limits is not None else None,
        "resolution": resolution,
        "units": units,
        "position": position,
        "message": message,
    }
    entry.update(extra)
    return entry


class LensBase:
    """Attributes and checks shared by the drivers; each subclass does the talking.

    Subclasses set ``driver``, ``name``, ``units``, ``limits``, ``resolution`` and
    ``_position``, implement ``move_to``, ``probe`` and ``close``, and describe where they
    are (``where``) for messages.
    """

    driver = "lens"
    name = "lens"
    units = ""
    #: Overshoot for the search's final approach, in lens units; ``None``: the search decides.
    backlash: Optional[Number] = None
    #: False while the driver cannot tell where the lens is (no move yet, no readback).
    position_known = True

    limits: Tuple[Number, Number] = (0, 1)
    resolution: Number = 1
    _position: Optional[Number] = None
    #: When the last move (or re-send) completed, ``time.monotonic()``; None: none since the
    #: driver was made. A camera shows a move a delay later: an autofocus takes frames it
    #: already has only from a settle after this (see :func:`..focus.pipeline.autofocus_fresh`).
    moved_at: Optional[float] = None

    def _moved(self) -> None:
        """Note that a move just completed (see :attr:`moved_at`)."""
        self.moved_at = time.monotonic()

    @property
    def where(self) -> str:
        """Where this lens is, for messages: "DW9714 at 0x0C on /dev/i2c-10"."""
        return self.name

    @property
    def position(self) -> Number:
        """The last commanded position (or the one read from the device at start)."""
        return self._position  # type: ignore[return-value]

    def checked(self, position: Any) -> Number:
        """``position`` if it is a number inside ``limits``, else :class:`MoveRefused`."""
        value = as_number(position)
        low, high = self.limits
        if not low <= value <= high:
            raise MoveRefused("lens.outside_range", position=format_number(value), low=format_number(low),
                              high=format_number(high), units=units_label(self.units), where=text_of(self.where))
        return value

    def close(self) -> None:  # pragma: no cover - overridden where something is held
        """Release the device; the driver cannot be used afterwards."""

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.where} at {self.position!r}>"


def nudge_target(lens: Any, delta: Any, clamp_to_limits: bool = True) -> Tuple[Number, bool]:
    """Where ``lens`` goes when nudged by ``delta``: ``(target, clamped)``.

    With ``clamp_to_limits`` a nudge past an end stops at the end (a person pressing "+"
    at the top wants the top, not an error); without it the move is refused as usual.
    """
    step = as_number(delta, "nudge")
    if not getattr(lens, "position_known", True) or lens.position is None:
        raise MoveRefused("lens.position_unknown", where=text_of(getattr(lens, "where", lens)))
    target = lens.position + step
    if isinstance(lens.position, float) or isinstance(step, float):
        resolution = float(getattr(lens, "resolution", 0) or 0)
        target = snap(target, resolution) if resolution else target
        if isinstance(lens.limits[0], int) and float(target).is_integer():
            target = int(target)
    if clamp_to_limits:
        bounded = clamp(target, lens.limits)
        return bounded, bounded != target
    return target, False
