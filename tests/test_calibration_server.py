"""Calibrating a focus map on the real OctoPrint with its virtual printer (issue 11, Calibrate).

The simulation's focus field is on (``both``): the camera device's (simulated VCM) sharp
position follows the bed's Y and Z, the microscope's (printer Z is its lens) a tilted board
under X and Y. The camera is calibrated over Y with 3 points, the microscope over X and Y with
5 points (corners and centre): its map is a height map. Both maps are checked against the
simulation's truth, within the depth of field. The
refusals (not homed, printing, not connected, outside the profile volume) leave the stored map
and the settings as they were; a cancel brings the printer back; the map survives a restart.
"""
from __future__ import annotations

import re
import time

import pytest

from octoprint_pifocus.sim import bed_camera_field, microscope_field
from octoprint_pifocus.plugin.simulation import SimulationSettings
from octoprint_pifocus.plugin.simulations import Z_FOCUS_STEP
from octoprint_server import OctoPrintServer, deep_merge, demo_config

API = "/api/plugin/pifocus"
#: The virtual printer's default profile: 200 x 200 x 200 mm, origin lower left.
VOLUME = 200.0


@pytest.fixture(scope="module")
def server():
    config = deep_merge(demo_config(microscope=True, noise=0.5, focus_field="both"), {"serial": {"log": True}})
    with OctoPrintServer(extra_config=config) as srv:
        yield srv


def post(server, body, status=None):
    r = server.session("admin").post(server.url + API, json=body, timeout=20)
    if status is not None:
        assert r.status_code == status, r.text
    return r


def status(server, device="camera"):
    return server.session("admin").get(server.url + API, params={"device": device}, timeout=10).json()


def home(server):
    server.printer_command("G28")
    deadline = time.monotonic() + 15
    while status(server, "microscope")["z_blocked"] is not None:
        assert time.monotonic() < deadline, "the printer never counted as homed"
        time.sleep(0.1)


def wait_done(server, device, timeout=180.0):
    deadline = time.monotonic() + timeout
    while True:
        body = status(server, device)
        calibration = body["calibration"]
        if calibration is not None and not calibration["running"] and not body["busy"]:
            return body
        assert time.monotonic() < deadline, body["calibration"]
        time.sleep(0.3)


def stored_map(server, device):
    devices = server.plugin_settings("pifocus")["devices"]
    return next(d for d in devices if d["id"] == device)["focus_map"]


def sent_moves(server):
    """(X, Y, Z) of every G0 PiFocus's calibration sent, from the serial log."""
    moves = []
    for line in server.serial_log_text().splitlines():
        if "Send: " in line and re.search(r"\bG0\b", line):
            moves.append({a.lower(): float(v) for a, v in re.findall(r"\b([XYZ])(-?[\d.]+)", line.split("Send: ", 1)[1])})
    return moves


def test_a_calibration_needs_a_homed_printer_and_says_so(server):
    # First in the module: nothing has homed the printer yet.
    r = post(server, {"command": "calibrate", "device": "camera", "axes": ["y"],
                      "points": [{"y": 20}, {"y": 180}]}, status=409)
    assert r.json()["error"].startswith("The printer is not homed"), r.json()
    assert status(server)["focus_map"] is None and status(server)["calibration"] is None


def test_three_points_over_y_give_a_piecewise_map_stored_in_the_settings(server):
    home(server)
    points = [{"y": 30}, {"y": 100}, {"y": 170}]
    post(server, {"command": "calibrate", "device": "camera", "axes": ["y"], "points": points}, status=202)
    assert status(server)["busy"] is True
    # One job: the device refuses another while the calibration runs.
    assert post(server, {"command": "autofocus", "device": "camera"}).status_code == 409
    # The printer moves: the microscope (printer Z) may not move it meanwhile.
    r = post(server, {"command": "autofocus", "device": "microscope"}, status=409)
    assert "in use by the focus device 'Camera'" in r.json()["error"], r.json()
    body = wait_done(server, "camera")
    assert body["calibration"]["outcome"] == "done", body["calibration"]
    assert [p["position"] for p in body["calibration"]["points"]] == points
    fmap = body["focus_map"]
    assert fmap["axes"] == ["y"] and fmap["kind"] == "piecewise" and fmap["units"] == "code"
    assert [p["position"]["y"] for p in fmap["points"]] == [30, 100, 170]
    truth = bed_camera_field()  # the simulation's: the bed at Z 0 after homing
    for point in fmap["points"]:
        assert point["ok"] and point["flag"] is None
        # The simulation's truth, within the depth of field (30 codes for the simulated VCM).
        expected = truth({"y": point["position"]["y"], "z": 0.0})
        assert abs(point["lens"] - expected) <= fmap["dof_width"] / 2, (point, expected)
    assert fmap["points"][2]["lens"] - fmap["points"][0]["lens"] > 100  # the bed's Y really matters
    for y, value in fmap["knots"]:
        assert abs(value - truth({"y": y, "z": 0.0})) <= fmap["dof_width"] / 2
    assert fmap["expected_error_dof"] is not None and fmap["expected_error_dof"] < 0.5
    # The printer went to each point, and stayed in the profile volume.
    moves = sent_moves(server)
    assert [m["y"] for m in moves if "y" in m][-3:] == [30, 100, 170]
    stored = stored_map(server, "camera")
    assert stored["axes"] == ["y"] and [p["position"] for p in stored["points"]] == points
    # "here" reads the toolhead: at the last point.
    here = post(server, {"command": "map_here", "device": "camera"}, status=200).json()["position"]
    assert here["y"] == pytest.approx(170)


