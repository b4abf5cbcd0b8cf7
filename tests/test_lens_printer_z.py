"""The printer-Z driver against OctoPrint's real virtual printer, plus the M114 parser."""
from __future__ import annotations

import re
import time

import pytest
from fakes.gcode_printer import VirtualPrinterPort, homed_port

from octoprint_pifocus.errors import LensError, MoveRefused
from octoprint_pifocus.focus.protocols import Lens
from octoprint_pifocus.lenses import PrinterZLens, Positioning, open_lens, parse_m114, track_positioning
from octoprint_pifocus.lenses.gcode_port import GcodePort, restore_lines


@pytest.fixture
def printer(tmp_path):
    port = homed_port(str(tmp_path))
    yield port
    port.close()


def z_values(lines):
    return [float(m.group(1)) for line in lines for m in [re.search(r"\bZ(-?[\d.]+)", line)] if m]


def test_the_adapter_is_a_gcode_port(printer):
    assert isinstance(printer, GcodePort)


def test_after_a_move_m114_reports_the_z_asked_for(printer):
    lens = PrinterZLens(printer, window=(1.0, 20.0), feedrate=6000)
    lens.move_to(12.34)
    assert printer.z() == 12.34
    assert lens.position == 12.34
    # where Z was (first move only), the move, the wait, the check; then the test's own M114
    assert printer.received == ["M114", "G90", "G1 Z12.34 F6000", "M400", "M114", "M114"]


def test_move_to_returns_only_after_the_move_finished(printer):
    # The virtual printer runs moves at a tenth of real time: 2 mm at 60 mm/min takes 0.2 s.
    lens = PrinterZLens(printer, window=(0.0, 10.0), feedrate=60)
    lens.move_to(2.0)
    started = time.monotonic()
    lens.move_to(4.0)
    assert time.monotonic() - started >= 0.18
    assert printer.z() == 4.0


def test_a_move_outside_the_window_never_reaches_the_printer(printer):
    lens = PrinterZLens(printer, window=(5.0, 15.0), feedrate=6000)
    lens.move_to(10.0)
    before = list(printer.received)
    for bad in (15.01, 4.99, -1.0, 1000.0, float("nan"), "7"):
        with pytest.raises(MoveRefused):
            lens.move_to(bad)
    assert printer.received == before
    assert printer.z() == 10.0


def test_backlash_overshoot_ends_every_move_going_up_and_stays_in_the_window(printer):
    lens = PrinterZLens(printer, window=(1.0, 20.0), feedrate=6000, backlash=0.5)
    assert lens.backlash == 0.5
    lens.move_to(8.0)
    printer.received.clear()
    lens.move_to(5.0)                   # down: overshoot to 4.5, then up to 5
    moves = [line for line in printer.received if line.startswith("G1")]
    assert moves == ["G1 Z4.5 F6000", "G1 Z5 F6000"]
    printer.received.clear()
    lens.move_to(6.0)                   # up: straight there
    assert [line for line in printer.received if line.startswith("G1")] == ["G1 Z6 F6000"]
    printer.received.clear()
    lens.move_to(1.2)                   # the overshoot would be 0.7: clamped to the window's 1.0
    assert [line for line in printer.received if line.startswith("G1")] == ["G1 Z1 F6000", "G1 Z1.2 F6000"]
    assert all(1.0 <= z <= 20.0 for z in z_values(printer.received))
    assert printer.z() == 1.2


def test_a_move_during_a_print_is_refused_unless_the_print_is_held(printer):
    printer.send(["M83"])              # the slicer's relative extrusion, tracked by the port
    lens = PrinterZLens(printer, window=(0.0, 50.0), feedrate=6000)
    lens.move_to(3.0)
    printer.printing = True
    before = list(printer.received)
    with pytest.raises(MoveRefused, match="A print is running"):
        lens.move_to(4.0)
    assert printer.received == before
    with lens.hold():
        lens.move_to(4.0)
    assert lens.print_held is False
    assert printer.z() == 4.0
    assert printer.received[len(before):len(before) + 5] == ["G90", "G1 Z4 F6000", "M400", "M83", "M114"]


def test_a_held_print_with_unknown_extruder_mode_is_refused(printer):
    printer.track_modes = False        # a port that cannot tell the modes
    printer.modes = None
    lens = PrinterZLens(printer, window=(0.0, 50.0))
    printer.printing = True
    before = list(printer.received)
    with lens.hold(), pytest.raises(MoveRefused, match=r"extruder's positioning mode \(M82/M83\) is unknown"):
        lens.move_to(4.0)
    assert printer.received == before


def test_relative_mode_is_restored_after_the_move(printer):
    lens = PrinterZLens(printer, window=(0.0, 50.0), feedrate=6000)
    lens.move_to(10.0)
    printer.send(["G91"])              # the user jogs in relative mode
    lens.move_to(20.0)
    assert printer.received[-2:] == ["G91", "M114"]
    printer.send(["G1 Z1 F6000", "M400"])  # still relative: one more mm up
    assert printer.z() == 21.0


def test_absolute_mode_stays_absolute(printer):
    lens = PrinterZLens(printer, window=(0.0, 50.0), feedrate=6000)
    lens.move_to(10.0)
    printer.send(["G1 Z1 F6000", "M400"])  # absolute: to Z=1
    assert printer.z() == 1.0


