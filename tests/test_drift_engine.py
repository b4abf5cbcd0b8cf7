"""The drift detector on simulated prints: frames rendered by the real SimulatedCamera from the
drawn scene and from a real photograph (the sharpest PCB frame of tests/data), scored by the
real DriftSampler. Hours of printing in seconds; the figures are in the README."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from octoprint_pifocus.drift import DriftDetector, DriftRules, DriftSampler
from octoprint_pifocus.sim import SimulatedCamera, SimulatedLens, draw_scene
from octoprint_pifocus.sim.drift_run import PrintRun, watch_print
from octoprint_pifocus.sim.printing import PrintScene

#: What the README promises: a lens back at rest is reported within this many samples, a
#: thermal drift of 3 depths of field per hour before the lens is this many depths of field off.
STEP_SAMPLES = 40
THERMAL_DOF = 1.5
#: The same drift while the part grows through the ROI: on the high-contrast PCB photo only
#: the acuity (fine over coarse score) tells the drift from the new layers, so it takes longer.
THERMAL_LAYERS_DOF = {"drawn": 1.5, "pcb photo": 2.0}


@pytest.fixture(scope="module")
def backgrounds(pcb_stack):
    return {"drawn": draw_scene(960, 540), "pcb photo": cv2.imread(str(pcb_stack[4]))}


@pytest.mark.parametrize("background", ["drawn", "pcb photo"])
def test_three_hours_of_printing_give_no_false_alarm(backgrounds, background):
    # The head over the part in a third of the samples, 3% exposure flicker, the part growing
    # through the ROI, and the room light 40% brighter for half an hour.
    result = watch_print(backgrounds[background], PrintRun(hours=3, interval=10, light=(1.0, 1.5, 1.4)))
    kinds = {v.kind for v in result.verdicts}
    assert result.alarms == []
    # The run did exercise what it claims to: heads set aside, the light noticed.
    assert {"content", "light"} <= kinds
    assert sum(v.counted for v in result.verdicts) > len(result.verdicts) / 2


@pytest.mark.parametrize("background", ["drawn", "pcb photo"])
def test_a_lens_back_at_rest_after_a_camera_restart_is_caught(backgrounds, background):
    result = watch_print(backgrounds[background], PrintRun(hours=1, interval=10, step_at=0.5))
    assert result.false_alarms() == 0
    assert result.samples_to_detect is not None and result.samples_to_detect <= STEP_SAMPLES


@pytest.mark.parametrize("background", ["drawn", "pcb photo"])
def test_a_slow_thermal_drift_is_caught_within_a_depth_of_field_and_a_half(backgrounds, background):
    # 3 depths of field per hour; the part stands still in the ROI (see the README's limits).
    run = PrintRun(hours=1.5, interval=10, thermal_dof_per_hour=3, drift_from=0.2, layers=False)
    result = watch_print(backgrounds[background], run)
    assert result.false_alarms() == 0
    assert result.samples_to_detect is not None
    assert result.dof_at_alarm <= THERMAL_DOF


@pytest.mark.parametrize("background", ["drawn", "pcb photo"])
def test_a_drift_under_a_part_that_grows_is_caught(backgrounds, background):
    # On the PCB photo each scene re-baseline used to take some of the drift with it, and the
    # drift was never reported; a re-baseline whose acuity fell is now refused.
    run = PrintRun(hours=1.5, interval=10, thermal_dof_per_hour=3, drift_from=0.2, layers=True)
    result = watch_print(backgrounds[background], run)
    assert result.false_alarms() == 0
    assert result.dof_at_alarm is not None and result.dof_at_alarm <= THERMAL_LAYERS_DOF[background]


class _Rig:
    """One simulated camera in focus over the PCB photo, and a detector with its baseline."""

    def __init__(self, photo):
        self.scene = PrintScene(cv2.resize(photo, (640, 360), interpolation=cv2.INTER_AREA))
        self.lens = SimulatedLens(start=400)
        self.camera = SimulatedCamera(self.scene.background, self.lens, 400, noise=2, flicker=0.03, seed=3)
        self.sampler = DriftSampler()
        self.detector = DriftDetector()
        self.t = 0.0

    def feed(self, head=None, light=1.0):
        self.camera.scene = self.scene.render(0.5, head, light)
        self.t += 10
        return self.detector.feed(self.sampler.sample(self.camera.capture(), self.t))

    def focused(self):
        self.detector.rebase()
        verdicts = [self.feed() for _ in range(DriftRules().baseline_samples)]
        assert verdicts[-1].kind == "rebased" and verdicts[-1].reason == "focus"
        return verdicts


def test_the_head_is_set_aside_and_a_few_blurred_frames_do_not_alarm(backgrounds):
    rig = _Rig(backgrounds["pcb photo"])
    assert rig.feed().kind == "idle"  # no baseline asked for yet
    rig.focused()
    assert rig.feed(head=(0.3, 0.45)).kind == "content"
    assert rig.feed(light=1.5).kind == "light"
    # Five frames far out of focus (fewer than `need`), then back: no alarm.
    rig.lens.move_to(250)
    kinds = [rig.feed().kind for _ in range(5)]
    assert "drift" not in kinds and "low" in kinds
    rig.lens.move_to(400)
    assert [rig.feed().kind for _ in range(8)] == ["ok"] * 8
    # Out of focus for good: reported once, on the sixth low sample of the window.
    rig.lens.move_to(250)
    verdicts = [rig.feed() for _ in range(8)]
    assert [v.new for v in verdicts].count(True) == 1
    first = next(v for v in verdicts if v.new)
    assert first.drop > 0.2 and first.baseline > first.score
    assert all(v.kind == "drift" for v in verdicts[verdicts.index(first):])
    # A focus starts over.
    rig.lens.move_to(400)
    rig.focused()
    assert rig.feed().kind == "ok" and not rig.detector.drifted


def test_a_head_in_the_way_while_the_baseline_is_taken_starts_it_again(backgrounds):
    rig = _Rig(backgrounds["drawn"])
    rig.detector.rebase()
    rig.feed(head=(0.5, 0.6))
    assert [rig.feed().kind for _ in range(4)] == ["learning"] * 4  # the head's frame was dropped
    last = rig.feed()
    assert last.kind == "rebased"
    assert abs(rig.detector.baseline.score - last.score) < 0.1 * last.score


def test_rules_that_cannot_work_are_refused():
    with pytest.raises(ValueError, match="drop"):
        DriftRules(drop=1.5)
    with pytest.raises(ValueError, match="need"):
        DriftRules(window=4, need=6)


@pytest.mark.parametrize("roi", [None, (0.45, 0.45, 0.1, 0.12), (0.0, 0.0, 1.0, 1.0)])
def test_one_sample_scores_like_the_autofocus_and_its_signature_sees_content_not_blur(backgrounds, roi):
    # The sampler computes score, acuity and signature from one decode and its quarter-size
    # view (a Gaussian on the ROI when it is too small for that: the 64 x 43 px one). Its
    # score is the autofocus's fine score of the same frame, a defocus lowers it and the
    # acuity, and the signature moves for the head, not for the blur (which must still count).
    from octoprint_pifocus.drift.signature import distance
    from octoprint_pifocus.focus.scoring import FrameScorer

    scene = PrintScene(cv2.resize(backgrounds["pcb photo"], (640, 360), interpolation=cv2.INTER_AREA),
                       head_size=(0.3, 0.45))  # a head that covers a fair share of the whole frame too
    lens = SimulatedLens(start=400)
    camera = SimulatedCamera(scene.background, lens, 400, noise=2, seed=4)
    camera.scene = scene.render(0.5)
    sampler = DriftSampler(roi)
    frame = camera.capture()
    sharp = sampler.sample(frame, 0)
    assert sharp.score == pytest.approx(FrameScorer(roi, None, levels=1).score(frame).fine, rel=1e-9)
    assert sharp.acuity > 0 and sharp.brightness > 20
    lens.move_to(400 + 1.5 / camera.blur_rate)  # a 1.5 px blur radius: one depth of field of bench/drift.py
    slightly = sampler.sample(camera.capture(), 10)
    assert distance(slightly.cells, sharp.cells) < DriftRules().content_limit / 2  # counted, not set aside
    lens.move_to(400 + 4.5 / camera.blur_rate)
    blurred = sampler.sample(camera.capture(), 10)
    assert blurred.score < 0.8 * sharp.score and blurred.acuity < sharp.acuity
    lens.move_to(400)
    x, y, w, h = roi or (0.25, 0.25, 0.5, 0.5)
    camera.scene = scene.render(0.5, head=(x + w / 2, y + h / 2))
    head = sampler.sample(camera.capture(), 20)
    assert distance(head.cells, sharp.cells) > DriftRules().content_limit
