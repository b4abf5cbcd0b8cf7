"""The focus map: fits on synthetic data with known truth, outliers, clamping, storage."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from octoprint_pifocus.errors import PiFocusError
from octoprint_pifocus.followfocus import MAX_POINTS, CalibrationPoint, FocusMap, FocusMapError

DOF = 30.0  # lens codes: the whole sharp band


def points_from(truth, positions, noise=0.0, seed=0, ok=None):
    rng = np.random.default_rng(seed)
    result = []
    for i, position in enumerate(positions):
        lens = truth(position) + (rng.normal(0, noise) if noise else 0.0)
        result.append(CalibrationPoint(position=position, lens=lens, score=100.0 + i,
                                       ok=True if ok is None else ok[i]))
    return result


def grid(xs, ys, **extra):
    return [dict(x=float(x), y=float(y), **extra) for y in ys for x in xs]


# ~~ one axis


def test_piecewise_linear_follows_a_curve_through_the_points():
    truth = lambda p: 300 + 4 * p["z"] + 0.3 * p["z"] ** 2  # noqa: E731
    pts = points_from(truth, [{"z": z} for z in (0, 5, 10, 20, 30)])
    fmap = FocusMap.fit(pts, ["z"], dof_width=DOF)
    assert fmap.kind == "piecewise"
    assert fmap.knots == [(0.0, 300.0), (5.0, 327.5), (10.0, 370.0), (20.0, 500.0), (30.0, 690.0)]
    # Between knots: linear interpolation, exactly.
    assert fmap.evaluate({"z": 15}).value == pytest.approx((370 + 500) / 2)
    assert all(f.residual == pytest.approx(0) for f in fmap.fits)
    # The honest error is the leave-one-out one: the middle point predicted from its neighbours.
    loo_10 = fmap.fits[2].loo_residual
    assert loo_10 == pytest.approx(370 - (327.5 + (500 - 327.5) * 5 / 15))
    assert fmap.expected_error is not None and fmap.expected_error > 0
    assert fmap.expected_error_dof == pytest.approx(fmap.expected_error / DOF)
    assert fmap.outliers == ()


def test_points_at_one_position_are_averaged():
    pts = [CalibrationPoint({"y": 10}, 100), CalibrationPoint({"y": 10}, 110), CalibrationPoint({"y": 50}, 200)]
    fmap = FocusMap.fit(pts, ["y"])
    assert fmap.knots == [(10.0, 105.0), (50.0, 200.0)]
    assert [f.residual for f in fmap.fits] == pytest.approx([-5, 5, 0])


def test_clamps_outside_the_calibrated_range_and_says_which_axis():
    pts = points_from(lambda p: 500 - 2 * p["z"], [{"z": z} for z in (2, 4, 6, 8)])
    fmap = FocusMap.fit(pts, ["z"])
    assert fmap.evaluate({"z": 5}) == (490.0, False, ())
    assert fmap.evaluate({"z": 8}) == (484.0, False, ())   # the edge itself is inside
    assert fmap.evaluate({"z": 20}) == (484.0, True, ("z",))
    assert fmap.evaluate({"z": -3, "x": 999}) == (496.0, True, ("z",))  # other axes do not matter


def test_unknown_position_is_a_clear_error():
    fmap = FocusMap.fit(points_from(lambda p: p["z"], [{"z": 0}, {"z": 1}]), ["z"])
    for position in ({"z": None}, {}, {"z": float("nan")}):
        with pytest.raises(FocusMapError, match="Z position is not known"):
            fmap.evaluate(position)


# ~~ surfaces


def test_plane_recovers_known_coefficients_under_noise():
    truth = lambda p: 420 + 0.8 * p["x"] - 1.3 * p["y"]  # noqa: E731
    pts = points_from(truth, grid([20, 110, 200], [20, 110, 200]), noise=2.0, seed=1)
    fmap = FocusMap.fit(pts, ["x", "y"], surface="plane", dof_width=DOF)
    assert fmap.kind == "plane"
    c = fmap.coefficients
    assert c["1"] == pytest.approx(420, abs=4)
    assert c["x"] == pytest.approx(0.8, abs=0.03)
    assert c["y"] == pytest.approx(-1.3, abs=0.03)
    residuals = np.array([f.residual for f in fmap.fits])
    assert np.sqrt(np.mean(residuals ** 2)) < 3.0   # about the noise, no more
    assert 1.0 < fmap.expected_error < 5.0
    assert fmap.expected_error_dof < 0.2
    assert fmap.outliers == ()


def test_quadratic_surface_recovers_a_warped_bed():
    truth = lambda p: 300 + 0.5 * p["x"] + 0.2 * p["y"] + 0.004 * p["x"] ** 2 - 0.002 * p["x"] * p["y"] + 0.003 * p["y"] ** 2  # noqa: E731,E501
    pts = points_from(truth, grid([0, 50, 100, 150, 200], [0, 50, 100, 150, 200]), noise=1.0, seed=2)
    fmap = FocusMap.fit(pts, ["x", "y"], dof_width=DOF)   # auto: enough points for quadratic
    assert fmap.kind == "quadratic"
    c = fmap.coefficients
    for name, want, tol in [("1", 300, 2), ("x", 0.5, 0.03), ("y", 0.2, 0.03), ("x2", 0.004, 2e-4),
                            ("xy", -0.002, 2e-4), ("y2", 0.003, 2e-4)]:
        assert c[name] == pytest.approx(want, abs=tol), name
    # Unseen positions: within a fraction of the depth of field.
    for x, y in [(25, 175), (130, 60), (190, 190)]:
        assert abs(fmap.evaluate({"x": x, "y": y}).value - truth({"x": x, "y": y})) < 0.1 * DOF
    # A plane on the same warped data is visibly worse, and says so in its error.
    plane = FocusMap.fit(pts, ["x", "y"], surface="plane", dof_width=DOF)
    assert plane.expected_error > 5 * fmap.expected_error


def test_auto_takes_a_plane_for_corners_and_centre_and_quadratic_falls_back():
    truth = lambda p: 100 + p["x"] - p["y"]  # noqa: E731
    five = [{"x": 0, "y": 0}, {"x": 200, "y": 0}, {"x": 0, "y": 200}, {"x": 200, "y": 200}, {"x": 100, "y": 100}]
    fmap = FocusMap.fit(points_from(truth, five), ["x", "y"])
    assert (fmap.kind, fmap.note) == ("plane", "")
    asked = FocusMap.fit(points_from(truth, five), ["x", "y"], surface="quadratic")
    assert asked.kind == "plane"
    assert "Too few points for a quadratic surface" in asked.note and "5 were usable" in asked.note
    assert asked.coefficients == pytest.approx({"1": 100, "x": 1, "y": -1})


def test_xyz_is_a_plane_plus_linear_z():
    truth = lambda p: 250 + 0.3 * p["x"] - 0.6 * p["y"] - 5 * p["z"]  # noqa: E731
    positions = [dict(x=x, y=y, z=z) for z in (0, 10, 20) for x, y in ((0, 0), (200, 0), (100, 200))]
    fmap = FocusMap.fit(points_from(truth, positions, noise=0.5, seed=3), ["x", "y", "z"])
    assert fmap.kind == "plane+z"
    c = fmap.coefficients
    assert c["z"] == pytest.approx(-5, abs=0.1)
    assert c["x"] == pytest.approx(0.3, abs=0.02)
    assert c["y"] == pytest.approx(-0.6, abs=0.02)


# ~~ outliers


def test_failed_autofocus_is_left_out_and_flagged():
    truth = lambda p: 400 - 3 * p["z"]  # noqa: E731
    zs = [{"z": z} for z in (0, 5, 10, 15, 20)]
    pts = points_from(truth, zs, ok=[True, True, False, True, True])
    pts[2] = CalibrationPoint({"z": 10}, lens=0.0, score=0.0, ok=False)   # what a failed run leaves
    fmap = FocusMap.fit(pts, ["z"], dof_width=DOF)
    assert [f.flag for f in fmap.fits] == [None, None, "failed", None, None]
    assert fmap.evaluate({"z": 10}).value == pytest.approx(370)
    assert fmap.fits[2].residual == pytest.approx(-370)   # shown, so the user sees how far off


@pytest.mark.parametrize("bad", [0, 3, 6])
def test_a_wild_point_is_flagged_and_left_out(bad):
    """A bad frame fooled one autofocus: the map ignores it, wherever it is on the line."""
    truth = lambda p: 600 - 4 * p["z"]  # noqa: E731
    pts = points_from(truth, [{"z": z} for z in range(0, 35, 5)], noise=2.0, seed=4)
    pts[bad] = CalibrationPoint(pts[bad].position, pts[bad].lens + 150, 10.0)
    fmap = FocusMap.fit(pts, ["z"], dof_width=DOF)
    assert fmap.outliers == (bad,)
    assert fmap.fits[bad].flag == "outlier"
    assert fmap.fits[bad].loo_residual == pytest.approx(150, abs=20)
    z = pts[bad].position["z"]
    here = fmap.evaluate({"z": z})
    if bad in (0, 6):
        # A flagged end point no longer counts as calibrated: the map clamps there.
        assert here.clamped and here.value == pytest.approx(pts[1 if bad == 0 else 5].lens)
    else:
        assert not here.clamped and abs(here.value - truth({"z": z})) < 0.25 * DOF


def test_surface_outlier_flagged_by_mad_and_noise_is_not():
    truth = lambda p: 420 + 0.8 * p["x"] - 1.3 * p["y"]  # noqa: E731
    pts = points_from(truth, grid([0, 100, 200], [0, 100, 200]), noise=3.0, seed=5)
    clean = FocusMap.fit(pts, ["x", "y"], surface="plane", dof_width=DOF)
    assert clean.outliers == ()
    pts[4] = CalibrationPoint(pts[4].position, pts[4].lens - 90, 5.0)
    fmap = FocusMap.fit(pts, ["x", "y"], surface="plane", dof_width=DOF)
    assert fmap.outliers == (4,)
    assert fmap.coefficients["x"] == pytest.approx(0.8, abs=0.05)
    kept = FocusMap.fit(pts, ["x", "y"], surface="plane", dof_width=DOF, drop_outliers=False)
    assert kept.outliers == () and kept.expected_error > 3 * fmap.expected_error


# ~~ too few points


@pytest.mark.parametrize("axes, positions, ok, words", [
    (["z"], [{"z": 1}], None, "at least 2 points at different Z positions, and 1 usable point were given"),
    (["z"], [{"z": 1}, {"z": 1}], None, "at least 2 points at different Z"),
    (["z"], [{"z": 1}, {"z": 2}], [True, False], "(1 failed autofocus left out)"),
    (["x", "y"], [{"x": 0, "y": 0}, {"x": 10, "y": 10}], None, "at least 3 points that are not all on one line"),
    (["x", "y"], [{"x": 0, "y": 0}, {"x": 10, "y": 10}, {"x": 20, "y": 20}, {"x": 30, "y": 30}], None,
     "not all on one line"),
    (["x", "y", "z"], [dict(x=x, y=y, z=1) for x, y in ((0, 0), (9, 0), (0, 9), (9, 9))], None, "not all at one Z"),
])
def test_too_few_points_is_refused_with_what_to_do(axes, positions, ok, words):
    with pytest.raises(FocusMapError) as caught:
        FocusMap.fit(points_from(lambda p: 1.0, positions, ok=ok), axes)
    assert words in str(caught.value)
    assert "Add points and calibrate again" in str(caught.value)
    assert isinstance(caught.value, PiFocusError)


@pytest.mark.parametrize("kwargs, words", [
    (dict(axes=["x", "z"]), "axis sets"),
    (dict(axes=["q"]), "axis sets"),
    (dict(axes=["z"], surface="cubic"), "surface must be one of"),
    (dict(axes=["z"], dof_width=0), "depth of field"),
    (dict(axes=["z"], dof_width=float("inf")), "depth of field"),
])
def test_bad_choices_are_refused(kwargs, words):
    pts = points_from(lambda p: 1.0, [{"x": 0, "y": 0, "z": 0}, {"x": 1, "y": 2, "z": 1}])
    with pytest.raises(FocusMapError, match=words):
        FocusMap.fit(pts, **kwargs)


def test_bad_points_are_refused():
    good = CalibrationPoint({"z": 1}, 10)
    for bad, words in [(CalibrationPoint({"z": float("nan")}, 1), "no usable Z position"),
                       (CalibrationPoint({"y": 1}, 1), "no usable Z position"),
                       (CalibrationPoint({"z": 2}, float("inf")), "no usable lens position"),
                       (CalibrationPoint({"z": 2}, 1, score=float("nan")), "score"),
                       ((2, 1), "not a calibration point")]:
        with pytest.raises(FocusMapError, match=words):
            FocusMap.fit([good, bad], ["z"])
    with pytest.raises(FocusMapError, match=f"at most {MAX_POINTS}"):
        FocusMap.fit([CalibrationPoint({"z": i}, i) for i in range(MAX_POINTS + 1)], ["z"])


# ~~ storage


@pytest.mark.parametrize("axes", [["z"], ["x", "y"], ["x", "y", "z"]])
def test_round_trip_through_json(axes):
    truth = lambda p: 300 + sum(0.5 * p.get(a, 0) for a in "xyz")  # noqa: E731
    positions = [dict(x=x, y=y, z=z) for z in (0, 10) for x, y in ((0, 0), (100, 0), (0, 100), (100, 100))]
    pts = points_from(truth, positions, noise=1.0, seed=6)
    fmap = FocusMap.fit(pts, axes, dof_width=DOF)
    stored = json.loads(json.dumps(fmap.to_dict()))      # what settings storage does to it
    again = FocusMap.from_dict(stored)
    assert again.axes == fmap.axes and again.kind == fmap.kind and again.dof_width == DOF
    assert again.points == fmap.points
    for position in positions:
        assert again.evaluate(position) == fmap.evaluate(position)
    assert stored["model"]["kind"] == fmap.kind
    assert len(stored["model"]["residuals"]) == len(pts)


def test_round_trip_keeps_failed_points_and_flags():
    pts = points_from(lambda p: 2 * p["z"], [{"z": z} for z in range(6)], ok=[True] * 5 + [False])
    again = FocusMap.from_dict(FocusMap.fit(pts, ["z"]).to_dict())
    assert [f.flag for f in again.fits] == [None] * 5 + ["failed"]


def stored_map():
    pts = points_from(lambda p: p["x"] + p["y"], grid([0, 10], [0, 10]))
    return FocusMap.fit(pts, ["x", "y"]).to_dict()


def broken(change):
    data = json.loads(json.dumps(stored_map()))
    change(data)
    return data


@pytest.mark.parametrize("data, words", [
    (None, "it is a NoneType, not a mapping"),
    ([1, 2], "it is a list"),
    (broken(lambda d: d.update(version=7)), "version 7"),
    (broken(lambda d: d.pop("axes")), "names no axes"),
    (broken(lambda d: d.update(axes=["x", "w"])), "axis sets"),
    (broken(lambda d: d.update(surface="blob")), "surface 'blob'"),
    (broken(lambda d: d.update(dof_width=-1)), "depth of field -1"),
    (broken(lambda d: d.update(dof_width="wide")), "depth of field 'wide'"),
    (broken(lambda d: d.update(points="many")), "no list of points"),
    (broken(lambda d: d.update(points=d["points"] * 30)), "more than 100"),
    (broken(lambda d: d["points"].__setitem__(1, "p")), "point 2 is not a mapping"),
    (broken(lambda d: d["points"][1].pop("position")), "point 2 has no position"),
    (broken(lambda d: d["points"][1]["position"].pop("y")), "point 2 has no Y position"),
    (broken(lambda d: d["points"][1]["position"].update(x=float("nan"))), "X position that is not a finite"),
    (broken(lambda d: d["points"][1]["position"].update(x=True)), "X position that is not a finite"),
    (broken(lambda d: d["points"][1]["position"].update(x=1e12)), "X position that is not a finite"),
    (broken(lambda d: d["points"][1]["position"].update(e=3)), "unknown axis 'e'"),
    (broken(lambda d: d["points"][0].update(lens="400")), "point 1 has no usable lens position"),
    (broken(lambda d: d["points"][0].update(score=None)), "point 1 has a score"),
    (broken(lambda d: d["points"][0].update(ok="yes")), "'ok' that is not true or false"),
    (broken(lambda d: d.update(model=[1])), "model is not a mapping"),
    (broken(lambda d: d.update(points=d["points"][:2])), "Not enough calibration points"),
])
def test_bad_stored_map_is_a_clear_error(data, words):
    with pytest.raises(FocusMapError) as caught:
        FocusMap.from_dict(data)
    message = str(caught.value)
    assert message.startswith("The stored focus map cannot be used: ")
    assert words in message
    assert message.endswith("Calibrate the map again.")


def test_stored_model_is_for_display_and_refitted():
    """A stored model that disagrees with its points loses: the points are the truth."""
    data = stored_map()
    data["model"]["coefficients"] = {"1": 1e9, "x": 0, "y": 0}
    fmap = FocusMap.from_dict(data)
    assert fmap.evaluate({"x": 5, "y": 5}).value == pytest.approx(10)
    assert math.isfinite(fmap.expected_error or 0.0)
