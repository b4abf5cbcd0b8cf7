"""The first run after installing: no lens driver, and the set-up wizard.

- The rules of ``plugin/wizard.py`` in plain Python: when the wizard is required, what Detect
  offers (labels, the settings that select a device, the simulated lens only when usable).
- A real OctoPrint as after an install from the Plugin Manager (no ``plugins.pifocus`` in
  config.yaml at all): the status says there is no lens driver, moves answer 409 with the
  reason, OctoPrint's wizard API (``GET /api/setup/wizard``) reports PiFocus's wizard as required
  and unseen and the page includes it; once finished (``POST /api/setup/wizard``) it is seen, and
  the page no longer includes it.
"""
from __future__ import annotations

import pytest

from octoprint_pifocus.plugin import wizard
from octoprint_server import OctoPrintServer

API = "/api/plugin/pifocus"


# ~~ the rules


def test_required_while_no_driver_is_configured():
    assert wizard.is_required("") and wizard.is_required(None)
    for driver in ("simulated", "i2c", "v4l2", "camera-streamer", "printer-z"):
        assert not wizard.is_required(driver)


def test_details_for_the_wizard_page():
    assert wizard.details("", True, False) == {"driver": "", "simulation": True, "printer_connected": False,
                                               "version": wizard.WIZARD_VERSION}


PROBED = [
    {"driver": "i2c", "device": "/dev/i2c-1", "found": False, "bus": 1, "address": 12, "chip": "dw9714",
     "message": "nothing answers at 0x0C"},
    {"driver": "i2c", "device": "/dev/i2c-10", "found": True, "bus": 10, "address": 12, "chip": "dw9714",
     "message": "a device answers at 0x0C"},
    {"driver": "v4l2", "device": "/dev/video0", "found": True, "chip": "HD USB Camera", "message": "has focus_absolute"},
    {"driver": "camera-streamer", "device": "http://cam:secret@127.0.0.1:8080", "found": True,
     "message": "camera-streamer 0.2.2 or newer"},
    {"driver": "printer-z", "device": "OctoPrint's printer", "found": True, "connected": True, "homed": False,
     "message": "connected"},
    {"driver": "simulated", "device": "PiFocus simulation", "found": True, "message": "simulated lens and camera"},
]


def test_choices_list_usable_devices_first_with_the_settings_that_select_them():
    choices = wizard.choices(PROBED)
    assert [(c["driver"], c["found"]) for c in choices] == [
        ("i2c", True), ("v4l2", True), ("camera-streamer", True), ("printer-z", True), ("simulated", True),
        ("i2c", False)]
    i2c = choices[0]
    assert i2c["settings"] == {"driver": "i2c", "i2c": {"bus": 10, "address": 12, "chip": "dw9714"}}
    assert "I2C bus 10" in i2c["label"] and "0x0C" in i2c["label"] and "DW9714" in i2c["label"]
    assert choices[1]["settings"] == {"driver": "v4l2", "v4l2": {"device": "/dev/video0"}}
    assert "/dev/video0" in choices[1]["label"] and "focus_absolute" in choices[1]["label"]
    # camera-streamer was probed at the URL in force: selecting it sets only the driver, and
    # the label hides the password.
    assert choices[2]["settings"] == {"driver": "camera-streamer"}
    assert "secret" not in choices[2]["label"] and "cam:***@127.0.0.1:8080" in choices[2]["label"]
    assert choices[3]["settings"] == {"driver": "printer-z"} and "home" in choices[3]["message"]
    assert choices[4]["settings"] == {"driver": "simulated"} and choices[4]["webcam"] == "pifocus_simulated"
    assert choices[5]["settings"] is None and choices[5]["message"] == "nothing answers at 0x0C"


def test_the_simulated_lens_is_offered_only_when_the_simulation_is_on():
    off = {"driver": "simulated", "device": "PiFocus simulation", "found": False,
           "message": "The PiFocus simulation is off (setting simulation.enabled)."}
    no_printer = {"driver": "printer-z", "device": "OctoPrint's printer", "found": False, "connected": False,
                  "message": "not connected"}
    choices = wizard.choices([off, no_printer])
    assert [c["driver"] for c in choices] == ["printer-z"]
    assert choices[0]["found"] is False and "connect" in choices[0]["message"]


def test_nothing_found_at_all_is_named_without_placeholders():
    entries = [{"driver": "i2c", "device": "/dev/i2c-*", "found": False, "message": "No I2C buses"},
               {"driver": "v4l2", "device": "/dev/video*", "found": False, "message": "No V4L2 device"}]
    labels = [c["label"] for c in wizard.choices(entries)]
    assert labels == ["Arducam motorized-focus lens on an I2C bus", "USB webcam with a focus control (focus_absolute)"]


