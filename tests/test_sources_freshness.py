"""Freshness: through a webcam that delivers every frame several frames late, autofocus
still finds the focus it finds with no latency, and it is the freshness rule that does it.

The server renders the simulated camera at the lens's current position 50 times a second
and sends each frame 4 frames (80 ms) after rendering it, like a webcam pipeline. The sources
wait SETTLE after each move, which covers that latency with 6 frames to spare, so a loaded
machine does not make the test flaky. The same reader with no settle time takes "the next
frame after the move", which shows the lens where it was a few moves before.
"""
from __future__ import annotations

import pytest
from servers import CameraServer, SimFrames, sim_frames

from octoprint_pifocus.focus import autofocus
from octoprint_pifocus.sim import SimulatedLens, draw_scene
from octoprint_pifocus.sources import MjpegStream, SnapshotSource

FPS = 50
LATENCY = 4  # frames
SETTLE = 0.2  # s: LATENCY / FPS = 0.08 s, plus 6 frames of margin
DOF_PX = 0.75  # blur radius within the depth of field
FOCUS = 640.0
START = 120


@pytest.fixture(scope="module")
def scene():
    return draw_scene(480, 270)


class Audited:
    """A source whose captures are checked against the server's record of each frame: where
    the lens was when the frame was rendered, versus where it is when the frame is returned."""

    def __init__(self, source, frames: SimFrames, lens: SimulatedLens) -> None:
        self.source, self.frames, self.lens = source, frames, lens
        self.log = []  # (lens position at capture, lens position in the frame)

    def capture(self) -> bytes:
        data = self.source.capture()
        self.log.append((self.lens.actual_position, self.frames.origin(data).position))
        return data

    @property
    def stale(self):
        return [entry for entry in self.log if entry[0] != entry[1]]


def search(scene, latency: int, settle: float):
    """Autofocus through an MJPEG stream delivered ``latency`` frames late."""
    frames = sim_frames(scene=scene, start=START, focus=FOCUS, seed=5)
    camera, lens = frames.camera, frames.camera.lens
    with CameraServer(frames, fps=FPS, latency=latency) as server, \
            MjpegStream(server.stream_url, settle=settle, timeout=3) as stream:
        audited = Audited(stream, frames, lens)
        result = autofocus(lens, audited)
    return result, camera.blur_radius(), audited


def test_autofocus_through_a_lagging_stream_finds_the_zero_latency_focus(scene):
    zero, zero_blur, _ = search(scene, latency=0, settle=SETTLE)
    lagged, lagged_blur, audited = search(scene, latency=LATENCY, settle=SETTLE)
    assert zero.found and lagged.found, (zero.message, lagged.message)
    assert zero_blur <= DOF_PX and lagged_blur <= DOF_PX, (zero_blur, lagged_blur)
    blur_rate = 0.05  # px per lens code: SimulatedCamera's default
    assert abs(lagged.position - zero.position) * blur_rate <= DOF_PX, (zero.position, lagged.position)
    assert audited.stale == [], "a frame exposed before its move was returned"
    assert len(audited.log) == lagged.captures


def test_taking_the_next_frame_after_the_move_picks_a_wrong_position(scene):
    naive, naive_blur, audited = search(scene, latency=LATENCY, settle=0)
    stale = len(audited.stale) / len(audited.log)
    assert stale >= 0.75, f"only {stale:.0%} of the frames were stale"
    assert not naive.found or naive_blur > 4 * DOF_PX, (
        f"the naive capture found {naive.position} (blur {naive_blur:.2f} px): not clearly wrong")


def test_snapshots_after_the_settle_time_show_the_new_position(scene):
    frames = sim_frames(scene=scene, start=START, focus=FOCUS, seed=6)
    lens = frames.camera.lens
    with CameraServer(frames, fps=FPS, latency=LATENCY) as server:
        server.wait_published()
        for settle, targets in ((SETTLE, [200, 420, 300, 700]), (0.0, [250, 470, 350, 750])):
            with SnapshotSource(server.snapshot_url, settle=settle) as source:
                audited = Audited(source, frames, lens)
                for target in targets:
                    lens.move_to(target)
                    audited.capture()
            if settle:
                assert audited.stale == [], audited.log
            else:  # each snapshot shows the lens where the previous move left it
                assert len(audited.stale) == len(targets), audited.log
