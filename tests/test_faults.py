"""Faults in the middle of an autofocus, in a real OctoPrint: the camera dies, OctoPrint stops.

Whatever breaks, the lens must end at a known position, the presets and settings must be
intact, and nothing may claim a success that did not happen.

- **The camera is killed mid-run.** PiFocus focuses through ``camera.url``: a real HTTP
  webcam on 127.0.0.1 (``tests/servers``) that shows what PiFocus's simulated lens shows,
  because its frames are OctoPrint's own simulated-camera snapshots, fetched as the lens
  moves. A first autofocus through it finds focus (the coupling is real), then the webcam
  process is stopped during a second run.
- **OctoPrint is restarted mid-run**, once with SIGTERM (OctoPrint shuts down, plugins get
  ``on_shutdown``) and once with SIGKILL (nothing runs: a power cut). The lens must come back
  at the last position before the run (restore on start-up), never at a mid-search one.
"""
from __future__ import annotations

import time
from typing import Any, Dict

import yaml

from octoprint_server import OctoPrintServer, deep_merge, demo_config
from servers import CameraServer

API = "/api/plugin/pifocus"


def status(server: OctoPrintServer) -> Dict[str, Any]:
    r = server.session("admin").get(server.url + API, timeout=20)
    assert r.status_code == 200, r.text
    return r.json()


def command(server: OctoPrintServer, command_name: str, expect: int = 200, **fields: Any) -> Dict[str, Any]:
    r = server.session("admin").post(server.url + API, json=dict(fields, command=command_name), timeout=30)
    assert r.status_code == expect, r.text
    return r.json()


def wait_for(server: OctoPrintServer, predicate, timeout: float = 60.0, what: str = "status") -> Dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body = status(server)
        if predicate(body):
            return body
        assert time.monotonic() < deadline, f"{what}: {body}"
        time.sleep(0.1)


def stored(server: OctoPrintServer) -> Dict[str, Any]:
    """The first device of plugins.pifocus as written in config.yaml (what a restart starts from)."""
    return yaml.safe_load(server.config_path.read_text())["plugins"]["pifocus"]["devices"][0]


def settings_without(server: OctoPrintServer, *keys: str) -> Dict[str, Any]:
    """PiFocus's settings without ``keys``, at the top level and in each device."""
    data = {k: v for k, v in server.plugin_settings("pifocus").items() if k not in keys}
    data["devices"] = [{k: v for k, v in d.items() if k not in keys} for d in data.get("devices", [])]
    return data


def wait_persisted(server: OctoPrintServer, position: int, timeout: float = 15.0) -> None:
    """Until config.yaml holds ``position`` as the simulated lens's last one (written a moment
    after the last move)."""
    deadline = time.monotonic() + timeout
    while stored(server).get("last_position", {}).get("simulated") != position:
        assert time.monotonic() < deadline, stored(server)
        time.sleep(0.2)


# ~~ the camera is killed


class OctoPrintSimcam:
    """A render function for :class:`~servers.CameraServer`: the simulated camera of a running
    OctoPrint (its snapshot route, as a logged-in user sees it), so the webcam this test
    serves shows what PiFocus's simulated lens does."""

    def __init__(self, server: OctoPrintServer) -> None:
        self.url = server.url + "/plugin/pifocus/simcam/snapshot"
        self.session = server.session("admin")

    def __call__(self) -> bytes:
        r = self.session.get(self.url, timeout=10)
        r.raise_for_status()
        return r.content


