"""End to end in the engine: the simulated camera's focus follows the toolhead, the REAL
autofocus calibrates a map at a few positions, and the map keeps unseen positions sharp."""
from __future__ import annotations

import numpy as np
import pytest

from octoprint_pifocus.focus import autofocus
from octoprint_pifocus.followfocus import (CalibrationPoint, FocusMap, FocusMapError, Follower, MotionTimeline,
                                           ToolheadTracker, calibrate, corners_and_centre, grid_points)
from octoprint_pifocus.sim import (FocusField, SimulatedCamera, SimulatedLens, bed_camera_field, draw_scene,
                                   microscope_field)

#: Blur radius (px) that still counts as sharp, as in test_focus_search.py.
DOF_BLUR = 0.75


@pytest.fixture(scope="module")
def scene():
    return draw_scene(640, 360)


# ~~ the simulation


def test_focus_field_values():
    field = FocusField(100.0, slopes={"y": 2.0, "z": -1.0}, reference={"y": 10.0}, warp=0.01)
    assert field({"x": 0, "y": 10, "z": 0}) == 100.0
    assert field({"x": 5, "y": 20, "z": 4}) == pytest.approx(100 + 20 - 4 + 0.01 * (25 + 100))
    assert field({"x": None, "y": None, "z": None}) == 100.0   # unknown axes sit at the reference
    with pytest.raises(ValueError, match="unknown axis"):
        FocusField(1.0, slopes={"e": 1.0})
    with pytest.raises(ValueError, match="finite"):
        FocusField(1.0, reference={"x": float("nan")})


def test_presets_move_focus_the_way_the_hardware_would():
    bed = bed_camera_field(340.0)
    assert bed({"x": 0, "y": 110, "z": 0}) == 340.0
    assert bed({"x": 200, "y": 110, "z": 0}) == 340.0            # X does not change the distance
    assert bed({"x": 0, "y": 160, "z": 0}) == pytest.approx(400.0)
    assert bed({"x": 0, "y": 110, "z": 20}) == pytest.approx(300.0)
    scope = microscope_field(5.0)
    assert scope({"x": 100, "y": 100, "z": 7}) == 5.0            # Z is the lens itself here
    assert scope({"x": 200, "y": 0, "z": 0}) == pytest.approx(5.0 + 0.6 + 0.4)


def test_camera_without_a_field_keeps_its_focus(scene):
    lens = SimulatedLens(start=300)
    camera = SimulatedCamera(scene, lens, 300.0, seed=0)
    assert camera.focus_field is None and camera.blur_radius() == 0.0
    with pytest.raises(ValueError, match="no focus field"):
        camera.set_toolhead({"y": 50})
    assert camera.focus_position == 300.0


def test_camera_with_a_field_blurs_as_the_bed_moves(scene):
    lens = SimulatedLens(start=340)
    camera = SimulatedCamera(scene, lens, 0.0, blur_rate=0.05, seed=0, focus_field=bed_camera_field(340.0))
    assert camera.set_toolhead({"x": 0, "y": 110, "z": 0}) == 340.0
    assert camera.blur_radius() == 0.0
    camera.set_toolhead({"x": 0, "y": 160, "z": 0})
    assert camera.blur_radius() == pytest.approx(0.05 * 60)


# ~~ planning points


def test_grid_points_serpentine_and_limits():
    pts = grid_points({"x": (0, 100), "y": (0, 50)}, 3)
    assert len(pts) == 9
    assert pts[:4] == [{"x": 0.0, "y": 0.0}, {"x": 0.0, "y": 25.0}, {"x": 0.0, "y": 50.0}, {"x": 50.0, "y": 50.0}]
    assert grid_points({"z": (1, 3)}, 3) == [{"z": 1.0}, {"z": 2.0}, {"z": 3.0}]
    with pytest.raises(FocusMapError, match="at least 2 points per axis"):
        grid_points({"z": (0, 1)}, 1)
    with pytest.raises(FocusMapError, match="from low to high"):
        grid_points({"z": (3, 1)}, 3)
    with pytest.raises(FocusMapError, match="at most 100"):
        grid_points({"x": (0, 1), "y": (0, 1), "z": (0, 1)}, 5)


