"""Printing an autofocus as it runs, shared by ``demo`` and ``autofocus``."""
from __future__ import annotations

import json
import sys
from typing import TextIO

from ..focus import AutofocusResult


class ProgressPrinter:
    """A ``progress(fraction, sample)`` callback that prints one line per frame."""

    def __init__(self, out: TextIO = sys.stdout) -> None:
        self.out = out
        self.frames = 0
        self.best = 0.0

    def header(self) -> None:
        print(f"{'frame':>5}  {'phase':<7} {'position':>9}  {'score':>9}", file=self.out)

    def __call__(self, fraction: float, sample) -> None:
        self.frames += 1
        mark = "  best so far" if sample.score > self.best else ""
        self.best = max(self.best, sample.score)
        print(f"{self.frames:>5}  {sample.phase:<7} {sample.position:>9}  {sample.score:>9.4g}"
              f"  {int(fraction * 100):>3}%{mark}", file=self.out, flush=True)


def print_result(result: AutofocusResult, units: str = "", as_json: bool = False,
                 out: TextIO = sys.stdout) -> int:
    """Print the outcome; returns the exit code (0 when focus was found)."""
    if as_json:
        print(json.dumps(result.to_dict()), file=out)
    elif result.found:
        unit = f" {units}" if units else ""
        print(f"\nIn focus at {result.position}{unit} after {result.captures} frames "
              f"in {result.duration:.2f} s; score {result.score:.4g}.", file=out)
    else:
        print(f"\nNo focus: {result.message}", file=out)
    return 0 if result.found else 1
