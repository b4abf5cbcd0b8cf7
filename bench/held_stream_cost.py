"""What holding a stream open costs: the CPU of PiFocus's reader thread while it reads.

A device keeps its stream open ``camera.keep_open`` seconds after an autofocus or a look of
the drift watch (the whole print long, when the watch looks more often than that). All
that time the reader thread receives every frame and finds its JPEG markers; it decodes
none. This measures that thread alone (its own CPU time, from /proc/self/task/<tid>/schedstat,
so the camera server in the same process is not counted), for real photographs
(tests/data/stacks, the PCB stack) re-encoded at 640x480 and 1280x720, quality 80, served at
30 fps by the tests' camera server on 127.0.0.1.

Reported per size: the frame size, the reader's share of one core, its CPU per frame, and,
as the baseline measured in the same process, the ratio to decoding that frame
(``cv2.imdecode``, what a consumer of every frame pays). Run:
``python bench/held_stream_cost.py [--seconds 10]``
"""
from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from typing import List

import cv2
import numpy as np

from common import ROOT, STACKS, interleaved_ms

sys.path.insert(0, str(ROOT / "tests"))

from servers.camera_server import CameraServer  # noqa: E402

from octoprint_pifocus.sources.mjpeg import MjpegStream  # noqa: E402

SIZES = ((640, 480), (1280, 720))
FPS = 30


def frames(width: int, height: int) -> List[bytes]:
    """Four JPEGs of the PCB stack at this size, so the stream is not one frame repeated."""
    paths = sorted((STACKS / "focus-stack_depthmap").glob("pcb_*.JPG"))[:4]
    out = []
    for path in paths:
        image = cv2.resize(cv2.imread(str(path)), (width, height), interpolation=cv2.INTER_AREA)
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])
        assert ok
        out.append(data.tobytes())
    return out


def thread_cpu(native_id: int) -> float:
    """CPU seconds the thread ``native_id`` of this process ran so far (the scheduler's own
    count, in nanoseconds: /proc/<pid>/task/<tid>/schedstat)."""
    with open(f"/proc/self/task/{native_id}/schedstat") as handle:
        return int(handle.read().split()[0]) / 1e9


def reader_id(stream: MjpegStream) -> int:
    name = f"pifocus-mjpeg {stream.endpoint.url}"
    for thread in threading.enumerate():
        if thread.name == name and thread.native_id is not None:
            return thread.native_id
    raise RuntimeError("the reader thread is not running")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores; {FPS} fps; {args.seconds:g} s per size", flush=True)
    print("| size | frame | reader CPU, share of one core | per frame | decoding the frame | reading / decoding |")
    print("|---|---|---|---|---|---|")
    for width, height in SIZES:
        jpegs = frames(width, height)
        turn = iter(range(10 ** 9))
        with CameraServer(lambda: jpegs[next(turn) % len(jpegs)], fps=FPS) as server:
            stream = MjpegStream(server.stream_url, settle=0.0)
            try:
                stream.wait_frame(time.monotonic(), timeout=10)
                time.sleep(1.0)
                tid = reader_id(stream)
                cpu0, wall0, seq0 = thread_cpu(tid), time.monotonic(), stream.frames_received
                time.sleep(args.seconds)
                cpu, wall, count = thread_cpu(tid) - cpu0, time.monotonic() - wall0, stream.frames_received - seq0
            finally:
                stream.close()
        array = np.frombuffer(jpegs[0], np.uint8)
        decode_ms = interleaved_ms({"decode": lambda: cv2.imdecode(array, cv2.IMREAD_COLOR)})["decode"]
        per_frame_ms = cpu / max(1, count) * 1000
        print(f"| {width}x{height} | {len(jpegs[0]) / 1024:.0f} KB | {100 * cpu / wall:.1f}% "
              f"| {per_frame_ms:.2f} ms | {decode_ms:.2f} ms | {per_frame_ms / decode_ms:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
