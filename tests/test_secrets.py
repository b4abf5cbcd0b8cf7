"""No password from a camera URL leaves the real server: replies, settings, logs, pushes, events.

A real OctoPrint with the camera-streamer driver and a camera URL that both carry a unique
password, and nothing listening behind either, so every path that can report a failure
does: a move, a nudge, an autofocus (the result push, the status push, the
autofocus_failed event), the admin's test and probe, the snapshot route, a refused settings
save (the settings_error push), a ``@PIFOCUS`` line from the terminal (the automation push),
the restore at start-up and the webcam watchdog (logs). Two browsers listen on OctoPrint's
push socket while this happens: a user and a read-only viewer.

Every API reply, the settings as a non-admin reads them, every log file in the server's base
folder and everything both sockets received are then searched for the passwords; and the
masked URL must be there, so the paths really ran and said where the failure was.
"""
from __future__ import annotations

import json
import secrets
import time
from typing import Any, Dict, List

import pytest
import requests

from octoprint_server import DEFAULT_USERS, OctoPrintServer, ServerUser, deep_merge, demo_config, free_port
from socket_listener import SocketListener

API = "/api/plugin/pifocus"
VIEWER = ServerUser("viewer", "viewer-secret", ("readonly",))


class Run:
    """The server, the passwords and everything collected from it."""

    def __init__(self) -> None:
        self.lens_password = "LENS" + secrets.token_hex(8)
        self.camera_password = "CAMERA" + secrets.token_hex(8)
        self.save_password = "SAVE" + secrets.token_hex(8)
        self.lens_port, self.camera_port = free_port(), free_port()
        self.lens_masked = f"http://cam:***@127.0.0.1:{self.lens_port}"
        self.camera_masked = f"http://viewer:***@127.0.0.1:{self.camera_port}/snapshot"
        config = deep_merge(demo_config(), {"plugins": {"pifocus": {
            "driver": "camera-streamer",
            "camera_streamer": {"url": f"http://cam:{self.lens_password}@127.0.0.1:{self.lens_port}"},
            "camera": {"url": f"http://viewer:{self.camera_password}@127.0.0.1:{self.camera_port}/snapshot",
                       "mode": "snapshot", "settle": 0},
            # A last position: restored (and failing) at start-up, watched by the watchdog.
            "last_position": {"camera-streamer": 2.0},
            "automation": {"watchdog_interval": 0.5},
        }}})
        self.server = OctoPrintServer(extra_config=config, users=DEFAULT_USERS + (VIEWER,))
        self.replies: List[str] = []

    @property
    def passwords(self) -> List[str]:
        return [self.lens_password, self.camera_password, self.save_password]

    def call(self, method: str, path: str, user: str, **kwargs: Any) -> requests.Response:
        """An HTTP call whose reply is searched for the passwords, except OctoPrint's settings
        for PiFocus administrators: they see the URLs as stored, to edit them."""
        r = self.server.session(user).request(method, self.server.url + path, timeout=30, **kwargs)
        if not (path == "/api/settings" and user == "admin"):
            self.replies.append(f"{method} {path} as {user}: {r.status_code} {r.text}")
        return r

    def command(self, command: str, user: str = "user", **fields: Any) -> requests.Response:
        return self.call("POST", API, user, json=dict(fields, command=command))


@pytest.fixture(scope="module")
def run():
    run = Run()
    with run.server:
        yield run


def logs(server: OctoPrintServer) -> Dict[str, str]:
    return {path.name: path.read_text(errors="replace") for path in sorted((server.basedir / "logs").glob("*.log*"))}


