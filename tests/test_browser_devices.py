"""The sidebar with two focus devices, in a real browser against a real OctoPrint.

Two simulated devices (each its own simulated lens and scene). The sidebar's selector chooses
the device shown; the choice is remembered by the browser; the position, controls, curve and
result are the chosen device's, while a run of the other device shows as a line of progress.
Screenshots go to test-artifacts/.
"""
from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

from octoprint_server import DEFAULT_USERS, DISABLED_PLUGINS, OctoPrintServer, deep_merge, demo_config
from test_browser import PAGE_TIMEOUT, SIDEBAR, assert_no_script_errors, browser, open_octoprint, screenshot  # noqa: F401

API = "/api/plugin/pifocus"
NOZZLE = {"id": "nozzle", "name": "Nozzle cam", "driver": "simulated",
          "camera": {"webcam": "pifocus_simulated_nozzle", "settle": 0.3}}


@pytest.fixture(scope="module")
def server():
    config = deep_merge(demo_config(), {"plugins": {
        "_disabled": DISABLED_PLUGINS + ["achievements"],
        "pifocus": {"camera": {"settle": 0.3}, "devices": [{"id": "camera", "name": "Camera"}, NOZZLE]}}})
    with OctoPrintServer(extra_config=config, users=DEFAULT_USERS) as s:
        yield s


def api_status(server, device: str = "") -> dict:
    r = server.session("user").get(server.url + API, params={"device": device} if device else None, timeout=10)
    r.raise_for_status()
    return r.json()


def test_the_sidebar_switches_devices_and_shows_the_others_run(server, browser):  # noqa: F811
    s = server.session("user")
    assert s.post(server.url + API, json={"command": "move", "position": 222, "device": "nozzle"}).status_code == 200
    assert s.post(server.url + API, json={"command": "move", "position": 777}).status_code == 200

    page = open_octoprint(browser, server, "user")
    sidebar = page.locator(SIDEBAR)
    select = sidebar.locator("select.pifocus-device-select")
    expect(select).to_be_visible()
    assert [o.strip() for o in select.locator("option").all_text_contents()] == ["Camera", "Nozzle cam"]
    expect(sidebar.locator(".pifocus-position-value")).to_have_text("777")

    select.select_option("nozzle")
    expect(sidebar.locator(".pifocus-position-value")).to_have_text("222")
    # Remembered by this browser.
    page.reload()
    # OctoPrint's UI binds again after the reload: longer than expect's 5 s on a busy machine.
    expect(sidebar.locator(".pifocus-position-value")).to_have_text("222", timeout=PAGE_TIMEOUT)
    expect(sidebar.locator("select.pifocus-device-select")).to_have_value("nozzle")

    # The first device focuses (from the API); the nozzle stays shown, the run shows as a line.
    assert s.post(server.url + API, json={"command": "autofocus"}).status_code == 202
    expect(sidebar.locator(".pifocus-other-running")).to_contain_text("Camera: autofocus", timeout=20_000)
    screenshot(page, "sidebar-devices-other-running.png", SIDEBAR)
    assert sidebar.locator("svg.pifocus-curve circle.pifocus-point").count() == 0  # not the nozzle's curve
    deadline = time.monotonic() + 90
    while api_status(server)["activity"] is not None:
        assert time.monotonic() < deadline
        time.sleep(0.3)
    expect(sidebar.locator(".pifocus-other-running")).to_have_count(0, timeout=10_000)

    # The nozzle's own autofocus, from the sidebar: its result, its curve.
    sidebar.locator("button.pifocus-autofocus-button").click()
    result = sidebar.locator(".pifocus-result")
    expect(result).to_be_visible(timeout=90_000)
    expect(result).to_have_class("alert pifocus-result alert-success")
    nozzle = api_status(server, "nozzle")
    assert nozzle["last_result"]["found"] is True
    assert sidebar.locator("svg.pifocus-curve circle.pifocus-point").count() == len(nozzle["curve"]) > 3
    expect(sidebar.locator(".pifocus-position-value")).to_have_text(f"{nozzle['position']:.0f}")
    assert api_status(server)["last_result"]["position"] != nozzle["last_result"]["position"]
    screenshot(page, "sidebar-devices-nozzle.png", SIDEBAR)
    assert_no_script_errors(page)


def test_set_up_on_a_second_device_without_a_driver_opens_its_own_settings(server, browser):  # noqa: F811
    """The set-up wizard edits the first device: the sidebar's "Set up" for another device
    opens Settings > PiFocus on that device's form, and the first device stays as it was."""
    admin = server.session("admin")

    def save_devices(nozzle: dict) -> None:
        r = admin.post(server.url + "/api/settings", json={"plugins": {"pifocus": {
            "devices": [{"id": "camera", "name": "Camera"}, nozzle]}}}, timeout=10)
        r.raise_for_status()

    first_before = api_status(server)
    save_devices(dict(NOZZLE, driver=""))
    try:
        assert api_status(server, "nozzle")["driver"] == ""
        page = open_octoprint(browser, server, "admin")
        sidebar = page.locator(SIDEBAR)
        sidebar.locator("select.pifocus-device-select").select_option("nozzle")
        setup = sidebar.locator(".pifocus-no-driver button.pifocus-setup-open")
        expect(setup).to_be_visible(timeout=PAGE_TIMEOUT)
        setup.click()
        settings = page.locator("#settings_plugin_pifocus")
        expect(settings).to_be_visible()
        expect(settings.locator("#pifocus-device-name")).to_have_value("Nozzle cam")
        expect(page.locator("#pifocus_setup_dialog")).to_be_hidden()
        after = api_status(server)
        assert (after["driver"], after["position"]) == (first_before["driver"], first_before["position"])
        assert_no_script_errors(page)
    finally:
        save_devices(NOZZLE)
    assert api_status(server, "nozzle")["driver"] == "simulated"