def test_assumed_mode_is_used_when_the_port_cannot_tell(printer):
    printer.track_modes = False
    printer.modes = None
    lens = PrinterZLens(printer, window=(0.0, 50.0), feedrate=6000, positioning=Positioning(True, True))
    lens.move_to(5.0)
    assert printer.received[-2:] == ["G91", "M114"]   # G91 restores E relative too (Marlin)


def test_not_homed_and_not_connected_are_refused(printer):
    lens = PrinterZLens(printer, window=(0.0, 50.0), feedrate=6000)
    printer.homed = None
    with pytest.raises(MoveRefused, match="cannot tell whether the printer is homed"):
        lens.move_to(1.0)
    printer.homed = False
    with pytest.raises(MoveRefused, match="The printer is not homed: home it"):
        lens.move_to(1.0)
    assert printer.received == []
    relaxed = PrinterZLens(printer, window=(0.0, 50.0), feedrate=6000, require_homed=False)
    relaxed.move_to(1.0)
    assert printer.z() == 1.0
    printer.connected = False
    with pytest.raises(MoveRefused, match="not connected"):
        relaxed.move_to(2.0)


def test_position_before_the_first_move_is_read_from_the_printer(printer):
    printer.send(["G1 Z7.5 F6000", "M400"])
    lens = PrinterZLens(printer, window=(0.0, 50.0))
    assert lens.position == 7.5
    info = lens.probe()
    assert (info["driver"], info["found"], info["position"], info["units"], info["homed"]) == (
        "printer-z", True, 7.5, "mm", True)


def test_a_printer_that_stops_short_is_reported(printer):
    """A soft endstop at Z=30 (the virtual printer's M114 then reports 30, not 40)."""
    class EndstopPort(VirtualPrinterPort):
        def send(self, lines):
            super().send([line.replace("Z40", "Z30") for line in lines])

    port = EndstopPort(printer.printer)
    port.homed = True
    lens = PrinterZLens(port, window=(0.0, 50.0), feedrate=6000)
    with pytest.raises(LensError, match=r"reports Z=30 after a move to 40"):
        lens.move_to(40.0)
    assert lens.position == 30.0


def test_factory_and_configuration(printer):
    lens = open_lens("printer-z", port=printer, window=(1, 5), resolution=0.05)
    assert (lens.limits, lens.units, lens.resolution) == ((1.0, 5.0), "mm", 0.05)
    assert isinstance(lens, Lens)
    lens.move_to(2.02)                 # snapped to the 0.05 grid
    assert printer.z() == 2.0
    for options, message in [({"window": (5, 1)}, "low < high"), ({"window": (0, 5), "feedrate": 0}, "feed rate"),
                             ({"window": (0, 5), "backlash": -1}, "backlash")]:
        with pytest.raises(ValueError, match=message):
            PrinterZLens(printer, **options)
    with pytest.raises(TypeError, match="needs a send"):
        PrinterZLens(object(), window=(0, 5))


# ~~ parsing and mode bookkeeping (no printer needed)

@pytest.mark.parametrize("reply, z", [
    ("X:0.00 Y:127.00 Z:145.00 E:0.00 Count X: 0 Y:10160 Z:116000", 145.0),      # Marlin
    ("X:10.000 Y:20.000 Z:5.250 E:0.000\nok", 5.25),                               # Klipper
    ("ok X:0 Y:0 Z:5.0 E:0 Count: A:0 B:0 C:500", 5.0),                           # OctoPrint virtual
    ("echo:busy processing\nX:1.00 Y:2.00 Z:-0.40 E:3.00 Count X:80 Y:160 Z:-160\nok", -0.4),
])
def test_parse_m114(reply, z):
    assert parse_m114(reply)["Z"] == z


def test_parse_m114_takes_nothing_after_count_and_nothing_from_garbage():
    assert parse_m114("X:1.00 Y:2.00 Z:3.00 E:4.00 Count X: 9 Y:9 Z:9") == {"X": 1.0, "Y": 2.0, "Z": 3.0, "E": 4.0}
    assert parse_m114("ok\nT:210.0 /210.0 B:60.0 /60.0") == {}


def test_track_positioning_and_restore_lines():
    mode = None
    for line in ["G28", "G91", "M82", "N12 G90 ; back", "M83"]:
        mode = track_positioning(line, mode)
    assert mode == Positioning(False, True)
    assert track_positioning("G91", mode) == Positioning(True, True)
    assert track_positioning("M83", None) == Positioning(False, True)
    assert restore_lines(Positioning(False, None)) == []
    assert restore_lines(Positioning(False, True)) == ["M83"]
    assert restore_lines(Positioning(True, True)) == ["G91"]
    assert restore_lines(Positioning(True, False)) == ["G91", "M82"]


def test_restore_z_goes_back_below_the_window_without_an_overshoot(printer):
    """A held print's Z (a first layer) may lie below the microscope's window: going back there
    is allowed, straight down, never below it (backlash overshoot would push into the part)."""
    lens = PrinterZLens(printer, window=(3.0, 8.0), feedrate=6000, backlash=0.5)
    lens.move_to(6.0)
    printer.received.clear()
    lens.restore_z(1.2)
    assert printer.z() == 1.2 and lens.position == 1.2
    assert z_values(printer.received) == [1.2], printer.received
    assert printer.received[-1] == "M114"
    with pytest.raises(ValueError):
        lens.restore_z(float("nan"))
