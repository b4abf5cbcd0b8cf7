"""The focus strip under the Control tab's webcam, in a real browser against a real OctoPrint.

The demo's set-up (``demo_config(microscope=True)``): two focus devices, each with its own
simulated webcam, lens and scene: "Camera" on a simulated VCM (webcam ``pifocus_simulated``)
and "microscope" on the virtual printer's Z (``pifocus_simulated_microscope``). Both webcams
are on the Control tab, behind OctoPrint's webcam selector; the strip under the picture is the
device's whose webcam is shown. Screenshots go to test-artifacts/.
"""
from __future__ import annotations

import time

import pytest
from playwright.sync_api import Page, expect

from octoprint_server import DEFAULT_USERS, DISABLED_PLUGINS, OctoPrintServer, ServerUser, deep_merge, demo_config
from test_browser import (VIEWER, assert_no_script_errors, browser,  # noqa: F401
                          open_octoprint, screenshot)

API = "/api/plugin/pifocus"
STRIPS = "#pifocus_strips"
CAMERA_STRIP = STRIPS + " .pifocus-strip[data-device='camera']"
MICROSCOPE_STRIP = STRIPS + " .pifocus-strip[data-device='microscope']"
ACTIVE_IMAGE = "#webcam_plugins_container .tab-pane.active img"
#: Sees focus (PLUGIN_PIFOCUS_ADMIN: the status, the curve) but may not control it.
OBSERVER = ServerUser("observer", "observer-secret", ("readonly",), permissions=("PLUGIN_PIFOCUS_ADMIN",))
MICROSCOPE_Z = 5.0


@pytest.fixture(scope="module")
def server():
    config = deep_merge(demo_config(microscope=True), {"plugins": {"_disabled": DISABLED_PLUGINS + ["achievements"]}})
    with OctoPrintServer(extra_config=config, users=DEFAULT_USERS + (VIEWER, OBSERVER)) as s:
        # As the demo does: home the printer, so the microscope may move Z; then a known Z.
        admin = s.session("admin")
        r = admin.post(s.url + "/api/printer/printhead", json={"command": "home", "axes": ["x", "y", "z"]}, timeout=10)
        assert r.status_code == 204, r.text
        deadline = time.monotonic() + 30
        while True:
            r = admin.post(s.url + API, json={"command": "move", "position": MICROSCOPE_Z, "device": "microscope"},
                           timeout=30)
            if r.status_code == 200:
                break
            assert time.monotonic() < deadline, r.text  # z_blocked until the homing is seen
            time.sleep(0.5)
        yield s


def api_status(server, device: str = "") -> dict:
    r = server.session("admin").get(server.url + API, params={"device": device} if device else None, timeout=10)
    r.raise_for_status()
    return r.json()


def open_control_tab(browser, server, user: str, width: int, height: int) -> Page:  # noqa: F811
    """OctoPrint in a ``width`` x ``height`` window, logged in as ``user``, on the Control tab
    with the webcam's picture loaded."""
    page = open_octoprint(browser, server, user)
    page.set_viewport_size({"width": width, "height": height})
    page.locator("#control_link a").click()
    expect(page.locator(ACTIVE_IMAGE)).to_be_visible()
    page.wait_for_function("(selector) => { const i = document.querySelector(selector); "
                           "return i && i.naturalWidth > 0; }", arg=ACTIVE_IMAGE)
    return page


def choose_webcam(page: Page, div: str) -> None:
    """Pick a webcam in OctoPrint's selector (its links show over the picture on hover)."""
    page.locator("#webcam_plugins_container").hover()
    page.locator(f"#{div}_link a").click()
    expect(page.locator(f"#{div}")).to_have_class("tab-pane active")


def inside_viewport(box: dict, width: int, height: int) -> bool:
    return box["x"] >= 0 and box["y"] >= 0 and box["x"] + box["width"] <= width and box["y"] + box["height"] <= height


#: Records the strip's number of curve points each time it changes (a MutationObserver sees
#: every update, so nothing depends on polling at the right moment).
WATCH_STRIP = """(selector) => {
    const root = document.querySelector(selector);
    const seen = {counts: [], cancelSeen: false};
    const look = () => {
        const count = root.querySelectorAll('svg.pifocus-curve circle.pifocus-point').length;
        if (seen.counts[seen.counts.length - 1] !== count) seen.counts.push(count);
        const cancel = root.querySelector('.pifocus-strip-cancel');
        if (cancel && cancel.offsetParent !== null) seen.cancelSeen = true;
    };
    new MutationObserver(look).observe(root, {subtree: true, childList: true, attributes: true, characterData: true});
    window.__pifocusStrip = seen;
}"""