def test_five_points_over_x_and_y_give_the_microscope_a_height_map(server):
    home(server)
    corners = [{"x": 20, "y": 20}, {"x": 180, "y": 20}, {"x": 180, "y": 180}, {"x": 20, "y": 180},
               {"x": 100, "y": 100}]
    post(server, {"command": "calibrate", "device": "microscope", "axes": ["x", "y"], "points": corners},
         status=202)
    body = wait_done(server, "microscope", timeout=300)
    assert body["calibration"]["outcome"] == "done", body["calibration"]
    fmap = body["focus_map"]
    assert fmap["axes"] == ["x", "y"] and fmap["kind"] == "plane" and fmap["units"] == "mm"
    assert len(fmap["points"]) == 5 and fmap["coefficients"]
    assert len(fmap["grid"]["values"]) == 16 and len(fmap["grid"]["values"][0]) == 16
    # The simulation's tilted board: the sharp Z over X and Y (the second device's simulation
    # is sharp Z_FOCUS_STEP higher than the first's, so the two cameras differ).
    truth = microscope_field(SimulationSettings().z_focus + Z_FOCUS_STEP)
    lenses = [p["lens"] for p in fmap["points"]]
    assert max(lenses) - min(lenses) > 1.0  # the tilt really matters: 1.6 mm corner to corner
    for point in fmap["points"]:
        assert point["ok"], point
        expected = truth(point["position"])
        assert abs(point["lens"] - expected) <= fmap["dof_width"] / 2, (point, expected)
    grid = fmap["grid"]
    for y, row in zip(grid["y"], grid["values"]):
        for x, value in zip(grid["x"], row):
            assert abs(value - truth({"x": x, "y": y})) <= fmap["dof_width"] / 2, (x, y, value)
    assert fmap["expected_error_dof"] < 0.5
    # The camera's map is untouched by the microscope's.
    assert status(server, "camera")["focus_map"]["axes"] == ["y"]
    # Z moves of a printer-Z device stayed inside its window (3..9 mm); XY inside the volume.
    for move in sent_moves(server):
        assert 0 <= move.get("x", 0) <= VOLUME and 0 <= move.get("y", 0) <= VOLUME, move


def test_refusals_lose_nothing(server):
    home(server)
    before = stored_map(server, "camera")
    assert before is not None
    r = post(server, {"command": "calibrate", "device": "camera", "axes": ["x", "y"],
                      "points": [{"x": 10, "y": 10}, {"x": 250, "y": 10}, {"x": 10, "y": 90}]}, status=400)
    assert "Point 2: X 250 mm is outside the printer's volume 0..200 mm" in r.json()["error"]
    r = post(server, {"command": "calibrate", "device": "microscope", "axes": ["z"],
                      "points": [{"z": 1}, {"z": 5}]}, status=400)
    assert "height map" in r.json()["error"]
    r = post(server, {"command": "calibrate", "device": "camera", "axes": ["q"], "points": []}, status=400)
    assert "'axes' must be one of" in r.json()["error"]
    # Printing: a slow print holds the printer.
    gcode = "G28\nG90\n" + "".join(f"G1 X{10 + i % 2 * 100} F600\n" for i in range(40))
    server.print_gcode("slow.gcode", gcode)
    server.wait_for_state(lambda s: s.startswith("Printing"), what="print started")
    r = post(server, {"command": "calibrate", "device": "camera", "axes": ["y"],
                      "points": [{"y": 20}, {"y": 180}]}, status=409)
    assert r.json()["error"].startswith("A print is running"), r.json()
    server.session("admin").post(server.url + "/api/job", json={"command": "cancel"}, timeout=10)
    server.wait_for_state(lambda s: s == "Operational", timeout=60, what="print cancelled")
    # Not connected.
    s = server.session("admin")
    assert s.post(server.url + "/api/connection", json={"command": "disconnect"}, timeout=10).status_code == 204
    server.wait_for_state(lambda st: st in ("Offline", "Closed"), what="disconnected")
    r = post(server, {"command": "calibrate", "device": "camera", "axes": ["y"],
                      "points": [{"y": 20}, {"y": 180}]}, status=409)
    assert r.json()["error"].startswith("The printer is not connected"), r.json()
    assert post(server, {"command": "map_here", "device": "camera"}).status_code == 409
    s.post(server.url + "/api/connection", json={"command": "connect", "port": "VIRTUAL"}, timeout=10)
    server.wait_for_state(lambda st: st == "Operational", what="reconnected")
    assert stored_map(server, "camera") == before
    assert status(server)["focus_map"]["points"][0]["position"] == {"y": 30}


