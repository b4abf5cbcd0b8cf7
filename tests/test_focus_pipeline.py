"""The camera chain's delay and stale frames, through a REAL ffmpeg serving mpjpeg.

The rig (tests/servers/ffmpeg_stream.py) stamps every frame with its number and remembers
when it was rendered and where the lens was, so each frame a run used is checked against
the last move before it: a frame rendered before that move is stale. Correctness only, no
timings (those are in bench/streamer.py): a measured settle really covers the chain, and an
autofocus never says ``found=True`` on frames that did not follow the lens, even with a
settle far too short for a 5-frame pipeline.
"""
from __future__ import annotations

import re
import time
from typing import List

import numpy as np
import pytest

from octoprint_pifocus.focus import FrameScorer
from octoprint_pifocus.focus import pipeline
from octoprint_pifocus.focus.pipeline import (FAR_FRAMES, FAR_WATCH, FIRST_WATCH, LATE_FRAMES, MARGIN,
                                              PRIME_FRAMES, TRUSTED_FIRST_WATCH, TRUSTED_SAMPLES,
                                              FreshFrames, autofocus_fresh, measure_delay)
from octoprint_pifocus.focus.search import run_autofocus
from octoprint_pifocus.sim import SimulatedCamera, SimulatedLens, draw_scene
from octoprint_pifocus.sources.mjpeg import MjpegStream
from servers.camera_server import CameraServer
from servers.frames import SimFrames
from servers.ffmpeg_stream import FfmpegStream, Pipeline, ffmpeg_path, read_stamp, stamp

SIZE = (640, 480)
COPY_30 = Pipeline(30.0, SIZE, "copy")
#: The 5-frame pipeline of issue 12: re-encoding at 15 fps with 4 threads.
SLOW_15 = Pipeline(15.0, SIZE, "encode", 4)
ENCODE_30 = Pipeline(30.0, SIZE, "encode", 1)
DOF_BLUR = 0.75


@pytest.fixture(scope="module", autouse=True)
def _needs_ffmpeg():
    assert ffmpeg_path(), "ffmpeg is missing: install it with scripts/system-deps.sh test"


class TimedLens(SimulatedLens):
    """The simulated lens, noting when each move began."""

    def __init__(self, **options) -> None:
        super().__init__(**options)
        self.moved_at = 0.0

    def move_to(self, position) -> None:
        # Noted before the move: a frame the rig rendered after it began but showing the
        # position before counts as stale, and none showing the new one does.
        began = time.monotonic()
        super().move_to(position)
        self.moved_at = began


class Rig:
    def __init__(self, pipeline: Pipeline, focus: float = 620.0, start: int = 150) -> None:
        self.lens = TimedLens(start=start)
        self.camera = SimulatedCamera(draw_scene(*SIZE), self.lens, focus, blur_rate=0.05, noise=3)
        self.ffmpeg = FfmpegStream(self.camera, pipeline).start()
        self.stream = MjpegStream(self.ffmpeg.url, settle=0.0)
        self.stream.wait_frame(time.monotonic(), timeout=10)
        time.sleep(0.5)  # the chain fills up with pictures of the lens at rest

    def close(self) -> None:
        self.stream.close()
        self.ffmpeg.stop()

    def attempts(self):
        """A search function for autofocus_fresh that records, per attempt, whether each
        frame it got was rendered after the move before it."""
        log: List[List[bool]] = []

        def run(lens, camera, scorer, **options):
            fresh_flags: List[bool] = []
            log.append(fresh_flags)
            capture = camera.capture

            def checked() -> bytes:
                data = capture()
                origin = self.ffmpeg.origin(data)
                assert origin is not None, "a frame without the rig's stamp"
                fresh_flags.append(origin.shows >= self.lens.moved_at)
                return data

            camera.capture = checked
            return run_autofocus(lens, camera, scorer, **options)

        return run, log


def test_stamp_survives_a_jpeg_round_trip():
    import cv2
    import numpy as np

    image = np.full((96, 400, 3), 128, np.uint8)
    stamp(image, 40_321)
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 60])
    assert read_stamp(data.tobytes()) == 40_321