def test_the_strip_runs_autofocus_beside_its_webcam_and_follows_the_webcam_choice(server, browser):  # noqa: F811
    page = open_control_tab(browser, server, "user", 1440, 900)
    strip = page.locator(CAMERA_STRIP)
    expect(strip).to_be_visible()
    expect(page.locator(MICROSCOPE_STRIP)).to_have_count(0)  # its webcam is not the one shown
    camera = api_status(server, "camera")
    expect(strip.locator(".pifocus-strip-name")).to_have_text("Camera")
    expect(strip.locator(".pifocus-strip-position-value")).to_have_text(f"{camera['position']:.0f}")
    # Beside the picture: the webcam and the strip both inside a 1440 x 900 window, no scrolling.
    assert page.evaluate("() => window.scrollY") == 0
    image_box, strip_box = page.locator(ACTIVE_IMAGE).bounding_box(), strip.bounding_box()
    assert inside_viewport(image_box, 1440, 900), image_box
    assert inside_viewport(strip_box, 1440, 900), strip_box
    assert strip_box["y"] >= image_box["y"] + image_box["height"] - 1  # under the picture, not over it
    microscope_before = api_status(server, "microscope")

    page.evaluate(WATCH_STRIP, CAMERA_STRIP)
    strip.locator("button.pifocus-strip-autofocus").click()
    page.wait_for_function("(selector) => document.querySelectorAll(selector + ' circle.pifocus-point').length >= 3",
                           arg=CAMERA_STRIP)
    screenshot(page, "strip-control-running-1440x900.png")  # the picture and the curve at once
    result = strip.locator(".pifocus-result")
    expect(result).to_be_visible(timeout=90_000)
    expect(result).to_have_class("alert pifocus-result alert-success")
    seen = page.evaluate("window.__pifocusStrip")

    camera = api_status(server, "camera")
    assert camera["last_result"]["found"] is True and not camera["busy"], camera
    # The curve grew point by point while the run went on (Cancel in place of Autofocus meanwhile).
    assert seen["cancelSeen"], seen
    growth = [c for c in seen["counts"] if c > 0]
    assert len(growth) >= 4 and growth == sorted(growth), seen
    assert strip.locator("svg.pifocus-curve circle.pifocus-point").count() == len(camera["curve"]) > 3
    expect(strip.locator(".pifocus-strip-position-value")).to_have_text(f"{camera['position']:.0f}")
    expect(strip.locator(".pifocus-result-title")).to_contain_text(f"{camera['last_result']['position']:.0f}")
    screenshot(page, "strip-control-1440x900.png")
    # The other device did not run.
    microscope = api_status(server, "microscope")
    assert microscope["last_result"] == microscope_before["last_result"] is None
    assert microscope["curve"] == microscope_before["curve"] == []

    # The microscope's webcam chosen: its strip, its position in mm, no curve and no result.
    choose_webcam(page, "webcam_plugin_pifocus_2")
    micro = page.locator(MICROSCOPE_STRIP)
    expect(micro).to_be_visible()
    expect(page.locator(CAMERA_STRIP)).to_have_count(0)
    expect(micro.locator(".pifocus-strip-name")).to_have_text("microscope")
    expect(micro.locator(".pifocus-strip-position-value")).to_have_text(f"{MICROSCOPE_Z:.2f}")
    expect(micro.locator(".pifocus-strip-position-units")).to_have_text("mm")
    assert micro.locator("svg.pifocus-curve circle.pifocus-point").count() == 0
    expect(micro.locator(".pifocus-result")).to_be_hidden()
    expect(page.locator("#webcam_plugin_pifocus_2 img")).to_be_visible()
    screenshot(page, "strip-control-microscope-1440x900.png")

    # Back to the first webcam: its strip as it was.
    choose_webcam(page, "webcam_plugin_pifocus")
    expect(page.locator(CAMERA_STRIP + " .pifocus-result")).to_have_class("alert pifocus-result alert-success")
    assert page.locator(CAMERA_STRIP + " svg.pifocus-curve circle.pifocus-point").count() == len(camera["curve"])
    assert_no_script_errors(page)
    page.context.close()


