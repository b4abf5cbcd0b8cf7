"""A device's camera timing settings: the measured ("auto") or fixed ("manual") wait after a
move, and the stored measurement (the managed ``pipeline`` key)."""
from __future__ import annotations

import pytest

from octoprint_pifocus.plugin import settings as rules
from octoprint_pifocus.plugin.device import timing

MEASURED = {"delay": 0.061, "interval": 0.0333, "settle": 0.104, "frames": 3.1, "samples": [0.06, 0.062]}


def test_an_old_config_keeps_its_settle_and_measures_from_then_on():
    checked = rules.check_device_sections({"camera": {"settle": 0.5, "mode": "stream"}})
    assert checked["camera"]["settle"] == 0.5
    assert checked["camera"]["settle_mode"] == "auto"
    assert checked["pipeline"] is None
    # Nothing measured yet: the run starts from the old settle, and measures.
    assert timing.start_settle(checked) == (0.5, False)


def test_a_measured_delay_is_the_start_and_a_manual_settle_overrides_it():
    auto = rules.check_device_sections({"camera": {"settle": 0.5}, "pipeline": MEASURED})
    assert auto["pipeline"] == {"delay": 0.061, "settle": 0.104, "interval": 0.0333, "frames": 3.1}
    assert timing.start_settle(auto) == (0.104, False)
    manual = rules.check_device_sections({"camera": {"settle": 0.5, "settle_mode": "manual"}, "pipeline": MEASURED})
    assert timing.start_settle(manual) == (0.5, True)


@pytest.mark.parametrize("stored", ["fast", [1, 2], {"delay": "soon", "settle": 1}, {"delay": float("nan"), "settle": 1},
                                    {"delay": 0.1, "settle": 0}, {"settle": 0.2}])
def test_an_unusable_stored_measurement_is_forgotten_not_refused(stored):
    # Only the plugin writes it; a hand-edited value must not stop the device loading.
    assert rules.check_device_sections({"pipeline": stored})["pipeline"] is None


def test_an_unknown_settle_mode_is_refused_by_name():
    with pytest.raises(rules.SettingsError) as caught:
        rules.check_device_sections({"camera": {"settle_mode": "sometimes"}})
    assert caught.value.field == "camera.settle_mode"


def test_a_settings_save_never_overwrites_the_measurement():
    current = rules.check({"devices": [{"id": "a", "name": "A", "pipeline": MEASURED}]})
    after = rules.check(rules.apply_submission(current, {"devices": [
        {"id": "a", "name": "A", "pipeline": None, "camera": {"settle_mode": "manual"}}]}))
    device = after["devices"][0]
    assert device["pipeline"]["delay"] == 0.061
    assert device["camera"]["settle_mode"] == "manual"


def test_the_delay_is_told_in_frames_where_the_rate_is_known():
    assert timing.describe(MEASURED) == "Camera delay 61 ms; settle 104 ms (3.1 frames)."
    assert timing.describe(dict(MEASURED, frames=None)) == "Camera delay 61 ms; settle 104 ms."
