"""The autofocus search on simulated optics and on real focus stacks."""
from __future__ import annotations

import numpy as np
import pytest

from octoprint_pifocus.errors import CameraError, LensError
from octoprint_pifocus.focus import autofocus
from octoprint_pifocus.sim import SimulatedCamera, SimulatedLens, StackCamera, disc_blur, draw_scene

DOF = 0.75  # px of blur radius that still counts as in focus


@pytest.fixture(scope="module")
def scene():
    return draw_scene(640, 360)


def setup(scene, focus, start, rate=0.05, noise=3.0, hysteresis=0.0, seed=0, **lens_kw):
    lens = SimulatedLens(start=start, hysteresis=hysteresis, **lens_kw)
    camera = SimulatedCamera(scene, lens, focus, blur_rate=rate, noise=noise, flicker=0.03,
                             jpeg_quality=85, seed=seed)
    return lens, camera


class TwoPlaneCamera(SimulatedCamera):
    """A scene with a second object at another depth: a local bump in the focus curve.

    The bump is never as sharp as the true focus (its best blur is ``bump_blur`` px), like a
    part of the picture that is closer to the lens than the region we focus on.
    """

    def __init__(self, *args, bump_at: float, bump_blur: float = 2.0, **kw):
        super().__init__(*args, **kw)
        self.bump_at = bump_at
        self.bump_blur = bump_blur

    def blur_radius(self, position=None):
        if position is None:
            position = self.lens_position()
        main = self.blur_rate * abs(position - self.focus_position)
        bump = self.bump_blur + self.blur_rate * abs(position - self.bump_at)
        return min(main, bump)


@pytest.mark.parametrize("focus, start, rate, noise, hysteresis", [
    (512.3, 0, 0.05, 2, 0),
    (137.0, 900, 0.08, 8, 12),
    (803.6, 400, 0.02, 5, 6),
    (40.2, 1000, 0.1, 10, 16),
    (960.0, 30, 0.012, 3, 4),
])
def test_finds_focus_within_depth_of_field_with_few_frames(scene, focus, start, rate, noise, hysteresis):
    lens, camera = setup(scene, focus, start, rate, noise, hysteresis)
    result = autofocus(lens, camera)
    assert result.found, result.message
    assert camera.blur_radius() <= DOF
    assert result.position == lens.position
    assert result.captures <= 20
    assert result.captures == len(result.samples) == camera.captures


@pytest.mark.parametrize("bump_at, start", [(150, 0), (850, 1023), (420, 520)])
def test_global_peak_wins_over_a_local_bump(scene, bump_at, start):
    focus = 640.0 if bump_at < 500 else 300.0
    lens = SimulatedLens(start=start)
    camera = TwoPlaneCamera(scene, lens, focus, blur_rate=0.05, noise=4, flicker=0.03, seed=3,
                            bump_at=bump_at, bump_blur=1.5)
    result = autofocus(lens, camera)
    assert result.found, result.message
    assert abs(lens.actual_position - focus) * 0.05 <= DOF
    # The bump was really there and really looked like a peak on its own.
    bump_blur = camera.blur_radius(bump_at)
    assert bump_blur == pytest.approx(1.5)


@pytest.mark.parametrize("focus, expected", [(0.0, 0), (1023.0, 1023), (-80.0, 0), (1100.0, 1023)])
def test_peak_at_either_edge(scene, focus, expected):
    lens, camera = setup(scene, focus, start=512, rate=0.05, noise=4)
    result = autofocus(lens, camera)
    assert result.found, result.message
    assert abs(result.position - expected) * 0.05 <= DOF
    assert all(0 <= p <= 1023 for p in lens.moves)


@pytest.mark.parametrize("start", [0, 113, 341, 455, 512, 700, 910, 1023])
def test_real_pcb_stack_ends_on_the_sharpest_frame_from_every_start(pcb_stack, start):
    lens = SimulatedLens(start=start)
    camera = StackCamera(pcb_stack, lens)
    result = autofocus(lens, camera)
    assert result.found, result.message
    assert camera.frame_index() == 4  # pcb_004, sharpest by eye


@pytest.mark.parametrize("start", [0, 400, 1023])
def test_real_stack_with_the_peak_at_the_edge(step_stack, start):
    lens = SimulatedLens(start=start)
    camera = StackCamera(step_stack, lens)
    result = autofocus(lens, camera)
    assert result.found, result.message
    assert camera.frame_index() in (0, 1)