def test_no_password_reaches_any_reply_log_push_or_event(run):
    server = run.server
    # PiFocus restores the last position in a thread after start-up; nothing else may run then.
    server.wait_for_log("Restoring the lens position 2 (start-up) failed", timeout=30)
    with SocketListener(server, "user") as user_socket, SocketListener(server, "viewer") as viewer_socket:
        # ~~ control: status, move, nudge, autofocus, the snapshot route
        assert run.call("GET", API, "user").status_code == 200
        moved = run.command("move", position=2.5)
        assert moved.status_code == 409 and run.lens_masked in moved.json()["error"], moved.text
        nudged = run.command("nudge", delta=0.5)
        assert nudged.status_code in (400, 409) and run.lens_masked in nudged.json()["error"], nudged.text
        started = run.command("autofocus")
        assert started.status_code == 202, started.text
        failed = viewer_socket.wait_for_event("plugin_pifocus_autofocus_failed", timeout=60)
        assert run.lens_masked in failed["payload"]["message"]
        result = user_socket.wait_for_plugin("pifocus", lambda d: d.get("type") == "result", what="the result push")
        assert run.lens_masked in result["result"]["message"]
        settled = user_socket.wait_for_plugin(
            "pifocus", lambda d: d.get("type") == "status" and not d["status"]["activity"]
            and d["status"]["last_result"] is not None, what="the status push after the run")
        assert run.lens_masked in settled["status"]["last_result"]["message"]
        status = run.call("GET", API, "user").json()
        assert run.lens_masked in status["last_result"]["message"]
        snapshot = run.call("GET", "/plugin/pifocus/snapshot", "user")
        assert snapshot.status_code == 502 and run.camera_masked in snapshot.json()["error"], snapshot.text

        # ~~ administration: test, probe, a refused settings check and save
        tested = run.command("test", user="admin")
        assert tested.status_code == 200 and tested.json()["ok"] is False, tested.text
        assert run.lens_masked in tested.json()["message"]
        probed = run.command("probe", user="admin", driver="camera-streamer")
        assert probed.status_code == 200 and run.lens_masked in probed.text, probed.text
        bad_url = f"http://cam:{run.save_password}@127.0.0.1:notaport/snapshot"
        checked = run.command("validate_settings", user="admin", settings={"camera": {"url": bad_url}})
        assert checked.status_code == 400 and "http://cam:***@127.0.0.1:notaport" in checked.json()["error"]
        saved = run.call("POST", "/api/settings", "admin", json={"plugins": {"pifocus": {"camera": {"url": bad_url}}}})
        assert saved.status_code == 200
        refused = viewer_socket.wait_for_plugin("pifocus", lambda d: d.get("type") == "settings_error",
                                                what="the settings_error push")
        assert "http://cam:***@127.0.0.1:notaport" in refused["message"]

        # ~~ a @PIFOCUS line from the terminal: the automation push
        server.printer_command("@PIFOCUS SET 3")
        automation = user_socket.wait_for_plugin("pifocus", lambda d: d.get("type") == "automation",
                                                 timeout=30, what="the automation push")
        assert automation["ok"] is False and run.lens_masked in automation["message"]

        # ~~ the settings as users without PiFocus administration read them
        for user in ("user", "viewer"):
            shown = run.call("GET", "/api/settings", user)
            assert shown.status_code == 200 and "pifocus" in shown.json()["plugins"]

        # The watchdog has polled the dead camera a few times meanwhile (every 0.5 s).
        deadline = time.monotonic() + 10
        while "The webcam does not answer" not in server.log_text():
            assert time.monotonic() < deadline, "the watchdog never polled"
            time.sleep(0.2)
        pushed = {"user": user_socket.text(), "viewer": viewer_socket.text()}

    # ~~ nothing anywhere holds a password
    logged = logs(server)
    assert "octoprint.log" in logged and run.lens_masked in logged["octoprint.log"]
    assert "Restoring the lens position 2 (start-up) failed" in logged["octoprint.log"]
    places = {**{f"API reply {reply[:60]!r}": reply for reply in run.replies},
              **{f"{name}'s socket": text for name, text in pushed.items()},
              **{f"logs/{name}": text for name, text in logged.items()}}
    for place, text in places.items():
        for password in run.passwords:
            assert password not in text, f"a password is in {place}: " + _around(text, password)
    # The sockets got the run's pushes and events at all (the checks above are not vacuous).
    for text in pushed.values():
        assert '"plugin_pifocus_autofocus_failed"' in text and run.lens_masked in text