@pytest.mark.parametrize("pipeline", [COPY_30, SLOW_15], ids=lambda p: p.name)
def test_measured_delay_matches_the_chain(pipeline):
    """The delay measured from the pictures alone matches the rig's ground truth: the first
    frame a client receives that was rendered after the move. (Loose bounds: the machine
    running the tests is shared, and delays jitter under load.)"""
    rig = Rig(pipeline)
    try:
        timing = measure_delay(rig.lens, rig.stream)
        assert rig.lens.position == 150, "the lens ends where it started"
        assert timing.interval == pytest.approx(1 / pipeline.fps, rel=0.5)
        assert timing.settle >= timing.delay + timing.interval
        assert timing.frames == pytest.approx(timing.settle / timing.interval, abs=0.1)
        truth = []
        for target in (300, 900, 200, 800):
            time.sleep(0.3)
            rig.lens.move_to(target)
            moved = time.monotonic()
            frame = rig.stream.wait_frame(moved)
            while rig.ffmpeg.origin(frame.data).shows < rig.lens.moved_at:
                frame = rig.stream.wait_frame(frame.started + 1e-6)
            truth.append(frame.started - moved)
        true_delay = sorted(truth)[len(truth) // 2]
        assert abs(timing.delay - true_delay) <= max(0.5 * true_delay, 2 * timing.interval), (
            f"{pipeline.name}: measured {timing.delay * 1000:.0f} ms, the rig says "
            f"{[round(t * 1000) for t in truth]} ms")
    finally:
        rig.close()


@pytest.mark.parametrize("pipeline", [COPY_30, ENCODE_30, SLOW_15], ids=lambda p: p.name)
def test_autofocus_never_trusts_stale_frames(pipeline):
    """A settle far too short to start from: the run measures the delay on its first large
    move, and when it has used frames that did not follow the lens it runs again; whatever
    it reports found, it found on fresh frames, and in focus."""
    rig = Rig(pipeline)
    try:
        run, attempts = rig.attempts()
        result, timing = autofocus_fresh(rig.lens, rig.stream, FrameScorer(), run, settle=0.02)
        assert timing is not None and timing.delay > 0
        if result.found:
            assert all(attempts[-1]), (
                f"{pipeline.name}: found=True with {attempts[-1].count(False)} stale frames of "
                f"{len(attempts[-1])} in the run it reported")
            assert rig.camera.blur_radius() <= DOF_BLUR
        else:
            assert "did not follow the lens" in result.message
    finally:
        rig.close()


def test_plain_search_on_the_slow_pipeline_uses_stale_frames():
    """What the guard is for: the search reading the 5-frame pipeline with a short fixed
    settle takes frames from before its moves (the rig can tell), so a run that trusts them
    is wrong."""
    rig = Rig(SLOW_15)
    try:
        rig.stream.settle = 0.05
        stale = []
        capture = rig.stream.capture

        def checked() -> bytes:
            data = capture()
            stale.append(rig.ffmpeg.origin(data).shows < rig.lens.moved_at)
            return data

        rig.stream.capture = checked
        run_autofocus(rig.lens, rig.stream, FrameScorer())
        assert sum(stale) >= len(stale) // 2, f"only {sum(stale)} of {len(stale)} frames were stale"
    finally:
        rig.close()


def test_a_manual_settle_too_short_for_the_chain_never_ends_found_on_stale_frames():
    """``manual``: the run keeps the user's settle. On the 5-frame pipeline with 0.05 s it
    sees its frames lag the moves; it re-runs with the delay it saw, and either succeeds on
    fresh frames or fails naming the delay, with the lens back at its start."""
    rig = Rig(SLOW_15)
    try:
        run, attempts = rig.attempts()
        result, timing = autofocus_fresh(rig.lens, rig.stream, FrameScorer(), run, settle=0.05, manual=True)
        assert len(attempts) >= 1
        assert not all(attempts[0]), "the first attempt's settle was too short: some frames were stale"
        assert result.stale_checks["attempt"] == 2, "stale frames in the first attempt cause a second"
        (first,) = result.stale_checks["earlier"]
        assert first and set(first) <= {"early", "late", "second", "ahead"} and all(first.values()), (
            "what made the first attempt re-run is kept")
        if result.found:
            assert all(attempts[-1])
            assert rig.camera.blur_radius() <= DOF_BLUR
        else:
            assert re.search(r"after about \d+ ms", result.message), result.message
            assert rig.lens.position == 150
    finally:
        rig.close()



def test_a_cancel_while_the_retry_waits_ends_the_run_with_the_lens_back():
    """A run that saw stale frames waits its new settle before re-running (its last moves
    must show first); a cancel then ends the wait and the run at once: no second attempt,
    found=False, cancelled, the lens back at its start."""
    rig = Rig(SLOW_15)
    try:
        run, attempts = rig.attempts()
        ended = []

        def first_attempt_then_cancel(lens, camera, scorer, **options):
            try:
                return run(lens, camera, scorer, **options)
            finally:
                ended.append(time.monotonic())

        result, _ = autofocus_fresh(rig.lens, rig.stream, FrameScorer(), first_attempt_then_cancel,
                                    settle=0.05, manual=True, should_cancel=lambda: bool(ended))
        assert not all(attempts[0]), "the first attempt's settle was too short: some frames were stale"
        assert len(attempts) == 1, "the cancel came before the retry"
        assert result.cancelled and not result.found
        assert "cancelled" in result.message
        assert rig.lens.position == 150
    finally:
        rig.close()


class Jitter:
    """A deterministic jitter of the chain's delay, for the rig's ``lag``: in the delay test
    every other move shows ``extra`` seconds late; in the run only the small moves do (the
    far ones, that the run times itself, all show fast)."""

    def __init__(self, extra: float, far: float = 100.0) -> None:
        self.extra, self.far = extra, far
        self.measuring = True
        self.moves = 0

    def __call__(self, before: float, after: float) -> float:
        self.moves += 1
        if self.measuring:
            return self.extra if self.moves % 2 == 0 else 0.0
        return self.extra if abs(after - before) < self.far else 0.0


def test_a_run_whose_far_moves_all_show_fast_still_waits_for_the_slow_ones():
    """The delay jitters by more than its own size: the stored measurement saw moves that
    showed 0.25 s late, the run's own far moves all show fast, its small moves near the peak
    slow. Timing the settle from the run's fast far moves takes frames from before those
    small moves (the old code: found=True on stale frames, or a give-up); the settle from
    the longest measured delay, kept as a floor, ends in focus on fresh frames only. The lag
    is the rig's, on top of ffmpeg's own delay, so the case does not depend on the load."""
    rig = Rig(COPY_30)
    jitter = Jitter(0.25)
    rig.ffmpeg.lag = jitter
    try:
        timing = measure_delay(rig.lens, rig.stream)
        assert timing.upper >= 0.25, f"the delay test saw the slow moves: {timing.samples}"
        assert timing.settle >= timing.upper + timing.interval
        jitter.measuring = False
        time.sleep(0.5)
        run, attempts = rig.attempts()
        result, _ = autofocus_fresh(rig.lens, rig.stream, FrameScorer(), run, settle=timing.settle,
                                    floor=timing.settle)
        assert result.found, result.message
        assert all(attempts[-1]), (
            f"found=True with {attempts[-1].count(False)} stale frames of {len(attempts[-1])}")
        assert rig.camera.blur_radius() <= DOF_BLUR
    finally:
        rig.close()


def test_the_device_keeps_its_stored_measurement_as_the_floor():
    """The plugin's path (plugin/device/timing.autofocus): a device whose delay test saw the
    slow moves starts from that settle and keeps it as the floor through a run whose far moves
    all show fast, and the jittered case of the test above ends in focus; the run's own
    measurement is handed on to be stored."""
    from octoprint_pifocus.plugin import settings as rules
    from octoprint_pifocus.plugin.device import timing as device_timing

    rig = Rig(COPY_30)
    jitter = Jitter(0.25)
    rig.ffmpeg.lag = jitter
    try:
        measured = device_timing.measure(rig.lens, rig.stream, {"roi": None, "measure": None})
        config = rules.check_device_sections({"camera": {"mode": "stream", "settle": 0.02},
                                              "pipeline": measured.to_dict()})
        config.setdefault("roi", None)
        config.setdefault("measure", None)
        assert device_timing.run_timing(config)[:3] == (measured.settle, False, measured.settle)
        jitter.measuring = False
        time.sleep(0.5)
        stored = []
        result = device_timing.autofocus(rig.lens, rig.stream, config, stored.append)
        assert result.found, result.message
        assert result.stale_checks["settle"] >= measured.settle, "the stored settle stayed the floor"
        assert stored and stored[-1]["delay"] > 0
        assert rig.camera.blur_radius() <= DOF_BLUR
    finally:
        rig.close()


def test_the_frame_interval_holds_when_the_streamer_sends_frames_in_bunches():
    """A loaded streamer sends frames in bunches (here three, 10 ms apart plus the render, a
    bunch every three periods of a 30 fps stream): most gaps between frames are short, but the
    stream still carries 30 frames a second. The interval, and so the settle built on it, must
    be the stream's: the median gap of the four primed frames is always a short one."""
    lens = SimulatedLens()
    camera = SimulatedCamera(draw_scene(320, 240), lens, focus_position=500)
    with CameraServer(SimFrames(camera), fps=30) as server:
        server.misbehave(bunch=3, bunch_gap=0.01)
        stream = MjpegStream(server.stream_url)
        try:
            fresh = FreshFrames(stream, lens, FrameScorer())
            fresh.prime()
        finally:
            stream.close()
    assert fresh.interval is not None
    # Four frames span at least one long gap (100 ms less the bunch) and two short ones,
    # more when the producer ran late: over 3 gaps, past 24 ms; never a short gap alone.
    assert fresh.interval >= 0.024, fresh.interval


class Looked:
    """The stream as :class:`FreshFrames` sees it: every frame it was handed, in order (an
    observer around the real MJPEG source, which does all the work)."""

    def __init__(self, stream: MjpegStream) -> None:
        self.stream = stream
        self.frames: list = []

    def wait_frame(self, not_before: float, skip: int = 0, timeout=None):
        frame = self.stream.wait_frame(not_before, skip, timeout)
        self.frames.append(frame)
        return frame


class Kept(Looked):
    """:class:`Looked`, with the frames the source already has (``frames_before``) passed on
    from the real MJPEG source unchanged, so a prime may use them (``frames``: the frames it
    waited for)."""

    def frames_before(self, frame, count: int):
        return self.stream.frames_before(frame, count)


def test_the_prime_uses_the_frames_the_stream_already_has():
    """With the lens at rest, a run starts a frame after it is asked to, not four: the frames
    received right before the first new one time the stream and its noise with it. The
    reference is that new frame, which started after the run began. A retry's prime (not
    ``kept``) still waits for four new frames."""
    lens = SimulatedLens()
    camera = SimulatedCamera(draw_scene(320, 240), lens, focus_position=500)
    with CameraServer(SimFrames(camera), fps=30) as server:
        stream = MjpegStream(server.stream_url)
        try:
            stream.wait_frame(time.monotonic() + 0.3)  # a few frames kept
            kept = Kept(stream)
            fresh = FreshFrames(kept, lens, FrameScorer())
            asked = time.monotonic()
            fresh.prime(kept=True)
            had = stream.frames_before(kept.frames[0], PRIME_FRAMES - 1)
            retry = Kept(stream)
            FreshFrames(retry, lens, FrameScorer()).prime()
        finally:
            stream.close()
    assert len(retry.frames) == PRIME_FRAMES
    assert len(kept.frames) == 1 and kept.frames[0].started >= asked, "one new frame waited for"
    assert all(f.started < asked for f in had), "the others were there before the run asked"
    assert 0.02 <= fresh.interval <= 0.06, fresh.interval  # 30 fps, timed over the kept frames
    reference = pipeline._grey(fresh.scorer, kept.frames[0].data)
    assert all(np.array_equal(a, b) for a, b in zip(fresh._ref, reference))
    assert all(n > 0 for n in fresh.noise), "the noise of four frames, not of one"


def test_the_prime_takes_no_kept_frame_from_before_the_lens_rested():
    """``rested`` (the lens's last move plus a settle) bounds the frames a prime may take from
    those the stream has: with the lens resting long enough it primes on them, with its move
    too recent for three frames after the bound it waits for four new ones."""
    lens = SimulatedLens()
    camera = SimulatedCamera(draw_scene(320, 240), lens, focus_position=500)
    with CameraServer(SimFrames(camera), fps=30) as server:
        stream = MjpegStream(server.stream_url)
        try:
            stream.wait_frame(time.monotonic() + 0.3)
            long_ago, just_now = Kept(stream), Kept(stream)
            rested_long_ago = FreshFrames(long_ago, lens, FrameScorer())
            rested_long_ago.prime(kept=True, rested=time.monotonic() - 1.0)
            rested_just_now = FreshFrames(just_now, lens, FrameScorer())
            bound = time.monotonic() - 0.04  # about one frame at 30 fps
            rested_just_now.prime(kept=True, rested=bound)
        finally:
            stream.close()
    assert (rested_long_ago.primed_on, len(long_ago.frames)) == ("kept", 1)
    assert (rested_just_now.primed_on, len(just_now.frames)) == ("new", PRIME_FRAMES)
    assert all(f.started >= bound for f in just_now.frames)


def test_the_prime_waits_for_new_frames_when_the_ones_it_has_show_a_change():
    """A move just before a run may still be showing in the frames the stream has: their
    change must not be taken for noise (it would hide the run's own moves' changes). On a
    noise-free stream the frames of one position are equal: frames kept from across a move
    make the prime wait for four new ones, and it measures no noise."""
    optics = SimulatedLens(start=100)
    camera = SimulatedCamera(draw_scene(320, 240), optics, focus_position=500, noise=0)
    frames = SimFrames(camera)
    seen_a_change = 0
    with CameraServer(frames, fps=30) as server:
        stream = MjpegStream(server.stream_url)
        try:
            for attempt in range(6):
                stream.wait_frame(time.monotonic() + 0.2)
                target = 500 if attempt % 2 == 0 else 100
                optics.move_to(target)
                frame = stream.wait_frame(time.monotonic())
                while frames.origin(frame.data).position != target:
                    frame = stream.wait_frame(frame.started + 1e-6)
                kept = Kept(stream)
                fresh = FreshFrames(kept, optics, FrameScorer())
                fresh.prime(kept=True)  # right after the first frame of the new picture came
                had = stream.frames_before(kept.frames[0], PRIME_FRAMES - 1)
                positions = {frames.origin(f.data).position for f in had}
                if len(positions) < 2:
                    continue  # this machine was slow: the kept frames all show the new picture
                seen_a_change += 1
                assert len(kept.frames) == PRIME_FRAMES, "four new frames waited for"
                assert {frames.origin(f.data).position for f in kept.frames} == {target}
                assert max(fresh.noise) < pipeline.CHANGE_FLOOR, fresh.noise
        finally:
            stream.close()
    assert seen_a_change >= 2, "the kept frames showed the change in too few attempts to tell"


class Optics:
    """What a test needs beside :class:`FreshFrames`'s lens: the simulated camera's own lens,
    moved only when a move should change the picture, on a 30 fps stream without noise (so
    no frame differs from the one before unless the optics moved)."""

    def __init__(self) -> None:
        self.optics = SimulatedLens(start=100)
        camera = SimulatedCamera(draw_scene(320, 240), self.optics, focus_position=500, noise=0)
        self.server = CameraServer(SimFrames(camera), fps=30)
        self.lens = SimulatedLens(start=100)

    def move(self, position: int, shows: bool = True) -> None:
        self.lens.move_to(position)
        if shows:
            self.optics.move_to(position)

    def after_a_confirming_move(self, trusted: bool, position: int):
        """Prime a :class:`FreshFrames` (settle and floor 0.3 s), make a far move that shows
        (from a blurred picture to a sharp one: it confirms a trusted measurement), then move
        to ``position`` without changing the picture and capture. Returns the FreshFrames, the
        frames primed, the frames the last capture looked at, its move's time and its frame."""
        with self.server as server:
            stream = MjpegStream(server.stream_url)
            looked = Looked(stream)
            try:
                fresh = FreshFrames(looked, self.lens, FrameScorer(), settle=0.3, floor=0.3,
                                    trusted=trusted)
                fresh.prime()
                primed = len(looked.frames)
                self.move(500)
                _watched_capture(fresh, looked)
                confirmed = bool(fresh.delays) and fresh.confirmed
                self.move(position, shows=False)
                moved, data = _watched_capture(fresh, looked)
            finally:
                stream.close()
        assert confirmed is trusted, "the far move showed, and confirmed the trusted measurement"
        return fresh, primed, looked.frames, moved, data


def _watched_capture(fresh: FreshFrames, looked: Looked):
    """A capture right after a move, and the frames it looked at; returns (moved, data)."""
    looked.frames.clear()
    fresh.note_move()
    moved = fresh._moved
    return moved, fresh.capture()


@pytest.mark.parametrize("trusted", [True, False], ids=["trusted", "watching"])
def test_a_trusted_measurement_takes_the_first_frame_half_a_frame_past_its_delay(trusted):
    """A stored measurement of enough moves, confirmed by a far move of the run that showed
    within it, is waited for and no longer: a move whose picture does not change takes the
    first frame that started half a frame past the longest delay measured (the settle, the
    delay plus a frame and the margin, less half a frame and the margin), where an untrusted
    one takes the first after the whole settle and watches two frames more for a change
    showing late. The frames are the stream's own, with their arrival times, and the windows
    the code's: the case holds on a loaded machine."""
    fresh, primed, looked, moved, data = Optics().after_a_confirming_move(trusted, 501)  # small
    assert primed == PRIME_FRAMES, "trusted or not, the noise is measured on as many frames"
    longest = fresh.settle - fresh.interval - MARGIN  # the settle was 0.3 s: delay + frame + margin
    counts_from = moved + (longest + 0.5 * fresh.interval if trusted else fresh.settle)
    first_after = next(f for f in looked if f.started >= counts_from)
    assert first_after.data == data, "the frame used is the first that started that late"
    if trusted:
        assert looked[-1] is first_after, "trusted: no frame watched past it"
    else:
        assert looked[-1].started >= counts_from + LATE_FRAMES * fresh.interval, (
            "not trusted: watched two frames past the settle")
    assert fresh.stale is False and fresh.unchanged == 0


@pytest.mark.parametrize("trusted", [True, False], ids=["trusted", "watching"])
def test_a_far_move_that_never_shows_is_watched_two_frames_past_a_trusted_settle(trusted):
    """A far move between two equally blurred pictures never changes the frames. Without
    trust it is watched three settles for its change (a delay spike must show there); with a
    confirmed trusted measurement two frames past the settle: the wait that cost slow
    pipelines most of a second per run. Either way it counts as unchanged."""
    fresh, _, looked, moved, _ = Optics().after_a_confirming_move(trusted, 900)  # far
    assert fresh.unchanged == 1 and fresh.far_moves == 2
    window = fresh.settle + LATE_FRAMES * fresh.interval if trusted else \
        max(FAR_WATCH * fresh.settle, fresh.settle + FAR_FRAMES * fresh.interval)
    assert looked[-2].started < moved + window <= looked[-1].started


@pytest.mark.parametrize("trusted", [True, False], ids=["trusted", "watching"])
def test_a_change_after_an_unconfirmed_frame_is_watched_for_a_second_until_its_move_must_have_shown(trusted):
    """After a frame no change confirmed, a move's change may be that earlier move's, late:
    the move is watched for a second change until it must have shown. With a confirmed trusted
    measurement that is the bound its frames count from, half a frame past the longest delay
    (a frame past it waits for nothing; watching two frames past the settle here cost the
    crossing of the peak, equally blurred on either side, 0.1 s a run at 30 fps); without
    trust, two frames past the settle."""
    o = Optics()
    with o.server as server:
        stream = MjpegStream(server.stream_url)
        looked = Looked(stream)
        try:
            fresh = FreshFrames(looked, o.lens, FrameScorer(), settle=0.3, floor=0.3, trusted=trusted)
            fresh.prime()
            o.move(500)
            _watched_capture(fresh, looked)  # far, shows: confirms a trusted measurement
            o.move(501, shows=False)
            _watched_capture(fresh, looked)  # no change: a frame nothing confirmed
            assert fresh._unconfirmed_last
            o.move(100)
            moved, _ = _watched_capture(fresh, looked)  # far, shows
        finally:
            stream.close()
    assert fresh._trusting() is trusted and not fresh._unconfirmed_last, "the last move showed"
    watched_to = looked.frames[-1].started - moved
    if trusted:
        bound = fresh._counts_after()
        assert bound < fresh.settle + LATE_FRAMES * fresh.interval
        assert bound <= watched_to < bound + 2 * fresh.interval, (watched_to, bound)
    else:
        assert watched_to >= fresh.settle + LATE_FRAMES * fresh.interval, watched_to


def _fresh_in_focus_or_named(result, attempts, rig) -> None:
    """What a run may end in: found on fresh frames only, in focus; or not found, with a
    message naming the delay it saw."""
    if result.found:
        assert all(attempts[-1]), (
            f"found=True with {attempts[-1].count(False)} stale frames of {len(attempts[-1])}")
        assert rig.camera.blur_radius() <= DOF_BLUR
    else:
        assert re.search(r"after about \d+ ms", result.message), result.message


@pytest.mark.parametrize("pipeline", [COPY_30, SLOW_15], ids=lambda p: p.name)
def test_a_trusted_run_on_the_chain_it_was_measured_on_uses_fresh_frames(pipeline):
    """The delay test's measurement, trusted: a move whose picture does not change takes the
    first frame half a frame past the longest delay, not a frame later, and a move that changes
    the picture is taken at its first changed frame. On the real ffmpeg chain (stream copy at
    30 fps, and the 5-frame pipeline) the frames the run reports from were all rendered after
    their moves, and it ends in focus (or fails naming the delay)."""
    rig = Rig(pipeline)
    try:
        timing = measure_delay(rig.lens, rig.stream)
        assert len(timing.samples) >= TRUSTED_SAMPLES, timing.samples
        time.sleep(0.5)
        run, attempts = rig.attempts()
        result, _ = autofocus_fresh(rig.lens, rig.stream, FrameScorer(), run, settle=timing.settle,
                                    floor=timing.settle, trusted=True)
        assert result.stale_checks["trusted"] is (result.stale_checks["attempt"] == 1)
        if result.stale_checks["attempt"] == 1:
            # The chain shows a move two frames or more after it: moves that change the
            # picture are taken at their change.
            assert result.stale_checks["at_change"] >= 1, result.stale_checks
        _fresh_in_focus_or_named(result, attempts, rig)
    finally:
        rig.close()


def test_a_chain_slower_than_its_trusted_measurement_is_measured_not_trusted():
    """The delay test saw a fast chain (a trusted measurement); then the streamer became
    slower by 0.6 s on every move (re-encoding now, say; 0.6 s, so that no delay spike of a
    loaded machine in the delay test covers it). The run's first far move shows later than the
    stored settle, so the run does not trust it: it measures the new delay, waits for it, and
    ends in focus on fresh frames (or fails naming the delay). Never found=True on stale
    frames."""
    rig = Rig(COPY_30)
    jitter = Jitter(0.0)
    rig.ffmpeg.lag = jitter
    try:
        timing = measure_delay(rig.lens, rig.stream)
        assert len(timing.samples) >= TRUSTED_SAMPLES and timing.settle < 0.6, timing.samples
        # The delay test's last move (the lens back to its start) shows with the chain as it
        # measured: a run starts with the lens at rest. Lagged too, it would still be on its
        # way into the picture when the run begins, and its change would pass for the run's
        # first move's.
        time.sleep(0.2)
        jitter.extra, jitter.far, jitter.measuring = 0.6, float("inf"), False  # every move
        time.sleep(0.5)
        run, attempts = rig.attempts()
        result, _ = autofocus_fresh(rig.lens, rig.stream, FrameScorer(), run, settle=timing.settle,
                                    floor=timing.settle, trusted=True)
        assert result.stale_checks["trusted"] is (result.stale_checks["attempt"] == 1)
        assert result.stale_checks["confirmed"] is False, "the slower chain is not the measured one"
        # It measured the slower chain: most of the lag (a change can be put down to the move
        # after its own once the lag passes a move's cycle, so 0.53 s was seen, not 0.6 s).
        assert result.stale_checks["settle"] > timing.settle + 0.3, result.stale_checks
        _fresh_in_focus_or_named(result, attempts, rig)
    finally:
        rig.close()



@pytest.mark.parametrize("who", ["lens", "caller"])
def test_a_run_right_after_a_move_waits_for_the_picture_to_show_it_before_it_primes(who):
    """A device moves a lens outside its limits (Z after homing) to the nearest end right before
    the run. On the 5-frame pipeline the picture shows that move 0.2-0.37 s later: primed at
    once, on the frames the stream has, the run would take the picture before it for the
    reference (and that move's change for its first move's). The lens says when it last moved
    (``moved_at``, as every driver keeps it); a caller that moved something the lens does not
    know of says so itself. Either way the run waits the settle from then, and its first frame
    shows the lens where it is."""
    rig = Rig(SLOW_15)
    try:
        timing = measure_delay(rig.lens, rig.stream)
        time.sleep(0.5)
        kept = Kept(rig.stream)
        rig.lens.move_to(400)
        moved = rig.lens.moved_at
        if who == "caller":
            rig.lens.moved_at = 0.0  # a lens that does not say when it moved
        run, attempts = rig.attempts()
        result, _ = autofocus_fresh(rig.lens, kept, FrameScorer(), run, settle=timing.settle,
                                    floor=timing.settle, trusted=True,
                                    moved_at=moved if who == "caller" else None)
        first = rig.ffmpeg.origin(kept.frames[0].data)
        assert kept.frames[0].started >= moved + timing.settle
        assert first.position == 400, "the reference shows the lens where the run starts"
        assert result.stale_checks["primed"] == "new"
        _fresh_in_focus_or_named(result, attempts, rig)
    finally:
        rig.close()


class PartFirst:
    """The camera server's renders, able to show a move in two parts: :meth:`split` moves the
    optics part of the way now and the rest right after the next frame is rendered."""

    def __init__(self, optics: SimulatedLens) -> None:
        self.optics = optics
        self.frames = SimFrames(SimulatedCamera(draw_scene(320, 240), optics, focus_position=500, noise=0))
        self._rest: List[int] = []

    def split(self, part: int, rest: int) -> None:
        self.optics.move_to(part)
        self._rest.append(rest)

    def __call__(self) -> bytes:
        data = self.frames()
        if self._rest:
            self.optics.move_to(self._rest.pop())
        return data


class Moves:
    """A trusted :class:`FreshFrames` (settle and floor 0.2 s) on a 30 fps stream that shows a
    move two frames after it (the camera server's latency), and the lens whose picture the
    test moves (``optics``)."""

    def __init__(self, renders: PartFirst, shortest: float = 0.0) -> None:
        self.renders = renders
        self.optics = renders.optics
        self.shortest = shortest
        self.server = CameraServer(renders, fps=30, latency=2)

    def __enter__(self) -> "Moves":
        self.server.__enter__()
        self.lens = SimulatedLens(start=int(self.optics.position))
        self.stream = MjpegStream(self.server.stream_url)
        self.fresh = FreshFrames(self.stream, self.lens, FrameScorer(), settle=0.2, floor=0.2, trusted=True,
                                 shortest=self.shortest)
        self.fresh.prime()
        return self

    def __exit__(self, *exc) -> None:
        self.stream.close()
        self.server.__exit__(*exc)

    def capture(self, position: int, optics: bool = True) -> bytes:
        """Move (the picture too, unless ``optics`` is False) and capture, as the search does."""
        self.lens.move_to(position)
        if optics:
            self.optics.move_to(position)
        self.fresh.note_move()
        return self.fresh.capture()

    def picture_at(self, position: int) -> bytes:
        """A frame of the optics at rest at ``position`` (five frames after the move)."""
        self.optics.move_to(position)
        return self.stream.wait_frame(time.monotonic() + 5 / 30, timeout=5).data


def test_a_trusted_move_that_shows_is_taken_at_its_change_and_the_frame_after_vouches_for_it():
    """Trusted and confirmed on a chain that shows a move two frames after it: a move that
    changes the picture returns its first changed frame (the search moves on while the next
    frame comes), and that frame is the new position's picture; the frame after it, checked
    at the next capture, shows the same, so nothing counts as stale. The first far move (the
    one that confirms the trust) is watched to its confirming frame, and a move whose picture
    does not change is not taken early."""
    with Moves(PartFirst(SimulatedLens(start=100))) as moves:
        moves.capture(500)
        assert moves.fresh.at_change == 0, "the first far move confirms first"
        assert moves.fresh.confirmed and min(moves.fresh.delays) > 1.5 * moves.fresh.interval
        moves.capture(900)
        assert moves.fresh.at_change == 1
        first = moves.capture(300)
        assert moves.fresh.at_change == 2
        moves.capture(310, optics=False)  # the picture stays: not at a change
        assert moves.fresh.at_change == 2
        moves.fresh.finish()
        assert not moves.fresh.stale and moves.fresh.evidence == {}
        # The frame taken at its change is 300's picture (200 codes from focus): not 900's
        # (400) and not 650's (150).
        assert first == moves.picture_at(300)
        assert first not in (moves.picture_at(900), moves.picture_at(650))


@pytest.mark.parametrize("shortest, taken", [(0.02, 0), (0.1, 2)], ids=["within a frame", "two frames"])
def test_no_frame_is_taken_at_its_change_on_a_chain_whose_measurement_once_showed_a_move_within_a_frame(
        shortest, taken):
    """A chain whose delay jitters across a frame and a half (a camera that renders and sends
    within a frame: 0.8-1.7 frames) may show this run's first far moves slowly; taken at its
    change, a move's next frame would then show the search's next move, and the run re-ran
    without trust (every other autofocus in the demo, 2.2 s instead of 0.9). The stored
    measurement's shortest delay counts as well: this chain shows moves two frames after them,
    but the measurement once saw one within a frame, so every move is confirmed; a measurement
    whose shortest was two frames lets the same moves be taken at their change."""
    with Moves(PartFirst(SimulatedLens(start=100)), shortest=shortest) as moves:
        moves.capture(500)
        assert moves.fresh.confirmed and min(moves.fresh.delays) > 1.5 * moves.fresh.interval
        moves.capture(900)
        moves.capture(300)
        moves.fresh.finish()
        assert moves.fresh.at_change == taken
        assert not moves.fresh.stale and moves.fresh.evidence == {}


def test_a_frame_taken_at_its_change_that_the_next_frame_disagrees_with_is_evidence_of_stale_frames():
    """A camera whose first frame after a move shows only part of it (here the optics move
    part of the way first, and the rest right after that frame is rendered): the frame after
    the first changed one shows another picture, so the one taken cannot be vouched for. The
    run counts it (``ahead``), which makes autofocus_fresh run again without trust, and takes
    no frame at its change again."""
    renders = PartFirst(SimulatedLens(start=100))
    with Moves(renders) as moves:
        moves.capture(500)
        moves.capture(900)
        assert moves.fresh._whole is True and moves.fresh.at_change == 1
        moves.lens.move_to(300)
        renders.split(600, 300)
        moves.fresh.note_move()
        moves.fresh.capture()
        assert moves.fresh.at_change == 2 and not moves.fresh.stale, "checked when the frame after comes"
        moves.fresh.finish()
        assert moves.fresh.stale and moves.fresh.evidence == {"ahead": 1}
        moves.capture(100)
        assert moves.fresh.at_change == 2, "no frame taken at its change after that"


def test_a_small_move_taken_at_its_change_needs_only_a_frame_after_that_is_not_the_picture_before():
    """After a small move (near focus) the frame after the one taken may differ from it (a
    part of the move, or noise above what the blurred prime measured); either scores as the
    whole within the noise, so it is enough that the frame after is not the picture from
    before the move, as for a move's confirming frame. A far move must show the same (see
    the test before)."""
    renders = PartFirst(SimulatedLens(start=100))
    with Moves(renders) as moves:
        moves.capture(500)
        moves.capture(900)
        moves.capture(450)
        taken = moves.fresh.at_change
        moves.lens.move_to(500)  # 50 codes: not far
        renders.split(480, 500)
        moves.fresh.note_move()
        moves.fresh.capture()
        assert moves.fresh.at_change == taken + 1
        moves.fresh.finish()
        assert not moves.fresh.stale and moves.fresh.evidence == {}


def test_a_change_at_the_edge_of_the_noise_is_confirmed_not_taken_at_once():
    """Only a clear change (CLEAR_CHANGE times what counts as one) is taken at its change: one
    at the noise's edge may be noise, which the frame after it would not confirm, and the run
    would re-run for nothing. On this noise-free stream a change counts from 0.2 grey levels;
    300 -> 302 changes the picture by 0.27 on the finest level (0.20 and 0.13 on the coarser),
    so that move waits for the frame after it, and returns it."""
    with Moves(PartFirst(SimulatedLens(start=100))) as moves:
        before = pipeline._grey(moves.fresh.scorer, moves.picture_at(300))
        after = pipeline._grey(moves.fresh.scorer, moves.picture_at(302))
        moves.picture_at(100)  # where the lens is, as primed
        assert moves.fresh._differs(after, before), "a change"
        assert not moves.fresh._differs(after, before, pipeline.CLEAR_CHANGE), "not a clear one"
        moves.capture(500)
        moves.capture(900)
        moves.capture(300)
        taken = moves.fresh.at_change
        assert taken == 2, "the far, clear moves were taken at their change"
        data = moves.capture(302)
        assert moves.fresh.at_change == taken, "confirmed by the frame after it, not taken at once"
        moves.fresh.finish()
        assert not moves.fresh.stale
        assert data == moves.picture_at(302)


@pytest.mark.parametrize("trusted", [True, False], ids=["trusted", "guess"])
def test_a_far_move_that_never_shows_before_any_has_is_watched_for_a_while_not_2_s_when_trusted(trusted):
    """The first far moves of a run, before one has shown: with a trusted stored settle (a
    measurement) they are watched TRUSTED_FIRST_WATCH (0.75 s), where a settle that may be a
    guess is watched FIRST_WATCH (2 s), long enough for any sane chain to show."""
    optics = SimulatedLens(start=100)
    camera = SimulatedCamera(draw_scene(320, 240), optics, focus_position=500, noise=0)
    lens = SimulatedLens(start=100)
    with CameraServer(SimFrames(camera), fps=30) as server:
        stream = MjpegStream(server.stream_url)
        looked = Looked(stream)
        try:
            fresh = FreshFrames(looked, lens, FrameScorer(), settle=0.1, floor=0.1 if trusted else 0.0,
                                trusted=trusted)
            fresh.prime()
            lens.move_to(900)  # the picture stays
            moved, _ = _watched_capture(fresh, looked)
        finally:
            stream.close()
    assert fresh.unchanged == 1 and not fresh.delays
    watched = looked.frames[-1].started - moved
    if trusted:
        assert TRUSTED_FIRST_WATCH <= watched < TRUSTED_FIRST_WATCH + 0.2, watched
    else:
        assert FIRST_WATCH <= watched < FIRST_WATCH + 0.2, watched
