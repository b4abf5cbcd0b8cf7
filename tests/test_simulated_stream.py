"""The demo's simulated webcam read as a stream (``simulation.stream``), as a real webcam is.

With it off (the tests' default) a device reads PiFocus's simulated webcam as in-process
snapshots with the fixed wait after each move: about 3 s an autofocus in the demo, none of the
stream path (measured delay, stale frames checked, the stream kept open) a newcomer should see.
With it on, the device reads the webcam's MJPEG stream over loopback, with a password made at
each start that no log line, status or event may show.
"""
from __future__ import annotations

import base64
import re
import time
from types import SimpleNamespace
from typing import Any, Dict

import pytest
import requests
import tornado.web
from octoprint_server import OctoPrintServer, demo_config

from octoprint_pifocus.plugin import simcam

API = "/api/plugin/pifocus"
STREAM = "/plugin/pifocus/simcam/stream"


@pytest.fixture(scope="module")
def server():
    with OctoPrintServer(extra_config=demo_config(stream=True, fps=30.0, noise=1.0)) as s:
        yield s


def status(server) -> Dict[str, Any]:
    r = server.session("user").get(server.url + API, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def autofocus(server) -> Dict[str, Any]:
    r = server.session("admin").post(server.url + API, json={"command": "autofocus"}, timeout=10)
    assert r.status_code == 202, r.text
    deadline = time.monotonic() + 60
    while True:
        body = status(server)
        if not body["busy"]:
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.1)


def test_the_autofocus_reads_the_simulated_webcams_stream(server):
    first = autofocus(server)
    result = first["last_result"]
    assert result["found"] is True, result
    assert first["simulation"]["blur_radius"] < 1.0
    # Stale-frame checks run only on a stream; snapshots have none.
    assert result["stale_checks"] is not None, result
    time.sleep(0.5)  # a user's click later: frames from after the lens rested
    second = autofocus(server)["last_result"]
    assert second["found"] is True
    # The stream was kept open after the first run: the second primes on frames it had.
    assert second["stale_checks"]["primed"] == "kept", second["stale_checks"]
    log = server.log_text()
    started = [line for line in log.splitlines() if "Autofocus started" in line]
    assert started and all("snapshot webcam" not in line for line in started), started
    assert STREAM in started[-1], started[-1]


def test_the_streams_password_is_never_shown(server):
    autofocus(server)
    texts = [server.log_text(), server.stdout_path.read_text(errors="replace"),
             server.session("admin").get(server.url + API, timeout=10).text,
             server.session("admin").get(server.url + "/api/settings", timeout=10).text]
    shown = [m for text in texts for m in re.findall(simcam.OWN_USER + r":([^@\s\"']*)@", text)]
    assert shown, "the stream's URL is logged with its user (the password masked)"
    assert set(shown) <= {"***"}, shown


def basic(user: str, password: str) -> Dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_the_stream_refuses_a_wrong_password_and_anonymous_users(server):
    for headers in (basic(simcam.OWN_USER, "guessed"), {}):
        r = requests.get(server.url + STREAM, headers=headers, timeout=10, stream=True)
        assert r.status_code == 403, (headers, r.status_code)
        r.close()
    # A logged-in user with the Webcam permission still sees it (the Control tab).
    r = server.session("user").get(server.url + STREAM, timeout=10, stream=True)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("multipart/x-mixed-replace")
    r.close()


def refuse(request) -> None:
    raise tornado.web.HTTPError(403)


@pytest.mark.parametrize("remote_ip, headers, allowed", [
    ("127.0.0.1", basic(simcam.OWN_USER, "s3cret"), True),
    ("::1", basic(simcam.OWN_USER, "s3cret"), True),
    ("::ffff:127.0.0.1", basic(simcam.OWN_USER, "s3cret"), True),  # a dual-stack socket's
    ("::ffff:10.0.0.7", basic(simcam.OWN_USER, "s3cret"), False),
    ("192.168.1.20", basic(simcam.OWN_USER, "s3cret"), False),   # from another machine: never
    ("127.0.0.1", basic(simcam.OWN_USER, "s3cre"), False),
    ("127.0.0.1", basic("admin", "s3cret"), False),                # falls through to the session
    ("127.0.0.1", {"Authorization": "Basic !!"}, False),
    ("127.0.0.1", {}, False),
])
def test_own_access_takes_its_password_from_this_machine_only(remote_ip, headers, allowed):
    check = simcam.own_access("s3cret", refuse)
    request = SimpleNamespace(remote_ip=remote_ip, headers=headers)
    if allowed:
        check(request)
    else:
        with pytest.raises(tornado.web.HTTPError):
            check(request)
