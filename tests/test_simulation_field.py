"""The simulated camera's sharp position follows the toolhead (simulation.focus_field)."""
from __future__ import annotations

import pytest

from octoprint_pifocus.plugin.simulation import Simulation, SimulationSettingError, SimulationSettings

SMALL = dict(width=320, height=180, noise=0.0)


class Head:
    def __init__(self, **position):
        self.position = dict(position)

    def __call__(self):
        return self.position


def test_bed_field_moves_the_sharp_vcm_code_with_y_and_z():
    head = Head(x=0.0, y=110.0, z=0.0)
    sim = Simulation(SimulationSettings(focus_field="bed", **SMALL), toolhead=head, lens_position=340)
    assert sim.sharp_position() == pytest.approx(340.0)
    assert sim.blur_radius() == pytest.approx(0.0)
    head.position["y"] = 160.0                      # the bed 50 mm further: 1.2 codes per mm
    assert sim.sharp_position() == pytest.approx(400.0)
    assert sim.blur_radius() == pytest.approx(0.05 * 60)
    head.position["z"] = 10.0                       # ten layers up: 2 codes less per mm
    assert sim.sharp_position() == pytest.approx(380.0)
    assert sim.status()["focus_field"] == "bed"


def test_frames_follow_the_field_not_a_cached_picture():
    import cv2
    import numpy as np

    def sharpness(jpeg):
        image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_GRAYSCALE)
        return float(cv2.Laplacian(image, cv2.CV_64F).var())

    head = Head(y=110.0, z=0.0)
    sim = Simulation(SimulationSettings(focus_field="bed", **SMALL), toolhead=head, lens_position=340)
    sharp = sharpness(sim.frame())
    head.position["y"] = 200.0                      # same lens position, another sharp one
    assert sharpness(sim.frame()) < sharp / 3


def test_tilt_field_for_the_microscope_on_printer_z():
    head = Head(x=100.0, y=100.0, z=5.0)
    z = {"value": 5.0}
    settings = SimulationSettings(lens="printer_z", focus_field="tilt", **SMALL)
    sim = Simulation(settings, position_source=lambda: z["value"], toolhead=head)
    assert sim.sharp_position() == pytest.approx(5.0)
    head.position.update(x=200.0, y=0.0)            # +0.6 mm over 100 mm of X, +0.4 over -100 of Y
    assert sim.sharp_position() == pytest.approx(6.0)
    assert sim.status()["focus_field"] == "tilt"


def test_each_lens_takes_its_own_field_and_none_keeps_the_focus_fixed():
    head = Head(x=0.0, y=0.0, z=0.0)
    # "tilt" concerns printer-Z microscopes: a VCM camera keeps its fixed focus.
    vcm = Simulation(SimulationSettings(focus_field="tilt", **SMALL), toolhead=head)
    assert vcm.sharp_position() == 340.0 and vcm.status()["focus_field"] == "none"
    both = Simulation(SimulationSettings(focus_field="both", **SMALL), toolhead=head)
    assert both.sharp_position() == pytest.approx(340.0 - 1.2 * 110)
    fixed = Simulation(SimulationSettings(**SMALL), toolhead=head)
    assert fixed.sharp_position() == 340.0
    # Nothing known about the toolhead yet: the field's reference position.
    unknown = Simulation(SimulationSettings(focus_field="bed", **SMALL), toolhead=lambda: None)
    assert unknown.sharp_position() == 340.0


def test_a_bad_field_is_refused_by_name():
    with pytest.raises(SimulationSettingError) as caught:
        SimulationSettings.from_dict({"focus_field": "wobbly"})
    assert caught.value.field == "focus_field" and "none, bed, tilt, both" in str(caught.value)