def test_corners_and_centre():
    pts = corners_and_centre({"x": (10, 30), "y": (0, 40), "z": (2, 4)})
    assert pts[-1] == {"x": 20.0, "y": 20.0, "z": 3.0}
    assert {(p["x"], p["y"]) for p in pts[:4]} == {(10, 0), (30, 0), (30, 40), (10, 40)}


# ~~ calibrate with the real autofocus, then predict


def run_calibration(camera, lens, positions, refine=False):
    def go_to(position):
        camera.set_toolhead(position)

    return calibrate(positions, go_to, lambda: autofocus(lens, camera, refine=refine))


def check_unseen(fmap, camera, lens, positions, resolution=1):
    """Move the lens to the map's value at each unseen position: the frame must be sharp."""
    worst = 0.0
    for position in positions:
        truth = camera.set_toolhead(position)
        evaluation = fmap.evaluate(position)
        assert not evaluation.clamped
        target = round(evaluation.value / resolution) * resolution
        lens.move_to(min(max(target, lens.limits[0]), lens.limits[1]))
        worst = max(worst, camera.blur_radius())
        assert camera.blur_radius() <= DOF_BLUR, (position, evaluation.value, truth)
    return worst


def test_bed_camera_map_over_x_y_z_from_real_autofocus(scene):
    lens = SimulatedLens(start=700, hysteresis=4)
    camera = SimulatedCamera(scene, lens, 0.0, blur_rate=0.05, noise=3.0, flicker=0.03, seed=11,
                             focus_field=bed_camera_field(340.0))
    positions = grid_points({"x": (40, 180), "y": (60, 160), "z": (0, 30)}, 2)
    points = run_calibration(camera, lens, positions)
    assert len(points) == 8 and all(p.ok for p in points)
    dof_width = 2 * DOF_BLUR / 0.05
    fmap = FocusMap.fit(points, ["x", "y", "z"], dof_width=dof_width)
    assert fmap.kind == "plane+z"
    c = fmap.coefficients
    assert c["y"] == pytest.approx(1.2, abs=0.1)
    assert c["z"] == pytest.approx(-2.0, abs=0.3)
    assert abs(c["x"]) < 0.1
    assert fmap.expected_error_dof < 0.5
    rng = np.random.default_rng(12)
    unseen = [dict(x=float(x), y=float(y), z=float(z)) for x, y, z in
              zip(rng.uniform(40, 180, 6), rng.uniform(60, 160, 6), rng.uniform(0, 30, 6))]
    check_unseen(fmap, camera, lens, unseen)


def test_microscope_height_map_over_x_y_from_real_autofocus(scene):
    """The microscope's lens is printer Z (mm): the map is a height map of the board."""
    lens = SimulatedLens(limits=(3.0, 9.0), resolution=0.01, start=8.0, name="printer Z", units="mm")
    camera = SimulatedCamera(scene, lens, 0.0, blur_rate=8.0, noise=3.0, flicker=0.03, seed=21,
                             focus_field=microscope_field(5.0))
    points = run_calibration(camera, lens, corners_and_centre({"x": (20, 180), "y": (20, 180)}))
    fmap = FocusMap.fit(points, ["x", "y"], dof_width=2 * DOF_BLUR / 8.0)
    assert fmap.kind == "plane"
    assert fmap.coefficients["x"] == pytest.approx(0.006, abs=0.001)
    assert fmap.coefficients["y"] == pytest.approx(-0.004, abs=0.001)
    unseen = [{"x": 50.0, "y": 150.0}, {"x": 170.0, "y": 30.0}, {"x": 100.0, "y": 60.0}]
    check_unseen(fmap, camera, lens, unseen, resolution=0.01)


