"""The printer goes away in the middle of a printer-Z autofocus: the run must end, say why,
nothing more may be sent once OctoPrint reconnects, and the presets and settings are intact."""
from __future__ import annotations

import re
import time

from octoprint_server import OctoPrintServer, deep_merge, demo_config

API = "/api/plugin/pifocus"


def without_last_positions(data):
    """PiFocus's settings without ``last_position``, at the top level and in each device."""
    data = {k: v for k, v in data.items() if k != "last_position"}
    data["devices"] = [{k: v for k, v in d.items() if k != "last_position"} for d in data.get("devices", [])]
    return data


def test_disconnect_mid_autofocus_ends_the_run_and_sends_nothing_after(tmp_path):
    config = deep_merge(demo_config(lens="printer_z", z_focus=4.0), {
        "serial": {"log": True},
        "plugins": {"pifocus": {"driver": "printer-z",
                                "printer_z": {"min": 1.0, "max": 7.0, "feedrate": 120},  # slow moves
                                "camera": {"settle": 0.3}}},
    })
    with OctoPrintServer(extra_config=config) as server:
        s = server.session("admin")
        server.printer_command("G28")
        deadline = time.monotonic() + 10
        while s.get(server.url + API, timeout=10).json()["z_blocked"] is not None:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        r = s.post(server.url + API, json={"command": "preset_save", "name": "bed", "position": 5.5}, timeout=10)
        assert r.status_code == 200, r.text
        presets = r.json()["presets"]
        # last_position changes with every move PiFocus makes (it is never restored for Z).
        settings = without_last_positions(server.plugin_settings("pifocus"))
        assert s.post(server.url + API, json={"command": "autofocus"}, timeout=10).status_code == 202
        time.sleep(1.5)  # a few samples in
        assert s.post(server.url + "/api/connection", json={"command": "disconnect"}, timeout=10).status_code == 204
        deadline = time.monotonic() + 30
        while True:
            body = s.get(server.url + API, timeout=10).json()
            if not body["busy"]:
                break
            assert time.monotonic() < deadline, body
            time.sleep(0.2)
        result = body["last_result"]
        assert result["found"] is False and result["captures"] < 8, result  # stopped mid-search
        assert "connect" in result["message"].lower() or "printer" in result["message"].lower(), result["message"]
        sent_at_disconnect = len(re.findall(r"Send: .*G1 .*Z", server.serial_log_text()))
        # Reconnecting must not replay anything of the aborted search.
        s.post(server.url + "/api/connection", json={"command": "connect", "port": "VIRTUAL"}, timeout=10)
        deadline = time.monotonic() + 20
        while server.printer_state() != "Operational":
            assert time.monotonic() < deadline
            time.sleep(0.2)
        time.sleep(2)
        assert len(re.findall(r"Send: .*G1 .*Z", server.serial_log_text())) == sent_at_disconnect
        body = s.get(server.url + API, timeout=10).json()
        assert body["busy"] is False
        assert body["presets"] == presets == [{"name": "bed", "position": 5.5}]
        assert without_last_positions(server.plugin_settings("pifocus")) == settings
        assert {"name": "bed", "position": 5.5, "driver": "printer-z"} in server.plugin_settings("pifocus")["presets"]
