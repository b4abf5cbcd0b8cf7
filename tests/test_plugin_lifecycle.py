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

import numpy as np
import pytest

from fakes.camera_streamer_server import CameraStreamerServer
from octoprint_server import OctoPrintServer, deep_merge, demo_config
from servers.camera_server import CameraServer
from servers.frames import encode_jpeg

WATCHDOG_INTERVAL = 0.5



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
    frame = encode_jpeg(np.random.default_rng(7).integers(0, 255, (120, 160), dtype=np.uint8))
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


def _stopped_log(server, why: str, count: int = 1, timeout: float = 30.0) -> str:
    """Wait for PiFocus's line that everything has stopped (after its job ended, the lens closed)."""
    line = f"PiFocus has stopped everything ({why})"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log = server.log_text()
        if log.count(line) >= count:
            return log
        time.sleep(0.1)
    raise AssertionError(f"{line!r} not logged {count} times\n{server.log_tail()}")


@pytest.fixture()
def sim_server():
    """The simulated lens and camera; a slow camera (settle) so an autofocus takes seconds."""
    config = deep_merge(demo_config(), {"plugins": {"pifocus": {
        "camera": {"settle": 0.4},
        "automation": {"restore_on_startup": False}}}})
    with OctoPrintServer(extra_config=config) as running:
        yield running


def _read_until_end(chunks, seconds: float) -> bool:
    """Whether the stream's ``chunks`` end (the server closes the stream) within ``seconds``."""
    deadline = time.monotonic() + seconds
    for _chunk in chunks:
        if time.monotonic() > deadline:
            return False
    return True


def test_disable_ends_the_simulated_camera_stream_and_refuses_snapshots(sim_server):
    server = sim_server
    admin = server.session("admin")
    assert admin.get(server.url + "/plugin/pifocus/simcam/snapshot", timeout=30).status_code == 200
    assert admin.get(server.url + "/plugin/pifocus/snapshot", timeout=30).status_code == 200
    stream = admin.get(server.url + "/plugin/pifocus/simcam/stream", stream=True, timeout=10)
    try:
        assert stream.status_code == 200
        chunks = stream.iter_content(4096)
        assert b"image/jpeg" in next(chunks), "the stream should deliver frames before the disable"
        _manage(server, "disable")
        _stopped_log(server, "disabled")
        assert _read_until_end(chunks, 10.0), "the simulated camera kept streaming after the disable"
    finally:
        stream.close()

    for path in ("/plugin/pifocus/simcam/snapshot", "/plugin/pifocus/snapshot"):
        r = admin.get(server.url + path, timeout=30)
        assert r.status_code == 409, (path, r.status_code)
        assert "disabled" in r.json()["error"] and "Plugin Manager" in r.json()["error"]
    r = admin.get(server.url + "/plugin/pifocus/simcam/stream", stream=True, timeout=10)
    with r:
        assert r.status_code == 404

    _manage(server, "enable")
    server.wait_for_log("PiFocus was enabled again")
    assert admin.get(server.url + "/plugin/pifocus/simcam/snapshot", timeout=30).status_code == 200


def test_disable_during_an_autofocus_waits_for_the_lens_to_go_back(sim_server):
    server = sim_server
    admin = server.session("admin")
    start = _move(server, 700).json()["position"]
    assert admin.post(server.url + "/api/plugin/pifocus", json={"command": "autofocus"}, timeout=30).status_code == 202
    deadline = time.monotonic() + 30
    while len(admin.get(server.url + "/api/plugin/pifocus", timeout=30).json()["curve"]) < 3:
        assert time.monotonic() < deadline, "the autofocus never got going"
        time.sleep(0.1)

    _manage(server, "disable")
    log = _stopped_log(server, "disabled")
    # The run ended, cancelled and back at its start, before PiFocus called itself stopped.
    stopped_at = log.index("PiFocus has stopped everything (disabled)")
    cancelled = log.find(f"Autofocus cancelled. The lens is back at its start position {start}")
    assert 0 <= cancelled < stopped_at, log[-3000:]
    assert server.plugin_settings("pifocus")["last_position"]["simulated"] == start

    _manage(server, "enable")
    server.wait_for_log("PiFocus was enabled again")
    status = admin.get(server.url + "/api/plugin/pifocus", timeout=30).json()
    assert status["position"] == start
    assert status["last_result"]["cancelled"] is True and "closed" not in status["last_result"]["message"]


def test_uninstall_after_a_disable_says_uninstalled(folder_server):
    server = folder_server
    _manage(server, "disable")
    _stopped_log(server, "disabled")
    r = _move(server, 100)
    assert r.status_code == 409 and "enable it again" in r.json()["error"]
    _manage(server, "uninstall")
    server.wait_for_log("PiFocus was uninstalled")
    r = _move(server, 100)
    assert r.status_code == 409
    assert "uninstalled" in r.json()["error"] and "restart OctoPrint" in r.json()["error"]
    assert "enable it again" not in r.json()["error"]


def test_a_disable_during_start_up_keeps_the_watchdog_stopped(camera):
    """Enabling again starts PiFocus's start-up (open the lens, restore its position, then the
    watchdog) in the background; a disable while the lens is still moving must win over the rest."""
    streamer = CameraStreamerServer()
    config = deep_merge(_config(camera), {"plugins": {"pifocus": {
        "driver": "camera-streamer", "camera_streamer": {"url": streamer.url},
        "last_position": {"camera-streamer": 5},
        "automation": {"restore_on_startup": True}}}})
    try:
        with OctoPrintServer(extra_config=config) as server:
            assert _polls(camera), "the watchdog should poll the camera while PiFocus runs"
            _manage(server, "disable")
            _stopped_log(server, "disabled")
            streamer.delay = 1.5  # each camera-streamer request now takes 1.5 s: the restore is slow
            opened = len(streamer.requests)
            _manage(server, "enable")
            server.wait_for_log("PiFocus was enabled again")
            deadline = time.monotonic() + 10
            while len(streamer.requests) == opened:
                assert time.monotonic() < deadline, "the start-up did not restore the lens\n" + server.log_tail(30)
                time.sleep(0.02)
            _manage(server, "disable")  # while the lens is being restored
            _stopped_log(server, "disabled", count=2)
            time.sleep(4 * 1.5)  # the restore under way ends; before the fix the watchdog started then
            assert _polls_during(camera, 2.0) == 0
            assert server.log_text().count("PiFocus was disabled") == 2
    finally:
        streamer.stop()
