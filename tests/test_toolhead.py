"""The printer-wide toolhead (plugin/toolhead.py): the G-code sent, the printer's reports, the
timeline, a new connection. The clock is a list the test advances, so nothing sleeps."""
from __future__ import annotations

import threading

import pytest

from octoprint_pifocus.plugin.toolhead import Toolhead


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_unknown_until_homed_then_follows_moves():
    head = Toolhead(clock=Clock())
    assert head.position() == {"x": None, "y": None, "z": None}
    assert head.position_at(100.0) is None
    head.on_sent("G1 X10 Y10")                 # not homed: coordinates mean nothing yet
    assert not head.known("xyz")
    head.on_sent("G28")
    assert head.known(["x", "y", "z"])
    head.on_sent("N12 G1 X50 Y20 Z5 F6000*71")
    assert head.position() == {"x": 50.0, "y": 20.0, "z": 5.0}
    head.on_sent("G91")
    head.on_sent("G0 Y-5")
    assert head.position()["y"] == 15.0


def test_lines_without_a_g_word_change_nothing():
    head = Toolhead(clock=Clock())
    head.on_sent("G28")
    changes = head.changes
    for line in ("M104 S200", "T1", "@PIFOCUS MAP", "M117 moving to X10", ""):
        head.on_sent(line)
    assert head.changes == changes
    assert head.position() == {"x": 0.0, "y": 0.0, "z": 0.0}


def test_position_at_times_the_moves():
    clock = Clock()
    head = Toolhead(clock=clock)
    head.on_sent("G28")
    head.on_sent("G1 Y100 F6000")              # 100 mm at 100 mm/s: about a second
    end = head.busy_until()
    assert end is not None and 101.0 < end < 101.3
    middle = head.position_at(100.0 + (end - 100.0) / 2)
    assert middle["y"] == pytest.approx(50.0, abs=1.0)
    assert head.position_at(end + 1) == {"x": 0.0, "y": 100.0, "z": 0.0}
    assert head.position_at(99.0)["y"] == 0.0


def test_g92_offsets_do_not_move_the_machine_position():
    head = Toolhead(clock=Clock())
    head.on_sent("G28")
    head.on_sent("G1 Z10")
    head.on_sent("G92 Z0")
    head.on_sent("G1 Z2")
    assert head.position()["z"] == 12.0


def test_position_report_corrects_and_times_from_there():
    clock = Clock()
    head = Toolhead(clock=clock)
    head.on_received("ok")
    assert not head.known("x")
    head.on_received("ok X:10.00 Y:20.00 Z:3.00 E:0.00 Count: A:1000 B:2000 C:300")
    assert head.position() == {"x": 10.0, "y": 20.0, "z": 3.0}
    assert head.position_at(clock.t) == {"x": 10.0, "y": 20.0, "z": 3.0}
    head.on_received("Bed X: 10.000 Y: 20.000 Z: 0.125")   # a probe report is no position
    assert head.position() == {"x": 10.0, "y": 20.0, "z": 3.0}


def test_a_new_connection_and_a_reset_forget_everything():
    head = Toolhead(clock=Clock())
    first, second = object(), object()
    head.on_sent("G28", first)
    head.on_sent("G1 X5", first)
    assert head.position()["x"] == 5.0
    head.on_sent("G1 X6", second)              # lines of a new connection: not homed there
    assert head.position() == {"x": None, "y": None, "z": None}
    head.on_sent("G28", second)
    assert head.known("xyz")
    head.reset()
    assert head.position() == {"x": None, "y": None, "z": None}
    assert head.position_at(1e9) is None


def test_bed_levelling_makes_the_position_unknown():
    head = Toolhead(clock=Clock())
    head.on_sent("G28")
    head.on_sent("G29")
    assert not head.known("xyz")
    head.on_sent("G1 X10 Y10 Z5")              # an absolute move makes it known again
    assert head.position() == {"x": 10.0, "y": 10.0, "z": 5.0}


def test_readers_on_other_threads_see_whole_positions():
    clock = Clock()
    head = Toolhead(clock=clock)
    head.on_sent("G28")
    stop = threading.Event()
    seen = []

    def read():
        while not stop.is_set():
            p = head.position_at(clock.t)
            seen.append(p)

    reader = threading.Thread(target=read)
    reader.start()
    for i in range(2000):
        head.on_sent(f"G1 X{i % 100} Y{i % 100} F12000")
        clock.t += 0.001
    stop.set()
    reader.join()
    # Every position read has all three axes; X and Y travel together on every move.
    assert seen and all(set(p) == {"x", "y", "z"} and p["x"] == pytest.approx(p["y"]) for p in seen)


def test_reports_during_moves_do_not_undo_the_lines_sent():
    clock = Clock()
    head = Toolhead(clock=clock)
    head.on_sent("G28")
    head.on_sent("G1 Y100 F6000")              # about a second of travel
    # The printer reports where it is in its buffer (still at the start): not taken.
    head.on_received("X:0.00 Y:0.00 Z:0.00 E:0.00 Count X:0 Y:0 Z:0")
    assert head.position()["y"] == 100.0
    clock.t += 5.0                              # the move is over: a report now corrects
    head.on_received("X:0.00 Y:99.50 Z:0.00 E:0.00 Count X:0 Y:0 Z:0")
    assert head.position()["y"] == 99.5


def test_a_command_that_waits_for_the_moves_ends_them_by_the_next_line():
    clock = Clock()
    head = Toolhead(clock=clock)
    head.on_sent("G28")
    head.on_sent("G1 Y100 F600")               # 10 s by the feed rate
    head.on_sent("M400")
    clock.t += 0.5                             # the printer answered M400 after half a second
    head.on_sent("M105")                       # the next line goes out: the move had ended
    assert head.busy_until() <= clock.t
    assert head.position_at(clock.t)["y"] == 100.0


def test_the_answer_to_m400_ends_the_moves_at_once():
    clock = Clock()
    head = Toolhead(clock=clock)
    head.on_sent("G28")
    head.on_received("ok")
    head.on_sent("G1 Y100 F600")
    head.on_sent("M400")
    clock.t += 0.5
    head.on_received("ok")
    assert head.position_at(clock.t)["y"] == 100.0


def test_m220_times_the_moves_sent_after_it_at_the_printers_factor():
    """A printer runs moves at M220's factor (OctoPrint's feed-rate slider): half speed, twice the time."""
    clock = Clock()
    head = Toolhead(clock=clock)
    head.on_sent("G28")
    head.on_sent("G1 Y100 F6000")
    normal = head.busy_until() - 100.0
    clock.t = 200.0
    head.on_sent("M220 S50")
    head.on_sent("G1 Y0")
    assert head.busy_until() - 200.0 == pytest.approx(2 * 1.0 + 0.05, abs=0.01)  # 100 mm at 50 mm/s
    assert normal == pytest.approx(1.0 + 0.1, abs=0.01)                            # at 100 mm/s
    clock.t = 300.0
    head.on_sent("N7 M220 S200*12")
    head.on_sent("G1 Y100")
    assert head.busy_until() - 300.0 == pytest.approx(0.5 + 0.2, abs=0.01)       # at 200 mm/s