def test_cancel_brings_the_printer_back_and_keeps_the_map(server):
    home(server)
    server.printer_command("G0 X50 Y60 F6000")
    before = stored_map(server, "camera")
    post(server, {"command": "calibrate", "device": "camera", "axes": ["y"],
                  "points": [{"y": 150}, {"y": 160}, {"y": 170}, {"y": 180}]}, status=202)
    deadline = time.monotonic() + 30
    while not status(server)["calibration"]["points"]:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    post(server, {"command": "calibration_cancel", "device": "camera"}, status=200)
    body = wait_done(server, "camera")
    assert body["calibration"]["outcome"] == "cancelled"
    here = post(server, {"command": "map_here", "device": "camera"}, status=200).json()["position"]
    assert here["y"] == pytest.approx(60)
    assert stored_map(server, "camera") == before


def test_drop_and_redo_fit_the_map_again(server):
    home(server)
    post(server, {"command": "map_point", "device": "camera", "index": 1, "action": "drop"}, status=200)
    fmap = status(server)["focus_map"]
    assert [p["position"]["y"] for p in fmap["points"]] == [30, 170]
    r = post(server, {"command": "map_point", "device": "camera", "index": 0, "action": "drop"}, status=400)
    assert "could not be fitted" in r.json()["error"]
    assert len(status(server)["focus_map"]["points"]) == 2
    post(server, {"command": "map_point", "device": "camera", "index": 0, "action": "redo"}, status=202)
    body = wait_done(server, "camera")
    assert body["calibration"]["outcome"] == "done" and body["calibration"]["count"] == 1
    assert [p["position"]["y"] for p in body["focus_map"]["points"]] == [30, 170]
    assert post(server, {"command": "map_point", "device": "camera", "index": 7, "action": "drop"}).status_code == 400


def test_the_maps_survive_a_restart(server):
    camera, microscope = stored_map(server, "camera"), stored_map(server, "microscope")
    assert camera is not None and microscope is not None
    server.restart()
    assert stored_map(server, "camera") == camera
    assert status(server, "microscope")["focus_map"]["axes"] == ["x", "y"]
    assert [p["position"] for p in status(server, "camera")["focus_map"]["points"]] == [
        p["position"] for p in camera["points"]]
    # A settings save from the dialog (which holds an old copy) never overwrites the map.
    s = server.session("admin")
    s.post(server.url + "/api/settings", json={"plugins": {"pifocus": {"devices": [
        {"id": "camera", "name": "Camera", "focus_map": None},
        {"id": "microscope", "name": "microscope"}]}}}, timeout=20)
    assert stored_map(server, "camera") == camera


def test_a_broken_stored_map_is_dropped_with_a_log_line_and_the_rest_stays():
    good = {"version": 1, "axes": ["y"], "surface": "auto", "dof_width": 30.0,
            "points": [{"position": {"y": 10.0}, "lens": 300.0, "score": 1.0, "ok": True},
                       {"position": {"y": 90.0}, "lens": 340.0, "score": 1.0, "ok": True}]}
    broken = dict(good, points=[{"position": {"y": 10.0}, "lens": "far", "score": 1.0}])
    config = deep_merge(demo_config(), {"plugins": {"pifocus": {"devices": [
        {"id": "camera", "name": "Camera", "driver": "simulated", "focus_map": broken,
         "presets": [{"name": "bed", "position": 400, "driver": "simulated"}], "measure": "brenner"},
        {"id": "second", "name": "Second", "driver": "simulated", "focus_map": good}]}}})
    with OctoPrintServer(extra_config=config) as srv:
        srv.wait_for_log("Stored setting devices.camera.focus_map is not usable")
        settings = srv.plugin_settings("pifocus")
        camera, second = settings["devices"]
        assert camera["focus_map"] is None
        assert camera["presets"] == [{"name": "bed", "position": 400, "driver": "simulated"}]
        assert camera["measure"] == "brenner"
        assert second["focus_map"]["points"] == good["points"]
        body = srv.session("admin").get(srv.url + API, params={"device": "second"}, timeout=10).json()
        assert body["focus_map"]["knots"] == [[10.0, 300.0], [90.0, 340.0]]
