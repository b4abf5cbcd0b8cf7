"""The drift watch in the sidebar, in a real browser against a real OctoPrint: the sharpness
trace with its baseline and threshold, the alert when the focus drifts behind PiFocus's back
(``simulation.focus`` moved through the settings), and the drift mark on the trace.
Playwright drives Debian's Chromium (fixtures of test_browser.py)."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from octoprint_server import DEFAULT_USERS, DISABLED_PLUGINS, OctoPrintServer, deep_merge, demo_config
from test_browser import (SIDEBAR, assert_no_script_errors, browser, open_octoprint,  # noqa: F401
                          open_pifocus_settings, screenshot)
from test_browser_sidebar import post, status, wait_idle


@pytest.fixture(scope="module", autouse=True)
def patient_expect():
    expect.set_options(timeout=60_000)
    yield
    expect.set_options(timeout=5_000)


@pytest.fixture(scope="module")
def server():
    # Watching always (no print needed), a look every 2 s, alerts only.
    config = deep_merge(demo_config(), {"plugins": {
        "_disabled": DISABLED_PLUGINS + ["achievements"],
        "pifocus": {"drift": {"watch": "always", "interval": 2, "action": "notify"}}}})
    with OctoPrintServer(extra_config=config, users=DEFAULT_USERS) as s:
        yield s


def test_the_sidebar_draws_the_trace_and_tells_of_a_drift(server, browser):  # noqa: F811
    post(server, "autofocus")
    focused = wait_idle(server)
    assert focused["last_result"]["found"]
    page = open_octoprint(browser, server, "user")
    sidebar = page.locator(SIDEBAR)
    drift = sidebar.locator(".pifocus-drift")
    expect(drift.locator(".pifocus-drift-state")).to_have_text("In focus.")
    trace = drift.locator("svg.pifocus-drift-trace")
    expect(trace).to_be_visible()
    # A horizontal line has no height, which Playwright calls hidden: check it is drawn instead.
    baseline = trace.locator(".pifocus-drift-baseline")
    expect(baseline).to_have_attribute("y1", re.compile(r"^\d+(\.\d+)?$"))
    assert baseline.evaluate("e => getComputedStyle(e).display") != "none"
    assert len(trace.locator(".pifocus-drift-line").get_attribute("points").split()) >= 2
    # The baseline line sits above the threshold line (SVG y grows downwards).
    assert float(trace.locator(".pifocus-drift-baseline").get_attribute("y1")) < \
        float(trace.locator(".pifocus-drift-threshold").get_attribute("y1"))

    r = server.session("admin").post(server.url + "/api/settings", json={"plugins": {"pifocus": {
        "simulation": {"focus": focused["simulation"]["focus"] + 80}}}}, timeout=10)
    assert r.status_code == 200, r.text
    alert = page.locator(".ui-pnotify", has_text="focus drift")
    expect(alert).to_be_visible()
    expect(alert).to_contain_text("Camera is out of focus")
    expect(drift.locator(".pifocus-drift-state")).to_contain_text("Out of focus")
    expect(trace.locator(".pifocus-drift-mark[data-kind='drift']")).to_have_count(1)
    expect(trace.locator(".pifocus-drift-mark[data-kind='drift']")).to_have_attribute("x1", re.compile(r"\d"))
    assert status(server)["drift"]["state"] == "drift"
    screenshot(page, "pifocus-sidebar-drift.png", "#sidebar_plugin_pifocus_wrapper")
    assert_no_script_errors(page)
    page.context.close()


def test_the_drop_that_counts_as_a_drift_is_on_the_form_and_saves(server, browser):  # noqa: F811
    """``drift.drop`` on the device form: shown with the stored value, saved through
    OctoPrint's Save, and a value out of range refused next to the field, the stored one kept."""
    page = open_octoprint(browser, server, "admin")
    open_pifocus_settings(page)
    settings = page.locator("#settings_plugin_pifocus")
    field = page.locator("#pifocus-drift-drop")
    expect(field).to_be_visible()
    expect(field).to_have_value("0.2")
    field.fill("1.5")
    field.dispatch_event("change")
    page.locator('[data-test-id="settings-save"]').click()
    error = settings.locator(".control-group", has=field).locator(".pifocus-field-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("Drop that counts as a drift")
    assert server.plugin_settings("pifocus")["drift"]["drop"] == 0.2
    field.fill("0.35")
    field.dispatch_event("change")
    page.locator('[data-test-id="settings-save"]').click()
    expect(page.locator("#settings_dialog")).to_be_hidden()
    assert server.plugin_settings("pifocus")["drift"]["drop"] == 0.35
    assert_no_script_errors(page)
    page.context.close()
