"""The README's main command: ``scripts/demo.py`` (what ``make demo`` runs), as a newcomer uses it.

It is started as a real program, its printed URL and credentials are used to log in, and
the two demo stories are played: autofocus the simulated VCM, then switch to printer Z and
focus the microscope on the virtual printer.
"""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from octoprint_server import free_port

ROOT = Path(__file__).resolve().parents[1]
API = "/api/plugin/pifocus"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    port = free_port()
    basedir = tmp_path_factory.mktemp("demo") / "octoprint"
    process = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "demo.py"), "--port", str(port),
                                "--basedir", str(basedir)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    printed = {}
    deadline = time.monotonic() + 150
    lines = []
    try:
        while "password" not in printed:
            line = process.stdout.readline()
            assert line or process.poll() is None, "demo exited early:\n" + "".join(lines)
            assert time.monotonic() < deadline, "demo did not print its credentials:\n" + "".join(lines)
            lines.append(line)
            words = line.split()
            if "running:" in words:
                printed["url"] = words[-1]
            elif words[:1] in (["user:"], ["password:"]):
                printed[words[0].rstrip(":")] = words[1]
        yield process, printed, basedir
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()


def login(url: str, user: str, password: str) -> requests.Session:
    s = requests.Session()
    s.get(url + "/", timeout=10).raise_for_status()
    port = url.rsplit(":", 1)[1]
    token = lambda: s.cookies.get(f"csrf_token_P{port}") or s.cookies.get("csrf_token")  # noqa: E731
    s.headers["X-CSRF-Token"] = token()
    r = s.post(url + "/api/login", json={"user": user, "pass": password}, timeout=10)
    assert r.status_code == 200, r.text
    s.headers["X-CSRF-Token"] = token()
    return s


def wait_idle(s: requests.Session, url: str, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = s.get(url + API, timeout=10).json()
        if not body["busy"] and body.get("last_result"):
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.3)


def test_demo_prints_how_to_log_in_and_shows_a_blurred_webcam(demo):
    process, printed, basedir = demo
    assert printed["url"].startswith("http://127.0.0.1:")
    assert printed["user"] == "demo" and len(printed["password"]) >= 8
    s = login(printed["url"], printed["user"], printed["password"])
    status = s.get(printed["url"] + API, timeout=10).json()
    assert status["driver"] == "simulated" and status["lens_ok"] is True
    assert status["simulation"]["blur_radius"] > 5  # starts out of focus
    webcams = s.get(printed["url"] + "/api/settings", timeout=10).json()["webcam"]
    assert webcams["defaultWebcam"] == "pifocus_simulated"
    snapshot = s.get(printed["url"] + "/plugin/pifocus/simcam/snapshot", timeout=10)
    assert snapshot.status_code == 200 and snapshot.content[:2] == b"\xff\xd8"
    connection = s.get(printed["url"] + "/api/connection", timeout=10).json()
    assert connection["current"]["state"] == "Operational"
    # Set up explicitly with the simulated lens: PiFocus's set-up wizard is not shown.
    wizard = s.get(printed["url"] + "/api/setup/wizard", timeout=10).json()["pifocus"]
    assert wizard["required"] is False
    page = s.get(printed["url"] + "/", timeout=30).text
    assert 'id="sidebar_plugin_pifocus"' in page and 'id="wizard_plugin_pifocus"' not in page


def test_demo_has_two_simulated_webcams_on_the_control_tab(demo):
    process, printed, basedir = demo
    url = printed["url"]
    s = login(url, printed["user"], printed["password"])
    # OctoPrint's webcam list: each focus device's own simulated webcam, bound to that device.
    webcams = {w["name"]: w for w in s.get(url + "/api/settings", timeout=10).json()["webcam"]["webcams"]}
    assert webcams["pifocus_simulated"]["extras"]["device"] == "camera"
    assert webcams["pifocus_simulated_microscope"]["extras"] == {"device": "microscope", "simulation": "printer_z"}
    status = s.get(url + API, timeout=10).json()
    assert [(d["device"], d["webcam"]) for d in status["devices"]] == [
        ("camera", "pifocus_simulated"), ("microscope", "pifocus_simulated_microscope")]
    # Each renders its own scene: two different pictures.
    first = s.get(url + "/plugin/pifocus/simcam/snapshot", timeout=10)
    second = s.get(url + "/plugin/pifocus/simcam/snapshot", params={"device": "microscope"}, timeout=10)
    assert first.status_code == second.status_code == 200 and first.content != second.content
    # The Control tab: a webcam pane for each, in OctoPrint's selector, each with its own stream.
    page = s.get(url + "/", timeout=30).text
    assert 'id="webcam_plugin_pifocus"' in page and 'id="webcam_plugin_pifocus_2"' in page
    assert 'data-pifocus-webcam="pifocus_simulated"' in page
    assert 'data-pifocus-webcam="pifocus_simulated_microscope"' in page
    assert 'src="plugin/pifocus/simcam/stream?device=microscope"' in page
    assert 'id="webcam_plugin_pifocus_2_link"' in page  # the selector's entry


def test_demo_autofocus_then_printer_z(demo):
    process, printed, basedir = demo
    url = printed["url"]
    s = login(url, printed["user"], printed["password"])
    assert s.post(url + API, json={"command": "autofocus"}, timeout=10).status_code == 202
    body = wait_idle(s, url)
    assert body["last_result"]["found"] is True
    assert body["simulation"]["blur_radius"] < 1.0
    # On the simulated webcam's stream, as on a real webcam's: its frames checked to follow
    # the lens (a run on snapshots has no such checks).
    assert body["last_result"]["stale_checks"] is not None, body["last_result"]

    # The microscope on the gantry: switch the driver, and focus with the virtual printer's Z.
    r = s.post(url + "/api/settings", json={"plugins": {"pifocus": {"driver": "printer-z"}}}, timeout=10)
    assert r.status_code == 200, r.text
    deadline = time.monotonic() + 20
    while s.get(url + API, timeout=10).json()["driver"] != "printer-z":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    r = s.post(url + API, json={"command": "autofocus"}, timeout=10)
    assert r.status_code == 202, r.text  # the demo homed the printer, so Z focus is allowed
    body = wait_idle(s, url, timeout=180)
    result = body["last_result"]
    assert result["found"] is True, result["message"]
    assert body["units"] == "mm" and 0.0 <= result["position"] <= 10.0
    assert abs(result["position"] - 5.0) < 0.5  # the simulated microscope is sharp at Z = 5 mm


def test_demo_uploads_the_follow_focus_print(demo):
    process, printed, basedir = demo
    url = printed["url"]
    s = login(url, printed["user"], printed["password"])
    r = s.get(url + "/api/files/local/follow-demo.gcode", timeout=10)
    assert r.status_code == 200, r.text
    # The simulated cameras follow the toolhead in the demo: the camera's over the bed ("bed"),
    # the microscope's over a tilted board ("tilt"; also the first device's once an earlier
    # test switched it to printer Z).
    body = s.get(url + API, timeout=10).json()
    fields = {device["device"]: device["simulation"]["focus_field"] for device in body["devices"]}
    assert fields["microscope"] == "tilt" and fields["camera"] in ("bed", "tilt")


def test_demo_stops_cleanly_on_ctrl_c(demo):
    process, printed, basedir = demo
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 0
    assert "Stopped." in out
    with pytest.raises(requests.ConnectionError):
        requests.get(printed["url"] + "/api/version", timeout=5)