def test_the_strip_fits_a_phone_with_touch_sized_buttons(server, browser):  # noqa: F811
    page = open_control_tab(browser, server, "user", 390, 844)
    strip = page.locator(CAMERA_STRIP)
    expect(strip).to_be_visible()
    autofocus = strip.locator("button.pifocus-strip-autofocus")
    expect(autofocus).to_be_visible()
    button = autofocus.bounding_box()
    assert button["height"] >= 40 and button["width"] >= 40, button
    # Stacked: the curve under the controls, as wide as the strip allows.
    head, plot = strip.locator(".pifocus-strip-head").bounding_box(), strip.locator(".pifocus-plot").bounding_box()
    assert plot["y"] >= head["y"] + head["height"] - 1, (head, plot)
    # Nothing of the strip sticks out of it, and the strip stays inside the Control tab.
    assert page.evaluate("(selector) => { const s = document.querySelector(selector); "
                         "return s.scrollWidth <= s.clientWidth; }", CAMERA_STRIP)
    control = page.locator("#control").bounding_box()
    box = strip.bounding_box()
    assert control["x"] - 1 <= box["x"], (control, box)
    assert box["x"] + box["width"] <= control["x"] + control["width"] + 1, (control, box)
    # The strip adds no sideways scrolling (OctoPrint's own fixed-width layout is what it is).
    with_strip = page.evaluate("() => document.documentElement.scrollWidth")
    page.evaluate(f"() => document.querySelector({STRIPS!r}).style.display = 'none'")
    without_strip = page.evaluate("() => document.documentElement.scrollWidth")
    page.evaluate(f"() => document.querySelector({STRIPS!r}).style.display = ''")
    assert with_strip == without_strip, (with_strip, without_strip)
    page.evaluate(f"() => document.querySelector({CAMERA_STRIP!r}).scrollIntoView()")
    screenshot(page, "strip-control-390x844.png")
    assert_no_script_errors(page)
    page.context.close()


def test_users_who_may_not_control_the_focus_get_no_autofocus_button(server, browser):  # noqa: F811
    # Read-only (no PiFocus permission): the webcam, but no strip at all.
    page = open_control_tab(browser, server, VIEWER.name, 1440, 900)
    expect(page.locator(STRIPS)).to_have_attribute("data-loaded", "true")  # asked, refused
    expect(page.locator("#webcam_plugins_container")).to_be_visible()  # the webcam is there
    expect(page.locator(STRIPS + " .pifocus-strip")).to_have_count(0)
    expect(page.locator("button.pifocus-strip-autofocus")).to_have_count(0)
    page.context.close()

    # Sees focus (PiFocus administration) but may not control it: the strip without buttons.
    page = open_control_tab(browser, server, OBSERVER.name, 1440, 900)
    strip = page.locator(CAMERA_STRIP)
    expect(strip).to_be_visible()
    camera = api_status(server, "camera")
    expect(strip.locator(".pifocus-strip-position-value")).to_have_text(f"{camera['position']:.0f}")
    expect(strip.locator("button.pifocus-strip-autofocus")).to_be_hidden()
    expect(strip.locator("button.pifocus-strip-cancel")).to_be_hidden()
    screenshot(page, "strip-control-observer.png", STRIPS)
    assert_no_script_errors(page)
    page.context.close()


def test_a_device_reading_a_camera_url_has_no_strip(server, browser):  # noqa: F811
    # The microscope reads a camera URL instead of its OctoPrint webcam: it is bound to no webcam.
    url = "http://127.0.0.1:9/microscope.jpg"
    r = server.session("admin").post(server.url + "/api/settings", json={"plugins": {"pifocus": {"devices": [
        {"id": "camera"}, {"id": "microscope", "camera": {"url": url}}]}}}, timeout=10)
    assert r.status_code == 200, r.text
    assert api_status(server, "microscope")["webcam"] is None
    assert api_status(server, "camera")["webcam"] == "pifocus_simulated"  # OctoPrint's snapshot webcam

    page = open_control_tab(browser, server, "user", 1440, 900)
    expect(page.locator(CAMERA_STRIP)).to_be_visible()
    choose_webcam(page, "webcam_plugin_pifocus_2")
    expect(page.locator("#webcam_plugin_pifocus_2 img")).to_be_visible()
    expect(page.locator(STRIPS)).to_be_hidden()
    assert page.locator(MICROSCOPE_STRIP).count() == 0 and page.locator(CAMERA_STRIP).count() == 0
    assert_no_script_errors(page)
    page.context.close()
