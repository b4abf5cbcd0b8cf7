"""Several focus devices in a real OctoPrint: each its own lens, camera, job and memory.

Two simulated devices (each its own simulated VCM and its own scene, see
plugin/simulations.py) focus at the same time and end in focus, each on its own camera; their
curves, pushes and events carry their own device and do not mix; a second autofocus on the same
device is a 409. Two devices on printer Z share the printer: the second Z job is a 409 naming
the device that holds Z, or waits for it (an @PIFOCUS line). A print's ``@PIFOCUS AUTOFOCUS DEVICE=<name>`` holds the job for that
device alone.
"""
from __future__ import annotations

import time
from typing import Any, Dict

import pytest

from octoprint_server import MICROSCOPE, OctoPrintServer, deep_merge, demo_config
from socket_listener import SocketListener

API = "/api/plugin/pifocus"

NOZZLE = {"id": "nozzle", "name": "Nozzle cam", "driver": "simulated",
          "camera": {"webcam": "pifocus_simulated_nozzle", "settle": 0.0}}


@pytest.fixture(scope="module")
def server():
    config = deep_merge(demo_config(), {"plugins": {"pifocus": {
        "camera": {"settle": 0.0},
        "devices": [{"id": "camera", "name": "Camera"}, NOZZLE]}}})
    with OctoPrintServer(extra_config=config) as s:
        yield s