def test_piecewise_constant_curve_lands_mid_plateau(pcb_stack):
    lens = SimulatedLens(start=800)
    camera = StackCamera(pcb_stack, lens)
    result = autofocus(lens, camera)
    # Frame 4 covers positions 398..511 of 0..1023: the answer is well inside it.
    assert 398 + 20 <= result.position <= 511 - 20


def test_textureless_roi_fails_honestly_and_returns_the_lens(scene):
    flat = np.full_like(scene, 128)
    lens, camera = setup(flat, 500, start=321, noise=6)
    result = autofocus(lens, camera)
    assert not result.found
    assert lens.position == 321 and result.position == 321
    assert "No focus peak" in result.message and "detail" in result.message
    assert "start position 321" in result.message


def test_black_frames_say_too_dark(scene):
    lens, camera = setup(np.zeros_like(scene), 500, start=77, noise=0.5)
    result = autofocus(lens, camera)
    assert not result.found and lens.position == 77
    assert "too dark" in result.message


def test_cancel_restores_the_start_position(scene):
    lens, camera = setup(scene, 600, start=250)
    calls = []
    result = autofocus(lens, camera, should_cancel=lambda: camera.captures >= 4,
                       progress=lambda f, s: calls.append(s))
    assert result.cancelled and not result.found
    assert lens.position == 250
    assert camera.captures == 4 and len(calls) == 4
    assert "cancelled" in result.message.lower()


def test_final_approach_comes_from_the_measuring_side(scene):
    focus, rate, hysteresis = 420.0, 0.08, 24.0
    lens, camera = setup(scene, focus, start=50, rate=rate, noise=3, hysteresis=hysteresis)
    phases = []
    result = autofocus(lens, camera, progress=lambda f, s: phases.append(s))
    assert result.found
    coarse = [s.position for s in phases if s.phase == "coarse"]
    direction = np.sign(coarse[1] - coarse[0])
    assert lens.moves[-1] == result.position
    assert np.sign(lens.moves[-1] - lens.moves[-2]) == direction
    right_side_blur = camera.blur_radius()
    assert right_side_blur <= DOF
    # The same target reached from the other side is off by the whole hysteresis band.
    other = SimulatedLens(start=result.position + direction * 60, hysteresis=hysteresis)
    other.move_to(result.position)
    assert camera.blur_radius(other.actual_position) > right_side_blur + 0.5


class FailingCamera:
    """A camera that goes down after a few frames, like a webcam service that crashed."""

    def __init__(self, camera, after):
        self.camera, self.after, self.count = camera, after, 0

    def capture(self):
        self.count += 1
        if self.count > self.after:
            raise CameraError("No frame from http://127.0.0.1:8080/?action=stream for 5.0 s.")
        return self.camera.capture()


def test_camera_failure_mid_search_returns_the_lens(scene):
    lens, camera = setup(scene, 600, start=333)
    result = autofocus(lens, FailingCamera(camera, 5))
    assert not result.found
    assert lens.position == 333
    assert "No frame from http://127.0.0.1:8080" in result.message
    assert "start position 333" in result.message


class JammedLens(SimulatedLens):
    def __init__(self, *args, jam_after=3, **kw):
        super().__init__(*args, **kw)
        self.jam_after = jam_after

    def move_to(self, position):
        if len(self.moves) >= self.jam_after and position != self.moves[0] and len(self.moves) < 50:
            self.jam_after = 10 ** 9  # fails once, then works again (the way back)
            raise LensError("I2C write failed on /dev/i2c-10 at 0x0C")
        super().move_to(position)


def test_lens_failure_mid_search_is_reported(scene):
    lens = JammedLens(start=200, jam_after=3)
    camera = SimulatedCamera(scene, lens, 600, blur_rate=0.05, noise=3, seed=1)
    result = autofocus(lens, camera)
    assert not result.found
    assert "I2C write failed" in result.message
    assert lens.position == 200


@pytest.mark.parametrize("kwargs, words", [
    ({"roi": (0.9, 0.9, 0.5, 0.5)}, "ROI"),
    ({"measure": "nope"}, "Unknown focus measure"),
])
def test_bad_arguments_raise_before_anything_moves(scene, kwargs, words):
    lens, camera = setup(scene, 600, start=100)
    with pytest.raises(ValueError, match=words):
        autofocus(lens, camera, **kwargs)
    assert lens.moves == [] and camera.captures == 0


def test_objects_that_are_not_a_lens_or_camera_are_refused(scene):
    lens, camera = setup(scene, 600, start=100)
    with pytest.raises(ValueError, match="move_to"):
        autofocus(object(), camera)
    with pytest.raises(ValueError, match="capture"):
        autofocus(lens, object())


