"""The toolhead tracker against a real-style G-code file and the firmware's position reports."""
from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest

from octoprint_pifocus.followfocus import ToolheadTracker, parse_position_report

SAMPLE = Path(__file__).parent / "data" / "gcode" / "follow_sample.gcode"
EXPECT = re.compile(r"^; EXPECT (\S+) (\S+) (\S+)\s*$")


def expected(fields):
    return {axis: None if raw == "?" else float(raw) for axis, raw in zip("xyz", fields)}


def test_sample_file_checkpoints():
    """Every "; EXPECT" checkpoint of the sample file matches the tracker's position then."""
    tracker = ToolheadTracker()
    checked = 0
    for number, line in enumerate(SAMPLE.read_text().splitlines(), 1):
        match = EXPECT.match(line)
        if match:
            want = expected(match.groups())
            got = tracker.position
            for axis in "xyz":
                if want[axis] is None:
                    assert got[axis] is None, f"line {number}: {axis} should be unknown, is {got[axis]}"
                else:
                    assert got[axis] == pytest.approx(want[axis], abs=1e-9), f"line {number}: {axis}"
            checked += 1
        tracker.feed(line)
    assert checked == 25


def test_feed_says_whether_the_position_changed():
    tracker = ToolheadTracker()
    assert tracker.feed("G28") is True
    assert tracker.feed("G1 X10") is True
    assert tracker.feed("G1 X10") is False            # already there
    assert tracker.feed("G1 E5 F1200") is False       # the extruder does not count
    assert tracker.feed("M104 S200") is False
    assert tracker.feed("; G1 X50 in a comment") is False
    assert tracker.feed("(G1 X50 in parentheses) G1 Y3") is True
    assert tracker.position == {"x": 10.0, "y": 3.0, "z": 0.0}
    assert tracker.feed("@PIFOCUS MAP") is False
    assert tracker.feed("") is False
    assert tracker.feed(None) is False


def test_unknown_until_homed_then_home_position_from_constructor():
    tracker = ToolheadTracker(home={"x": -5.0, "y": 0.0, "z": 0.4})
    tracker.feed("G91")
    tracker.feed("G1 Z10")                 # relative on an unknown axis stays unknown
    assert tracker.position == {"x": None, "y": None, "z": None}
    assert not tracker.known(("z",))
    tracker.feed("G28 Z")
    assert tracker.position == {"x": None, "y": None, "z": 0.4}
    assert tracker.known(("z",)) and not tracker.known()
    tracker.feed("G1 Z1")                  # still relative
    assert tracker.position["z"] == pytest.approx(1.4)
    tracker.feed("G90")
    tracker.feed("G28")
    assert tracker.position == {"x": -5.0, "y": 0.0, "z": 0.4}


def test_home_position_is_checked():
    with pytest.raises(ValueError, match="unknown axis"):
        ToolheadTracker(home={"e": 0})
    with pytest.raises(ValueError, match="finite"):
        ToolheadTracker(home={"z": float("nan")})


def test_g92_keeps_the_machine_position_and_homing_clears_it():
    tracker = ToolheadTracker()
    tracker.feed_all(["G28", "G1 X100 Y50 Z10", "G92 X0 Y0 Z0"])
    assert tracker.position == {"x": 100.0, "y": 50.0, "z": 10.0}
    assert tracker.logical_position == {"x": 0.0, "y": 0.0, "z": 0.0}
    tracker.feed("G1 X5 Z1")
    assert tracker.position == {"x": 105.0, "y": 50.0, "z": 11.0}
    assert tracker.logical_position["x"] == pytest.approx(5.0)
    tracker.feed("G28 X")                  # homing X clears X's offset only
    tracker.feed("G1 X5 Y5")
    assert tracker.position == {"x": 5.0, "y": 55.0, "z": 11.0}


def test_bare_g92_zeroes_or_does_nothing_by_firmware():
    zeroing = ToolheadTracker()
    zeroing.feed_all(["G28", "G1 X20 Y30 Z4", "G92", "G1 X1"])
    assert zeroing.position == {"x": 21.0, "y": 30.0, "z": 4.0}
    assert zeroing.logical_position == {"x": 1.0, "y": 0.0, "z": 0.0}
    marlin2 = ToolheadTracker(bare_g92_zeroes=False)
    marlin2.feed_all(["G28", "G1 X20 Y30 Z4", "G92", "G1 X1"])
    assert marlin2.position == {"x": 1.0, "y": 30.0, "z": 4.0}
    # "G92 E0" resets the extruder only, on either firmware.
    zeroing.feed_all(["G92 X0 Y0 Z0", "G92.1", "G92 E0", "G1 X7"])
    assert zeroing.position["x"] == 7.0


def test_g92_defines_an_axis_never_homed():
    """A CNC or microscope without endstops sets its origin with G92 instead of homing."""
    tracker = ToolheadTracker()
    tracker.feed("G92 X0 Y0")
    assert tracker.position == {"x": 0.0, "y": 0.0, "z": None}
    tracker.feed("G1 X12.5 Y-3 Z4")
    assert tracker.position == {"x": 12.5, "y": -3.0, "z": None}


def test_one_line_with_modal_codes_and_inches():
    tracker = ToolheadTracker()
    tracker.feed("G28")
    tracker.feed("G91 G0 X5 Y5")           # the mode applies to the same line's move
    assert tracker.position == {"x": 5.0, "y": 5.0, "z": 0.0}
    tracker.feed("G90 G20 G0 X1 Y.5")
    assert tracker.position == {"x": 25.4, "y": 12.7, "z": 0.0}
    assert tracker.inches and not tracker.relative
    tracker.feed("G92 Z1")                 # G92 numbers are in inches too
    tracker.feed("G21 G1 Z0")
    assert tracker.position["z"] == pytest.approx(-25.4)


