"""Settings > PiFocus with several focus devices, in a real browser against a real OctoPrint.

The device list: Add, Rename, Duplicate and Remove, saved through OctoPrint's Save, with the
sidebar's device selector following; Detect's "Add this device"; a device whose webcam is gone
from OctoPrint (the notice, the stored name kept); and a refused Save (issue 10): while the
backend would refuse a value, Save keeps the dialog open on this page with the message next to
the field, and every other edit stays. Screenshots go to test-artifacts/.
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from octoprint_server import DEFAULT_USERS, DISABLED_PLUGINS, OctoPrintServer, deep_merge, demo_config
from test_browser import SIDEBAR, assert_no_script_errors, browser, open_octoprint, screenshot  # noqa: F401

SETTINGS = "#settings_plugin_pifocus"
DIALOG = "#settings_dialog"
#: A device whose webcam (a USB camera's, say) OctoPrint no longer lists.
OLD_USB = {"id": "oldusb", "name": "Old USB cam", "driver": "simulated",
           "camera": {"webcam": "usb_cam_unplugged", "settle": 0.3}}


@pytest.fixture(scope="module")
def server():
    config = deep_merge(demo_config(), {"plugins": {
        "_disabled": DISABLED_PLUGINS + ["achievements"],
        "pifocus": {"devices": [{"id": "camera", "name": "Camera"}, OLD_USB]}}})
    with OctoPrintServer(extra_config=config, users=DEFAULT_USERS) as s:
        yield s


def devices(server) -> list:
    return server.plugin_settings("pifocus")["devices"]


def open_settings(page: Page):
    page.locator("#navbar_show_settings").click()
    page.locator("#settings_plugin_pifocus_link a").click()
    settings = page.locator(SETTINGS)
    expect(settings).to_be_visible()
    expect(settings.locator("tr.pifocus-device-row").first).to_be_visible()
    return settings


def row(settings, name: str):
    return settings.locator("tr.pifocus-device-row", has=settings.page.locator(
        "a.pifocus-device-open", has_text=re.compile("^" + re.escape(name) + "$")))


def save(page: Page) -> None:
    page.locator('[data-test-id="settings-save"]').click()
    # A check, the save, OctoPrint's reload of its settings: slow on a loaded machine.
    try:
        expect(page.locator(DIALOG)).to_be_hidden(timeout=20_000)
    except AssertionError:
        screenshot(page, "pifocus-settings-save-failed.png", DIALOG)
        raise


def selector_names(page: Page, count: int) -> list:
    select = page.locator(f"{SIDEBAR} select.pifocus-device-select")
    expect(select.locator("option")).to_have_count(count, timeout=20_000)
    return [o.strip() for o in select.locator("option").all_text_contents()]


def test_devices_are_added_renamed_duplicated_and_removed_and_the_sidebar_follows(server, browser):  # noqa: F811
    page = open_octoprint(browser, server, "admin")
    assert selector_names(page, 2) == ["Camera", "Old USB cam"]
    settings = open_settings(page)
    expect(settings.locator("tr.pifocus-device-row")).to_have_count(2)
    expect(row(settings, "Camera").locator(".pifocus-device-driver")).to_have_text("Simulated lens (demo)")

    # Add: a new device, opened in the form with its name to type.
    settings.locator("button.pifocus-device-add").click()
    expect(settings.locator("tr.pifocus-device-row")).to_have_count(3)
    name = settings.locator("#pifocus-device-name")
    expect(name).to_be_focused()
    name.fill("Nozzle cam")
    settings.locator("#pifocus-driver").select_option("simulated")
    expect(row(settings, "Nozzle cam").locator(".pifocus-device-driver")).to_have_text("Simulated lens (demo)")
    screenshot(page, "pifocus-settings-devices-added.png", DIALOG)
    save(page)
    saved = devices(server)
    assert [d["name"] for d in saved] == ["Camera", "Old USB cam", "Nozzle cam"]
    nozzle_id = saved[2]["id"]
    assert re.fullmatch(r"[0-9a-f]{8}", nozzle_id) and saved[2]["driver"] == "simulated"
    assert selector_names(page, 3) == ["Camera", "Old USB cam", "Nozzle cam"]

    # Rename keeps the id; Duplicate copies the settings under a new name and id.
    settings = open_settings(page)
    row(settings, "Nozzle cam").locator("button.pifocus-device-rename").click()
    expect(name).to_be_focused()
    name.fill("Hotend cam")
    expect(row(settings, "Hotend cam")).to_have_count(1)
    row(settings, "Camera").locator("button.pifocus-device-duplicate").click()
    expect(name).to_have_value("Camera copy")
    settings.locator("#pifocus-camera-settle").fill("0.6")
    settings.locator("#pifocus-camera-settle").dispatch_event("change")
    save(page)
    saved = devices(server)
    assert [(d["id"], d["name"]) for d in saved][2] == (nozzle_id, "Hotend cam")
    copy = saved[3]
    assert copy["name"] == "Camera copy" and copy["id"] not in ("camera", "oldusb", nozzle_id)
    assert copy["driver"] == saved[0]["driver"] and copy["roi"] == saved[0]["roi"]
    assert copy["camera"]["settle"] == 0.6 and saved[0]["camera"]["settle"] != 0.6
    assert copy["presets"] == []
    assert selector_names(page, 4) == ["Camera", "Old USB cam", "Hotend cam", "Camera copy"]

    # A name another device has (without case) is refused next to the name field; Save stops.
    settings = open_settings(page)
    row(settings, "Camera copy").locator("button.pifocus-device-rename").click()
    name.fill("hotend CAM")
    message = settings.locator(".control-group.error .pifocus-field-error")
    expect(message).to_contain_text("Two focus devices are named")
    page.locator('[data-test-id="settings-save"]').click()
    expect(page.locator(DIALOG)).to_be_visible()
    expect(message).to_contain_text("Two focus devices are named")
    name.fill("Bed cam")
    expect(message).to_have_count(0)

    # Remove asks first and says what goes; the last device cannot be removed.
    row(settings, "Bed cam").locator("button.pifocus-device-remove").click()
    confirm = page.locator(".modal.pifocus-remove-device-dialog")
    expect(confirm).to_be_visible()
    expect(confirm).to_contain_text("Bed cam")
    expect(confirm).to_contain_text("removed when you save")
    screenshot(page, "pifocus-settings-device-remove.png", ".modal.pifocus-remove-device-dialog")
    confirm.locator(".btn-danger").click()
    expect(settings.locator("tr.pifocus-device-row")).to_have_count(3)
    save(page)
    assert [d["name"] for d in devices(server)] == ["Camera", "Old USB cam", "Hotend cam"]
    assert selector_names(page, 3) == ["Camera", "Old USB cam", "Hotend cam"]
    assert_no_script_errors(page)
    page.context.close()


def test_detect_adds_the_device_it_found(server, browser):  # noqa: F811
    page = open_octoprint(browser, server, "admin")
    settings = open_settings(page)
    count = settings.locator("tr.pifocus-device-row").count()
    settings.locator("a.pifocus-device-open").first.click()
    settings.locator("button.pifocus-detect").click()
    found = settings.locator(".pifocus-devices tbody tr", has=page.locator("i.fa-check")).first
    expect(found).to_be_visible(timeout=15_000)
    expect(found.locator("button.pifocus-device-use-button")).to_be_visible()
    found.locator("button.pifocus-device-add-found").click()
    expect(settings.locator("tr.pifocus-device-row")).to_have_count(count + 1)
    expect(settings.locator("#pifocus-device-name")).to_have_value("Simulated camera")
    expect(settings.locator("#pifocus-driver")).to_have_value("simulated")
    # Its own simulated webcam, which OctoPrint lists once the device is saved: not "gone".
    expect(settings.locator(".pifocus-camera-missing")).to_be_hidden()
    screenshot(page, "pifocus-settings-detect-added.png", DIALOG)
    save(page)
    added = devices(server)[-1]
    assert added["name"] == "Simulated camera" and added["driver"] == "simulated"
    assert added["camera"]["webcam"] == "pifocus_simulated_" + added["id"]
    assert selector_names(page, count + 1)[-1] == "Simulated camera"
    webcams = server.session("admin").get(server.url + "/api/settings", timeout=10).json()["webcam"]["webcams"]
    assert "pifocus_simulated_" + added["id"] in [w["name"] for w in webcams]
    assert_no_script_errors(page)
    page.context.close()


def test_a_device_whose_webcam_is_gone_says_so_and_keeps_the_name(server, browser):  # noqa: F811
    page = open_octoprint(browser, server, "admin")
    settings = open_settings(page)
    old = row(settings, "Old USB cam")
    expect(old.locator(".pifocus-device-camera-missing")).to_contain_text(
        "The webcam usb_cam_unplugged is gone from OctoPrint; choose another camera")
    old.locator("a.pifocus-device-open").click()
    expect(settings.locator(".pifocus-camera-missing")).to_be_visible()
    source = settings.locator("#pifocus-camera-source")
    expect(source).to_have_value("usb_cam_unplugged")  # not replaced by the first webcam
    expect(source.locator("option:checked")).to_have_text("usb_cam_unplugged (gone from OctoPrint)")
    screenshot(page, "pifocus-settings-webcam-gone.png", DIALOG)
    # Another edit of this device, saved: the webcam's name stays as stored.
    settings.locator("#pifocus-camera-discard").fill("2")
    settings.locator("#pifocus-camera-discard").dispatch_event("change")
    save(page)
    old = next(d for d in devices(server) if d["id"] == "oldusb")
    assert old["camera"]["webcam"] == "usb_cam_unplugged" and old["camera"]["discard"] == 2
    status = server.session("user").get(server.url + "/api/plugin/pifocus", params={"device": "oldusb"},
                                        timeout=10).json()
    assert status["camera_missing"] == "usb_cam_unplugged"
    assert_no_script_errors(page)
    page.context.close()


def test_a_refused_save_keeps_the_dialog_open_with_every_edit(server, browser):  # noqa: F811
    page = open_octoprint(browser, server, "admin")
    before = devices(server)
    settings = open_settings(page)
    row(settings, "Camera").locator("a.pifocus-device-open").click()
    settings.locator("#pifocus-measure").select_option("brenner")
    discard = settings.locator("#pifocus-camera-discard")
    discard.fill("3")
    discard.dispatch_event("change")
    settle = settings.locator("#pifocus-camera-settle")
    settle.fill("-1")
    # Another device's edit, then Save at once (the live check may not have answered yet).
    row(settings, "Hotend cam").locator("a.pifocus-device-open").click()
    settings.locator("#pifocus-camera-settle").fill("0.45")
    settings.locator("#pifocus-camera-settle").dispatch_event("change")
    page.locator('[data-test-id="settings-save"]').click()

    # Still open, on PiFocus's page, showing the device with the bad value and the message
    # next to the field in the field's words; nothing was saved.
    expect(settings.locator("#pifocus-device-name")).to_have_value("Camera")
    group = settings.locator(".control-group.error", has=page.locator("#pifocus-camera-settle"))
    expect(group.locator(".pifocus-field-error")).to_have_text("Settle time must be at least 0, not -1")
    expect(page.locator(DIALOG)).to_be_visible()
    expect(settings).to_be_visible()
    expect(settle).to_have_value("-1")
    expect(discard).to_have_value("3")
    expect(settings.locator("#pifocus-measure")).to_have_value("brenner")
    assert page.locator(".ui-pnotify").filter(has_text="camera.settle").count() == 0
    # No browser bubbles either: the page's forms leave checking to the backend's rules.
    assert settings.locator("form").count() > 0 and settings.locator("form:not([novalidate])").count() == 0
    screenshot(page, "pifocus-settings-refused-save.png", DIALOG)
    assert devices(server) == before

    # Corrected, saved: every edit arrives, the other device's too.
    settle.fill("0.5")
    settle.dispatch_event("change")
    save(page)
    after = {d["id"]: d for d in devices(server)}
    assert after["camera"]["camera"]["settle"] == 0.5 and after["camera"]["camera"]["discard"] == 3
    assert after["camera"]["measure"] == "brenner"
    hotend = next(d for d in after.values() if d["name"] == "Hotend cam")
    assert hotend["camera"]["settle"] == 0.45
    assert_no_script_errors(page)
    page.context.close()


def test_the_wait_after_a_move_switches_to_a_fixed_settle_and_back(server, browser):  # noqa: F811
    """Issue 12 §2's "Wait after a move": Fixed keeps the settle time field at hand and saves
    ``camera.settle_mode: manual`` with the number typed; Measured saves ``auto`` again and
    keeps that number for a stream not measured yet."""
    page = open_octoprint(browser, server, "admin")
    settings = open_settings(page)
    row(settings, "Camera").locator("a.pifocus-device-open").click()
    mode = settings.locator("#pifocus-camera-settle-mode")
    expect(mode).to_have_value("auto")
    mode.select_option("manual")
    settle = settings.locator("#pifocus-camera-settle")
    expect(settle).to_be_visible()
    settle.fill("0.4")
    settle.dispatch_event("change")
    save(page)
    camera = next(d for d in devices(server) if d["id"] == "camera")["camera"]
    assert camera["settle_mode"] == "manual" and camera["settle"] == 0.4

    settings = open_settings(page)
    row(settings, "Camera").locator("a.pifocus-device-open").click()
    expect(settings.locator("#pifocus-camera-settle-mode")).to_have_value("manual")
    expect(settings.locator("#pifocus-camera-settle")).to_have_value("0.4")
    settings.locator("#pifocus-camera-settle-mode").select_option("auto")
    save(page)
    camera = next(d for d in devices(server) if d["id"] == "camera")["camera"]
    assert camera["settle_mode"] == "auto" and camera["settle"] == 0.4
    assert_no_script_errors(page)
    page.context.close()
