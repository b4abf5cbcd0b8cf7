"""The motion timeline: where the toolhead is between the lines sent.

Most cases time moves at constant speed (``accel=None``) so the numbers stay readable; the
acceleration and the buffer lag have their own tests."""
from __future__ import annotations

import pytest

from octoprint_pifocus.followfocus import MotionTimeline, ToolheadTracker


def test_moves_run_back_to_back_at_their_feed_rate():
    timeline = MotionTimeline(accel=None)
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
    timeline = MotionTimeline(accel=None)
    timeline.add({"z": 0.0}, {"z": 10.0}, 10.0, sent_at=0.0)        # ends at 1 s
    timeline.add({"z": 10.0}, {"z": 0.0}, 10.0, sent_at=5.0)        # heating waited 4 s
    assert timeline.position_at(3.0) == {"z": 10.0}
    assert timeline.position_at(5.5) == pytest.approx({"z": 5.0})


def test_unknown_axes_and_unknown_feed_rate():
    timeline = MotionTimeline(accel=None)
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
    timeline = MotionTimeline(accel=None)
    t = 0.0
    for line in ["G28", "G1 F6000 X100", "G1 Y50 F3000", "G91", "G1 X-100"]:
        before = tracker.position
        if tracker.feed(line):
            timeline.add(before, tracker.position, tracker.feedrate, sent_at=t)
        t += 0.01
    assert timeline.busy_until() == pytest.approx(0.01 + 1.0 + 1.0 + 2.0)
    assert timeline.position_at(2.51) == pytest.approx({"x": 75.0, "y": 50.0, "z": 0.0})


def test_memory_is_bounded():
    timeline = MotionTimeline(max_moves=8, accel=None)
    for i in range(100):
        timeline.add({"x": float(i)}, {"x": float(i + 1)}, 1.0, sent_at=0.0)
    assert timeline.busy_until() == pytest.approx(100.0)
    assert timeline.position_at(0.0) == {"x": 92.0}       # older moves are forgotten
    assert timeline.position_at(95.5) == pytest.approx({"x": 95.5})


def test_acceleration_adds_the_ramps():
    timeline = MotionTimeline(accel=1000.0)
    assert timeline.duration(100.0, 40.0) == pytest.approx(2.5 + 0.04)      # reaches full speed
    assert timeline.duration(4.0, 120.0) == pytest.approx(2 * (4 / 1000) ** 0.5)   # never does
    assert timeline.duration(0.0, 40.0) == 0.0
    assert MotionTimeline(accel=None).duration(100.0, 40.0) == 2.5


def buffered_stream(lead, moves=120, seed=0, jitter=0.0, measure_lag=True):
    """A printer whose planner holds ``lead`` moves: each line is sent as the move ``lead``
    before it starts. Moves of mixed lengths along Y; the printer runs at 1500 mm/s², the
    timeline assumes its default. Yields (timeline, true position at a time)."""
    import random
    rng = random.Random(seed)
    timeline = MotionTimeline(measure_lag=measure_lag)
    printer = MotionTimeline(accel=1500.0, measure_lag=False)
    y, ends = 0.0, []
    plan = []
    for i in range(moves):
        length = rng.choice([4.0, 100.0, 40.0, 12.0, 100.0])
        target = y + length if (i // 2) % 2 == 0 else y - length
        plan.append(({"y": y}, {"y": target}, rng.choice([40.0, 120.0])))
        y = target
    # When each move starts on the real printer (back to back: the buffer never runs dry).
    starts, t = [], 0.0
    for start, end, rate in plan:
        starts.append(t)
        t += printer.duration(abs(end["y"] - start["y"]), rate)
        ends.append(t)
    for i, (start, end, rate) in enumerate(plan):
        sent = 0.0 if i <= lead else starts[i - lead] + rng.uniform(0, jitter)
        timeline.add(start, end, rate, sent_at=sent)

    def truth(at):
        for (start, end, _), t0, t1 in zip(plan, starts, ends):
            if t0 <= at < t1:
                return start["y"] + (end["y"] - start["y"]) * (at - t0) / (t1 - t0)
        return plan[-1][1]["y"]

    return timeline, truth, starts


@pytest.mark.parametrize("lead", [4, 16])
def test_a_full_planner_buffer_is_measured_and_followed(lead):
    timeline, truth, starts = buffered_stream(lead, jitter=0.005)
    assert timeline.lag is not None
    measured, pace = timeline.lag
    assert measured == lead
    assert pace == pytest.approx(1.0, abs=0.1)
    times = [starts[80] + k * 0.1 for k in range(100)]
    errors = [abs(timeline.position_at(t)["y"] - truth(t)) for t in times]
    assert max(errors) < 10.0          # mm: within one move's ramp of the truth
    # The chain alone, on the same sends, is a long way off: it runs ahead of the printer.
    chain, truth, _ = buffered_stream(lead, jitter=0.005, measure_lag=False)
    assert chain.lag is None
    assert max(abs(chain.position_at(t)["y"] - truth(t)) for t in times) > 30.0


def test_no_lag_when_lines_run_as_sent():
    timeline = MotionTimeline(accel=None)
    for i in range(60):
        # Sent in bursts far apart: the gaps say nothing about the durations.
        timeline.add({"x": float(i)}, {"x": float(i + 1)}, 10.0, sent_at=(i // 10) * 100.0)
    assert timeline.lag is None


def test_the_printer_buffer_bounds_how_far_the_chain_falls_behind():
    # A printer that runs moves ten times faster than the timeline thinks (the virtual
    # printer) and holds 4 moves: each line goes out when a slot frees.
    timeline = MotionTimeline(accel=None, buffer=4)
    slow = MotionTimeline(accel=None)                 # no buffer known: the chain only
    for i in range(40):
        start, end = {"y": float(i * 10)}, {"y": float(i * 10 + 10)}
        timeline.add(start, end, 10.0, sent_at=i / 10)    # 1 s each by the feed rate
        slow.add(start, end, 10.0, sent_at=i / 10)        # the printer takes 0.1 s each
    # The line sent at 3.9 s (move 39) found move 35 started: the estimate is within the
    # buffer of the truth (move 39 running at y 390..400).
    assert timeline.position_at(3.9)["y"] == pytest.approx(350.0)
    assert slow.position_at(3.9)["y"] == pytest.approx(39.0)
    # At every send, the estimate is at least at the start of the move 4 before, and never
    # ahead of the truth (the printer at the end of the move just sent, at most).
    for i in range(4, 40):
        assert (i - 4) * 10 <= timeline.position_at(i / 10)["y"] <= (i + 1) * 10
