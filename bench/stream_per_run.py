"""What the plugin's way of getting a stream costs the autofocus, against a stream kept open.

The streamer benchmark (bench/streamer.py) keeps one stream open, because ffmpeg's
``-listen 1`` serves a single connection. The plugin gets its stream from the device's
:class:`~octoprint_pifocus.sources.keeper.StreamKeeper` (plugin/device/camera_slot.py), which
keeps it open ``camera.keep_open`` seconds after a run. Here the camera server of the tests
(tests/servers/camera_server.py, a real HTTP server on 127.0.0.1 serving MJPEG at 30 fps, each
frame published one frame period after it was rendered: about the delay of ffmpeg's stream
copy) serves the simulated camera, and the same cases run three ways, in turn, in one process:

* ``open``: on a stream already open (the engine's API, and the streamer benchmark): the run
  primes on the frames it already has;
* ``keeper``: a lease from a keeper, as the plugin does now: the stream its earlier runs kept
  open (the first run of all connects);
* ``per run``: a new stream opened right before each run and closed after, as the plugin did
  before the keeper (and does with ``camera.keep_open`` 0): the run connects, then primes on
  four new frames.

Reported: the median wall time of each (the connection included), their ratio to ``open``,
and the median of the differences case by case. Run:
``python bench/stream_per_run.py [--cases 12]``
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
from octoprint_pifocus.sources.keeper import StreamKeeper  # noqa: E402
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
    ways = ("open", "keeper", "per run")
    walls = {way: [] for way in ways}
    in_focus = {way: 0 for way in ways}
    primed = {way: [] for way in ways}
    keeper = StreamKeeper(keep=lambda: 30.0)
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
                for way in ways:
                    lens.move_to(case["start"])
                    time.sleep(0.4)
                    started = time.monotonic()
                    if way == "open":
                        stream = kept
                    elif way == "keeper":
                        stream = keeper.lease(server.stream_url, settle=0.0)
                    else:
                        stream = MjpegStream(server.stream_url, settle=0.0)
                    try:
                        result, _ = autofocus_fresh(lens, stream, FrameScorer(), run_autofocus,
                                                    settle=timing.settle, floor=timing.settle, trusted=True,
                                                    shortest=min(timing.samples))
                    finally:
                        if stream is not kept:
                            stream.close()
                    walls[way].append(time.monotonic() - started)
                    in_focus[way] += bool(result.found and camera.blur_radius() <= DOF_BLUR)
                    primed[way].append(result.stale_checks["primed"])
        finally:
            kept.close()
            keeper.close()
    base = statistics.median(walls["open"])
    print("| stream | wall median | ratio to open | in focus | primed on kept frames |\n|---|---|---|---|---|")
    for way in ways:
        median = statistics.median(walls[way])
        print(f"| {way} | {median:.2f} s | {median / base:.2f} | {in_focus[way]}/{len(cases)} "
              f"| {primed[way].count('kept')}/{len(cases)} |")
    for way in ("keeper", "per run"):
        extra = [b - a for a, b in zip(walls["open"], walls[way])]
        print(f"{way} - open, case by case: median {statistics.median(extra) * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
