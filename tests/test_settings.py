"""PiFocus's settings in a real OctoPrint: migration, round trip, validation, restore on start-up.

The module's server starts from a version 1 configuration (the layout before lens drivers)
and is restarted once, in the same base folder, to check what survives a restart.
Version 2 configurations (the simulated driver by default; version 3 has none) are upgraded
in OctoPrint's own plugin system (``run_in_octoprint``) and once in a running server. Version
4 holds the device sections in ``devices``: versions 1 to 3 migrate into its first device.
"""
from __future__ import annotations

import json
import time
from typing import Any, Dict

import cv2
import numpy as np
import pytest
import yaml

from octoprint_server import OctoPrintServer, deep_merge, demo_config, run_in_octoprint

API = "/api/plugin/pifocus"

#: Version 1 settings as a user of PiFocus 0.1 had them.
V1 = {
    "_config_version": 1,
    "measure": "brenner",
    "roi": [0.1, 0.2, 0.3, 0.4],
    "camera": {"webcam": "", "mode": "snapshot", "settle": 0.5, "discard": 2, "url": ""},
    "simulation": {"enabled": True, "focus": 300.0, "start": 650.0, "noise": 1.0},
}


@pytest.fixture(scope="module")
def server():
    config = deep_merge(demo_config(), {"plugins": {"pifocus": V1}})
    del config["plugins"]["pifocus"]["driver"]  # version 1 had no drivers: the migration sets it
    with OctoPrintServer(extra_config=config) as s:
        yield s


def settings(server) -> Dict[str, Any]:
    return server.plugin_settings("pifocus")


