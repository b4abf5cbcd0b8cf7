"""Cost of the toolhead's sent hook: what PiFocus adds to every line OctoPrint sends.

OctoPrint calls ``octoprint.comm.protocol.gcode.sent`` on its communication thread for every
line of a print; :meth:`~octoprint_pifocus.plugin.toolhead.Toolhead.on_sent` feeds the
tracker and the motion timeline there. This replays a slicer-like print (bench/follow.py's)
through it and reports the mean and the 99th percentile per line, for all lines and for moves
only. Target: well under 50 µs per line.

Run: ``python bench/toolhead.py [--layers 100]``.
"""
from __future__ import annotations

import argparse
import statistics
import time

import common  # noqa: F401  (puts the repository on sys.path)
from follow import print_gcode

from octoprint_pifocus.plugin.toolhead import Toolhead


def measure(lines, rounds: int = 5):
    per_line = []
    for _ in range(rounds):
        head = Toolhead()
        connection = object()
        for line in lines:
            start = time.perf_counter()
            head.on_sent(line, connection)
            per_line.append((line, (time.perf_counter() - start) * 1e6))
    return per_line


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
    samples = measure(lines)
    report("all lines", [us for _, us in samples])
    report("moves", [us for line, us in samples if line.startswith(("G0", "G1"))])
    report("other", [us for line, us in samples if not line.startswith(("G0", "G1"))])


if __name__ == "__main__":
    main()
