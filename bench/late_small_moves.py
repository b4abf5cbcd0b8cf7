"""The case trust cannot time: small moves that show late (README, "Through a real streamer").

A chain whose delay grows for the small moves alone, after far moves that confirmed a trusted
measurement, is not something a real streamer does, and no timing rule catches it reliably:
the late change turns up in a later move's frames at a plausible delay. This counts how often
it gets through anyway: on the 640x480 30 fps copy rig (ffmpeg), the delay measured without
lag (trusted, 8 moves), then autofocus runs where every move shorter than a tenth of the range
shows ``lag`` seconds late. A run counts as *through* when it ended found=True on a frame the
rig rendered before the move it was taken after; the rest were caught (re-run or failed naming
the delay) or never took a stale frame.

Run: ``python bench/late_small_moves.py [--runs 5] [--lags 0.05,0.1,...]``
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import List

from common import ROOT

sys.path.insert(0, str(ROOT / "tests"))

from servers.ffmpeg_stream import FfmpegStream, Pipeline  # noqa: E402

from octoprint_pifocus.focus import FrameScorer  # noqa: E402
from octoprint_pifocus.focus.pipeline import autofocus_fresh, measure_delay  # noqa: E402
from octoprint_pifocus.focus.search import run_autofocus  # noqa: E402
from octoprint_pifocus.sim import SimulatedCamera, draw_scene  # noqa: E402
from octoprint_pifocus.sources.mjpeg import MjpegStream  # noqa: E402
from streamer import Checked, TimedLens  # noqa: E402

SIZE = (640, 480)


class SmallLate:
    """The rig's ``lag``: off for the delay test, then ``extra`` for every small move."""

    def __init__(self, far: float) -> None:
        self.extra, self.far = 0.0, far

    def __call__(self, before: float, after: float) -> float:
        return self.extra if abs(after - before) < self.far else 0.0


def through(lag: float, runs: int, focus_positions: List[float]) -> int:
    lens = TimedLens(start=150)
    camera = SimulatedCamera(draw_scene(*SIZE), lens, 620.0, blur_rate=0.05, noise=3)
    late = SmallLate(far=102.0)
    got_through = 0
    with FfmpegStream(camera, Pipeline(30.0, SIZE, "copy")) as rig:
        rig.lag = late
        stream = MjpegStream(rig.url, settle=0.0)
        try:
            stream.wait_frame(time.monotonic(), timeout=10)
            time.sleep(0.5)
            timing = measure_delay(lens, stream)
            for i in range(runs):
                camera.focus_position = focus_positions[i % len(focus_positions)]
                late.extra = 0.0
                lens.move_to(150)
                time.sleep(0.5)
                late.extra = lag
                attempts: List[Checked] = []

                def run(lens_, camera_, scorer, **options):
                    attempts.append(Checked(camera_, rig, lens))
                    return run_autofocus(lens_, attempts[-1], scorer, **options)

                result, _ = autofocus_fresh(lens, stream, FrameScorer(), run, settle=timing.settle,
                                            floor=timing.settle, trusted=True)
                got_through += bool(result.found and attempts[-1].stale)
        finally:
            stream.close()
    return got_through


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--lags", default="0.05,0.1,0.15,0.2,0.25,0.3,0.35")
    args = parser.parse_args()
    lags = [float(x) for x in args.lags.split(",")]
    focus = [620.0, 380.0, 800.0, 250.0, 540.0]
    counts = [through(lag, args.runs, focus) for lag in lags]
    print("| small moves late by | " + " | ".join(f"{lag:.2f} s" for lag in lags) + " | all |")
    print("|---" * (len(lags) + 2) + "|")
    print("| found=True on stale frames | " + " | ".join(f"{c}/{args.runs}" for c in counts)
          + f" | {sum(counts)}/{args.runs * len(lags)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