def test_arc_without_end_point_is_a_full_circle():
    tracker = ToolheadTracker()
    tracker.feed_all(["G28", "G1 X50 Y50", "G2 I10 J0"])
    assert tracker.position == {"x": 50.0, "y": 50.0, "z": 0.0}
    tracker.feed("G3 X60 Z2 I5 J0")        # helical: Z too
    assert tracker.position == {"x": 60.0, "y": 50.0, "z": 2.0}


def test_garbage_numbers_are_ignored():
    tracker = ToolheadTracker()
    tracker.feed_all(["G28", "G1 X10 Y10"])
    for line in ["G1 Xabc", "G1 X", "G1 X--5", "G-1 X99", "GG X99", "G1.5 X99"]:
        tracker.feed(line)
    assert tracker.position == {"x": 10.0, "y": 10.0, "z": 0.0}


@pytest.mark.parametrize("line, want", [
    ("X:10.00 Y:20.00 Z:0.30 E:0.00 Count X:800 Y:1600 Z:120", {"x": 10.0, "y": 20.0, "z": 0.3}),
    ("ok X:10.000 Y:20.000 Z:0.300 E:0.0000", {"x": 10.0, "y": 20.0, "z": 0.3}),
    ("X:-1.5 Y:2 Z:3 E0:0.0 Count 800 1600 120 Machine 1.0 2.0 3.0 Bed comp 0.000",
     {"x": -1.5, "y": 2.0, "z": 3.0}),
    ("X: 10.00 Y: 20.00 Z: 0.30 E: 0.00 Count X: 10.00 Y:20.00 Z:0.30 E:0.00", {"x": 10.0, "y": 20.0, "z": 0.3}),
])
def test_position_reports(line, want):
    assert parse_position_report(line) == want


@pytest.mark.parametrize("line", [
    "T:210.0 /210.0 B:60.0 /60.0 @:0 B@:0",
    "Bed X: 10.000 Y: 10.000 Z: 0.105",
    "echo: M92 X80.00 Y80.00 Z400.00",
    "X:10.00 Y:20.00 E:0.00",          # no Z
    "X:1 X:2 Y:3 Z:4",
    "ok",
    None,
])
def test_not_position_reports(line):
    assert parse_position_report(line) is None


def test_report_corrects_the_tracker_through_the_offset():
    tracker = ToolheadTracker()
    assert tracker.feed_reply("X:10.00 Y:20.00 Z:0.30 E:0.00 Count X:800 Y:1600 Z:120") is True
    assert tracker.position == {"x": 10.0, "y": 20.0, "z": 0.3}
    tracker.feed("G1 X15")                 # the report made the axes referenced
    assert tracker.position["x"] == 15.0
    tracker.feed("G92 X0")
    assert tracker.feed_reply("X:2.00 Y:20.00 Z:0.30 E:0.00 Count X:0 Y:0 Z:0") is True
    assert tracker.position["x"] == pytest.approx(17.0)   # logical 2 + offset 15
    assert tracker.feed_reply("X:2.00 Y:20.00 Z:0.30 E:0.00 Count X:0 Y:0 Z:0") is False
    assert tracker.feed_reply("T:210.0 /210.0") is False
    tracker.reset()
    assert tracker.position == {"x": None, "y": None, "z": None}


def test_reading_while_feeding_from_another_thread():
    tracker = ToolheadTracker()
    tracker.feed("G28")
    seen = []
    stop = threading.Event()

    def read():
        while not stop.is_set():
            position = tracker.position
            seen.append(position["x"] - position["y"])

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(2000):
            tracker.feed(f"G1 X{i} Y{i}")
    finally:
        stop.set()
        reader.join()
    assert seen and all(d == 0 for d in seen)   # never half a move


def test_feedrate_in_mm_per_second():
    tracker = ToolheadTracker()
    assert tracker.feedrate is None
    tracker.feed("G1 F3000")
    assert tracker.feedrate == pytest.approx(50.0)
    tracker.feed("M220 S50 F100")           # not a move: no feed rate of ours
    tracker.feed("G4 P100 F1")
    assert tracker.feedrate == pytest.approx(50.0)
    tracker.feed("G20 G1 F60")              # 60 in/min
    assert tracker.feedrate == pytest.approx(25.4)
    tracker.feed("G1 F0")
    tracker.feed("G1 F-5")
    assert tracker.feedrate == pytest.approx(25.4)


def test_m220_sets_the_feed_rate_factor_and_backs_it_up():
    tracker = ToolheadTracker()
    assert tracker.speed_factor == 1.0
    tracker.feed("M220 S50")
    assert tracker.speed_factor == pytest.approx(0.5)
    tracker.feed("M220 B S150")             # Marlin 2: back up 50 %, then set 150 %
    assert tracker.speed_factor == pytest.approx(1.5)
    for bad in ("M220 S0", "M220 S-20", "M220 Sx", "M220", "M2200 S10"):
        tracker.feed(bad)
    assert tracker.speed_factor == pytest.approx(1.5)
    tracker.feed("M220 R")
    assert tracker.speed_factor == pytest.approx(0.5)
    tracker.reset()
    assert tracker.speed_factor == 1.0
