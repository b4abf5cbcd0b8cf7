"""Argument helpers shared by the sub-commands: ROI and measure options."""
from __future__ import annotations

import argparse
import math
from typing import Callable, Optional

from ..focus.decode import validate_roi
from ..focus.measures import DEFAULT_MEASURE, MEASURES


def parse_roi(text: str):
    """``x,y,w,h`` as fractions, e.g. ``0.25,0.25,0.5,0.5``."""
    try:
        values = [float(v) for v in text.replace(" ", "").split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"ROI must be x,y,w,h as fractions of the frame, e.g. 0.25,0.25,0.5,0.5; got {text!r}"
        ) from None
    try:
        return validate_roi(values)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def number(what: str, low: Optional[float] = None, high: Optional[float] = None,
           above: Optional[float] = None) -> Callable[[str], float]:
    """An argparse type: a finite number in ``low..high`` (``above``: strictly greater).

    ``float()`` takes "inf" and "nan", which would end far from the option that caused them
    (a timestamp overflow, a NaN position); they are refused here with the option's name.
    """
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be a number, e.g. 2.5; got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{what} must be a finite number, e.g. 2.5; got {text!r}")
        if above is not None and not value > above:
            raise argparse.ArgumentTypeError(f"{what} must be more than {above:g}; got {text!r}")
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f"between {low:g} and {high:g}" if low is not None and high is not None else (
                f"at least {low:g}" if low is not None else f"at most {high:g}")
            raise argparse.ArgumentTypeError(f"{what} must be {bounds}; got {text!r}")
        return value

    parse.__name__ = "number"  # argparse names the type in its "invalid ... value" message
    return parse


def add_focus_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--roi", type=parse_roi, default=None, metavar="X,Y,W,H",
                        help="region of interest as fractions of the frame (default: the central half)")
    parser.add_argument("--measure", choices=sorted(MEASURES), default=DEFAULT_MEASURE,
                        help=f"focus measure (default: {DEFAULT_MEASURE})")