def save(server, values: Dict[str, Any]) -> Dict[str, Any]:
    r = server.session("admin").post(server.url + "/api/settings", json={"plugins": {"pifocus": values}},
                                     timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["plugins"]["pifocus"]


def stored(server) -> Dict[str, Any]:
    """plugins.pifocus as written in config.yaml."""
    return yaml.safe_load(server.config_path.read_text())["plugins"]["pifocus"]


def stored_device(server) -> Dict[str, Any]:
    """The first device of plugins.pifocus as written in config.yaml."""
    return stored(server)["devices"][0]


def status(server) -> Dict[str, Any]:
    r = server.session("user").get(server.url + API, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def wait_until(predicate, timeout: float = 15.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what} not reached in {timeout} s"
        time.sleep(0.1)


# ~~ migration


def test_migration_from_version_1_keeps_the_values(server):
    data = settings(server)
    assert data["measure"] == "brenner"
    assert data["roi"] == [0.1, 0.2, 0.3, 0.4]
    assert data["camera"]["settle"] == 0.5 and data["camera"]["discard"] == 2
    assert data["simulation"]["focus"] == 300.0 and data["simulation"]["start"] == 650.0
    # New since version 2: the driver (the simulated lens was the only one, and it was on) and defaults.
    assert data["driver"] == "simulated"
    assert stored_device(server)["driver"] == "simulated"  # written: the default is now no driver
    assert data["automation"]["failure_policy"] == "continue" and data["presets"] == []
    assert stored(server)["_config_version"] == 4
    assert "Settings migrated from version 1 to 4" in server.log_text()
    # Version 4: the sections moved into the first device, nothing device-specific is left on top.
    assert [(d["id"], d["name"]) for d in data["devices"]] == [("camera", "Camera")]
    assert stored_device(server)["measure"] == "brenner" and stored_device(server)["camera"]["discard"] == 2
    assert not set(stored(server)) & {"driver", "measure", "roi", "camera"}


MIGRATION_SCRIPT = """
import yaml
plugin = plugin_manager.get_plugin_info("pifocus").implementation
with open(settings._configfile) as f:  # what OctoPrint wrote to config.yaml after migrating
    written = yaml.safe_load(f)
result = {"stored": written.get("plugins", {}).get("pifocus"),
          "driver": plugin.controller.driver, "measure": plugin.controller.config["measure"]}
"""


@pytest.mark.parametrize("pifocus, driver", [
    ({"_config_version": 1, "measure": "brenner", "simulation": {"enabled": False}}, ""),
    ({"measure": "brenner", "simulation": {"enabled": True}}, "simulated"),  # unversioned: the first layout
    ({"_config_version": 1, "measure": "brenner", "driver": "i2c"}, "i2c"),  # a driver already set stays
    # Version 2 defaulted to the simulated driver: with the simulation on, that is what it used.
    ({"_config_version": 2, "measure": "brenner", "simulation": {"enabled": True}}, "simulated"),
    ({"_config_version": 2, "measure": "brenner", "simulation": {"enabled": False}}, ""),
    ({"_config_version": 2, "measure": "brenner"}, ""),
    ({"_config_version": 2, "measure": "brenner", "driver": "v4l2", "simulation": {"enabled": True}}, "v4l2"),
])
def test_migration_sets_the_driver_from_the_old_simulation_switch(pifocus, driver):
    result = run_in_octoprint(MIGRATION_SCRIPT, extra_config={"plugins": {"pifocus": pifocus}})
    assert result["driver"] == driver
    assert result["measure"] == "brenner"
    assert result["stored"]["_config_version"] == 4
    # Only what was stored moves into the first device, with a driver only where one was in use.
    device = result["stored"]["devices"][0]
    assert device["id"] == "camera" and device["measure"] == "brenner"
    assert device.get("driver", "") == driver and "driver" not in result["stored"]


#: A version 2 config.yaml section as a PiFocus 0.2 user had it: presets, last positions, a
#: region of interest, automation, and no driver stored (the simulated default was in use).
V2 = {
    "_config_version": 2,
    "measure": "brenner",
    "roi": [0.1, 0.2, 0.3, 0.4],
    "camera": {"webcam": "pifocus_simulated", "settle": 0.5},
    "presets": [{"name": "bed", "position": 410, "driver": "simulated"},
                {"name": "nozzle", "position": 4.5, "driver": "printer-z"}],
    "last_position": {"simulated": 333, "printer-z": 4.25},
    "automation": {"autofocus_before_print": True, "failure_policy": "pause", "watchdog_interval": 2.0},
    "printer_z": {"min": 1.0, "max": 9.0},
    "search": {"range": "window", "window": 40},
}

FULL_SCRIPT = """
import yaml
plugin = plugin_manager.get_plugin_info("pifocus").implementation
with open(settings._configfile) as f:
    written = yaml.safe_load(f)
result = {"stored": written.get("plugins", {}).get("pifocus"),
          "merged": plugin._settings.get_all_data(merged=True),
          "controller": {"driver": plugin.controller.driver, "presets": plugin.controller.presets()}}
"""


@pytest.mark.parametrize("simulation, driver", [(True, "simulated"), (False, "")])
def test_migration_from_version_2_loses_nothing(simulation, driver):
    pifocus = deep_merge(V2, {"simulation": {"enabled": simulation, "focus": 300.0}})
    result = run_in_octoprint(FULL_SCRIPT, extra_config={"plugins": {"pifocus": pifocus}})
    stored_, merged = result["stored"], result["merged"]
    assert stored_["_config_version"] == 4
    assert [d["id"] for d in merged["devices"]] == ["camera"]
    assert merged["devices"][0]["name"] == "pifocus_simulated"  # named after its webcam
    stored_, merged = stored_["devices"][0], dict(merged["devices"][0], simulation=merged["simulation"])
    assert merged.get("driver", "") == result["controller"]["driver"] == driver
    for key in ("measure", "roi", "presets", "last_position"):
        assert stored_[key] == V2[key] and merged[key] == V2[key], key
    assert merged["camera"]["webcam"] == "pifocus_simulated" and merged["camera"]["settle"] == 0.5
    assert merged["automation"]["autofocus_before_print"] is True
    assert merged["automation"]["failure_policy"] == "pause" and merged["automation"]["watchdog_interval"] == 2.0
    assert merged["printer_z"]["min"] == 1.0 and merged["printer_z"]["max"] == 9.0
    assert merged["search"] == {"range": "window", "window": 40}
    assert merged["simulation"]["enabled"] is simulation and merged["simulation"]["focus"] == 300.0
    if driver:  # the presets of the driver in use are the ones offered
        assert result["controller"]["presets"] == [{"name": "bed", "position": 410}]


def test_a_version_2_install_upgrades_in_a_running_octoprint():
    """The upgrade a PiFocus 0.2 user sees: same lens, presets and position, no wizard."""
    config = deep_merge(demo_config(), {"plugins": {"pifocus": deep_merge(V2, {"simulation": {"focus": 300.0}})}})
    del config["plugins"]["pifocus"]["driver"]  # never stored in version 2: the old default was in use
    with OctoPrintServer(extra_config=config) as s:
        data = settings(s)
        assert data["driver"] == "simulated" and stored_device(s)["driver"] == "simulated"
        assert stored(s)["_config_version"] == 4
        assert data["devices"][0]["presets"] == V2["presets"]
        for key in ("measure", "roi", "presets", "last_position"):
            assert data[key] == V2[key], key
        assert data["automation"]["autofocus_before_print"] is True and data["automation"]["failure_policy"] == "pause"
        assert data["search"] == {"range": "window", "window": 40}
        s.wait_for_log("Lens position 333 restored (start-up)")
        body = status(s)
        assert body["position"] == 333 and body["lens_ok"] is True
        assert body["presets"] == [{"name": "bed", "position": 410}]
        assert "Settings migrated from version 2 to 4" in s.log_text()
        r = s.session("admin").get(s.url + "/api/setup/wizard", timeout=10)
        assert r.status_code == 200 and r.json()["pifocus"]["required"] is False


def test_migration_from_version_1_loses_nothing():
    v1 = dict(V1, camera=dict(V1["camera"], webcam="pifocus_simulated"))
    result = run_in_octoprint(FULL_SCRIPT, extra_config={"plugins": {"pifocus": v1}})
    merged = result["merged"]
    assert result["stored"]["_config_version"] == 4
    merged = dict(merged["devices"][0], simulation=merged["simulation"])
    assert merged["driver"] == "simulated"
    assert merged["measure"] == "brenner" and merged["roi"] == [0.1, 0.2, 0.3, 0.4]
    assert merged["camera"]["webcam"] == "pifocus_simulated" and merged["camera"]["discard"] == 2
    assert merged["simulation"]["focus"] == 300.0 and merged["simulation"]["start"] == 650.0


#: A version 3 config.yaml section as a PiFocus 0.3 user had it: one lens (I2C) with its options,
#: a camera URL with a password, presets and last positions of two drivers, automation.
V3 = {
    "_config_version": 3,
    "driver": "i2c",
    "i2c": {"bus": 10, "address": 13, "chip": "dw9817"},
    "camera": {"webcam": "nozzle", "url": "http://cam:secret@127.0.0.1:8080/?action=snapshot", "settle": 0.5},
    "roi": [0.1, 0.2, 0.3, 0.4],
    "measure": "brenner",
    "presets": [{"name": "bed", "position": 410, "driver": "i2c"},
                {"name": "nozzle", "position": 4.5, "driver": "printer-z"}],
    "last_position": {"i2c": 333, "printer-z": 4.25},
    "automation": {"autofocus_before_print": True, "failure_policy": "cancel", "restore_on_startup": False},
    "search": {"range": "window", "window": 40},
    "simulation": {"enabled": True, "focus": 300.0},
}


def test_migration_from_version_3_moves_everything_into_the_first_device():
    result = run_in_octoprint(FULL_SCRIPT, extra_config={"plugins": {"pifocus": V3}})
    stored_, merged = result["stored"], result["merged"]
    assert stored_["_config_version"] == 4
    # Nothing device-specific is left at the top level; the simulation stays global.
    assert set(stored_) == {"_config_version", "devices", "simulation"}
    assert stored_["simulation"] == V3["simulation"]
    [device] = stored_["devices"]
    assert device["id"] == "camera" and device["name"] == "nozzle"  # named after its webcam
    for key in ("driver", "i2c", "camera", "roi", "measure", "presets", "last_position", "automation", "search"):
        assert device[key] == V3[key], key
    assert result["controller"]["driver"] == "i2c"
    assert result["controller"]["presets"] == [{"name": "bed", "position": 410}]
    first = merged["devices"][0]
    assert first["i2c"]["chip"] == "dw9817" and first["automation"]["failure_policy"] == "cancel"


def test_a_fresh_install_stores_nothing_but_the_version():
    result = run_in_octoprint(MIGRATION_SCRIPT)
    assert result["driver"] == "" and result["measure"] == "tenengrad"
    assert set(result["stored"] or {}) <= {"_config_version"}


# ~~ round trip and validation


def test_settings_round_trip(server):
    sent = {
        "printer_z": {"min": "2.5", "max": "9", "feedrate": "1200", "backlash": 0, "require_homed": False},
        "camera": {"discard": "1", "mode": "stream"},
        "i2c": {"address": "0x0d", "bus": "10", "chip": "dw9817"},
        "search": {"range": "window", "window": 40},
        "automation": {"failure_policy": "pause", "watchdog_interval": 0.5, "before_print_mode": "full"},
        "measure": "modified_laplacian",
    }
    answer = save(server, sent)
    for data in (answer, settings(server)):
        assert data["printer_z"]["min"] == 2.5 and data["printer_z"]["max"] == 9.0
        assert data["printer_z"]["feedrate"] == 1200.0 and data["printer_z"]["require_homed"] is False
        assert data["camera"]["discard"] == 1 and data["camera"]["mode"] == "stream"
        assert data["camera"]["settle"] == 0.5  # not sent: kept
        assert data["i2c"] == {"address": 13, "bus": 10, "chip": "dw9817", "force": False}
        assert data["search"] == {"range": "window", "window": 40.0}
        assert data["automation"]["failure_policy"] == "pause" and data["automation"]["watchdog_interval"] == 0.5
        assert data["measure"] == "modified_laplacian"
    assert stored_device(server)["printer_z"]["min"] == 2.5
    # Back to what the later tests expect (the watchdog interval stays short).
    save(server, {"camera": {"mode": "snapshot"}, "search": {"range": "full"}, "measure": "brenner",
                  "automation": {"failure_policy": "continue"}})


@pytest.mark.parametrize("values, field", [
    ({"driver": "zoom"}, "driver"),
    ({"roi": [0.8, 0.8, 0.5, 0.5]}, "roi"),
    ({"roi": "middle"}, "roi"),
    ({"roi": [10 ** 400, 0, 0.5, 0.5]}, "roi"),  # beyond any float: refused, not a 500
    ({"printer_z": {"min": 5, "max": 2}}, "printer_z.max"),
    ({"printer_z": {"feedrate": 0}}, "printer_z.feedrate"),
    ({"camera": {"settle": -1}}, "camera.settle"),
    ({"camera": {"settle": "soon"}}, "camera.settle"),
    ({"camera": {"discard": 1.5}}, "camera.discard"),
    ({"camera": {"keep_open": -5}}, "camera.keep_open"),
    ({"camera": {"keep_open": 86400}}, "camera.keep_open"),
    ({"camera": {"url": "ftp://camera/still.jpg"}}, "camera.url"),
    ({"camera": {"mode": "video"}}, "camera.mode"),
    ({"automation": {"failure_policy": "explode"}}, "automation.failure_policy"),
    ({"automation": {"autofocus_before_print": "sometimes"}}, "automation.autofocus_before_print"),
    ({"i2c": {"address": 200}}, "i2c.address"),
    ({"search": {"window": 0}}, "search.window"),
    ({"search": {"window": 1e-300}}, "search.window"),
    ({"search": {"window": 1e300}}, "search.window"),
    ({"driver": "printer-z", "search": {"window": 0.02}}, "search.window"),  # < 3 Z steps of 0.01 mm
    ({"printer_z": {"restore_after_print_action": "maybe"}}, "printer_z.restore_after_print_action"),
    ({"measure": "sharpest"}, "measure"),
    ({"simulation": {"fps": 0}}, "simulation.fps"),
    ({"v4l2": {"device": "/dev/../etc/passwd"}}, "v4l2.device"),
    ({"v4l2": {"device": "/dev/sda"}}, "v4l2.device"),
    ({"i2c": {"bus": -1}}, "i2c.bus"),
    ({"drift": {"watch": "sometimes"}}, "drift.watch"),
    ({"drift": {"interval": 0.5}}, "drift.interval"),
    ({"drift": {"action": "explode"}}, "drift.action"),
    ({"drift": {"drop": 1.5}}, "drift.drop"),
    # A good value next to a bad one is not saved either: the save is refused as a whole.
    ({"camera": {"settle": 1.0}, "roi": [2, 0, 1, 1]}, "roi"),
])
def test_invalid_values_are_refused_and_nothing_is_lost(server, values, field):
    before = settings(server)
    log_mark = len(server.log_text())
    answer = save(server, values)
    assert answer == before
    assert settings(server) == before
    assert "Settings not saved" in server.log_text()[log_mark:]
    # The same check, asked before saving: a 400 naming the field.
    r = server.session("admin").post(server.url + API, json={"command": "validate_settings", "settings": values},
                                     timeout=10)
    assert r.status_code == 400, r.text
    assert r.json()["field"] == field and r.json()["error"]


#: Numbers YAML would store as .nan/.inf (or that no float holds), in every kind of setting.
BAD_NUMBERS = ["NaN", "Infinity", "-Infinity", "1e400", 10 ** 400, float("nan"), float("inf")]
NUMBER_SETTINGS = [("simulation", "noise"), ("simulation", "width"), ("printer_z", "max"), ("camera", "settle"),
                   ("search", "window"), ("automation", "watchdog_interval"), ("camera_streamer", "max")]


def raw_post(server, path: str, body: Dict[str, Any], user: str = "admin"):
    """POST ``body`` as JSON with NaN and Infinity literals, as a JavaScript client can send them."""
    return server.session(user).post(server.url + path, data=json.dumps(body, allow_nan=True), timeout=10,
                                     headers={"Content-Type": "application/json"})


@pytest.mark.parametrize("section, key", NUMBER_SETTINGS)
def test_non_finite_and_huge_numbers_are_never_saved(server, section, key):
    before = settings(server)
    for bad in BAD_NUMBERS:
        r = raw_post(server, "/api/settings", {"plugins": {"pifocus": {section: {key: bad}}}})
        assert r.status_code == 200, r.text
        assert r.json()["plugins"]["pifocus"][section][key] == before[section][key]
        r = raw_post(server, API, {"command": "validate_settings", "settings": {section: {key: bad}}})
        assert r.status_code == 400, (bad, r.text)
        assert r.json()["field"] == f"{section}.{key}", r.text
        assert "finite" in r.json()["error"] or "far outside" in r.json()["error"], r.text
    assert settings(server) == before
    text = server.config_path.read_text().lower()
    assert ".nan" not in text and ".inf" not in text and "1e+400" not in text and "0" * 300 not in text


def test_validate_settings_accepts_good_values_and_needs_admin(server):
    admin = server.session("admin")
    r = admin.post(server.url + API, json={"command": "validate_settings",
                                           "settings": {"printer_z": {"min": "1", "max": "4"}}}, timeout=10)
    assert r.status_code == 200, r.text
    assert r.json()["ok"] is True and r.json()["settings"]["printer_z"]["max"] == 4.0
    assert settings(server)["printer_z"]["max"] == 9.0  # only checked, not saved
    r = server.session("user").post(server.url + API, json={"command": "validate_settings", "settings": {}},
                                    timeout=10)
    assert r.status_code == 403


def test_presets_are_not_overwritten_by_a_stale_settings_dialog(server):
    r = server.session("user").post(server.url + API, json={"command": "preset_save", "name": "bed", "position": 410},
                                    timeout=10)
    assert r.status_code == 200, r.text
    save(server, {"presets": [], "last_position": {"simulated": 1}})
    assert [p["name"] for p in status(server)["presets"]] == ["bed"]
    assert settings(server)["presets"] == [{"name": "bed", "position": 410, "driver": "simulated"}]


# ~~ restore


def test_restore_on_startup(server):
    r = server.session("user").post(server.url + API, json={"command": "move", "position": 333}, timeout=10)
    assert r.status_code == 200, r.text
    wait_until(lambda: (stored_device(server).get("last_position") or {}).get("simulated") == 333,
               what="last position written to config.yaml")
    server.restart()
    server.wait_for_log("Lens position 333 restored (start-up)")
    body = status(server)
    assert body["position"] == 333
    assert body["simulation"]["position"] == 333  # the simulation starts at 650 (simulation.start)
    assert [p["name"] for p in body["presets"]] == ["bed"]


def test_restore_after_the_webcam_restarts(server):
    log_mark = len(server.log_text())
    save(server, {"simulation": {"enabled": False}})  # the simulated webcam goes away...
    wait_until(lambda: "The webcam does not answer" in server.log_text()[log_mark:], what="watchdog noticing")
    save(server, {"simulation": {"enabled": True}})  # ...and comes back with its lens at rest (650)
    wait_until(lambda: "Lens position 333 restored (webcam restart)" in server.log_text()[log_mark:],
               what="restore after the webcam restart")
    assert "'position': 650.0" in server.log_text()[log_mark:]  # the new simulation started at rest
    body = status(server)
    assert body["position"] == 333 and body["simulation"]["position"] == 333


# ~~ the rules, in plain Python

from octoprint_pifocus.plugin import settings as rules  # noqa: E402


def test_check_normalises_form_values_and_keeps_defaults():
    checked = rules.check_device_sections({"printer_z": {"min": "1.5", "max": "4"}, "camera": {"discard": "2"},
                                           "i2c": {"address": "0x0c", "bus": ""}, "driver": "printer-z"})
    assert checked["printer_z"]["min"] == 1.5 and checked["printer_z"]["max"] == 4.0
    assert checked["camera"]["discard"] == 2 and isinstance(checked["camera"]["discard"], int)
    assert checked["i2c"]["address"] == 12 and checked["i2c"]["bus"] is None
    assert checked["automation"] == rules.device_defaults()["automation"]
    assert rules.check({}) == rules.check(rules.defaults())


def test_stored_presets_and_positions_beyond_any_float_are_dropped():
    # Only a hand-edited config.yaml holds such values; they must not stop the plugin loading.
    presets = rules.check_presets([{"name": "far", "position": 10 ** 400}, {"name": "bed", "position": 400}])
    assert presets == [{"name": "bed", "position": 400, "driver": "simulated"}]
    assert rules.check_last_positions({"i2c": 10 ** 400, "simulated": 512}) == {"simulated": 512}


def test_migrate_only_touches_older_layouts():
    first = {"id": "camera", "name": "Camera"}
    remove = {"measure": None}
    assert rules.migrate({"measure": "brenner", "simulation": {"enabled": "true"}}, 1) == dict(
        remove, devices=[dict(first, measure="brenner", driver="simulated")])
    assert rules.migrate({"measure": "brenner", "simulation": {"enabled": True}}, 2) == dict(
        remove, devices=[dict(first, measure="brenner", driver="simulated")])
    # No driver stored: the default, none. Still moved into the first device.
    assert rules.migrate({"measure": "brenner"}, None) == dict(remove, devices=[dict(first, measure="brenner")])
    assert rules.migrate({"driver": "v4l2"}, 1) == {"driver": None, "devices": [dict(first, driver="v4l2")]}
    # Version 3 no longer turns the simulation switch into a driver: "" was chosen.
    assert rules.migrate({"measure": "brenner", "simulation": {"enabled": True}}, 3) == dict(
        remove, devices=[dict(first, measure="brenner")])
    assert rules.migrate({"driver": "", "simulation": {"enabled": True}}, 2) == {
        "driver": None, "devices": [dict(first, driver="")]}  # "" chosen: kept
    assert rules.migrate({"simulation": {"enabled": True}}, 3) == {}  # nothing of a device stored
    assert rules.migrate({}, None) == {}  # a fresh install: the defaults apply
    assert rules.migrate({"measure": "brenner"}, 4) == {}
    # Named after its webcam when that makes a device name.
    assert rules.migrate({"camera": {"webcam": "nozzle"}}, 3)["devices"][0]["name"] == "nozzle"
    assert rules.migrate({"camera": {"webcam": 'a"b'}}, 3)["devices"][0]["name"] == "Camera"
    assert rules.defaults()["devices"][0]["driver"] == "" and len(rules.defaults()["devices"]) == 1


def test_devices_are_checked_each_with_the_rules_of_one():
    good = rules.check({"devices": [{"id": "nozzle", "name": "Nozzle cam", "camera": {"settle": "1"}},
                                    {"id": "0a1b2c3d", "name": "microscope", "driver": "printer-z"}]})
    assert [d["name"] for d in good["devices"]] == ["Nozzle cam", "microscope"]
    assert good["devices"][0]["camera"]["settle"] == 1.0 and good["devices"][1]["driver"] == "printer-z"
    assert good["devices"][1]["presets"] == [] and good["simulation"] == rules.defaults()["simulation"]
    cases = [
        ({"devices": [{"id": "a", "name": "A"}, {"id": "b", "name": "B", "camera": {"settle": -1}}]},
         "devices.b.camera.settle", "camera.settle", "b"),
        ({"devices": [{"id": "a", "name": "Nozzle"}, {"id": "b", "name": "NOZZLE"}]}, "devices.b.name", "name", "b"),
        ({"devices": [{"id": "a", "name": "x" * 33}]}, "devices.a.name", "name", "a"),
        ({"devices": [{"id": "a", "name": "zero\u200bwidth"}]}, "devices.a.name", "name", "a"),
        ({"devices": [{"id": "a", "name": 'say "hi"'}]}, "devices.a.name", "name", "a"),
        ({"devices": [{"id": "a", "name": "A"}, {"id": "a", "name": "B"}]}, "devices.a.id", "devices.a.id", None),
        ({"devices": [{"id": "Has Space", "name": "A"}]}, "devices.0.id", "devices.0.id", None),
        ({"devices": []}, "devices", "devices", None),
        ({"devices": [{"id": f"d{i}", "name": f"D{i}"} for i in range(rules.DEVICES_MAX + 1)]},
         "devices", "devices", None),
    ]
    for data, path, field, device in cases:
        with pytest.raises(rules.SettingsError) as caught:
            rules.check(data)
        assert (caught.value.path, caught.value.field, caught.value.device) == (path, field, device), data
    # With several devices a message names the device.
    with pytest.raises(rules.SettingsError, match="^B: camera.settle must be at least 0"):
        rules.check(cases[0][0])


def test_a_save_of_top_level_sections_changes_the_first_device_and_keeps_presets():
    current = rules.check({"devices": [
        {"id": "a", "name": "A", "presets": [{"name": "bed", "position": 400}]},
        {"id": "b", "name": "B", "measure": "brenner"}]})
    after = rules.check(rules.apply_submission(current, {"measure": "laplacian_variance", "devices": [
        {"id": "b", "name": "Bee", "presets": []}, {"id": "a", "name": "A", "presets": []},
        {"id": "c", "name": "C", "presets": [{"name": "copied", "position": 1}]}]}))
    # The list's order is the one sent; top-level sections go to the (new) first device.
    assert [(d["id"], d["name"], d["measure"]) for d in after["devices"]] == [
        ("b", "Bee", "laplacian_variance"), ("a", "A", "tenengrad"), ("c", "C", "tenengrad")]
    assert [p["name"] for p in after["devices"][1]["presets"]] == ["bed"]  # only the plugin writes them
    assert [p["name"] for p in after["devices"][2]["presets"]] == ["copied"]  # a new (duplicated) device
    assert not rules.changes(current, rules.view(current, admin=False))



def test_a_stale_dialog_does_not_remove_a_device_added_after_it_loaded():
    current = rules.check({"devices": [
        {"id": "a", "name": "A"},
        {"id": "b", "name": "B", "presets": [{"name": "bed", "position": 400}]},
        {"id": "c", "name": "Added meanwhile", "presets": [{"name": "nozzle", "position": 210}]}]})
    # The dialog loaded a and b; its user removed b. c came from another browser since.
    after = rules.check(rules.apply_submission(current, {
        "devices": [{"id": "a", "name": "A"}], "devices_known": ["a", "b"]}))
    assert [d["id"] for d in after["devices"]] == ["a", "c"]
    assert after["devices"][1]["name"] == "Added meanwhile"
    assert [p["name"] for p in after["devices"][1]["presets"]] == ["nozzle"]
    # A dialog that knew c removes it; a client that says nothing sends the whole truth.
    after = rules.check(rules.apply_submission(current, {
        "devices": [{"id": "a", "name": "A"}], "devices_known": ["a", "b", "c"]}))
    assert [d["id"] for d in after["devices"]] == ["a"]
    after = rules.check(rules.apply_submission(current, {"devices": [{"id": "a", "name": "A"}]}))
    assert [d["id"] for d in after["devices"]] == ["a"]

def test_changing_the_driver_clears_the_old_curve(server):
    save(server, {"driver": "simulated"})
    r = server.session("user").post(server.url + API, json={"command": "autofocus"}, timeout=10)
    assert r.status_code == 202, r.text
    done = wait_until(lambda: (lambda s: s if not s["busy"] and s["last_result"] else None)(status(server)),
                      timeout=60, what="autofocus to finish")
    assert len(done["curve"]) >= 6
    save(server, {"driver": "printer-z"})
    after = wait_until(lambda: (lambda s: s if s["driver"] == "printer-z" else None)(status(server)),
                       what="the driver change")
    # A VCM curve shown in millimetres of Z would only mislead.
    assert after["curve"] == [] and after["last_result"] is None
    save(server, {"driver": "simulated"})


# ~~ the settings page's device list: a save of ``devices`` adds, renames, duplicates, removes


def device_summary(server):
    return [(d["id"], d["name"]) for d in settings(server)["devices"]]


def without_last_positions(values):
    values = json.loads(json.dumps(values))
    for device in values.get("devices") or []:
        device.pop("last_position", None)
    values.pop("last_position", None)
    return values


def refused(server, values, field, device=None):
    """``values`` saved: nothing changes, the log says so, and validate_settings names ``field``."""
    # Last positions are the plugin's to write (a move a moment ago may land meanwhile).
    before = without_last_positions(settings(server))
    log_mark = len(server.log_text())
    assert without_last_positions(save(server, values)) == before
    assert without_last_positions(settings(server)) == before
    assert "Settings not saved" in server.log_text()[log_mark:]
    r = server.session("admin").post(server.url + API, json={"command": "validate_settings", "settings": values},
                                     timeout=10)
    assert r.status_code == 400, r.text
    assert (r.json()["field"], r.json()["device"]) == (field, device), r.text
    return r.json()


def test_a_saved_device_list_adds_renames_duplicates_and_removes_devices(server):
    user = server.session("user")
    r = user.post(server.url + API, json={"command": "preset_save", "name": "deck", "position": 420}, timeout=10)
    assert r.status_code == 200, r.text
    first = settings(server)["devices"][0]
    first_id, first_name = first["id"], first["name"]
    presets = first["presets"]
    assert "deck" in [p["name"] for p in presets]
    sections = {k: v for k, v in first.items() if k not in ("id", "name", "presets", "last_position")}

    # Rename the first (same id), add one, duplicate the first (its sections, no presets). The
    # dialog's copy of the first's presets is stale ([]): the plugin's are kept.
    answer = save(server, {"devices": [
        dict(sections, id=first_id, name="Bed cam", presets=[], last_position={}),
        {"id": "0a1b2c3d", "name": "Nozzle", "driver": "simulated", "camera": {"settle": 0.4}},
        dict(sections, id="0a1b2c3e", name="Bed cam copy", measure="brenner")]})
    assert [(d["id"], d["name"]) for d in answer["devices"]] == [
        (first_id, "Bed cam"), ("0a1b2c3d", "Nozzle"), ("0a1b2c3e", "Bed cam copy")]
    assert device_summary(server) == [(first_id, "Bed cam"), ("0a1b2c3d", "Nozzle"), ("0a1b2c3e", "Bed cam copy")]
    written = stored(server)["devices"]
    assert written[0]["presets"] == presets  # kept, whatever the dialog sent
    assert written[1]["camera"]["settle"] == 0.4 and written[1]["presets"] == []
    assert written[2]["printer_z"] == first["printer_z"] and written[2]["presets"] == []
    # The running plugin follows: the status lists them, a request by the new name finds the
    # renamed device (same id, same presets), the old name is gone.
    body = wait_until(lambda: (lambda b: b if len(b["devices"]) == 3 else None)(status(server)),
                      what="three devices in the status")
    assert [(d["device"], d["device_name"]) for d in body["devices"]] == device_summary(server)
    by_name = user.get(server.url + API, params={"device": "bed CAM"}, timeout=10).json()
    assert by_name["device"] == first_id and "deck" in [p["name"] for p in by_name["presets"]]
    r = user.get(server.url + API, params={"device": first_name + " (old)"}, timeout=10)
    assert r.status_code == 400 and "Bed cam" in r.json()["error"]

    # A second dialog, opened before, saves the list as it knew it: partial sections of known
    # devices keep the rest, and nobody's presets change.
    save(server, {"devices": [{"id": first_id, "name": "Bed cam", "camera": {"discard": 1}},
                              {"id": "0a1b2c3d", "name": "Nozzle"}, {"id": "0a1b2c3e", "name": "Bed cam copy"}]})
    written = stored(server)["devices"]
    assert written[0]["camera"]["discard"] == 1 and written[0]["camera"]["settle"] == first["camera"]["settle"]
    assert written[0]["presets"] == presets and written[1]["camera"]["settle"] == 0.4

    # Refused, and nothing lost: two names that differ only in case, a bad value in a device
    # that is not the first, an id that is no id, an entry without one, no device at all.
    refused(server, {"devices": [{"id": first_id, "name": "Bed cam"}, {"id": "0a1b2c3d", "name": "BED CAM"}]},
            "name", "0a1b2c3d")
    problem = refused(server, {"devices": [{"id": first_id, "name": "Bed cam"},
                                           {"id": "0a1b2c3d", "name": "Nozzle", "camera": {"settle": -1}}]},
                      "camera.settle", "0a1b2c3d")
    assert problem["error"].startswith("Nozzle: camera.settle must be at least 0")
    refused(server, {"devices": [{"id": "Not An Id", "name": "X"}]}, "devices.0.id")
    refused(server, {"devices": [{"name": "No id"}]}, "devices.0.id")
    refused(server, {"devices": []}, "devices")

    # Remove two: the first keeps its presets; the removed ones are gone from the status.
    save(server, {"devices": [{"id": first_id, "name": first_name, "camera": {"discard": first["camera"]["discard"]}}]})
    assert device_summary(server) == [(first_id, first_name)]
    assert stored(server)["devices"][0]["presets"] == presets
    body = wait_until(lambda: (lambda b: b if len(b["devices"]) == 1 else None)(status(server)),
                      what="one device in the status")
    assert body["device_name"] == first_name
    r = user.get(server.url + API, params={"device": "0a1b2c3d"}, timeout=10)
    assert r.status_code == 400


# ~~ who may change PiFocus's settings

from octoprint_server import DEFAULT_USERS, ServerUser  # noqa: E402


@pytest.fixture(scope="module")
def settings_user_server():
    """A user with OctoPrint's SETTINGS permission but not PiFocus administration."""
    users = DEFAULT_USERS + (ServerUser("tinkerer", "tinkerer-secret", ("users",), permissions=("SETTINGS",)),)
    config = deep_merge(demo_config(), {"plugins": {"pifocus": {
        "driver": "simulated", "camera": {"url": "http://cam:secret@127.0.0.1:8080/?action=snapshot"}}}})
    with OctoPrintServer(extra_config=config, users=users) as s:
        yield s


def test_settings_permission_alone_cannot_change_pifocus(settings_user_server):
    s = settings_user_server
    before = settings(s)
    r = s.session("tinkerer").post(s.url + "/api/settings", json={"plugins": {"pifocus": {
        "driver": "printer-z", "printer_z": {"min": -100, "max": 500}}}}, timeout=10)
    assert r.status_code == 200  # OctoPrint saves the rest of its settings
    after = settings(s)
    assert after["driver"] == before["driver"] == "simulated"
    assert after["printer_z"] == before["printer_z"] and after["printer_z"]["min"] >= 0
    # What the tinkerer sees of the camera URL (it may hold a password) is blanked.
    shown = s.session("tinkerer").get(s.url + "/api/settings", timeout=10).json()["plugins"]["pifocus"]
    assert "secret" not in str(shown["camera"]["url"])
    # The dialog saving its unchanged (blanked) PiFocus section loses nothing.
    r = s.session("tinkerer").post(s.url + "/api/settings", json={"plugins": {"pifocus": shown}}, timeout=10)
    assert r.status_code == 200
    assert stored_device(s)["camera"]["url"] == "http://cam:secret@127.0.0.1:8080/?action=snapshot"
    assert "secret" not in str(shown["devices"][0]["camera"]["url"])


def test_pifocus_admins_can_change_the_driver(settings_user_server):
    s = settings_user_server
    r = s.session("admin").post(s.url + "/api/settings", json={"plugins": {"pifocus": {"driver": ""}}}, timeout=10)
    assert r.status_code == 200
    assert settings(s)["driver"] == ""
    assert "secret" in s.session("admin").get(s.url + "/api/settings", timeout=10).json()["plugins"]["pifocus"]["camera"]["url"]


# ~~ a config.yaml that already holds what no save accepts


def test_a_stored_nan_or_infinity_is_repaired_at_start_up():
    """An older PiFocus wrote .nan; OctoPrint then left PiFocus out of /api/settings (JSON has no
    NaN) and the simulated camera rendered black. Now the bad values are removed at start-up,
    with a log line each, and their defaults apply; the good values next to them stay."""
    nan, inf = float("nan"), float("inf")
    config = deep_merge(demo_config(noise=nan, focus=300.0), {"plugins": {"pifocus": {
        "printer_z": {"min": 1.0, "max": inf}, "camera": {"settle": 0.5, "discard": 10 ** 400},
        "presets": [{"name": "nan", "position": nan, "driver": "simulated"},
                    {"name": "bed", "position": 400, "driver": "simulated"}]}}})
    with OctoPrintServer(extra_config=config) as s:
        assert ".nan" in yaml.safe_dump(config) and ".inf" in yaml.safe_dump(config)
        data = settings(s)
        assert data, "PiFocus is missing from /api/settings"
        assert data["simulation"]["noise"] == 2.0 and data["simulation"]["focus"] == 300.0
        assert data["printer_z"]["max"] == 10.0 and data["printer_z"]["min"] == 1.0
        assert data["camera"]["discard"] == 0 and data["camera"]["settle"] == 0.5
        assert data["presets"] == [{"name": "bed", "position": 400, "driver": "simulated"}]
        log = s.log_text()
        for path in ("simulation.noise", "devices.camera.printer_z.max", "devices.camera.camera.discard"):
            assert f"Stored setting {path} is not usable" in log
        text = s.config_path.read_text().lower()
        assert ".nan" not in text.replace("name: nan", "") and ".inf" not in text
        # The simulated camera renders a picture again, not black.
        r = s.session("user").get(s.url + "/plugin/pifocus/simcam/snapshot", timeout=10)
        assert r.status_code == 200 and r.headers["Content-Type"] == "image/jpeg"
        image = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_GRAYSCALE)
        assert image is not None and image.mean() > 40 and image.std() > 2  # NaN noise gave all black
        # ... and after a restart, with what it saved.
        s.restart()
        assert settings(s)["simulation"]["noise"] == 2.0
        assert "is not usable" not in s.log_text().split("Starting OctoPrint")[-1]