def test_layer_heights_with_a_failed_point_and_the_follower(scene):
    """A Z-only map from 4 heights, one of them a failed autofocus (lens capped away from the
    scene's focus so no peak shows); then a tracker and follower keep a print sharp."""
    lens = SimulatedLens(start=500)
    camera = SimulatedCamera(scene, lens, 0.0, blur_rate=0.05, noise=3.0, flicker=0.03, seed=31,
                             focus_field=FocusField(420.0, slopes={"z": -4.0}))
    points = run_calibration(camera, lens, [{"z": z} for z in (0.0, 10.0, 20.0, 30.0)])
    # A fifth point where the scene is blank (a hand in front of the camera): no peak.
    blank = SimulatedCamera(np.full_like(scene, 128), lens, 0.0, noise=3.0, seed=32,
                            focus_field=FocusField(420.0, slopes={"z": -4.0}))
    points += run_calibration(blank, lens, [{"z": 15.0}])
    assert [p.ok for p in points] == [True, True, True, True, False]
    fmap = FocusMap.fit(points, ["z"], dof_width=30.0)
    assert fmap.fits[-1].flag == "failed"

    tracker = ToolheadTracker()
    follower = Follower(fmap, lens.limits, lens.resolution, dof_width=30.0, min_interval=0)
    tracker.feed("G28")
    for layer in range(1, 121):
        z = round(layer * 0.25, 2)
        tracker.feed(f"G1 Z{z} F600")
        decision = follower.decide(tracker.position, lens.position)
        if decision.action == "move":
            lens.move_to(decision.target)
        camera.set_toolhead(tracker.position)
        assert camera.blur_radius() <= DOF_BLUR, (z, lens.position, camera.focus_position)
    # 120 layers, 120 codes of focus travel: far fewer moves than layers.
    assert 5 <= follower.moves <= 40


def y_travel_print(timeline_on: bool):
    """Long Y moves at print speed on a bed camera; the share of 0.1 s samples kept sharp.

    The map is fitted on the field's own values (the autofocus part is tested above), so
    this checks the tracker, the timeline and the follower together, with a fake clock.
    """
    field = bed_camera_field(340.0)
    positions = grid_points({"x": (80, 140), "y": (50, 170), "z": (0, 10)}, 2)
    fmap = FocusMap.fit([CalibrationPoint(p, field(p)) for p in positions], ["x", "y", "z"])
    clock = [0.0]
    follower = Follower(fmap, (0, 1023), 1, dof_width=30.0, min_interval=0.25, clock=lambda: clock[0])
    tracker, timeline = ToolheadTracker(), MotionTimeline()
    lens = SimulatedLens(start=340)
    lines = ["G28", "G1 F6000 X100 Y60 Z0.2"] + [f"G1 F2400 Y{170 if i % 2 == 0 else 60} X{100 + i}"
                                                 for i in range(12)]
    sharp = total = 0
    for line in lines:
        before = tracker.position
        tracker.feed(line)
        timeline.add(before, tracker.position, tracker.feedrate, sent_at=clock[0])
        end = timeline.busy_until()
        if not timeline_on:
            decision = follower.decide(tracker.position, lens.position)
            if decision.action == "move":
                lens.move_to(decision.target)
        while clock[0] < end:
            if timeline_on and round(clock[0] / 0.25, 6).is_integer():
                decision = follower.decide(timeline.position_at(clock[0] + 0.125), lens.position)
                if decision.action == "move":
                    lens.move_to(decision.target)
            truth = timeline.position_at(clock[0])          # the printer runs lines as sent here
            if None not in truth.values():
                total += 1
                sharp += abs(lens.position - field(truth)) * 0.05 <= DOF_BLUR
            clock[0] = round(clock[0] + 0.05, 6)
    return sharp / total


def test_long_y_moves_need_the_timeline():
    """Setting the lens once per line leaves most of a 110 mm Y move blurred; following the
    timed position keeps it sharp."""
    assert y_travel_print(timeline_on=True) >= 0.95
    assert y_travel_print(timeline_on=False) < 0.5
