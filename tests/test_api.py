"""PiFocus's HTTP API (docs/plugin-contract.md) against a real OctoPrint 1.11 server.

Two servers: the session's (``octoprint_server``: simulated VCM and camera, as in the demo)
and a module one where the lens is the virtual printer's Z (driver ``printer-z``, the
simulated camera defocusing with Z: the microscope on a gantry). The module server logs the
serial line (``serial.log``), so the tests can check every Z PiFocus ever sent, and has an
event subscription in OctoPrint's own event manager that appends every PiFocus event (name
and JSON payload) to a file: the events are checked as another plugin or a user's command
trigger would see them.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from typing import Any, Dict, List

import pytest

from octoprint_server import OctoPrintServer, deep_merge, demo_config
from socket_listener import SocketListener

API = "/api/plugin/pifocus"

#: A valid body for every command (the 403 tests must fail on the permission, not the input).
VALID = {
    "move": {"position": 500},
    "nudge": {"delta": 5},
    "autofocus": {},
    "cancel": {},
    "preset_save": {"name": "guest-was-here", "position": 400},
    "preset_apply": {"name": "bed"},
    "preset_delete": {"name": "bed"},
    "probe": {},
    "test": {},
}
CONTROL_COMMANDS = ["move", "nudge", "autofocus", "cancel", "preset_save", "preset_apply", "preset_delete"]
ADMIN_COMMANDS = ["probe", "test"]


def post(server: OctoPrintServer, command: str, user: str = "user", **fields: Any):
    # Serialised here: requests refuses NaN and Infinity, which JavaScript clients can send.
    body = json.dumps(dict(fields, command=command), allow_nan=True)
    return server.session(user).post(server.url + API, data=body, timeout=30,
                                     headers={"Content-Type": "application/json"})


def status(server: OctoPrintServer, user: str = "user") -> Dict[str, Any]:
    r = server.session(user).get(server.url + API, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def wait_idle(server: OctoPrintServer, timeout: float = 60.0) -> Dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body = status(server)
        if not body["busy"]:
            return body
        assert time.monotonic() < deadline, f"still busy after {timeout} s: {body}"
        time.sleep(0.2)


def moved_to(server: OctoPrintServer, position: float) -> Dict[str, Any]:
    r = post(server, "move", position=position)
    assert r.status_code == 200, r.text
    return r.json()


# ~~ the status


def test_status_has_the_contracts_fields(octoprint_server):
    body = status(octoprint_server, "user")
    for key in ("driver", "driver_name", "units", "limits", "resolution", "position", "lens_ok", "lens_error",
                "busy", "phase", "progress", "curve", "last_result", "presets", "z_blocked", "permissions"):
        assert key in body, key
    assert body["driver"] == "simulated" and body["units"] == "code"
    assert body["limits"] == [0, 1023] and body["resolution"] == 1
    assert body["lens_ok"] is True and body["lens_error"] is None and body["z_blocked"] is None
    assert body["permissions"] == {"control": True, "admin": False}
    assert status(octoprint_server, "admin")["permissions"] == {"control": True, "admin": True}


# ~~ permissions


@pytest.mark.parametrize("user", ["guest", None])
def test_status_needs_the_control_permission(octoprint_server, user):
    r = octoprint_server.session(user).get(octoprint_server.url + API, timeout=10)
    assert r.status_code == 403


@pytest.mark.parametrize("command", CONTROL_COMMANDS + ADMIN_COMMANDS)
def test_every_command_is_refused_to_a_guest(octoprint_server, command):
    before = status(octoprint_server)
    r = post(octoprint_server, command, user="guest", **VALID[command])
    assert r.status_code == 403, r.text
    assert "permission" in r.json()["error"]
    after = status(octoprint_server)
    assert after["position"] == before["position"] and not after["busy"]
    assert "guest-was-here" not in [p["name"] for p in after["presets"]]


@pytest.mark.parametrize("command", ADMIN_COMMANDS)
def test_admin_commands_are_refused_to_a_user(octoprint_server, command):
    r = post(octoprint_server, command, user="user", **VALID[command])
    assert r.status_code == 403, r.text
    assert "administration" in r.json()["error"]


def test_snapshot_route_serves_the_camera_to_users_only(octoprint_server):
    r = octoprint_server.session("user").get(octoprint_server.url + "/plugin/pifocus/snapshot", timeout=20)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("image/jpeg")
    assert r.content[:2] == b"\xff\xd8"
    for user in ("guest", None):
        r = octoprint_server.session(user).get(octoprint_server.url + "/plugin/pifocus/snapshot", timeout=20)
        assert r.status_code == 403


# ~~ moving by hand


def test_move_and_nudge(octoprint_server):
    body = moved_to(octoprint_server, 500)
    assert body["position"] == 500 and body["simulation"]["position"] == 500
    r = post(octoprint_server, "nudge", delta=-20)
    assert r.status_code == 200, r.text
    assert r.json()["position"] == 480
    assert post(octoprint_server, "nudge", delta="2.4").json()["position"] == 482  # snapped to whole codes
    moved_to(octoprint_server, 1000)
    r = post(octoprint_server, "nudge", delta=100)  # past the end: stops at the end
    assert r.status_code == 200 and r.json()["position"] == 1023


@pytest.mark.parametrize("command, fields, words", [
    ("move", {}, ["missing", "position"]),
    ("move", {"position": "abc"}, ["number"]),
    ("move", {"position": None}, ["number"]),
    ("move", {"position": True}, ["number"]),
    ("move", {"position": [1]}, ["number"]),
    ("move", {"position": "nan"}, ["finite"]),
    ("move", {"position": float("nan")}, ["finite"]),
    ("move", {"position": float("inf")}, ["finite"]),
    ("move", {"position": 10 ** 400}, ["finite", "about 401 digits"]),   # too large for a float
    ("move", {"position": 5000}, ["outside", "0..1023"]),
    ("move", {"position": -1}, ["outside"]),
    ("nudge", {}, ["missing", "delta"]),
    ("nudge", {"delta": "x"}, ["number"]),
    ("nudge", {"delta": float("nan")}, ["finite"]),
    ("nudge", {"delta": 5000}, ["larger than the whole lens range"]),
    ("autofocus", {"refine": "maybe"}, ["refine", "true or false"]),
    ("preset_save", {}, ["missing", "name"]),
    ("preset_save", {"name": ""}, ["empty"]),
    ("preset_save", {"name": "   "}, ["empty"]),
    ("preset_save", {"name": "x" * 33}, ["at most 32"]),
    ("preset_save", {"name": 12}, ["text"]),
    ("preset_save", {"name": "a\nb"}, ["control characters"]),
    ("preset_save", {"name": "a\u200b"}, ["invisible", "U+200B"]),  # zero-width space
    ("preset_save", {"name": "\u202egnp.exe"}, ["invisible", "U+202E"]),  # bidi override
    ("preset_save", {"name": "a\u0085b"}, ["control characters", "U+0085"]),  # C1 control
    ("preset_save", {"name": "a\u2028b"}, ["U+2028"]),  # line separator
    ("preset_apply", {"name": "bed\u200d"}, ["invisible", "U+200D"]),
    ("preset_save", {"name": "far", "position": 2000}, ["outside"]),
    ("preset_save", {"name": "far", "position": "near"}, ["number"]),
    ("preset_apply", {"name": "no such preset"}, ["no preset", "no such preset"]),
    ("preset_apply", {}, ["missing", "name"]),
    ("preset_delete", {"name": "no such preset"}, ["no preset"]),
    ("probe", {"driver": "zoom"}, ["Unknown driver"]),
    ("launch", {}, ["invalid"]),  # OctoPrint answers unknown commands itself
])
def test_bad_input_is_a_400_with_a_message(octoprint_server, command, fields, words):
    before = status(octoprint_server)
    r = post(octoprint_server, command, user="admin", **fields)
    assert r.status_code == 400, r.text
    message = r.json()["error"]
    for word in words:
        assert word in message, message
    after = status(octoprint_server)
    assert after["position"] == before["position"] and after["presets"] == before["presets"]


#: The fields each command reads, and one it does not.
FIELDS = {"move": ["position"], "nudge": ["delta"], "autofocus": ["refine"], "cancel": [],
          "preset_save": ["name", "position"], "preset_apply": ["name"], "preset_delete": ["name"],
          "probe": ["driver"], "test": []}


@pytest.mark.parametrize("command", CONTROL_COMMANDS + ADMIN_COMMANDS)
def test_no_input_makes_a_500(octoprint_server, command):
    odd_values = [None, "", "0x10", "1e999", -0.0, 10 ** 30, [], {}, {"a": 1}, "\u0000", "é" * 40, True]
    for key in FIELDS[command] + ["unrelated"]:
        for value in odd_values:
            r = post(octoprint_server, command, user="admin", **{key: value})
            assert r.status_code in (200, 202, 400, 409), (command, key, value, r.status_code, r.text)
            assert r.headers["Content-Type"].startswith("application/json")
            if r.status_code >= 400:
                assert r.json()["error"]
            if r.status_code == 202:  # an autofocus started: stop it, the input is what counts here
                post(octoprint_server, "cancel")
                wait_idle(octoprint_server)
    wait_idle(octoprint_server)


# ~~ presets


def test_presets_save_apply_delete(octoprint_server):
    moved_to(octoprint_server, 420)
    r = post(octoprint_server, "preset_save", name="bed")  # position: the current one
    assert r.status_code == 200, r.text
    r = post(octoprint_server, "preset_save", name=" Nozzle ", position=610)
    presets = {p["name"]: p["position"] for p in r.json()["presets"]}
    assert presets["bed"] == 420 and presets["Nozzle"] == 610
    # Same name, other case: replaced, not doubled.
    presets = post(octoprint_server, "preset_save", name="NOZZLE", position=600).json()["presets"]
    assert [p["position"] for p in presets if p["name"].lower() == "nozzle"] == [600]

    r = post(octoprint_server, "preset_apply", name="nozzle")
    assert r.status_code == 200 and r.json()["position"] == 600
    r = post(octoprint_server, "preset_apply", name="bed")
    assert r.status_code == 200 and r.json()["position"] == 420
    assert status(octoprint_server)["simulation"]["position"] == 420

    # They are kept in the settings, so they survive restarts.
    stored = octoprint_server.plugin_settings("pifocus")["presets"]
    assert {"name": "bed", "position": 420, "driver": "simulated"} in stored

    r = post(octoprint_server, "preset_delete", name="BED")
    assert r.status_code == 200
    assert "bed" not in [p["name"] for p in r.json()["presets"]]
    assert post(octoprint_server, "preset_apply", name="bed").status_code == 400
    assert post(octoprint_server, "preset_delete", name="NOZZLE").status_code == 200
    assert status(octoprint_server)["presets"] == []


def test_preset_names_are_nfc_normalised(octoprint_server):
    r = post(octoprint_server, "preset_save", name="Cafe\u0301", position=410)  # e + combining acute
    assert r.status_code == 200, r.text
    assert {"name": "Caf\u00e9", "position": 410} in r.json()["presets"]
    # The composed spelling is the same preset: replaced, not doubled, and found.
    presets = post(octoprint_server, "preset_save", name="Caf\u00e9", position=420).json()["presets"]
    assert [p["position"] for p in presets if p["name"] == "Caf\u00e9"] == [420] and len(
        [p for p in presets if p["name"].startswith("Caf")]) == 1
    assert post(octoprint_server, "preset_apply", name="Cafe\u0301").json()["position"] == 420
    assert post(octoprint_server, "preset_delete", name="caf\u00e9").status_code == 200


def test_preset_save_without_a_position_waits_for_the_running_job(octoprint_server):
    moved_to(octoprint_server, 800)
    assert post(octoprint_server, "autofocus").status_code == 202
    try:
        r = post(octoprint_server, "preset_save", name="mid-search")
        assert r.status_code == 409, r.text
        assert "autofocus is running" in r.json()["error"] and "position" in r.json()["error"]
        given = post(octoprint_server, "preset_save", name="given", position=400)  # a position: fine
        assert given.status_code == 200, given.text
    finally:
        post(octoprint_server, "cancel")
        wait_idle(octoprint_server)
    names = [p["name"] for p in status(octoprint_server)["presets"]]
    assert "mid-search" not in names and "given" in names
    assert post(octoprint_server, "preset_delete", name="given").status_code == 200


def test_a_search_window_finer_than_the_lens_is_refused(octoprint_server):
    admin = octoprint_server.session("admin")

    def window(value):
        r = admin.post(octoprint_server.url + "/api/settings",
                       json={"plugins": {"pifocus": {"search": {"window": value}}}}, timeout=10)
        assert r.status_code == 200

    window(0.5)  # a valid setting (lens units), but less than one step of a VCM
    try:
        assert octoprint_server.plugin_settings("pifocus")["search"]["window"] == 0.5
        moved_to(octoprint_server, 500)
        r = post(octoprint_server, "autofocus", refine=True)
        assert r.status_code == 409, r.text
        assert "search.window" in r.json()["error"] and "three steps" in r.json()["error"]
        assert not status(octoprint_server)["busy"] and status(octoprint_server)["position"] == 500
    finally:
        window(80)
    assert octoprint_server.plugin_settings("pifocus")["search"]["window"] == 80


# ~~ autofocus


def test_autofocus_ends_in_focus_and_refuses_a_second_run(octoprint_server):
    start = moved_to(octoprint_server, 900)
    assert start["simulation"]["blur_radius"] > 20  # far out of focus
    r = post(octoprint_server, "autofocus")
    assert r.status_code == 202, r.text
    assert r.json()["busy"] is True
    second = post(octoprint_server, "autofocus", refine=True)
    assert second.status_code == 409 and "autofocus is running" in second.json()["error"]
    assert post(octoprint_server, "move", position=100).status_code == 409

    body = wait_idle(octoprint_server)
    result = body["last_result"]
    assert result["found"] is True and result["message"] == ""
    assert result["captures"] == len(result["samples"]) >= 8
    assert body["curve"] == result["samples"]
    # A full search covers the lens range: the curve's x axis, in the result and the status.
    assert result["search_range"] == [0, 1023] and body["search_range"] == [0, 1023]
    assert body["position"] == result["position"]
    # In focus: the simulated camera's blur is within the depth of field (< 1 px).
    simulation = body["simulation"]
    assert simulation["blur_radius"] < 1.0, simulation
    assert abs(body["position"] - simulation["focus"]) <= 20


def test_refine_autofocus_searches_near_the_current_position(octoprint_server):
    moved_to(octoprint_server, 380)  # near focus (340)
    with SocketListener(octoprint_server, "user") as socket:
        assert post(octoprint_server, "autofocus", refine=True).status_code == 202
        result = wait_idle(octoprint_server)["last_result"]
        socket.wait_for_plugin("pifocus", lambda data: data.get("type") == "result")
        progress = [m for m in socket.plugin_messages("pifocus") if m.get("type") == "progress"]
    assert result["found"] is True and result["mode"] == "refine"
    assert all(abs(p - 380) <= 80 + 1 for p, _ in result["samples"])  # search.window: 80 codes
    assert abs(result["position"] - 340) <= 20
    # The window searched comes with every frame from the first on, and with the result: the
    # browser's x axis does not jump mid-run.
    assert result["search_range"] == [300, 460]
    assert len(progress) == result["captures"] and all(m["range"] == [300, 460] for m in progress), progress


def test_cancel_stops_the_run_and_goes_back(octoprint_server):
    moved_to(octoprint_server, 800)
    assert post(octoprint_server, "autofocus").status_code == 202
    time.sleep(0.3)
    r = post(octoprint_server, "cancel")
    assert r.status_code == 200
    body = wait_idle(octoprint_server)
    assert body["last_result"]["cancelled"] is True and body["last_result"]["found"] is False
    assert body["position"] == 800
    assert post(octoprint_server, "cancel").status_code == 200  # nothing running: harmless


# ~~ administration


def test_probe_lists_the_drivers(octoprint_server):
    r = post(octoprint_server, "probe", user="admin")
    assert r.status_code == 200, r.text
    devices = r.json()["devices"]
    drivers = {d["driver"] for d in devices}
    assert {"i2c", "v4l2", "camera-streamer", "printer-z", "simulated"} <= drivers
    simulated = [d for d in devices if d["driver"] == "simulated"]
    assert simulated[0]["found"] is True and simulated[0]["limits"] == [0, 1023]
    for device in devices:
        assert device["message"]  # found or not, each says something
    only = post(octoprint_server, "probe", user="admin", driver="simulated").json()["devices"]
    assert [d["driver"] for d in only] == ["simulated"]


def test_test_nudges_the_lens_and_back(octoprint_server):
    moved_to(octoprint_server, 512)
    r = post(octoprint_server, "test", user="admin")
    assert r.status_code == 200, r.text
    assert r.json()["ok"] is True and "512" in r.json()["message"]
    assert status(octoprint_server)["position"] == 512


# ~~ the lens is the virtual printer's Z

Z_WINDOW = (3.0, 8.0)
Z_FOCUS = 5.3


@pytest.fixture(scope="module")
def z_server(tmp_path_factory):
    events = tmp_path_factory.mktemp("events") / "events.log"
    config = deep_merge(demo_config(lens="printer_z", z_focus=Z_FOCUS), {
        "serial": {"log": True},
        "plugins": {"pifocus": {
            "driver": "printer-z",
            "printer_z": {"min": Z_WINDOW[0], "max": Z_WINDOW[1], "feedrate": 3000, "backlash": 0.2},
            "camera": {"settle": 0.0},
        }},
        "events": {"enabled": True, "subscriptions": [{
            "event": ["plugin_pifocus_focus_changed", "plugin_pifocus_autofocus_done",
                      "plugin_pifocus_autofocus_failed"],
            "type": "system", "shell": True,
            "command": f"printf '%s %s\\n' {{__eventname}} {{__json}} >> '{events}'",
        }]},
    })
    server = OctoPrintServer(extra_config=config)
    server.events_path = events
    with server:
        yield server


def events(server, name: str, timeout: float = 10.0, count: int = 1) -> List[Dict[str, Any]]:
    """Payloads of the PiFocus events OctoPrint's event manager handed to the subscription."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            lines = server.events_path.read_text().splitlines()
        except OSError:
            lines = []
        found = [json.loads(line.split(" ", 1)[1]) for line in lines if line.split(" ", 1)[0] == name]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def sent_z(server) -> List[float]:
    """Every Z of a G0/G1 line OctoPrint sent to the printer (serial.log)."""
    return [float(z) for z in re.findall(r"Send: (?:N\d+ )?G[01] [^\n*]*?Z(-?[\d.]+)", server.serial_log_text())]


