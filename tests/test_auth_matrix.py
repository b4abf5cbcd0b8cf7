"""Who may do what: every PiFocus route and command against every kind of client, in a real OctoPrint.

The expected answer of each cell is written down in :data:`EXPECTED` (role, request) -> HTTP
status, and every cell is checked in one go, so a change in any permission shows as a table
diff. The roles:

- ``anonymous``: no API key, no cookie (a script or a stranger on the network). OctoPrint
  refuses its POSTs before any permission check: without a session there is no CSRF token.
- ``anonymous_browser``: not logged in, but a browser (it has the CSRF cookie and header), so
  its POSTs reach the permission checks.
- ``viewer``: OctoPrint's ``readonly`` group: may watch the webcam, may not focus.
- ``user``: OctoPrint's ``users`` group: PiFocus control, no PiFocus administration, no
  OctoPrint settings.
- ``settings_user``: a user with OctoPrint's SETTINGS permission but not PiFocus
  administration: OctoPrint's settings API answers 200, and PiFocus must refuse the change
  itself (for ``user`` the 403 is OctoPrint's own, so it proves nothing about PiFocus).
- ``admin``: everything (API key).
- ``admin_cookie``: an administrator logged in through ``/api/login`` whose client sends the
  CSRF header, as OctoPrint's own UI does.
- ``cookie_no_csrf``: the same login, but POSTs without ``X-CSRF-Token`` (a cross-site form or
  script riding on the cookie): OctoPrint 1.8+ must refuse every such POST, and GETs stay fine.

A refused request must also change nothing: after the refused roles, the lens has not moved,
no run started, the preset they tried to delete is still there and the settings are as before.
"""
from __future__ import annotations

import time
from typing import Any, Dict, List, Tuple

import pytest
import requests

from octoprint_server import DEFAULT_USERS, OctoPrintServer, ServerUser, demo_config

API = "/api/plugin/pifocus"
VIEWER = ServerUser("viewer", "viewer-secret", ("readonly",))
TINKERER = ServerUser("tinkerer", "tinkerer-secret", ("users",), permissions=("SETTINGS",))

ROLES = ["anonymous", "anonymous_browser", "viewer", "user", "settings_user", "admin", "admin_cookie",
         "cookie_no_csrf"]

#: Cells answered 200 whose request must still change nothing: OctoPrint's settings API says
#: 200 whatever a plugin does with the data, and PiFocus refuses it.
REFUSED_BEHIND_200 = {("settings_user", "settings save")}

#: The requests, in the order each role makes them. Bodies are valid, so a status other than
#: the permission's comes from the permission, not the input. ``preset_apply``/``preset_delete``
#: name the preset "bed", which exists: a wrongly allowed delete shows as a 200, not a 400.
REQUESTS: List[Tuple[str, str, str, Dict[str, Any]]] = [
    # (name, method, path, JSON body)
    ("GET status", "GET", API, {}),
    ("move", "POST", API, {"command": "move", "position": 500}),
    ("nudge", "POST", API, {"command": "nudge", "delta": 5}),
    ("preset_save", "POST", API, {"command": "preset_save", "name": "matrix", "position": 420}),
    ("preset_apply", "POST", API, {"command": "preset_apply", "name": "bed"}),
    ("autofocus", "POST", API, {"command": "autofocus"}),
    ("cancel", "POST", API, {"command": "cancel"}),
    ("warm_camera", "POST", API, {"command": "warm_camera"}),
    ("preset_delete", "POST", API, {"command": "preset_delete", "name": "matrix"}),
    ("probe", "POST", API, {"command": "probe", "driver": "simulated"}),
    ("test", "POST", API, {"command": "test"}),
    ("measure_delay", "POST", API, {"command": "measure_delay"}),
    ("validate_settings", "POST", API, {"command": "validate_settings", "settings": {"search": {"window": 60}}}),
    ("GET snapshot", "GET", "/plugin/pifocus/snapshot", {}),
    ("GET simcam snapshot", "GET", "/plugin/pifocus/simcam/snapshot", {}),
    ("GET simcam stream", "GET", "/plugin/pifocus/simcam/stream", {}),
    ("settings save", "POST", "/api/settings", {"plugins": {"pifocus": {"search": {"window": 77}}}}),
]

CSRF = 400  # OctoPrint's "CSRF validation failed"

#: What a control user may do and an administrator may do, by request.
_CONTROL = {"GET status": 200, "move": 200, "nudge": 200, "preset_save": 200, "preset_apply": 200,
            "autofocus": 202, "cancel": 200, "warm_camera": 200, "preset_delete": 200, "GET snapshot": 200,
            "GET simcam snapshot": 200, "GET simcam stream": 200}
_ADMIN_ONLY = {"probe": 200, "test": 200, "measure_delay": 200, "validate_settings": 200, "settings save": 200}


