"""The toolhead on a real OctoPrint with its virtual printer: the G-code sent through OctoPrint's
API moves it, the printer's M114 answer is read, and the API status reports it; the simulated
cameras' sharp positions follow it (simulation.focus_field "both", as in the demo)."""
from __future__ import annotations

import time

import pytest

from octoprint_server import OctoPrintServer, demo_config

API = "/api/plugin/pifocus"


@pytest.fixture(scope="module")
def server():
    with OctoPrintServer(extra_config=demo_config(microscope=True, focus_field="both")) as s:
        yield s


def toolhead(server):
    r = server.session("user").get(server.url + API, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["toolhead"]


def wait_for(server, expected, timeout=15.0):
    deadline = time.monotonic() + timeout
    while True:
        seen = toolhead(server)
        if seen == expected or time.monotonic() > deadline:
            return seen
        time.sleep(0.1)


def test_moves_sent_through_octoprint_move_the_toolhead(server):
    server.printer_command("G28")
    assert wait_for(server, {"x": 0.0, "y": 0.0, "z": 0.0}) == {"x": 0.0, "y": 0.0, "z": 0.0}
    server.printer_command("G90", "G1 X10 Y20 Z5 F6000", "G91", "G1 Y5", "G90")
    assert wait_for(server, {"x": 10.0, "y": 25.0, "z": 5.0}) == {"x": 10.0, "y": 25.0, "z": 5.0}
    # A G92 shifts the logical coordinates only: an absolute move after it lands at the
    # machine position the offset says.
    server.printer_command("G92 Z0", "G1 Z2")
    assert wait_for(server, {"x": 10.0, "y": 25.0, "z": 7.0}) == {"x": 10.0, "y": 25.0, "z": 7.0}


def test_the_printers_position_report_is_read(server):
    server.printer_command("G28", "G1 X12 Y34 Z5 F6000", "G29")
    # Bed levelling leaves the toolhead wherever the probing ended: unknown to PiFocus...
    assert wait_for(server, {"x": None, "y": None, "z": None}) == {"x": None, "y": None, "z": None}
    server.printer_command("M114")
    # ...until the printer says where it is (the virtual printer's G29 does not move).
    assert wait_for(server, {"x": 12.0, "y": 34.0, "z": 5.0}) == {"x": 12.0, "y": 34.0, "z": 5.0}


def test_a_disconnect_forgets_the_toolhead(server):
    server.printer_command("G28", "G1 X5 F6000")
    assert wait_for(server, {"x": 5.0, "y": 0.0, "z": 0.0}) == {"x": 5.0, "y": 0.0, "z": 0.0}
    s = server.session("admin")
    assert s.post(server.url + "/api/connection", json={"command": "disconnect"}, timeout=10).status_code == 204
    assert wait_for(server, {"x": None, "y": None, "z": None}) == {"x": None, "y": None, "z": None}
    assert s.post(server.url + "/api/connection", json={"command": "connect", "port": "VIRTUAL"},
                  timeout=10).status_code == 204
    server.wait_for_state(lambda state: state == "Operational", what="reconnect")
    # On connecting, PiFocus asks the printer where it is (M114): the virtual printer, new,
    # answers 0, 0, 0.
    assert wait_for(server, {"x": 0.0, "y": 0.0, "z": 0.0}) == {"x": 0.0, "y": 0.0, "z": 0.0}


def simulation(server, device):
    r = server.session("user").get(server.url + API, params={"device": device}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["simulation"]


def wait_for_focus(server, device, expected, timeout=15.0):
    deadline = time.monotonic() + timeout
    while True:
        focus = simulation(server, device)["focus"]
        if abs(focus - expected) < 1e-6 or time.monotonic() > deadline:
            return focus
        time.sleep(0.1)


def test_moving_the_printer_in_y_changes_which_lens_position_is_sharp(server):
    server.printer_command("G28", "G1 Y110 Z0 F6000")
    assert wait_for_focus(server, "camera", 340.0) == pytest.approx(340.0)
    assert simulation(server, "camera")["focus_field"] == "bed"
    server.printer_command("G1 Y160 F6000")         # the bed 50 mm on: 1.2 VCM codes per mm
    assert wait_for_focus(server, "camera", 400.0) == pytest.approx(400.0)
    # The microscope (printer Z) sees a tilted board: X and Y move its sharp Z; its scene is
    # sharp 1 mm higher than the first device's (a second device's offset).
    server.printer_command("G1 X200 Y0 F6000")
    assert wait_for_focus(server, "microscope", 7.0) == pytest.approx(7.0)
    assert simulation(server, "microscope")["focus_field"] == "tilt"