def status(server, device: str = "", user: str = "user") -> Dict[str, Any]:
    r = server.session(user).get(server.url + API, params={"device": device} if device else None, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def post(server, command: str, user: str = "user", **fields: Any):
    return server.session(user).post(server.url + API, json=dict(fields, command=command), timeout=30)


def wait_idle(server, device: str, timeout: float = 90.0) -> Dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body = status(server, device)
        if body["activity"] is None:
            return body
        assert time.monotonic() < deadline, f"{device} still busy: {body['activity']}"
        time.sleep(0.2)


def test_the_status_lists_every_device_and_the_first_stays_on_top(server):
    body = status(server)
    assert [(d["device"], d["device_name"]) for d in body["devices"]] == [("camera", "Camera"), ("nozzle", "Nozzle cam")]
    assert body["device"] == "camera" and body["driver"] == "simulated"  # today's fields: the first device
    # By id or by name, without case.
    for key in ("nozzle", "NOZZLE CAM", "nozzle cam"):
        assert status(server, key)["device"] == "nozzle"
    # Each device has its own simulated camera, focused elsewhere.
    first, second = body["devices"][0]["simulation"], body["devices"][1]["simulation"]
    assert first["focus"] != second["focus"]


def test_an_unknown_device_is_a_400_naming_the_known_ones(server):
    r = server.session("user").get(server.url + API, params={"device": "microscope"}, timeout=10)
    assert r.status_code == 400 and "'Camera' (camera)" in r.json()["error"] and "'Nozzle cam'" in r.json()["error"]
    r = post(server, "move", position=400, device="microscope")
    assert r.status_code == 400 and "Unknown focus device" in r.json()["error"] and "nozzle" in r.json()["error"]
    r = server.session("user").get(server.url + "/plugin/pifocus/snapshot", params={"device": "x"}, timeout=10)
    assert r.status_code == 400


def test_each_device_moves_its_own_lens_and_keeps_its_own_presets(server):
    assert post(server, "move", position=300, device="nozzle").status_code == 200
    assert post(server, "move", position=800).status_code == 200  # no device: the first
    assert status(server, "nozzle")["position"] == 300 and status(server)["position"] == 800
    assert status(server, "nozzle")["simulation"]["position"] == 300
    assert post(server, "preset_save", name="bed", position=500, device="Nozzle cam").status_code == 200
    assert [p["name"] for p in status(server, "nozzle")["presets"]] == ["bed"]
    assert status(server)["presets"] == []
    assert post(server, "preset_apply", name="bed").status_code == 400  # the first device has none
    assert post(server, "preset_delete", name="bed", device="nozzle").status_code == 200


def test_two_devices_focus_at_once_and_their_curves_and_events_do_not_mix(server):
    post(server, "move", position=900, device="nozzle")
    post(server, "move", position=100)
    with SocketListener(server, "user") as socket:
        a = post(server, "autofocus")
        b = post(server, "autofocus", device="nozzle cam")
        assert a.status_code == 202 and b.status_code == 202, (a.text, b.text)
        both = status(server)["devices"]
        assert [d["activity"] for d in both] == ["autofocus", "autofocus"]  # in parallel
        again = post(server, "autofocus", device="nozzle")
        assert again.status_code == 409 and "autofocus is running" in again.json()["error"]
        bodies = {device: wait_idle(server, device) for device in ("camera", "nozzle")}
        for device in ("camera", "nozzle"):
            socket.wait_for(lambda m: (m.get("event") or {}).get("type") == "plugin_pifocus_autofocus_done"
                            and m["event"]["payload"]["device"] == device, what=f"autofocus_done of {device}")
        time.sleep(0.5)
        messages = socket.plugin_messages("pifocus")
        done = socket.events("plugin_pifocus_autofocus_done")

    for device, body in bodies.items():
        result = body["last_result"]
        assert result["found"] is True, (device, result)
        # In focus on its own camera: within a few codes of where its own scene is sharp.
        assert abs(result["position"] - body["simulation"]["focus"]) <= 12, (device, result, body["simulation"])
        assert body["simulation"]["blur_radius"] < 1.0
        # Its curve, its pushes and its event are its own.
        pushed = [m["sample"] for m in messages if m.get("type") == "progress" and m.get("device") == device]
        assert pushed and [list(p) for p in pushed] == body["curve"], device
        results = [m for m in messages if m.get("type") == "result" and m.get("device") == device]
        assert len(results) == 1 and results[0]["result"]["position"] == result["position"]
        events = [e["payload"] for e in done if e["payload"]["device"] == device]
        assert len(events) == 1 and events[0]["position"] == result["position"], events
        assert events[0]["device_name"] == {"camera": "Camera", "nozzle": "Nozzle cam"}[device]
    assert bodies["camera"]["last_result"]["position"] != bodies["nozzle"]["last_result"]["position"]
    # Every push names its device.
    assert all(m.get("device") in ("camera", "nozzle") for m in messages if m.get("type") in ("progress", "status"))


def test_a_print_holds_for_the_device_its_atcommand_names(server):
    post(server, "move", position=950, device="nozzle")
    post(server, "move", position=120)
    before = status(server)
    mark = len(server.log_text())
    with SocketListener(server, "user") as socket:
        server.print_gcode("nozzle.gcode", 'G90\nG1 X10 F6000\n@PIFOCUS AUTOFOCUS DEVICE="Nozzle cam"\nG1 X20 F6000\n')
        deadline = time.monotonic() + 120
        while "@PIFOCUS AUTOFOCUS DEVICE=\"Nozzle cam\" done" not in server.log_text()[mark:]:
            assert time.monotonic() < deadline, server.log_tail(40)
            time.sleep(0.3)
        time.sleep(0.5)
        statuses = [m["status"] for m in socket.plugin_messages("pifocus") if m.get("type") == "status"]
        done = socket.events("plugin_pifocus_autofocus_done")
        changed = socket.events("plugin_pifocus_focus_changed")
    log = server.log_text()[mark:]
    assert "print on hold" in log and "print hold released" in log
    nozzle, camera = status(server, "nozzle"), status(server)
    assert nozzle["last_result"]["found"] is True
    assert abs(nozzle["position"] - nozzle["simulation"]["focus"]) <= 12
    # The hold was the nozzle's job alone: the other device never ran anything, never moved,
    # and its last run is the one it had before the print.
    assert "print" in [s["activity"] for s in statuses if s["device"] == "nozzle"]
    assert not [s["activity"] for s in statuses if s["device"] == "camera" and s["activity"] is not None]
    assert [e["payload"]["device"] for e in done] == ["nozzle"]
    assert {e["payload"]["device"] for e in changed} == {"nozzle"}
    assert camera["position"] == 120 and camera["simulation"]["position"] == 120
    assert camera["last_result"] == before["last_result"] and camera["curve"] == before["curve"]
    server.wait_for_state(lambda state: state == "Operational", timeout=60, what="the print to end")


def test_an_atcommand_naming_an_unknown_device_fails_and_says_which_exist(server):
    mark = len(server.log_text())
    server.printer_command("@PIFOCUS SET 400 DEVICE=periscope")
    deadline = time.monotonic() + 20
    while "failed" not in server.log_text()[mark:]:
        assert time.monotonic() < deadline, server.log_tail(20)
        time.sleep(0.2)
    assert "Unknown focus device 'periscope'" in server.log_text()[mark:]


# ~~ two devices on printer Z


@pytest.fixture(scope="module")
def z_server():
    second = dict(MICROSCOPE, id="gantry", name="Gantry cam",
                  camera={"webcam": "pifocus_simulated_gantry", "settle": 0.5})
    config = deep_merge(demo_config(microscope=True), {"plugins": {"pifocus": {"devices": [
        {"id": "camera", "name": "Camera"}, MICROSCOPE, second]}}})
    with OctoPrintServer(extra_config=config) as s:
        s.printer_command("G28")
        yield s


def wait_z_free(server, device: str) -> None:
    deadline = time.monotonic() + 10
    while status(server, device)["z_blocked"] is not None:
        assert time.monotonic() < deadline, status(server, device)
        time.sleep(0.2)


def test_a_second_printer_z_job_is_a_409_naming_the_device_that_holds_z(z_server):
    wait_z_free(z_server, "gantry")
    first = post(z_server, "autofocus", device="gantry")
    assert first.status_code == 202, first.text
    second = post(z_server, "autofocus", device="microscope")
    assert second.status_code == 409, second.text
    # Named by its name and its id, so the user knows which device to wait for.
    assert "Printer Z is in use by the focus device 'Gantry cam' (gantry)" in second.json()["error"]
    assert "'Gantry cam' (gantry)" in status(z_server, "microscope")["z_blocked"]
    move = post(z_server, "move", position=5, device="microscope")
    assert move.status_code == 409 and "'Gantry cam' (gantry)" in move.json()["error"]
    assert status(z_server, "microscope")["activity"] is None  # refused: nothing started
    # A device that does not move Z runs meanwhile.
    assert post(z_server, "autofocus").status_code == 202
    gantry = wait_idle(z_server, "gantry")
    assert gantry["last_result"]["found"] is True, gantry["last_result"]
    wait_idle(z_server, "camera")
    # Z is free again: the microscope focuses now.
    assert post(z_server, "autofocus", device="microscope").status_code == 202
    microscope = wait_idle(z_server, "microscope")
    assert microscope["last_result"]["found"] is True
    assert abs(microscope["last_result"]["position"] - microscope["simulation"]["focus"]) < 0.2


def test_a_pifocus_command_for_a_second_z_device_waits_for_z_instead_of_failing(z_server):
    """The other half of "waits or gets a 409": an @PIFOCUS line waits for the device holding Z."""
    wait_z_free(z_server, "gantry")
    mark = len(z_server.log_text())
    assert post(z_server, "autofocus", device="gantry").status_code == 202
    z_server.printer_command("@PIFOCUS SET 5 DEVICE=microscope")
    deadline = time.monotonic() + 120
    while "@PIFOCUS SET 5 DEVICE=microscope done" not in z_server.log_text()[mark:]:
        assert "@PIFOCUS SET 5 DEVICE=microscope failed" not in z_server.log_text()[mark:], z_server.log_tail(20)
        assert time.monotonic() < deadline, z_server.log_tail(40)
        time.sleep(0.2)
    log = z_server.log_text()[mark:]
    gantry_done = log.index("Autofocus done (autofocus)")
    assert gantry_done < log.index("@PIFOCUS SET 5 DEVICE=microscope done"), "the SET did not wait for Z"
    assert status(z_server, "gantry")["last_result"]["found"] is True
    assert status(z_server, "microscope")["position"] == 5


# ~~ the CLI inside OctoPrint names a device with --focus-device


def test_octoprint_plugins_cli_takes_a_focus_device(tmp_path):
    import subprocess
    import sys

    import yaml

    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"plugins": {"pifocus": {
        "_config_version": 4,
        "devices": [{"id": "camera", "name": "Camera", "driver": ""}, dict(NOZZLE, driver="simulated")]}}}))
    run = [sys.executable, "-m", "octoprint", "--basedir", str(tmp_path), "plugins"]
    moved = subprocess.run(run + ["pifocus:lens", "set", "500", "--focus-device", "NOZZLE CAM"],
                           capture_output=True, text=True, timeout=120)
    assert moved.returncode == 0 and "500" in moved.stdout, moved.stdout + moved.stderr
    # The device's driver was used: its simulated lens refuses what is outside its range.
    outside = subprocess.run(run + ["pifocus:lens", "set", "5000", "--focus-device", "nozzle"],
                             capture_output=True, text=True, timeout=120)
    assert outside.returncode == 1 and "outside" in outside.stderr, outside.stdout + outside.stderr
    unknown = subprocess.run(run + ["pifocus:lens", "set", "500", "--focus-device", "periscope"],
                             capture_output=True, text=True, timeout=120)
    assert unknown.returncode == 2 and "'Nozzle cam' (nozzle)" in unknown.stderr, unknown.stderr
    unset = subprocess.run(run + ["pifocus:lens", "set", "500", "--focus-device", "camera"],
                           capture_output=True, text=True, timeout=120)
    assert unset.returncode == 2 and "no lens driver" in unset.stderr, unset.stderr


