"""What opening the stream for each run costs the autofocus, as the plugin does.

The plugin opens the device's camera for each autofocus (plugin/device/camera_slot.py) and
closes it after; the streamer benchmark (bench/streamer.py) keeps one stream open, because
ffmpeg's ``-listen 1`` serves a single connection. Here the camera server of the tests
(tests/servers/camera_server.py, a real HTTP server on 127.0.0.1 serving MJPEG at 30 fps, each
frame published one frame period after it was rendered: about the delay of ffmpeg's stream copy) serves
the simulated camera, and the same cases run two ways, alternating, in one process:

* ``open``: on a stream already open (the engine's API, and the streamer benchmark): the run
  primes on the frames it already has;
* ``per run``: a new stream opened right before each run and closed after, as the plugin does:
  the run connects, then primes on four new frames.

Reported: the median wall time of each (the connection included), and of their difference
case by case. Run: ``python bench/stream_per_run.py [--cases 12]``
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

from common import ROOT

sys.path.insert(0, str(ROOT / "tests"))

from servers.camera_server import CameraServer  # noqa: E402
from servers.frames import SimFrames  # noqa: E402

from octoprint_pifocus.focus import FrameScorer  # noqa: E402
from octoprint_pifocus.focus.pipeline import autofocus_fresh, measure_delay  # noqa: E402
from octoprint_pifocus.focus.search import run_autofocus  # noqa: E402
from octoprint_pifocus.sim import SimulatedCamera, SimulatedLens, draw_scene  # noqa: E402
from octoprint_pifocus.sources.mjpeg import MjpegStream  # noqa: E402
from streamer import DOF_BLUR, draw_case  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=12)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    cases = [draw_case(rng) for _ in range(args.cases)]
    lens = SimulatedLens(start=512)
    camera = SimulatedCamera(draw_scene(640, 480), lens, 500.0, blur_rate=0.05, noise=3)
    walls = {"open": [], "per run": []}
    in_focus = {"open": 0, "per run": 0}
    with CameraServer(SimFrames(camera, quality=80), fps=30, latency=1) as server:
        kept = MjpegStream(server.stream_url, settle=0.0)
        try:
            kept.wait_frame(time.monotonic(), timeout=10)
            time.sleep(0.5)
            timing = measure_delay(lens, kept)
            print(f"delay {timing.delay * 1000:.0f} ms, settle {timing.settle * 1000:.0f} ms, "
                  f"interval {timing.interval * 1000:.1f} ms", flush=True)
            for case in cases:
                camera.focus_position, camera.blur_rate, camera.noise = case["focus"], case["rate"], case["noise"]
                for way in ("open", "per run"):
                    lens.move_to(case["start"])
                    time.sleep(0.4)
                    started = time.monotonic()
                    stream = kept if way == "open" else MjpegStream(server.stream_url, settle=0.0)
                    try:
                        result, _ = autofocus_fresh(lens, stream, FrameScorer(), run_autofocus,
                                                    settle=timing.settle, floor=timing.settle, trusted=True)
                    finally:
                        if stream is not kept:
                            stream.close()
                    walls[way].append(time.monotonic() - started)
                    in_focus[way] += bool(result.found and camera.blur_radius() <= DOF_BLUR)
        finally:
            kept.close()
    extra = [b - a for a, b in zip(walls["open"], walls["per run"])]
    print("| stream | wall median | in focus |\n|---|---|---|")
    for way in walls:
        print(f"| {way} | {statistics.median(walls[way]):.2f} s | {in_focus[way]}/{len(cases)} |")
    print(f"per run - open, case by case: median {statistics.median(extra) * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
