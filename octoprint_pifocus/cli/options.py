"""Argument helpers shared by the sub-commands: ROI and measure options."""
from __future__ import annotations

import argparse

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


def add_focus_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--roi", type=parse_roi, default=None, metavar="X,Y,W,H",
                        help="region of interest as fractions of the frame (default: the central half)")
    parser.add_argument("--measure", choices=sorted(MEASURES), default=DEFAULT_MEASURE,
                        help=f"focus measure (default: {DEFAULT_MEASURE})")
