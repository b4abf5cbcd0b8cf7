"""When the follower moves the lens: threshold, interval, resolution, limits, the clamp notice."""
from __future__ import annotations

import pytest

from octoprint_pifocus.followfocus import CalibrationPoint, FocusMap, Follower


class FakeClock:
    """Seconds that pass only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def line_map(slope=2.0, start=300.0, zs=(0, 10, 20)):
    """Lens = start + slope·z, calibrated over zs."""
    return FocusMap.fit([CalibrationPoint({"z": z}, start + slope * z) for z in zs], ["z"])


def follower(fmap=None, clock=None, **kw):
    kw.setdefault("limits", (0, 1023))
    kw.setdefault("resolution", 1)
    kw.setdefault("dof_width", 20.0)
    return Follower(fmap or line_map(), clock=clock or FakeClock(), **kw)


def test_moves_only_past_the_threshold():
    clock = FakeClock()
    f = follower(clock=clock, threshold=0.25)        # 5 codes
    first = f.decide({"z": 5}, lens_position=None)
    assert (first.action, first.target) == ("move", 310)
    clock.now += 10
    assert f.decide({"z": 6}, lens_position=310).action == "hold"      # 2 codes off
    assert f.decide({"z": 7.5}, lens_position=310).action == "hold"    # 5 codes: not more than
    moved = f.decide({"z": 8}, lens_position=310)
    assert (moved.action, moved.target) == ("move", 316)
    assert f.moves == 2


def test_never_more_often_than_the_interval():
    clock = FakeClock()
    f = follower(clock=clock, min_interval=0.5, threshold=0.1)
    assert f.decide({"z": 0}, 512).action == "move"
    clock.now += 0.2
    early = f.decide({"z": 10}, 300)
    assert early.action == "wait" and early.target == 320
    assert early.due_in == pytest.approx(0.3)
    clock.now += 0.3
    later = f.decide({"z": 10}, 300)
    assert (later.action, later.target) == ("move", 320)
    # A hold does not start the interval: only moves do.
    clock.now += 0.1
    assert f.decide({"z": 10}, 320).action == "hold"
    assert f.decide({"z": 20}, 320).action == "wait"


def test_snaps_to_resolution_and_stays_inside_limits():
    fmap = line_map(slope=0.013, start=1.0)           # dioptres: 1.0 .. 1.26
    f = follower(fmap, limits=(0.0, 1.2), resolution=0.05, dof_width=0.1, threshold=0.0, min_interval=0)
    assert f.decide({"z": 3}, None).target == 1.05      # 1.039 -> 1.05
    assert f.decide({"z": 20}, None).target == 1.2      # 1.26 clamped to the lens limit
    assert f.snap(-4) == 0.0 and f.snap(0.1 * 3) == 0.3
    odd = follower(limits=(0, 10.5), resolution=1, threshold=0, min_interval=0)
    assert odd.snap(10.4) == 10.0                       # the grid's last step inside the limit


def test_outside_the_calibrated_range_is_said_once_per_excursion():
    clock = FakeClock()
    f = follower(clock=clock, min_interval=0)
    assert f.decide({"z": 5}, None).notice is None
    out = f.decide({"z": 25}, 310)
    assert out.clamped and out.target == 340
    assert "outside the focus map's calibrated range in Z" in out.notice
    assert f.decide({"z": 30}, 340).notice is None       # still out: said already
    assert f.decide({"z": 40}, 340).notice is None
    back = f.decide({"z": 15}, 340)
    assert back.notice is None and not back.clamped
    again = f.decide({"z": -5}, 330)
    assert again.notice is not None and again.target == 300


def test_unknown_position_decides_nothing():
    f = follower()
    decision = f.decide({"z": None}, 300)
    assert decision.action == "unknown" and decision.target is None
    assert "not known yet" in decision.reason
    assert f.moves == 0


def test_a_surface_map_over_xy():
    pts = [CalibrationPoint({"x": x, "y": y}, 500 + x - 2 * y) for x in (0, 100, 200) for y in (0, 100)]
    f = follower(FocusMap.fit(pts, ["x", "y"]), min_interval=0)
    assert f.decide({"x": 50, "y": 50, "z": 3}, None).target == 450
    corner = f.decide({"x": 250, "y": -20}, None)
    assert corner.target == 700 and "X and Y" in corner.notice


@pytest.mark.parametrize("kw, words", [
    (dict(limits=(5, 5)), "limits"),
    (dict(limits=(0, float("nan"))), "limits"),
    (dict(resolution=0), "resolution"),
    (dict(dof_width=-1), "depth of field"),
    (dict(threshold=float("inf")), "threshold"),
    (dict(min_interval=-1), "min_interval"),
])
def test_bad_settings_are_refused(kw, words):
    with pytest.raises(ValueError, match=words):
        follower(**kw)


def test_on_demand_target_ignores_the_rate_and_always_says_clamped():
    clock = FakeClock()
    f = follower(clock=clock, min_interval=10)
    assert f.decide({"z": 5}, None).action == "move"
    for _ in range(2):
        on_demand = f.target({"z": 50})
        assert (on_demand.action, on_demand.target, on_demand.clamped) == ("move", 340, True)
        assert "calibrated range in Z" in on_demand.notice
    assert f.target({"z": 2.4}).target == 305 and f.target({"z": 2.4}).notice is None
    assert f.target({}).action == "unknown"
    # The rate limit still counts from the last decided move, not the on-demand ones.
    assert f.decide({"z": 15}, 310).action == "wait"
    assert f.moves == 1