def test_camera_killed_mid_autofocus(tmp_path):
    config = deep_merge(demo_config(), {"plugins": {"pifocus": {"camera": {"settle": 0.4}}}})
    with OctoPrintServer(extra_config=config) as server:
        camera = CameraServer(OctoPrintSimcam(server), fps=10).start()
        try:
            admin = server.session("admin")
            r = admin.post(server.url + "/api/settings", timeout=10, json={"plugins": {"pifocus": {
                "camera": {"url": camera.snapshot_url, "mode": "snapshot"}}}})
            assert r.status_code == 200
            assert server.plugin_settings("pifocus")["camera"]["url"] == camera.snapshot_url

            # Through the served camera, an autofocus works: the webcam follows the lens.
            command(server, "move", position=900)
            command(server, "autofocus", expect=202)
            done = wait_for(server, lambda b: b["activity"] is None, what="first run")
            assert done["last_result"]["found"] is True, done["last_result"]
            assert done["simulation"]["blur_radius"] < 1.0, done["simulation"]
            served = len(camera.requests)
            assert served >= done["last_result"]["captures"]

            command(server, "preset_save", name="bed", position=400)
            command(server, "move", position=850)
            presets = status(server)["presets"]
            settings = settings_without(server, "last_position")

            command(server, "autofocus", expect=202)
            wait_for(server, lambda b: len(b["curve"]) >= 2, what="two samples in")
            camera.stop()  # the webcam service dies mid-run
            body = wait_for(server, lambda b: b["activity"] is None, what="the run ends")
        finally:
            camera.stop()

        result = body["last_result"]
        assert result["found"] is False and result["cancelled"] is False, result
        message = result["message"]
        # What happened, where, what to do, and where the lens is.
        assert f"127.0.0.1:{camera.port}" in message, message
        # Refused, or cut mid-answer if the kill came during a capture: either says what to check.
        assert ("connection refused" in message and "Is the webcam service running" in message
                and "only one client" in message
                or "closed the connection" in message and "webcam service" in message), message
        assert "back at its start position 850" in message, message
        assert body["position"] == 850 and body["simulation"]["position"] == 850, body
        assert body["presets"] == presets
        assert settings_without(server, "last_position") == settings
        assert stored(server)["presets"] == [{"name": "bed", "position": 400, "driver": "simulated"}]
        # The failure is logged as one, and the plugin keeps working.
        assert "Autofocus failed (autofocus)" in server.log_text()
        assert command(server, "move", position=500)["position"] == 500


# ~~ OctoPrint restarted mid-run


def interrupt_and_restart(server: OctoPrintServer, start: int, how: str) -> Dict[str, Any]:
    """Start an autofocus from ``start`` (persisted), stop OctoPrint ``how`` ("term" or "kill")
    mid-search, check what it left on disk, start it again; the status once restored."""
    command(server, "move", position=start)
    wait_persisted(server, start)
    command(server, "autofocus", expect=202)
    mid = wait_for(server, lambda b: len(b["curve"]) >= 2 and b["position"] != start, what="mid-search")
    assert mid["busy"] and mid["activity"] == "autofocus"
    log_before = len(server.log_text())
    if how == "term":
        server.stop()
    else:
        server.kill()
    run_log = server.log_text()[log_before:]
    # Nothing of the interrupted run claims success, and no mid-search position is kept.
    assert "Autofocus done" not in run_log, run_log[-2000:]
    assert stored(server)["last_position"]["simulated"] == start, stored(server)
    restarted_at = len(server.log_text())
    server.start(prepare=False)
    body = wait_for(server, lambda b: b["position"] == start, timeout=30, what="restored on start-up")
    log = server.log_text()[restarted_at:]
    assert f"Lens position {start} restored (start-up)" in log, log[-3000:]
    assert "Autofocus done" not in log and "Autofocus started" not in log
    assert body["last_result"] is None and body["curve"] == [] and not body["busy"], body
    assert body["simulation"]["position"] == start
    return body


def test_octoprint_stopped_mid_autofocus_restores_the_last_position(tmp_path):
    # A slow camera (1 s settle per frame), so the run is surely mid-search when OctoPrint stops;
    # the simulated lens starts at 700 after a restart, so a restored position shows.
    config = deep_merge(demo_config(start=700), {"plugins": {"pifocus": {"camera": {"settle": 1.0}}}})
    server = OctoPrintServer(extra_config=config)
    with server:
        command(server, "preset_save", name="bed", position=400)
        presets = status(server)["presets"]
        settings = settings_without(server, "last_position")

        for start, how in ((850, "term"), (600, "kill")):
            body = interrupt_and_restart(server, start, how)
            assert body["presets"] == presets, how
            assert settings_without(server, "last_position") == settings, how
            assert server.plugin_settings("pifocus")["last_position"] == {"simulated": start}

        # And it works as before: a new run completes.
        command(server, "autofocus", expect=202, refine=True)
        done = wait_for(server, lambda b: b["activity"] is None, timeout=90, what="a run after the restarts")
        assert done["last_result"]["found"] is True, done["last_result"]
