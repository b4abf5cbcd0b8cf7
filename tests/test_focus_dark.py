"""The search in the dark (issue 12 §3): dim, noisy scenes, a print head or a hand crossing.

Every camera here is the simulator with a real occluder drawn into its frames
(:class:`~octoprint_pifocus.sim.Occluder`), so the search meets changed content and a
changed score together, as from a real camera. Seeds are fixed; nothing is timed.
"""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from octoprint_pifocus.focus import autofocus
from octoprint_pifocus.focus.outliers import content_distance, content_signature
from octoprint_pifocus.sim import Occluder, SimulatedCamera, SimulatedLens, StackCamera, dim_scene, draw_scene

DOF = 0.75  # px of blur radius that still counts as in focus


@pytest.fixture(scope="module")
def scene():
    return draw_scene(640, 360)


def camera_for(picture, focus, start, rate, noise, hysteresis=0.0, seed=0, occluder=None):
    lens = SimulatedLens(start=start, hysteresis=hysteresis)
    camera = SimulatedCamera(picture, lens, focus, blur_rate=rate, noise=noise, flicker=0.03,
                             jpeg_quality=80, seed=seed, occluder=occluder)
    return lens, camera


def positions_taken_twice(result):
    """Positions sampled more than once before the final frame."""
    seen, twice = set(), set()
    for position, _ in result.samples[:-1]:
        (twice if position in seen else seen).add(position)
    return twice


@pytest.mark.parametrize("focus, start, rate, frames", [
    (305.2, 169, 0.15, {4, 5}),    # a two-frame crossing in the coarse pass, narrow depth of field
    (678.4, 296, 0.15, {5, 6}),    # the same at the end of the range
    (808.7, 655, 0.02, {3, 9}),    # wide depth of field: one crossing in the coarse pass, one zooming
    (480.8, 34, 0.05, {8}),        # a crossing while zooming
])
def test_dim_noisy_scene_with_a_crossing_ends_in_depth_of_field(scene, focus, start, rate, frames):
    occluder = Occluder(frames=frames, seed=1)
    lens, camera = camera_for(dim_scene(scene), focus, start, rate, noise=27, hysteresis=16,
                              seed=2, occluder=occluder)
    result = autofocus(lens, camera)
    assert result.found, result.message
    assert occluder.hit == sorted(frames)  # the crossings really were drawn
    assert camera.blur_radius() <= DOF, (camera.blur_radius(), result.samples)
    # Two re-captures, and a noise bump on the flat curve of a wide depth of field may be
    # explored too; the frame counts are the benchmark's business, this only bounds the work.
    assert result.captures == camera.captures <= 25


def test_an_occluded_frame_is_captured_again(scene):
    clean_lens, clean_camera = camera_for(scene, 520.0, 990, 0.06, noise=5, seed=4)
    clean = autofocus(clean_lens, clean_camera)
    assert clean.found and positions_taken_twice(clean) == set()

    occluder = Occluder(frames={3}, kinds=("head",), seed=5)
    lens, camera = camera_for(scene, 520.0, 990, 0.06, noise=5, seed=4, occluder=occluder)
    result = autofocus(lens, camera)
    assert occluder.hit == [3]
    crossed = result.samples[2][0]
    # The crossed frame's position is taken again, once: one capture more than the clean run.
    assert positions_taken_twice(result) == {crossed}
    assert result.captures == camera.captures == clean.captures + 1
    assert result.found and camera.blur_radius() <= DOF


@pytest.mark.parametrize("dim, focus, start, rate, noise", [
    (True, 284.3, 149, 0.15, 25),
    (True, 808.7, 655, 0.02, 27),
    (False, 137.0, 900, 0.08, 8),
    (False, 960.0, 30, 0.012, 3),
])
def test_nothing_crossing_means_nothing_captured_twice(scene, dim, focus, start, rate, noise):
    """Defocus, noise and flicker change a frame's content a little: no false re-captures."""
    lens, camera = camera_for(dim_scene(scene) if dim else scene, focus, start, rate, noise, seed=5)
    result = autofocus(lens, camera)
    assert result.found, result.message
    assert positions_taken_twice(result) == set()


@pytest.mark.parametrize("focus, start, seed", [(284.3, 149, 0), (504.5, 484, 1), (40.0, 231, 3)])
def test_a_dim_but_usable_scene_is_not_refused(scene, focus, start, seed):
    """A third of the contrast and noise 25: the fine views see only noise far from focus,
    the coarse ones still see the peak, so the contrast check must not refuse the scene."""
    lens, camera = camera_for(dim_scene(scene), focus, start, 0.15, noise=25, hysteresis=16, seed=seed)
    result = autofocus(lens, camera)
    assert result.found, result.message
    assert camera.blur_radius() <= DOF