# ~~ a fresh install in a real OctoPrint


@pytest.fixture(scope="module")
def fresh():
    """OctoPrint with PiFocus as installed from the Plugin Manager: no PiFocus settings at all."""
    with OctoPrintServer() as server:
        yield server


def wizard_state(server: OctoPrintServer) -> dict:
    r = server.session("admin").get(server.url + "/api/setup/wizard", timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["pifocus"]


def test_a_fresh_install_has_no_driver_and_says_so(fresh):
    r = fresh.session("user").get(fresh.url + API, timeout=10)
    assert r.status_code == 200, r.text
    status = r.json()
    assert status["driver"] == "" and status["lens_ok"] is False
    assert status["lens_error"].startswith("No lens driver is configured: run the set-up")
    assert "simulation" not in status["lens_error"]
    assert fresh.plugin_settings("pifocus")["driver"] == ""
    # Moves are refused with the reason; the plugin keeps running.
    r = fresh.session("user").post(fresh.url + API, json={"command": "move", "position": 10}, timeout=10)
    assert r.status_code == 409 and r.json()["error"] == status["lens_error"]
    r = fresh.session("user").post(fresh.url + API, json={"command": "autofocus"}, timeout=10)
    assert r.status_code == 409 and r.json()["error"] == status["lens_error"]
    fresh.wait_for_log("lens driver ''")


def test_detect_offers_the_connected_printer_and_no_simulation(fresh):
    r = fresh.session("admin").post(fresh.url + API, json={"command": "probe"}, timeout=30)
    assert r.status_code == 200, r.text
    choices = r.json()["choices"]
    printer = [c for c in choices if c["driver"] == "printer-z"]
    assert printer and printer[0]["found"] is True, choices  # the virtual printer is operational
    assert printer[0]["settings"] == {"driver": "printer-z"}
    assert not [c for c in choices if c["driver"] == "simulated"], choices  # the simulation is off


def test_the_wizard_is_required_once_and_seen_after_finishing(fresh):
    state = wizard_state(fresh)
    assert state["required"] is True and state["ignored"] is False
    assert state["version"] == wizard.WIZARD_VERSION
    assert state["details"] == {"driver": "", "simulation": False, "printer_connected": True,
                                "version": wizard.WIZARD_VERSION}
    page = fresh.login("admin").get(fresh.url + "/", timeout=30).text
    assert 'id="wizard_plugin_pifocus"' in page and 'id="pifocus_setup_dialog"' in page

    # Finished (here: skipped, nothing chosen): seen in this version, not shown again.
    r = fresh.session("admin").post(fresh.url + "/api/setup/wizard", json={"handled": ["pifocus"]}, timeout=10)
    assert r.status_code == 204, r.text
    state = wizard_state(fresh)
    assert state["required"] is True and state["ignored"] is True  # still no driver, but seen
    page = fresh.login("admin").get(fresh.url + "/", timeout=30).text
    assert 'id="wizard_plugin_pifocus"' not in page
    assert 'id="pifocus_setup_dialog"' in page  # the set-up stays reachable
    fresh.wait_for_log("Set-up wizard finished, lens driver none (skipped)")

    # A driver chosen later: the wizard is no longer required at all.
    r = fresh.session("admin").post(fresh.url + "/api/settings",
                                    json={"plugins": {"pifocus": {"driver": "printer-z"}}}, timeout=10)
    assert r.status_code == 200, r.text
    assert wizard_state(fresh)["required"] is False


def test_a_printer_z_choice_carries_its_window_for_confirmation():
    entry = {"driver": "printer-z", "device": "OctoPrint's printer", "found": True, "connected": True,
             "homed": True, "limits": [2.0, 7.5], "position": 4.25, "message": "connected"}
    (z,) = wizard.choices([entry])
    assert z["confirm"] is True
    assert z["z_window"] == {"min": 2.0, "max": 7.5, "units": "mm", "current": 4.25}
    # No Z from the printer: the window still, without a current Z.
    (z,) = wizard.choices([dict(entry, position=None)])
    assert z["z_window"]["current"] is None and z["z_window"]["max"] == 7.5
    # Not connected: nothing to confirm, nothing to pick.
    (z,) = wizard.choices([dict(entry, found=False, position=None)])
    assert "z_window" not in z and z["settings"] is None