def _row(role: str) -> Dict[str, int]:
    if role in ("admin", "admin_cookie"):
        return dict(_CONTROL, **_ADMIN_ONLY)
    if role == "user":
        # No PiFocus administration; and the users group has no SETTINGS permission at all.
        return dict(_CONTROL, probe=403, test=403, measure_delay=403, validate_settings=403,
                    **{"settings save": 403})
    if role == "settings_user":
        return dict(_CONTROL, probe=403, test=403, measure_delay=403, validate_settings=403,
                    **{"settings save": 200})
    if role == "viewer":
        # readonly has OctoPrint's WEBCAM permission: it sees the simulated camera, nothing else.
        row = {name: 403 for name, *_ in REQUESTS}
        row.update({"GET simcam snapshot": 200, "GET simcam stream": 200})
        return row
    if role == "anonymous":
        return {name: (CSRF if method == "POST" else 403) for name, method, *_ in REQUESTS}
    if role == "anonymous_browser":
        return {name: 403 for name, *_ in REQUESTS}
    if role == "cookie_no_csrf":
        # Logged in as admin: every GET works, every POST is refused for the missing header.
        return {name: (CSRF if method == "POST" else dict(_CONTROL, **_ADMIN_ONLY)[name])
                for name, method, *_ in REQUESTS}
    raise KeyError(role)


EXPECTED: Dict[Tuple[str, str], int] = {(role, name): status
                                        for role in ROLES for name, status in _row(role).items()}


@pytest.fixture(scope="module")
def server():
    with OctoPrintServer(extra_config=demo_config(), users=DEFAULT_USERS + (VIEWER, TINKERER)) as s:
        yield s


def client(server: OctoPrintServer, role: str) -> requests.Session:
    if role == "anonymous":
        return server.session(None)
    if role == "anonymous_browser":
        return server.anonymous()
    if role in ("viewer", "user", "admin"):
        return server.session(role)
    if role == "settings_user":
        return server.session(TINKERER.name)
    session = server.login("admin")
    if role == "cookie_no_csrf":
        session.headers.pop("X-CSRF-Token", None)
        assert any(c.name.startswith("session") for c in session.cookies), "the login gave no session cookie"
    return session


def status(server: OctoPrintServer) -> Dict[str, Any]:
    r = server.session("admin").get(server.url + API, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def wait_idle(server: OctoPrintServer, timeout: float = 60.0) -> Dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body = status(server)
        if body["activity"] is None:
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.1)


def send(session: requests.Session, server: OctoPrintServer, method: str, path: str,
         body: Dict[str, Any]) -> int:
    if method == "GET":
        # stream=True: the simulated camera's stream never ends; its status line is what counts.
        with session.get(server.url + path, timeout=20, stream=True) as r:
            return r.status_code
    r = session.post(server.url + path, json=body, timeout=30)
    return r.status_code


def pifocus_settings(server: OctoPrintServer) -> Dict[str, Any]:
    """The PiFocus settings but ``last_position``, which the plugin itself writes a moment
    after every move (an earlier role's)."""
    data = {k: v for k, v in server.plugin_settings("pifocus").items() if k != "last_position"}
    data["devices"] = [{k: v for k, v in d.items() if k != "last_position"} for d in data.get("devices", [])]
    return data


def test_every_role_gets_the_expected_answer_on_every_route(server):
    admin = server.session("admin")
    assert admin.post(server.url + API, json={"command": "preset_save", "name": "bed", "position": 400},
                      timeout=10).status_code == 200
    assert admin.post(server.url + API, json={"command": "move", "position": 600}, timeout=10).status_code == 200

    actual: Dict[Tuple[str, str], int] = {}
    side_effects: List[str] = []
    for role in ROLES:
        session = client(server, role)
        before, settings_before = status(server), pifocus_settings(server)
        for name, method, path, body in REQUESTS:
            actual[(role, name)] = send(session, server, method, path, body)
            if name == "autofocus" and actual[(role, name)] == 202:
                time.sleep(0.3)  # let the run start moving before it is cancelled
            if name == "cancel":
                wait_idle(server)  # the run goes back to its start; "test" needs the lens free
        after = wait_idle(server)
        allowed = {name for name, *_ in REQUESTS
                   if EXPECTED[(role, name)] < 300 and (role, name) not in REFUSED_BEHIND_200}
        if not allowed & {"move", "nudge", "preset_apply", "autofocus", "test"}:
            if after["position"] != before["position"]:
                side_effects.append(f"{role}: the lens moved {before['position']} -> {after['position']}")
            if after["last_result"] != before["last_result"]:
                side_effects.append(f"{role}: an autofocus ran")
        if "preset_delete" not in allowed and [p["name"] for p in after["presets"]] != [
                p["name"] for p in before["presets"]]:
            side_effects.append(f"{role}: presets changed {before['presets']} -> {after['presets']}")
        if "settings save" not in allowed and pifocus_settings(server) != settings_before:
            side_effects.append(f"{role}: the settings changed")
        if role in ("admin", "admin_cookie"):
            assert pifocus_settings(server)["search"]["window"] == 77
            admin.post(server.url + "/api/settings", json={"plugins": {"pifocus": {"search": {"window": 80}}}},
                       timeout=10)
            admin.post(server.url + API, json={"command": "move", "position": 600}, timeout=10)

    wrong = {cell: (got, EXPECTED[cell]) for cell, got in actual.items() if got != EXPECTED[cell]}
    assert not wrong, "cells (role, request): (got, expected)\n" + "\n".join(
        f"  {cell}: got {got}, expected {want}" for cell, (got, want) in sorted(wrong.items()))
    assert set(actual) == set(EXPECTED)
    assert not side_effects, side_effects
    assert [p["name"] for p in status(server)["presets"]] == ["bed"]
