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
    assert timing.run_timing(checked) == (0.5, False, 0.0, False, 0.0)


def test_a_measured_delay_is_the_start_and_a_manual_settle_overrides_it():
    auto = rules.check_device_sections({"camera": {"settle": 0.5}, "pipeline": MEASURED})
    assert auto["pipeline"] == {"delay": 0.061, "settle": 0.104, "interval": 0.0333, "frames": 3.1,
                                "samples": [0.06, 0.062]}
    # 2 samples: not trusted; the shorter of them is the chain's shortest delay
    assert timing.run_timing(auto) == (0.104, False, 0.104, False, 0.06)
    manual = rules.check_device_sections({"camera": {"settle": 0.5, "settle_mode": "manual"}, "pipeline": MEASURED})
    assert timing.run_timing(manual) == (0.5, True, 0.0, False, 0.0)


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


def test_a_fast_run_does_not_lower_the_next_runs_settle_at_once():
    """The settle is the longest delay kept plus a frame: a run whose far moves all showed
    fast keeps the slow samples of the runs before, until enough newer samples push them out."""
    from octoprint_pifocus.focus.pipeline import Timing

    slow = Timing(delay=0.20, interval=0.033, samples=[0.18, 0.20, 0.31]).to_dict()
    fast = Timing(delay=0.06, interval=0.033, samples=[0.05, 0.06, 0.07])
    kept = timing.merged(slow, fast)
    assert kept.upper == pytest.approx(0.31)
    assert kept.settle >= slow["settle"]
    assert kept.delay == pytest.approx(0.06)  # what this run saw, for the status line
    # Run after fast run, the slow samples roll out and the settle comes down.
    for _ in range(timing.KEEP_SAMPLES // 3 + 1):
        kept = timing.merged(kept.to_dict(), fast)
    assert kept.upper == pytest.approx(0.07)
    assert kept.settle < slow["settle"]
    # Nothing stored yet (or a stored measurement without samples): the run's own timing.
    assert timing.merged(None, fast) is fast
    assert timing.merged({"delay": 0.2, "settle": 0.25}, fast) is fast


def test_the_stored_samples_survive_the_settings_check_and_junk_is_dropped():
    stored = {"delay": 0.1, "settle": 0.2, "samples": [0.1, "x", float("nan"), 0.3, True, 99, 0.2]}
    checked = rules.check_pipeline(stored)
    assert checked["samples"] == [0.1, 0.3, 0.2]
    assert "samples" not in rules.check_pipeline({"delay": 0.1, "settle": 0.2, "samples": "0.1"})


def test_a_measurement_of_enough_moves_is_trusted_and_a_manual_settle_never():
    """A run stops watching at the settle only on a measurement of enough moves: the delay
    test's (it measures more than that) or a few runs'; a manual settle is a guess."""
    from octoprint_pifocus.focus.pipeline import MEASURE_MOVES, TRUSTED_SAMPLES

    assert MEASURE_MOVES >= TRUSTED_SAMPLES
    many = dict(MEASURED, samples=[0.06] * TRUSTED_SAMPLES)
    few = dict(MEASURED, samples=[0.06] * (TRUSTED_SAMPLES - 1))
    def trusts(sections) -> bool:
        return timing.run_timing(rules.check_device_sections(sections)).trusted

    assert trusts({"pipeline": many})
    assert not trusts({"pipeline": few})
    assert not trusts({})
    assert not trusts({"camera": {"settle_mode": "manual"}, "pipeline": many})
