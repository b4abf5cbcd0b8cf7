"""The calibration's plain parts: the printer profile's volume, the checked plan, the stored
map's check and the status summary (no OctoPrint needed; the server tests run the rest)."""
from __future__ import annotations

import pytest

from octoprint_pifocus.followfocus import CalibrationPoint, FocusMap
from octoprint_pifocus.plugin import settings as settings_rules
from octoprint_pifocus.plugin.device.calibration_plan import PlanError, parse_plan, profile_bounds
from octoprint_pifocus.plugin.device.map_summary import GRID, summarize

PROFILE = {"volume": {"width": 220, "depth": 200, "height": 250, "origin": "lowerleft", "custom_box": False}}


def test_the_volume_follows_the_profile_origin_and_custom_box():
    assert profile_bounds(PROFILE) == {"x": (0.0, 220.0), "y": (0.0, 200.0), "z": (0.0, 250.0)}
    delta = {"volume": {"width": 200, "depth": 200, "height": 300, "origin": "center"}}
    assert profile_bounds(delta) == {"x": (-100.0, 100.0), "y": (-100.0, 100.0), "z": (0.0, 300.0)}
    box = {"volume": dict(PROFILE["volume"], custom_box={"x_min": -5, "x_max": 230, "y_min": -3, "y_max": 210,
                                                         "z_min": 0, "z_max": 240})}
    assert profile_bounds(box)["x"] == (-5.0, 230.0) and profile_bounds(box)["z"] == (0.0, 240.0)
    assert profile_bounds(None) is None
    assert profile_bounds({"volume": {"width": "wide"}}) is None


def test_a_plan_is_checked_point_by_point_before_anything_moves():
    bounds = profile_bounds(PROFILE)
    plan = parse_plan({"axes": ["y", "x"], "points": [{"x": 10, "y": "20"}, {"x": 30, "y": 40, "z": 999},
                                                      {"x": 50, "y": 10}]}, printer_z=False, bounds=bounds)
    assert plan.axes == ("x", "y") and plan.surface == "auto"
    assert plan.positions[1] == {"x": 30.0, "y": 40.0}  # axes not mapped are not moved
    with pytest.raises(PlanError, match=r"Point 2: Y 201 mm is outside the printer's volume 0..200 mm"):
        parse_plan({"axes": ["y"], "points": [{"y": 1}, {"y": 201}]}, printer_z=False, bounds=bounds)
    with pytest.raises(ValueError, match="Point 1 needs a finite Z position in mm"):
        parse_plan({"axes": "z", "points": [{"z": float("nan")}, {"z": 1}]}, printer_z=False, bounds=bounds)
    with pytest.raises(PlanError, match="height map"):
        parse_plan({"axes": ["x", "y", "z"], "points": [{}, {}]}, printer_z=True, bounds=bounds)
    with pytest.raises(ValueError, match="'points' must be a list of 2 to 100"):
        parse_plan({"axes": ["y"], "points": [{"y": 1}]}, printer_z=False, bounds=bounds)
    with pytest.raises(ValueError, match="'surface' must be one of"):
        parse_plan({"axes": ["y"], "points": [{"y": 1}, {"y": 2}], "surface": "spline"}, printer_z=False,
                   bounds=bounds)
    with pytest.raises(PlanError, match="no printer profile"):
        parse_plan({"axes": ["y"], "points": [{"y": 1}, {"y": 2}]}, printer_z=False, bounds=None)


def plane_map():
    points = [CalibrationPoint({"x": x, "y": y}, lens=300 + 0.5 * x - 0.25 * y, score=1.0)
              for x in (0, 100, 200) for y in (0, 100, 200)]
    points[4] = CalibrationPoint(points[4].position, lens=999.0, score=0.1, ok=False)
    return FocusMap.fit(points, ["x", "y"], "plane", dof_width=30.0)


def test_the_stored_map_is_checked_and_normalised():
    stored = plane_map().to_dict()
    checked = settings_rules.check_focus_map(stored)
    assert checked["axes"] == ["x", "y"] and len(checked["points"]) == 9
    assert settings_rules.check_focus_map(None) is None
    broken = dict(stored, points=stored["points"][:2])
    with pytest.raises(settings_rules.SettingsError) as info:
        settings_rules.check_focus_map(broken)
    assert info.value.path == "focus_map" and "cannot be used" in info.value.message
    # In a device: refused on its own path, so the stored-settings repair removes only it.
    with pytest.raises(settings_rules.SettingsError) as info:
        settings_rules.check({"devices": [{"id": "camera", "name": "Camera", "focus_map": broken}]})
    assert info.value.device == "camera" and info.value.field == "focus_map"
    # A settings save never writes it: the dialog's copy is ignored.
    current = {"devices": [{"id": "camera", "name": "Camera", "focus_map": stored}]}
    after = settings_rules.apply_submission(current, settings_rules.submitted_sections(
        {"devices": [{"id": "camera", "name": "Camera", "focus_map": None}]}))
    assert after["devices"][0]["focus_map"] == stored


def test_the_summary_gives_residuals_in_dof_the_flags_and_a_grid():
    summary = summarize(plane_map(), units="code")
    assert summary["kind"] == "plane" and summary["units"] == "code"
    assert summary["flagged"] == [4] and summary["points"][4]["flag"] == "failed"
    assert summary["points"][0]["residual_dof"] == pytest.approx(0.0, abs=1e-6)
    assert summary["expected_error_dof"] == pytest.approx(0.0, abs=1e-6)
    grid = summary["grid"]
    assert len(grid["x"]) == GRID and len(grid["values"]) == GRID
    assert grid["values"][0][0] == pytest.approx(300.0) and grid["values"][-1][-1] == pytest.approx(350.0)
    assert set(summary["coefficients"]) >= {"1", "x", "y"} and "knots" not in summary
