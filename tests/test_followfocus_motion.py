"""The motion timeline: where the toolhead is between the lines sent."""
from __future__ import annotations

import pytest

from octoprint_pifocus.followfocus import MotionTimeline, ToolheadTracker


def test_moves_run_back_to_back_at_their_feed_rate():
    timeline = MotionTimeline()
    assert timeline.position_at(0.0) is None
    a = {"x": 0.0, "y": 0.0, "z": 0.0}
    b = {"x": 0.0, "y": 100.0, "z": 0.0}
    c = {"x": 30.0, "y": 140.0, "z": 0.0}
    assert timeline.add(a, b, 50.0, sent_at=10.0) == pytest.approx(12.0)
    # Sent while the first still runs (into the planner buffer): it starts when that ends.
    assert timeline.add(b, c, 25.0, sent_at=10.5) == pytest.approx(14.0)
    assert timeline.position_at(9.0) == a
    assert timeline.position_at(11.0) == pytest.approx({"x": 0.0, "y": 50.0, "z": 0.0})
    assert timeline.position_at(13.0) == pytest.approx({"x": 15.0, "y": 120.0, "z": 0.0})
    assert timeline.position_at(99.0) == c
    assert timeline.busy_until() == pytest.approx(14.0)


def test_a_move_sent_after_a_wait_starts_when_sent():
    timeline = MotionTimeline()
    timeline.add({"z": 0.0}, {"z": 10.0}, 10.0, sent_at=0.0)        # ends at 1 s
    timeline.add({"z": 10.0}, {"z": 0.0}, 10.0, sent_at=5.0)        # heating waited 4 s
    assert timeline.position_at(3.0) == {"z": 10.0}
    assert timeline.position_at(5.5) == pytest.approx({"z": 5.0})


def test_unknown_axes_and_unknown_feed_rate():
    timeline = MotionTimeline()
    # Homing makes Z known: no distance to time, so it is at once.
    timeline.add({"z": None}, {"z": 0.0}, 10.0, sent_at=1.0)
    assert timeline.position_at(1.0) == {"z": 0.0}
    # No feed rate yet: a default one, not a division by zero.
    end = timeline.add({"z": 0.0}, {"z": 25.0}, None, sent_at=2.0)
    assert end == pytest.approx(3.0)
    timeline.set_position({"z": 7.0}, at=10.0)
    assert timeline.position_at(10.0) == {"z": 7.0}


def test_fed_from_the_tracker():
    tracker = ToolheadTracker()
    timeline = MotionTimeline()
    t = 0.0
    for line in ["G28", "G1 F6000 X100", "G1 Y50 F3000", "G91", "G1 X-100"]:
        before = tracker.position
        if tracker.feed(line):
            timeline.add(before, tracker.position, tracker.feedrate, sent_at=t)
        t += 0.01
    assert timeline.busy_until() == pytest.approx(0.01 + 1.0 + 1.0 + 2.0)
    assert timeline.position_at(2.51) == pytest.approx({"x": 75.0, "y": 50.0, "z": 0.0})


def test_memory_is_bounded():
    timeline = MotionTimeline(max_moves=8)
    for i in range(100):
        timeline.add({"x": float(i)}, {"x": float(i + 1)}, 1.0, sent_at=0.0)
    assert timeline.busy_until() == pytest.approx(100.0)
    assert timeline.position_at(0.0) == {"x": 92.0}       # older moves are forgotten
    assert timeline.position_at(95.5) == pytest.approx({"x": 95.5})
