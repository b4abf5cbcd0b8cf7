"""The ``follow`` section of a device's settings: defaults, checks, and the driver's depth of field."""
from __future__ import annotations

import pytest

from octoprint_pifocus.plugin import settings as rules
from octoprint_pifocus.plugin.device.follow import default_dof


def test_defaults_are_off_with_the_driver_deciding_the_depth_of_field():
    checked = rules.check_device_sections({})
    assert checked["follow"] == {"enabled": False, "interval": 0.5, "threshold": 0.25, "dof_width": None}


def test_numbers_from_the_form_are_taken_and_bad_ones_named():
    checked = rules.check_device_sections({"follow": {"enabled": True, "interval": "0.25", "threshold": 1,
                                                      "dof_width": "12"}})
    assert checked["follow"] == {"enabled": True, "interval": 0.25, "threshold": 1.0, "dof_width": 12.0}
    for section, path in (({"interval": 0}, "follow.interval"), ({"interval": "nan"}, "follow.interval"),
                          ({"threshold": -1}, "follow.threshold"), ({"dof_width": 0}, "follow.dof_width"),
                          ({"enabled": "maybe"}, "follow.enabled")):
        with pytest.raises(rules.SettingsError) as caught:
            rules.check_device_sections({"follow": section})
        assert caught.value.field == path


def test_each_driver_has_a_depth_of_field_in_its_units():
    assert default_dof("simulated", (0, 1023)) == 30.0
    assert default_dof("i2c", (0, 1023)) == 30.0
    assert default_dof("camera-streamer", (0.0, 12.0)) == 0.25
    assert default_dof("printer-z", (3.0, 9.0)) == 0.2
    assert default_dof("v4l2", (0, 255)) == pytest.approx(7.65)
