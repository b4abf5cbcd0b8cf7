"""The drift watch on a real OctoPrint with its virtual printer and the simulated camera.

The lens is focused, a print with many layers starts, and then the scene's in-focus position
moves behind PiFocus's back (``simulation.focus`` changed through the settings: the simulated
VCM stays where it is, as a lens does when heat moves the focus). The watch must report the
drift (the event ``plugin_pifocus_focus_drift`` and a push to the browsers), refocus at the
next layer change inside a job hold, and the print must go on to its end, in focus again.
"""
from __future__ import annotations

import time

import pytest

from octoprint_server import OctoPrintServer, deep_merge, demo_config
from socket_listener import SocketListener
from test_gcode_hold import Logs, api, save_settings, sent_at, status

INTERVAL = 2.0


@pytest.fixture(scope="module")
def server():
    config = deep_merge(demo_config(), {
        "serial": {"log": True},
        "plugins": {"pifocus": {"drift": {"watch": "printing", "interval": INTERVAL, "action": "both"}}},
    })
    with OctoPrintServer(extra_config=config) as s:
        yield s


def layers(count: int, dwell_ms: int) -> str:
    """A print of ``count`` layers, each a Z move, a few X moves and a dwell."""
    lines = ["G90", "M83", "G28"]
    for layer in range(1, count + 1):
        lines += [f"G1 Z{0.2 * layer:.1f} F600", f"G1 X{10 + layer} F6000", f"G1 Y{10 + layer}",
                  f"G4 P{dwell_ms}"]
    return "\n".join(lines) + "\n"


def wait_until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.25)


def focus(server):
    api(server, "autofocus")
    wait_until(lambda: not status(server)["busy"] and status(server)["last_result"], 60, "the autofocus")
    body = status(server)
    assert body["last_result"]["found"] and body["simulation"]["blur_radius"] < 1.0
    return body


def test_a_drift_during_a_print_is_reported_and_refocused_at_a_layer_change(server):
    start = focus(server)
    in_focus = start["simulation"]["focus"]
    logs = Logs(server)
    with SocketListener(server, "user") as socket:
        # Long enough for a loaded machine: the refocus must come before the last layer.
        server.print_gcode("layers.gcode", layers(60, 2000))
        server.wait_for_state(lambda s: s != "Operational", timeout=10, what="print start")
        # The watch takes its baseline from the first samples of the print.
        wait_until(lambda: status(server)["drift"]["state"] == "watching", 90, "the drift baseline")
        watching = status(server)["drift"]
        assert watching["baseline"] > 0 and watching["threshold"] < watching["baseline"]
        assert not any(e["type"] == "plugin_pifocus_focus_drift" for e in socket.events("plugin_pifocus_"))

        # The focus moves 60 codes behind PiFocus's back (3 px of blur): a drift.
        save_settings(server, {"simulation": {"focus": in_focus + 60}})
        event = socket.wait_for(lambda m: m.get("event", {}).get("type") == "plugin_pifocus_focus_drift",
                                timeout=120)["event"]["payload"]
        assert event["device"] == "camera" and event["name"] == "Camera"
        assert 0.2 < event["drop"] < 1 and event["score"] < event["baseline"] * 0.8
        alerts = [m for m in socket.plugin_messages("pifocus") if m.get("type") == "drift_alert"]
        assert alerts and "out of focus" in alerts[0]["message"]

        # The refocus: at the next layer change, inside a hold, then the print goes on.
        done = wait_until(lambda: logs.logged("Autofocus done (drift refocus)"), 120, "the drift refocus")
        server.wait_for_state(lambda s: s == "Operational", timeout=300, what="the print to end")
    log = logs.log()
    held = logs.logged("drift refocus: print on hold")
    released = logs.logged("drift refocus: print hold released")
    assert held and released and held <= done <= released, log[-3000:]
    # No line of the file was sent while the refocus ran: after the M400 PiFocus waits with,
    # only M400s until the release. (The hold follows OctoPrint's ZChange event, so a line of
    # the new layer may go out before it takes: seen once, 'G1 X22 F6000'; the M400 waits.)
    sent = logs.sent()
    during = [text for t, text in sent if held < t < released]
    assert "M400" in during, during
    after_wait = during[during.index("M400"):]
    assert set(after_wait) == {"M400"}, during
    # The print did go on to its last layer after the hold.
    assert sent_at(sent, "G1 Z12.0 F600") > released
    body = status(server)
    assert body["simulation"]["blur_radius"] < 1.0, body["simulation"]
    marks = [m["kind"] for m in body["drift"]["marks"]]
    assert "drift" in marks and marks.index("refocus") > marks.index("drift")
    assert len(body["drift"]["trace"]) >= 10



def test_a_watch_switched_off_takes_no_look(server):
    save_settings(server, {"drift": {"watch": "off"}})
    before = status(server)["drift"]
    assert before["watch"] == "off"
    server.print_gcode("short.gcode", layers(4, 2000))
    server.wait_for_state(lambda s: s != "Operational", timeout=10, what="print start")
    server.wait_for_state(lambda s: s == "Operational", timeout=60, what="the print to end")
    after = status(server)["drift"]
    assert after["trace"] == before["trace"]
    save_settings(server, {"drift": {"watch": "printing"}})
