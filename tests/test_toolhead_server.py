"""The toolhead on a real OctoPrint with its virtual printer: the G-code sent through OctoPrint's
API moves it, the printer's M114 answer is read, and the API status reports it."""
from __future__ import annotations

import time

import pytest

from octoprint_server import OctoPrintServer, demo_config

API = "/api/plugin/pifocus"


@pytest.fixture(scope="module")
def server():
    with OctoPrintServer(extra_config=demo_config()) as s:
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