def test_a_device_whose_webcam_is_gone_says_so_and_keeps_its_settings(server):
    """A device naming a webcam OctoPrint no longer lists: the status says which, the stored
    name stays, and an autofocus fails with a message that names it and says what to do."""
    admin = server.session("admin")
    before = server.plugin_settings("pifocus")["devices"]
    gone = {"id": "gone0001", "name": "Old USB cam", "driver": "simulated", "camera": {"webcam": "usb_cam_unplugged"}}
    r = admin.post(server.url + "/api/settings", json={"plugins": {"pifocus": {"devices": before + [gone]}}},
                   timeout=10)
    assert r.status_code == 200, r.text
    try:
        deadline = time.monotonic() + 15
        while len(status(server)["devices"]) != 3:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        body = status(server, "gone0001")
        assert body["camera_missing"] == "usb_cam_unplugged"
        assert [d["camera_missing"] for d in status(server)["devices"]] == [None, None, "usb_cam_unplugged"]
        assert server.plugin_settings("pifocus")["devices"][2]["camera"]["webcam"] == "usb_cam_unplugged"

        r = post(server, "autofocus", device="gone0001")
        assert r.status_code == 202, r.text
        result = wait_idle(server, "gone0001")["last_result"]
        assert result["found"] is False
        message = result["message"]
        assert "'usb_cam_unplugged' is gone from OctoPrint" in message and "Settings > PiFocus" in message
        # Still stored as it was; the other devices never missed theirs.
        assert server.plugin_settings("pifocus")["devices"][2]["camera"]["webcam"] == "usb_cam_unplugged"
        assert status(server, "nozzle")["camera_missing"] is None
    finally:
        r = admin.post(server.url + "/api/settings", json={"plugins": {"pifocus": {"devices": before}}}, timeout=10)
        assert r.status_code == 200
