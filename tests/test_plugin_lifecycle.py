"""Disabled or uninstalled through the Plugin Manager: PiFocus stops everything it runs.

PiFocus adds routes and permissions, so OctoPrint unloads it only at the next restart. Until
then nothing of it may keep running: before this was handled, the webcam watchdog went on
polling the camera after an uninstall and logged "Can't find plugin pifocus" every 10 s.

The watchdog's snapshots of a real camera server on 127.0.0.1 are the evidence: they stop when
PiFocus is disabled or uninstalled, and start again when it is enabled before the restart.
The Plugin Manager's own API does the disabling and uninstalling. The test venv's editable
install is not something the Plugin Manager may uninstall (and it must not), so the uninstall
test gives OctoPrint a copy of PiFocus in its plugin folder, which it loads before installed
packages and really deletes on uninstall.
"""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from octoprint_server import OctoPrintServer, deep_merge, demo_config
from servers.camera_server import CameraServer

WATCHDOG_INTERVAL = 0.5


def _jpeg() -> bytes:
    rng = np.random.default_rng(7)
    ok, data = cv2.imencode(".jpg", rng.integers(0, 255, (120, 160), dtype=np.uint8))
    assert ok
    return data.tobytes()


def _snapshots(camera: CameraServer) -> int:
    return sum(1 for path in camera.requests if path.startswith(camera.snapshot_path))


def _polls(camera: CameraServer, count: int = 2, timeout: float = 10.0) -> bool:
    """Whether the watchdog takes ``count`` more snapshots within ``timeout`` s."""
    target = _snapshots(camera) + count
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _snapshots(camera) >= target:
            return True
        time.sleep(0.05)
    return False


def _polls_during(camera: CameraServer, seconds: float) -> int:
    before = _snapshots(camera)
    time.sleep(seconds)
    return _snapshots(camera) - before


@pytest.fixture()
def camera():
    frame = _jpeg()
    with CameraServer(lambda: frame, fps=10) as server:
        yield server


PACKAGE = Path(__file__).resolve().parents[1] / "octoprint_pifocus"


def _config(camera: CameraServer) -> dict:
    return deep_merge(demo_config(), {
        "plugins": {"pifocus": {
            "driver": "simulated",
            "camera": {"url": camera.snapshot_url},
            "last_position": {"simulated": 300},
            "automation": {"watchdog_interval": WATCHDOG_INTERVAL, "restore_on_startup": False},
        }},
    })


@pytest.fixture()
def server(camera):
    with OctoPrintServer(extra_config=_config(camera)) as running:
        yield running


@pytest.fixture()
def folder_server(camera, tmp_path):
    """PiFocus as a plugin folder (basedir/plugins/pifocus), which the Plugin Manager can uninstall."""
    running = OctoPrintServer(extra_config=_config(camera), basedir=tmp_path / "octoprint")
    running.prepare()
    shutil.copytree(PACKAGE, running.basedir / "plugins" / "pifocus",
                    ignore=shutil.ignore_patterns("__pycache__"))
    try:
        running.start(prepare=False)
        yield running
    finally:
        running.cleanup()


def _manage(server, command: str) -> dict:
    r = server.session("admin").post(server.url + "/api/plugin/pluginmanager",
                                     json={"command": command, "plugin": "pifocus"}, timeout=120)
    assert r.status_code == 200, r.text[:300]
    return r.json()


def _move(server, position: float):
    return server.session("admin").post(server.url + "/api/plugin/pifocus",
                                        json={"command": "move", "position": position}, timeout=30)


def test_disable_stops_the_watchdog_and_enable_starts_it_again(server, camera):
    assert _polls(camera), "the watchdog should poll the camera while PiFocus runs"

    result = _manage(server, "disable")
    assert result["needs_restart"] is True
    server.wait_for_log("PiFocus was disabled")
    time.sleep(2 * WATCHDOG_INTERVAL)  # a check under way may still finish
    assert _polls_during(camera, 2.0) == 0
    r = _move(server, 400)
    assert r.status_code == 409
    assert "disabled" in r.json()["error"] and "Plugin Manager" in r.json()["error"]

    _manage(server, "enable")
    server.wait_for_log("PiFocus was enabled again")
    assert _polls(camera)
    r = _move(server, 400)
    assert r.status_code == 200, r.text
    assert r.json()["position"] == 400


def test_uninstall_stops_everything_and_keeps_the_last_position(folder_server, camera):
    server = folder_server
    plugins = server.session("admin").get(server.url + "/plugin/pluginmanager/plugins", timeout=30).json()["plugins"]
    assert next(p for p in plugins if p["key"] == "pifocus")["origin"] == "folder"
    assert _move(server, 420).status_code == 200
    assert _polls(camera)

    result = _manage(server, "uninstall")
    assert result["result"] is True and result["needs_restart"] is True
    assert not (server.basedir / "plugins" / "pifocus").exists()
    server.wait_for_log("PiFocus was uninstalled")
    time.sleep(2 * WATCHDOG_INTERVAL)
    assert _polls_during(camera, 2.0) == 0
    r = _move(server, 100)
    assert r.status_code == 409 and "restart OctoPrint" in r.json()["error"]
    # The position moved to before the uninstall was saved at once, not lost with a timer.
    assert server.plugin_settings("pifocus")["last_position"]["simulated"] == 420
    assert "Can't find plugin pifocus" not in server.log_text()