@pytest.mark.parametrize("noise", [6, 25])
def test_a_featureless_dim_wall_is_still_refused(scene, noise):
    lens, camera = camera_for(np.full_like(scene, 40), 500, 321, 0.15, noise=noise, seed=3)
    result = autofocus(lens, camera)
    assert not result.found and lens.position == 321
    assert "No focus peak" in result.message


def test_real_photograph_dimmed_with_crossings(pcb_stack):
    photo = cv2.resize(cv2.imread(str(pcb_stack[4])), (640, 480), interpolation=cv2.INTER_AREA)
    occluder = Occluder(frames={2, 10}, seed=11)
    lens, camera = camera_for(dim_scene(photo), 611.0, 40, 0.08, noise=20, hysteresis=12, seed=7,
                              occluder=occluder)
    result = autofocus(lens, camera)
    assert result.found, result.message
    assert occluder.hit == [2, 10]
    assert camera.blur_radius() <= DOF


def test_content_signature_sees_a_crossing_not_defocus_or_flicker(scene):
    lens = SimulatedLens(start=500)
    plain = SimulatedCamera(scene, lens, 500, blur_rate=0.05, noise=0, jpeg_quality=None)
    crossed = SimulatedCamera(scene, lens, 500, blur_rate=0.05, noise=0, jpeg_quality=None,
                              occluder=Occluder(frames={1}, kinds=("head",), seed=2))
    grey = lambda img: cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)  # noqa: E731
    sharp = content_signature(grey(plain.render(500)))
    blurred = content_signature(grey(plain.render(560)))      # 3 px of blur
    brighter = content_signature(grey(np.clip(plain.render(500) * 1.1, 0, 255).astype(np.uint8)))
    occluded = content_signature(grey(crossed.render(500, capture=1)))
    assert content_distance(sharp, blurred) < 0.03
    assert content_distance(sharp, brighter) < 0.01
    assert content_distance(sharp, occluded) > 0.08


def test_occluder_draws_only_its_frames_and_about_its_share(scene):
    lens = SimulatedLens(start=500)
    occluder = Occluder(frames={2}, seed=1)
    camera = SimulatedCamera(scene, lens, 500, noise=0, jpeg_quality=None, occluder=occluder)
    first, second, third = camera.capture(), camera.capture(), camera.capture()
    assert np.array_equal(first, third)
    assert np.abs(first.astype(int) - second.astype(int)).mean() > 5
    assert occluder.hit == [2]

    shared = Occluder(rate=0.05, seed=3)
    hits = sum(shared.covers(i, (360, 640)) for i in range(1, 4001))
    assert 0.035 <= hits / 4000 <= 0.065


@pytest.mark.parametrize("kwargs", [{"rate": 1.5}, {"rate": -0.1}, {"kinds": ("ghost",)}])
def test_occluder_refuses_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        Occluder(**kwargs)


@pytest.mark.parametrize("start", [0, 512, 1023])
def test_a_real_stacks_far_frames_are_not_captured_again(pcb_stack, start):
    """pcb_000 and pcb_002 differ from the stack's other frames (magnification, parallax) by as
    much as a crossing does and sit off the line between their neighbours, but far below the
    clear peak on its flank: they cannot mislead the search, so no frame is taken twice."""
    phases = []
    lens = SimulatedLens(start=start)
    camera = StackCamera(pcb_stack, lens)
    result = autofocus(lens, camera, progress=lambda fraction, sample: phases.append(sample.phase))
    assert result.found and camera.frame_index() == 4
    assert "again" not in phases
    assert result.captures == 9


def test_a_crossing_far_below_the_peak_that_makes_a_peak_on_a_coarser_view_is_captured_again():
    """A dark head in a dim, noisy frame scores low on the fine view (it covers noise) but makes
    a peak on the coarser ones: the fine view's flank does not excuse it."""
    from octoprint_pifocus.focus.outliers import OutlierGuard
    from octoprint_pifocus.focus.scoring import FrameScore

    def frame(levels):
        return FrameScore(tuple(levels), 30.0, None, (None,) * len(levels))

    frames = {0: frame([2.9, 0.32, 0.08, 0.02]), 205: frame([2.78, 0.32, 0.07, 0.02]),
              409: frame([2.81, 0.31, 0.06, 0.03]), 614: frame([2.78, 0.39, 0.18, 0.15]),
              818: frame([0.96, 0.95, 2.46, 5.47]), 1023: frame([0.91, 0.94, 2.45, 5.46])}
    guard = OutlierGuard()
    assert not guard.explained(818, frames) and not guard.explained(1023, frames)
    # The same fine curve with coarser views that agree: the far frame is on the flank.
    calm = {p: frame([f.levels[0], f.levels[0] / 3, f.levels[0] / 9, f.levels[0] / 27])
            for p, f in frames.items()}
    assert guard.explained(1023, calm)