def test_api_replies_to_an_admin_are_masked_too(run):
    """Only the settings dialog (OctoPrint's /api/settings, for PiFocus administrators) shows
    the URLs as stored, so they can be edited; PiFocus's own replies never do."""
    r = run.command("validate_settings", user="admin", settings={})
    assert r.status_code == 200, r.text
    assert r.json()["settings"]["camera_streamer"]["url"] == run.lens_masked
    assert run.lens_password not in r.text and run.camera_password not in r.text
    stored = run.call("GET", "/api/settings", "admin").json()["plugins"]["pifocus"]
    assert stored["camera_streamer"]["url"] == f"http://cam:{run.lens_password}@127.0.0.1:{run.lens_port}"


def _around(text: str, needle: str, width: int = 200) -> str:
    at = text.find(needle)
    return json.dumps(text[max(0, at - width):at + width])


def test_urls_urllib_cannot_read_are_refused_or_repaired_without_showing_the_password():
    """urllib's own errors quote the part of a URL it took for the host and port, which holds
    the password when the password has a delimiter in it, and a URL it cannot read at all
    ("http://cam:pw@[::1/x") escaped the settings checks as a bare ValueError: at start-up
    the plugin then never came up (500s, no PiFocus section in /api/settings)."""
    stored_password, saved_password = "STORED" + secrets.token_hex(6), "SAVED" + secrets.token_hex(6)
    typed_password = "Top#" + secrets.token_hex(6)
    config = deep_merge(demo_config(), {"plugins": {"pifocus": {
        "driver": "simulated", "camera": {"url": f"http://cam:{stored_password}@[::1/snapshot"}}}})
    with OctoPrintServer(extra_config=config, users=DEFAULT_USERS + (VIEWER,)) as server:
        # Start-up: the unusable stored URL is dropped (its default applies), the plugin runs.
        assert server.session("user").get(server.url + API, timeout=10).status_code == 200
        assert server.plugin_settings("pifocus")["camera"]["url"] == ""
        assert "camera.url" in server.log_text()
        with SocketListener(server, "viewer") as viewer:
            bad = f"http://cam:{saved_password}@[::1/x"
            r = server.session("admin").post(server.url + "/api/settings", timeout=10,
                                              json={"plugins": {"pifocus": {"camera": {"url": bad}}}})
            assert r.status_code == 200
            refused = viewer.wait_for_plugin("pifocus", lambda d: d.get("type") == "settings_error",
                                             what="the settings_error push")
            assert refused["field"] == "camera.url" and "http://cam:***@[::1/x" in refused["message"]
            # A password with "#" as the user typed it is fine now: saved as it is.
            typed = f"http://cam:{typed_password}@127.0.0.1:9/snapshot"
            r = server.session("admin").post(server.url + "/api/settings", timeout=10,
                                              json={"plugins": {"pifocus": {"camera": {"url": typed}}}})
            assert r.status_code == 200
            assert server.session("admin").get(server.url + "/api/settings", timeout=10).json()[
                "plugins"]["pifocus"]["camera"]["url"] == typed
            snapshot = server.session("user").get(server.url + "/plugin/pifocus/snapshot", timeout=30)
            assert snapshot.status_code == 502 and "http://cam:***@127.0.0.1:9/snapshot" in snapshot.json()["error"]
            pushed = viewer.text()
        logged = "\n".join(logs(server).values())
    assert "Could not save settings for plugin PiFocus" not in logged
    assert "Could not load settings for plugin PiFocus" not in logged
    for password in (stored_password, saved_password, typed_password, typed_password.split("#")[1]):
        for place, text in (("the logs", logged), ("the viewer's socket", pushed)):
            assert password not in text, f"a password is in {place}: " + _around(text, password)