def test_z_focus_needs_a_homed_printer(z_server):
    body = status(z_server)
    assert body["driver"] == "printer-z" and body["units"] == "mm" and body["limits"] == list(Z_WINDOW)
    assert "not homed" in body["z_blocked"]
    r = post(z_server, "autofocus")
    assert r.status_code == 409 and "G28" in r.json()["error"]
    assert post(z_server, "move", position=5).status_code == 409
    z_server.printer_command("G28")
    deadline = time.monotonic() + 10
    while status(z_server)["z_blocked"] is not None:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert sent_z(z_server) == []  # nothing moved Z so far


def test_z_autofocus_finds_focus_inside_the_window(z_server):
    z_server.printer_command("G28")
    time.sleep(0.5)
    assert status(z_server)["position"] is None  # homed: Z unknown to OctoPrint until it is moved
    r = post(z_server, "move", position=7.5)
    assert r.status_code == 200, r.text
    assert r.json()["position"] == pytest.approx(7.5)
    assert post(z_server, "move", position=8.5).status_code == 400  # outside the window
    assert post(z_server, "autofocus").status_code == 202
    body = wait_idle(z_server)
    result = body["last_result"]
    assert result["found"] is True, result
    assert result["position"] == pytest.approx(Z_FOCUS, abs=0.1)
    assert body["simulation"]["blur_radius"] < 1.0  # 8 px/mm: within 0.12 mm of focus
    zs = sent_z(z_server)
    assert len(zs) >= len(result["samples"])
    assert all(Z_WINDOW[0] <= z <= Z_WINDOW[1] for z in zs), sorted(set(zs))

    done = events(z_server, "plugin_pifocus_autofocus_done")
    assert done, z_server.events_path.read_text() if z_server.events_path.exists() else "no events file"
    assert done[-1]["position"] == pytest.approx(result["position"])
    assert done[-1]["frames"] == result["captures"] and done[-1]["driver"] == "printer-z"
    assert done[-1]["duration"] > 0 and done[-1]["score"] > 0
    # From Z=0 after homing, below the window: the autofocus starts at the window's lower end.
    z_server.printer_command("G28")
    assert post(z_server, "autofocus", refine=True).status_code == 202
    again = wait_idle(z_server)["last_result"]
    assert again["found"] is True and again["start_position"] == Z_WINDOW[0]
    assert all(Z_WINDOW[0] <= z <= Z_WINDOW[1] for z in sent_z(z_server))
    changed = events(z_server, "plugin_pifocus_focus_changed", count=2)
    assert [e["message"] for e in changed][:2] == ["move", "autofocus"]
    assert changed[1]["position"] == pytest.approx(result["position"])


