"""Cost of the toolhead's sent hook: what PiFocus adds to every line OctoPrint sends.

OctoPrint calls ``octoprint.comm.protocol.gcode.sent`` on its communication thread for every
line of a print; :meth:`~octoprint_pifocus.plugin.toolhead.Toolhead.on_sent` feeds the
tracker and the motion timeline there. This replays a slicer-like print (bench/follow.py's)
through it and reports the mean and the 99th percentile per line, for all lines and for moves
only, with the lines sent at the printer's pace and back to back. Target: well under 50 µs
per line.

Run: ``python bench/toolhead.py [--layers 100]``.
"""
from __future__ import annotations

import argparse
import statistics
import time

import common  # noqa: F401  (puts the repository on sys.path)
from follow import print_gcode

from octoprint_pifocus.followfocus import MotionTimeline, ToolheadTracker
from octoprint_pifocus.plugin.toolhead import Toolhead


class PrinterClock:
    """The clock the toolhead reads: lines sent back to back (``pace`` 0: every line finds the
    estimate behind and pulls it back, the worst case) or as a printer takes them (each move's
    duration by its feed rate)."""

    def __init__(self, pace: float) -> None:
        self.pace = pace
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def measure(lines, pace: float, rounds: int = 5):
    per_line = []
    durations = [0.0] * len(lines)
    if pace:
        tracker, timeline = ToolheadTracker(), MotionTimeline()
        for i, line in enumerate(lines):
            before = tracker.position
            if tracker.feed(line):
                after = tracker.position
                if all(before[a] is not None for a in "xyz"):
                    distance = sum((after[a] - before[a]) ** 2 for a in "xyz") ** 0.5
                    durations[i] = timeline.duration(distance, tracker.feedrate) * pace
    cpu = time.process_time()
    for _ in range(rounds):
        clock = PrinterClock(pace)
        head = Toolhead(clock=clock)
        connection = object()
        for line, duration in zip(lines, durations):
            start = time.perf_counter()
            head.on_sent(line, connection)
            per_line.append((line, (time.perf_counter() - start) * 1e6))
            clock.t += duration
    cpu = (time.process_time() - cpu) / (rounds * len(lines)) * 1e6
    return per_line, cpu


def report(name, samples):
    values = sorted(samples)
    p99 = values[int(len(values) * 0.99)]
    print(f"{name:<12} {len(values):>8} lines  mean {statistics.fmean(values):6.1f} µs  "
          f"median {statistics.median(values):6.1f} µs  p99 {p99:6.1f} µs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=100)
    args = parser.parse_args()
    lines = print_gcode(args.layers)
    # Slicers put M-codes and comments between the moves; a print mixes both.
    lines = [line for move in lines for line in (move, "M106 S255" if "LAYER" in move else None) if line]
    for name, pace in (("at the printer's pace", 1.0), ("back to back (worst case)", 0.0)):
        samples, cpu = measure(lines, pace)
        print(f"{name}: {cpu:.1f} µs of CPU per line, with the timing itself (a shared machine's "
              "wall times below include waits for the CPU)")
        report("all lines", [us for _, us in samples])
        report("moves", [us for line, us in samples if line.startswith(("G0", "G1"))])
        report("other", [us for line, us in samples if not line.startswith(("G0", "G1"))])


if __name__ == "__main__":
    main()