def test_refine_searches_near_the_current_position_with_fewer_frames(scene):
    lens, camera = setup(scene, 530.0, start=560, rate=0.05, noise=4)
    refine = autofocus(lens, camera, refine=True)
    assert refine.found and camera.blur_radius() <= DOF
    assert all(abs(p - 560) <= 0.08 * 1023 * 2 for p in lens.moves)
    lens2, camera2 = setup(scene, 530.0, start=560, rate=0.05, noise=4)
    full = autofocus(lens2, camera2)
    assert refine.captures < full.captures


def test_progress_reports_every_frame_in_order(scene):
    lens, camera = setup(scene, 300.0, start=900)
    calls = []
    result = autofocus(lens, camera, progress=lambda f, s: calls.append((f, s)))
    fractions = [f for f, _ in calls]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert [s.phase for _, s in calls][0] == "coarse" and calls[-1][1].phase == "final"
    assert {"coarse", "fine", "final"} <= {s.phase for _, s in calls}
    assert [(s.position, s.score) for _, s in calls] == result.samples
    assert result.duration > 0 and result.start_position == 900


def test_z_in_millimetres_with_float_positions(scene):
    # A microscope on a gantry: Z window 2..7 mm, 0.01 mm steps, 6 px of blur per mm.
    lens = SimulatedLens(limits=(2.0, 7.0), resolution=0.01, start=6.5, units="mm")
    camera = SimulatedCamera(scene, lens, 4.237, blur_rate=6.0, noise=3, seed=5)
    result = autofocus(lens, camera)
    assert result.found, result.message
    assert camera.blur_radius() <= DOF
    assert all(2.0 <= p <= 7.0 for p in lens.moves)
    assert abs(result.position * 100 - round(result.position * 100)) < 1e-6


class OddCamera:
    """A user's own camera object that misbehaves the way real set-ups do."""

    def __init__(self, camera, after, failure):
        self.camera, self.after, self.failure, self.count = camera, after, failure, 0

    def capture(self):
        self.count += 1
        if self.count > self.after:
            if isinstance(self.failure, Exception):
                raise self.failure
            return self.failure
        return self.camera.capture()


@pytest.mark.parametrize("failure, words", [
    (b"<!DOCTYPE html><html>Please log in</html>", ["cannot use", "HTML"]),
    (OSError(110, "Connection timed out"), ["unexpected error", "TimeoutError", "timed out"]),
    (RuntimeError("driver bug"), ["unexpected error", "RuntimeError", "driver bug"]),
])
def test_any_camera_failure_returns_the_lens(scene, failure, words):
    lens, camera = setup(scene, 600, start=333)
    result = autofocus(lens, OddCamera(camera, 3, failure))
    assert not result.found
    assert lens.position == 333
    for word in words:
        assert word in result.message
    assert "start position 333" in result.message


class UnknownStartLens(SimulatedLens):
    """Like camera-streamer: the position before the first move cannot be read back."""

    position_known = False


def test_failure_with_an_unknown_start_says_where_the_lens_was_left(scene):
    lens = UnknownStartLens(start=0)
    camera = SimulatedCamera(np.full_like(scene, 128), lens, 500, noise=3, seed=2)
    result = autofocus(lens, camera)
    assert not result.found and lens.position == 0
    assert "cannot report where it was" in result.message and "left at 0" in result.message
    assert "back at its start" not in result.message


def test_bad_refine_window_is_a_value_error_before_anything_moves(scene):
    lens, camera = setup(scene, 600, start=100)
    with pytest.raises(ValueError, match="refine window"):
        autofocus(lens, camera, refine=True, window=-5)
    assert lens.moves == []


@pytest.fixture(scope="module")
def photo(pcb_stack):
    """The sharpest real photograph of the PCB stack, at webcam-ish size."""
    import cv2

    return cv2.resize(cv2.imread(str(pcb_stack[4])), (640, 480), interpolation=cv2.INTER_AREA)


@pytest.mark.parametrize("focus, start, rate, noise, hysteresis", [
    (300.0, 1000, 0.05, 4, 8),
    (905.5, 20, 0.09, 8, 14),
    (12.0, 600, 0.02, 3, 0),
])
def test_real_photograph_defocused_by_the_model(photo, focus, start, rate, noise, hysteresis):
    lens, camera = setup(photo, focus, start, rate, noise, hysteresis, seed=9)
    result = autofocus(lens, camera)
    assert result.found, result.message
    assert camera.blur_radius() <= DOF
    assert result.captures <= 20