def test_a_camera_failure_fires_autofocus_failed(z_server):
    admin = z_server.session("admin")
    dead = f"http://127.0.0.1:{z_server.port}/no/such/camera.jpg"
    r = admin.post(z_server.url + "/api/settings",
                   json={"plugins": {"pifocus": {"camera": {"url": dead, "mode": "snapshot"}}}}, timeout=10)
    assert r.status_code == 200
    try:
        z_server.printer_command("G28")
        assert post(z_server, "move", position=6.2).status_code == 200
        assert post(z_server, "autofocus").status_code == 202
        body = wait_idle(z_server)
        assert body["last_result"]["found"] is False
        assert "camera.jpg" in body["last_result"]["message"]
        failed = events(z_server, "plugin_pifocus_autofocus_failed")
        assert failed and "camera.jpg" in failed[-1]["message"] and failed[-1]["driver"] == "printer-z"
        assert body["position"] == pytest.approx(6.2), body["last_result"]["message"]  # back where it started
    finally:
        admin.post(z_server.url + "/api/settings", json={"plugins": {"pifocus": {"camera": {"url": ""}}}},
                   timeout=10)
    assert z_server.plugin_settings("pifocus")["camera"]["url"] == ""


def test_z_is_blocked_while_a_print_runs(z_server):
    z_server.printer_command("G28")
    z_server.print_gcode("slow.gcode", "G91\n" + "G1 X1 F60\n" * 100)
    try:
        z_server.wait_for_state(lambda s: s.startswith("Printing"), what="print start")
        body = status(z_server)
        assert "print is running" in body["z_blocked"]
        r = post(z_server, "move", position=6)
        assert r.status_code == 409 and "print" in r.json()["error"]
        assert post(z_server, "autofocus").status_code == 409
        assert post(z_server, "nudge", delta=0.1).status_code == 409
    finally:
        z_server.session("admin").post(z_server.url + "/api/job", json={"command": "cancel"}, timeout=10)
        z_server.wait_for_state(lambda s: s == "Operational", timeout=60, what="cancel")
    assert status(z_server)["z_blocked"] is None


# ~~ the command line through OctoPrint's


def test_octoprint_plugins_runs_the_engine_cli(tmp_path):
    run = [sys.executable, "-m", "octoprint", "--basedir", str(tmp_path), "plugins"]
    listed = subprocess.run(run + ["--help"], capture_output=True, text=True, timeout=120)
    for name in ("score", "demo", "lens", "autofocus"):
        assert f"pifocus:{name}" in listed.stdout, listed.stdout + listed.stderr
    helped = subprocess.run(run + ["pifocus:lens", "--help"], capture_output=True, text=True, timeout=120)
    assert helped.returncode == 0 and "probe" in helped.stdout, helped.stdout + helped.stderr
    failed = subprocess.run(run + ["pifocus:lens", "set", "--driver", "simulated", "5000"],
                            capture_output=True, text=True, timeout=120)
    assert failed.returncode == 1 and "outside" in failed.stderr, failed.stdout + failed.stderr


@pytest.mark.parametrize("body", ['"command"', "null", "123", '{"command": ["move"]}', '{"command": {}}',
                                  "[1, 2]", '{"position": 5}', "{not json"])
def test_bodies_that_are_not_a_command_object_are_a_400(octoprint_server, body):
    r = octoprint_server.session("user").post(octoprint_server.url + API, data=body, timeout=10,
                                              headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert "command" in r.json()["error"]


@pytest.mark.parametrize("user", [None, "user"])
@pytest.mark.parametrize("depth", [5000, 900, 17])
def test_a_deeply_nested_body_is_a_400_for_anyone(octoprint_server, user, depth):
    """The body check runs before any permission check, so anyone can send this: Python's JSON
    parser recursed once per level and 5,000 levels ended in a RecursionError and a 500."""
    session = octoprint_server.anonymous() if user is None else octoprint_server.session(user)
    body = '{"command": "move", "position": ' + "[" * depth + "]" * depth + "}"
    r = session.post(octoprint_server.url + API, data=body, timeout=10, headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert "nests more than 16 levels" in r.json()["error"]
    # Brackets inside strings do not count: a legitimate body still gets through to the command.
    r = session.post(octoprint_server.url + API, json={"command": "preset_delete", "name": "[" * 40}, timeout=10)
    assert r.status_code in (400, 403) and "nests" not in r.text


@pytest.mark.parametrize("tail", [b"", b"\\", b'"'])
def test_an_unterminated_string_of_escaped_quotes_does_not_hold_the_server(octoprint_server, tail):
    """The nesting check stripped JSON strings with a regular expression that backtracked
    quadratically on an unterminated run of \\" pairs: 64 KB held every request of the
    server for 25 s. 100 KB (OctoPrint's body limit) must be refused as fast as any body, by
    the server's own clock: a parallel request is answered meanwhile too."""
    body = b'{"command": "move", "name": "' + b'\\"' * 50_000 + tail
    session = octoprint_server.anonymous()
    r = session.post(octoprint_server.url + API, data=body, timeout=5, headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text[:300]
    assert octoprint_server.session("user").get(octoprint_server.url + "/api/version", timeout=5).ok


@pytest.mark.parametrize("settings_text, field", [
    ('{"printer_z": {"max": 1' + "0" * 309 + "}}", "printer_z.max"),   # int too large to convert to float
    ('{"simulation": {"width": 1e400}}', "simulation.width"),            # int(inf): OverflowError
    ('{"simulation": {"noise": 1' + "0" * 400 + "}}", "simulation.noise"),
    ('{"roi": [1' + "0" * 400 + ", 0, 0.5, 0.5]}", "roi"),
    ('{"presets": [{"name": "x", "position": 1' + "0" * 400 + "}], \"camera\": {\"settle\": -1}}", "camera.settle"),
    ('{"i2c": {"bus": -1}}', "i2c.bus"),
    ('{"a": ' + "[" * 12 + "]" * 12 + "}", ""),                          # deeper than any setting
])
def test_validate_settings_with_absurd_numbers_or_nesting_is_a_400(octoprint_server, settings_text, field):
    body = '{"command": "validate_settings", "settings": ' + settings_text + "}"
    r = octoprint_server.session("admin").post(octoprint_server.url + API, data=body, timeout=10,
                                               headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.json()["field"] == field and r.json()["error"], r.text


def test_a_deeply_nested_settings_save_is_refused(octoprint_server):
    before = octoprint_server.plugin_settings("pifocus")
    deep: Any = 1
    for _ in range(400):
        deep = {"x": deep}
    r = octoprint_server.session("admin").post(octoprint_server.url + "/api/settings",
                                               json={"plugins": {"pifocus": {"simulation": deep}}}, timeout=10)
    assert r.status_code == 200, r.text  # OctoPrint's settings API answers 200 whatever a plugin does
    assert r.json()["plugins"]["pifocus"] == before
    assert "The settings are nested more than 10 levels deep" in octoprint_server.log_text()
