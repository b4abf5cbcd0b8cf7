"""The PiFocus UI in a real browser: Playwright driving Debian's Chromium against a real OctoPrint.

One OctoPrint for the module (demo configuration: PiFocus on its simulated camera and lens),
one headless Chromium, a fresh browser context (cookies) per test. The tests click what a
user clicks and check the page against the plugin's API:

- the sidebar's Autofocus: the progress bar and phase appear, the curve grows point by point
  from the pushed progress messages, the result and the position shown are the API's;
- Go, the nudges, the slider, presets (save, apply, delete) and Cancel during a run;
- Settings > PiFocus: a bad value is flagged while editing, Test reports on the lens, a
  rectangle dragged on the snapshot becomes ``roi`` after Save, and the region is drawn
  over the Control tab's webcam;
- a user without PiFocus's permission sees every control disabled, with the reason as tooltip
  (``viewer``, in OctoPrint's read-only group: OctoPrint's guests may not open the UI at all);
- the German translation reaches both the Jinja templates and the JavaScript.

Chromium comes from Debian (``apt install chromium``, see scripts/system-deps.sh), never from
``playwright install``. Screenshots go to test-artifacts/.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from octoprint_server import DEFAULT_USERS, DISABLED_PLUGINS, OctoPrintServer, ServerUser, deep_merge, demo_config

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = os.environ.get("PIFOCUS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

SIDEBAR = "#sidebar_plugin_pifocus"
#: OctoPrint loads, binds its view models, then the sidebar asks the API for the status.
PAGE_TIMEOUT = 30_000


#: OctoPrint's read-only group: the UI and the webcam, no PLUGIN_PIFOCUS_CONTROL.
VIEWER = ServerUser("viewer", "viewer-secret", ("readonly",))


@pytest.fixture(scope="module")
def server():
    # Achievements off: their pop-ups would cover the page in the screenshots.
    config = deep_merge(demo_config(), {"plugins": {"_disabled": DISABLED_PLUGINS + ["achievements"]}})
    with OctoPrintServer(extra_config=config, users=DEFAULT_USERS + (VIEWER,)) as server:
        yield server


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        raise FileNotFoundError(
            f"{CHROMIUM} is missing: install Debian's chromium package (scripts/system-deps.sh) "
            "or point PIFOCUS_CHROMIUM at a Chromium binary")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def open_octoprint(browser, server: OctoPrintServer, user: str, query: str = "") -> Page:
    """OctoPrint's page, logged in as ``user``, once the PiFocus sidebar is bound."""
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    context.add_cookies(server.login_cookies(user))
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.pifocus_errors = errors  # type: ignore[attr-defined]
    page.set_default_timeout(PAGE_TIMEOUT)
    page.goto(server.url + "/" + query)
    # The first load builds OctoPrint's asset bundles: slower than expect's default 5 s.
    expect(page.locator(SIDEBAR)).to_be_visible(timeout=PAGE_TIMEOUT)
    return page


def assert_no_script_errors(page: Page) -> None:
    errors = [e for e in page.pifocus_errors if "pifocus" in e.lower()]  # type: ignore[attr-defined]
    assert not errors, errors


def api_status(server: OctoPrintServer, user: str = "admin") -> dict:
    r = server.session(user).get(server.url + "/api/plugin/pifocus", timeout=10)
    r.raise_for_status()
    return r.json()


def screenshot(page: Page, name: str, selector: str = "") -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    (page.locator(selector) if selector else page).screenshot(path=str(path))
    return path


#: Records what the sidebar showed during a run (a MutationObserver sees every DOM update, so
#: nothing depends on polling at the right moment): whether the progress bar was visible,
#: the phases shown and the number of curve points each time the plot changed.
WATCH_RUN = """() => {
    const root = document.querySelector('#sidebar_plugin_pifocus');
    const seen = {progressVisible: false, phases: [], pointCounts: [], widths: []};
    const look = () => {
        const progress = root.querySelector('.pifocus-progress');
        const visible = progress && progress.offsetParent !== null;
        if (visible) {
            seen.progressVisible = true;
            // "Fine search, 7 frames": the phase is what comes before the comma.
            const phase = root.querySelector('.pifocus-phase').textContent.split(',')[0].trim();
            if (phase && seen.phases[seen.phases.length - 1] !== phase) seen.phases.push(phase);
            const width = root.querySelector('.pifocus-progress .bar').style.width;
            if (seen.widths[seen.widths.length - 1] !== width) seen.widths.push(width);
        }
        const count = root.querySelectorAll('svg.pifocus-curve circle.pifocus-point').length;
        if (visible && seen.pointCounts[seen.pointCounts.length - 1] !== count) seen.pointCounts.push(count);
    };
    new MutationObserver(look).observe(root, {subtree: true, childList: true, attributes: true, characterData: true});
    window.__pifocusSeen = seen;
}"""


def test_autofocus_from_the_sidebar_draws_the_curve_and_shows_the_result(server, browser):
    page = open_octoprint(browser, server, "user")
    sidebar = page.locator(SIDEBAR)
    autofocus = sidebar.locator("button.pifocus-autofocus-button")
    expect(autofocus).to_be_enabled()
    before = api_status(server)
    expect(sidebar.locator(".pifocus-position-value")).to_have_text(f"{before['position']:.0f}")

    page.evaluate(WATCH_RUN)
    autofocus.click()
    result = sidebar.locator(".pifocus-result")
    expect(result).to_be_visible(timeout=60_000)
    expect(result).to_have_class("alert pifocus-result alert-success")
    seen = page.evaluate("window.__pifocusSeen")

    status = api_status(server)
    assert not status["busy"] and status["last_result"]["found"], status
    # The progress bar showed the phases of the search as it ran.
    assert seen["progressVisible"], seen
    assert {"Coarse search", "Fine search"} <= set(seen["phases"]), seen
    assert seen["phases"][0] == "Coarse search", seen
    assert len(seen["widths"]) >= 3, seen
    # The curve grew point by point while the run was going (pushed progress messages).
    growing = [n for n in seen["pointCounts"] if n > 0]
    assert len(growing) >= 4 and growing == sorted(growing), seen
    # Every frame of the run is a point; the line goes through them and the peak is marked.
    points = sidebar.locator("svg.pifocus-curve circle.pifocus-point")
    assert points.count() == len(status["curve"]) > 3
    path = sidebar.locator("svg.pifocus-curve path.pifocus-line").get_attribute("d")
    assert path.count("L") >= 3, path
    expect(sidebar.locator("svg.pifocus-curve circle.pifocus-peak")).to_have_count(1)

    # The position shown is the API's, and it is where the run ended.
    position = f"{status['position']:.0f}"
    assert status["position"] == status["last_result"]["position"]
    expect(sidebar.locator(".pifocus-position-value")).to_have_text(position)
    expect(sidebar.locator(".pifocus-result-title")).to_have_text(f"In focus at {position} VCM steps")
    expect(sidebar.locator("svg.pifocus-curve .pifocus-peak-label")).to_have_text(position)
    details = sidebar.locator(".pifocus-result-details").inner_text()
    assert f"{status['last_result']['captures']} frames" in details, details
    expect(autofocus).to_be_enabled()

    shot = screenshot(page, "pifocus-sidebar-autofocus.png", "#sidebar_plugin_pifocus_wrapper")
    assert shot.stat().st_size > 10_000
    screenshot(page, "pifocus-page-after-autofocus.png")
    assert_no_script_errors(page)
    page.context.close()


def test_a_run_started_by_gcode_shows_live_in_an_open_sidebar(server, browser):
    """@PIFOCUS AUTOFOCUS in a printed file: nobody clicked, the open page still shows the run
    (progress, growing curve, result) and a notification when the held print goes on."""
    page = open_octoprint(browser, server, "user")
    sidebar = page.locator(SIDEBAR)
    expect(sidebar.locator("button.pifocus-autofocus-button")).to_be_enabled()
    page.evaluate(WATCH_RUN)
    before = api_status(server)["last_result"]

    admin = server.session("admin")
    gcode = "G90\nG1 X10 F6000\n@PIFOCUS AUTOFOCUS\nG1 X20 F6000\nM400\n"
    r = admin.post(server.url + "/api/files/local", files={"file": ("focus.gcode", gcode)},
                   data={"print": "true"}, timeout=10)
    assert r.status_code == 201, r.text
    try:
        notice = page.locator(".ui-pnotify .alert-success", has_text="@PIFOCUS AUTOFOCUS done")
        expect(notice).to_be_visible(timeout=60_000)
        result = sidebar.locator(".pifocus-result")
        expect(result).to_have_class("alert pifocus-result alert-success")
        seen = page.evaluate("window.__pifocusSeen")
        assert seen["progressVisible"], seen
        assert len([n for n in seen["pointCounts"] if n > 0]) >= 4, seen
        status = api_status(server)
        assert status["last_result"] != before and status["last_result"]["found"], status
        expect(sidebar.locator(".pifocus-position-value")).to_have_text(f"{status['position']:.0f}")
        screenshot(page, "pifocus-sidebar-gcode-autofocus.png", "#sidebar_plugin_pifocus_wrapper")
    finally:
        deadline = time.monotonic() + 30
        while server.printer_state(admin) != "Operational" and time.monotonic() < deadline:
            time.sleep(0.2)
    assert server.printer_state(admin) == "Operational"
    assert_no_script_errors(page)
    page.context.close()


def test_moving_by_hand_presets_and_cancel(server, browser):
    page = open_octoprint(browser, server, "user")
    sidebar = page.locator(SIDEBAR)
    shown = sidebar.locator(".pifocus-position-value")

    def moved_to(position: int) -> None:
        expect(shown).to_have_text(str(position))
        assert api_status(server)["position"] == position

    # The number field and Go.
    sidebar.locator("input.pifocus-target").fill("500")
    sidebar.locator("button.pifocus-go").click()
    moved_to(500)
    # Nudges: fine is 1 % of the range 0..1023 (10 codes), coarse 5 % (51), as labelled.
    nudges = sidebar.locator(".pifocus-nudge button")
    expect(nudges).to_have_text(["−51", "−10", "+10", "+51"])
    nudges.nth(2).click()
    moved_to(510)
    nudges.nth(0).click()
    moved_to(459)
    # The slider moves the lens when released (fill sets it and fires input and change).
    sidebar.locator("input.pifocus-slider").fill("600")
    moved_to(600)

    # Presets: save the current position, go elsewhere, apply, delete.
    sidebar.locator(".pifocus-preset-save input").fill("bed")
    sidebar.locator(".pifocus-preset-save button").click()
    preset = sidebar.locator(".pifocus-preset")
    expect(preset).to_have_count(1)
    expect(preset.locator(".pifocus-preset-name")).to_have_text("bed")
    expect(preset.locator(".pifocus-preset-position")).to_have_text("600")
    sidebar.locator("input.pifocus-target").fill("100")
    sidebar.locator("button.pifocus-go").click()
    moved_to(100)
    preset.locator("button.pifocus-preset-apply").click()
    moved_to(600)
    preset.locator("button.pifocus-preset-delete").click()
    page.locator(".pifocus-confirm-delete .btn-danger").click()  # it asks first
    expect(preset).to_have_count(0)
    assert api_status(server)["presets"] == []

    # Cancel while the autofocus runs: the lens goes back to where it started.
    sidebar.locator("button.pifocus-autofocus-button").click()
    cancel = sidebar.locator("button.pifocus-cancel")
    expect(cancel).to_be_visible()
    expect(sidebar.locator("svg.pifocus-curve circle.pifocus-point").first).to_be_visible()
    cancel.click()
    result = sidebar.locator(".pifocus-result")
    expect(result).to_have_class("alert pifocus-result alert-warning", timeout=30_000)
    expect(sidebar.locator(".pifocus-result-title")).to_have_text("Autofocus cancelled")
    expect(sidebar.locator(".pifocus-result-message")).to_have_text(
        "The lens is back where it started, at 600 VCM steps.")
    moved_to(600)
    assert api_status(server)["last_result"]["cancelled"] is True
    assert_no_script_errors(page)
    page.context.close()


def test_user_without_the_permission_sees_one_line_saying_so(server, browser):
    """The status API answers a read-only user 403: no position, no presets to show. The panel
    is the one line that says why, not empty controls and a "No presets yet" that is not true."""
    r = server.session("user").post(server.url + "/api/plugin/pifocus",
                                    json={"command": "preset_save", "name": "seen", "position": 300}, timeout=10)
    assert r.status_code == 200, r.text
    try:
        page = open_octoprint(browser, server, VIEWER.name)
        sidebar = page.locator(SIDEBAR)
        reason = sidebar.locator(".pifocus-reason")
        expect(reason).to_be_visible()
        expect(reason).to_have_text(
            'You do not have the "PiFocus: Focus control" permission. Ask an administrator to grant it.')
        expect(sidebar.locator(".pifocus-controls")).to_be_hidden()
        for hidden in (".pifocus-presets-empty", ".pifocus-position-value", "input.pifocus-slider",
                       "button.pifocus-autofocus-button", "svg.pifocus-curve"):
            expect(sidebar.locator(hidden)).to_be_hidden()
    finally:
        server.session("user").post(server.url + "/api/plugin/pifocus",
                                    json={"command": "preset_delete", "name": "seen"}, timeout=10)

    # The API agrees: no PiFocus permission.
    r = server.session(VIEWER.name).get(server.url + "/api/plugin/pifocus", timeout=10)
    assert r.status_code == 403
    screenshot(page, "pifocus-sidebar-no-permission.png", "#sidebar_plugin_pifocus_wrapper")
    assert_no_script_errors(page)
    page.context.close()


def open_pifocus_settings(page: Page) -> None:
    page.locator("#navbar_show_settings").click()
    page.locator("#settings_plugin_pifocus_link a").click()
    expect(page.locator("#settings_plugin_pifocus")).to_be_visible()


def test_roi_is_drawn_on_the_snapshot_saved_and_shown_on_the_webcam(server, browser):
    page = open_octoprint(browser, server, "admin")
    open_pifocus_settings(page)
    settings = page.locator("#settings_plugin_pifocus")
    snapshot = settings.locator("img.pifocus-roi-snapshot")
    expect(snapshot).to_be_visible()
    page.wait_for_function(
        "() => { const i = document.querySelector('#settings_plugin_pifocus img.pifocus-roi-snapshot');"
        " return i && i.complete && i.naturalWidth > 0; }")

    # A value the backend would refuse is flagged while editing, before any save.
    settle = settings.locator("#pifocus-camera-settle")
    settle.fill("-1")
    settle.dispatch_event("change")
    validation = settings.locator(".pifocus-validation")
    expect(validation).to_be_visible()
    # With the field's label, next to the field, not the setting's key.
    expect(validation).to_contain_text("Settle time must be at least 0")
    expect(validation).not_to_contain_text("camera.settle")
    expect(settings.locator(".control-group.error #pifocus-camera-settle")).to_have_count(1)
    expect(settings.locator(".control-group.error .pifocus-field-error")).to_have_text(
        "Settle time must be at least 0, not -1")
    settle.fill("0.25")
    settle.dispatch_event("change")
    expect(validation).to_be_hidden()

    # Test: the simulated lens moves and comes back.
    settings.locator("button.pifocus-test").click()
    test_result = settings.locator(".pifocus-test-result")
    expect(test_result).to_have_class("alert pifocus-inline-alert pifocus-test-result alert-success",
                                      timeout=20_000)

    # Drag a rectangle from 10 %/20 % to 60 %/70 % of the picture.
    editor = settings.locator(".pifocus-roi-editor")
    editor.scroll_into_view_if_needed()
    box = snapshot.bounding_box()
    page.mouse.move(box["x"] + 0.10 * box["width"], box["y"] + 0.20 * box["height"])
    page.mouse.down()
    page.mouse.move(box["x"] + 0.35 * box["width"], box["y"] + 0.45 * box["height"], steps=5)
    page.mouse.move(box["x"] + 0.60 * box["width"], box["y"] + 0.70 * box["height"], steps=5)
    page.mouse.up()
    expect(settings.locator(".pifocus-roi-text")).to_have_text("x 10%, y 20%, width 50%, height 50%")
    rect = settings.locator(".pifocus-roi-rect").bounding_box()
    assert abs(rect["x"] - (box["x"] + 0.10 * box["width"])) < 3
    assert abs(rect["width"] - 0.50 * box["width"]) < 3
    screenshot(page, "pifocus-settings-roi.png", "#settings_dialog")

    page.locator('[data-test-id="settings-save"]').click()
    expect(page.locator("#settings_dialog")).to_be_hidden()
    roi = server.plugin_settings("pifocus")["roi"]
    assert roi == pytest.approx([0.1, 0.2, 0.5, 0.5], abs=0.01), roi

    # The same region over the Control tab's webcam, when switched on in the sidebar.
    page.locator("#control_link a").click()
    image = page.locator("#webcam_plugins_container .tab-pane.active img").first
    expect(image).to_be_visible()
    page.locator(f"{SIDEBAR} .pifocus-show-roi input").check()
    overlay = page.locator("#webcam_plugins_container .pifocus-roi-overlay")
    expect(overlay).to_be_visible()
    page.wait_for_function(
        "() => { const i = document.querySelector('#webcam_plugins_container .tab-pane.active img');"
        " return i && i.naturalWidth > 0; }")
    time.sleep(0.6)  # the overlay follows the image twice a second
    image_box, overlay_box = image.bounding_box(), overlay.bounding_box()
    assert abs(overlay_box["x"] - (image_box["x"] + 0.1 * image_box["width"])) < 3, (image_box, overlay_box)
    assert abs(overlay_box["y"] - (image_box["y"] + 0.2 * image_box["height"])) < 3, (image_box, overlay_box)
    assert abs(overlay_box["width"] - 0.5 * image_box["width"]) < 3, (image_box, overlay_box)
    screenshot(page, "pifocus-control-roi-overlay.png", "#webcam_plugins_container")
    assert_no_script_errors(page)
    page.context.close()


def test_german_reaches_templates_and_javascript(server, browser):
    page = open_octoprint(browser, server, "user", query="?l10n=de")
    sidebar = page.locator(SIDEBAR)
    autofocus = sidebar.locator("button.pifocus-autofocus-button")
    expect(autofocus).to_have_text("Autofokus")  # Jinja, from the .mo
    expect(autofocus).to_be_enabled()
    # JavaScript, from the .po that OctoPrint serves as the page's JS catalogue.
    expect(autofocus).to_have_attribute("title", "Die schärfste Objektivposition suchen")
    nudge_title = sidebar.locator(".pifocus-nudge button >> nth=0").get_attribute("title")
    assert nudge_title.startswith("Grober Schritt (5 % des Bereichs)"), nudge_title
    screenshot(page, "pifocus-sidebar-de.png", "#sidebar_plugin_pifocus_wrapper")
    assert_no_script_errors(page)
    page.context.close()


def test_lens_changes_reach_an_open_sidebar(server, browser):
    """Settings saved elsewhere push a new status: the open sidebar follows and says why it is
    disabled (no lens; printer Z not usable yet), without a reload."""
    page = open_octoprint(browser, server, "user")
    sidebar = page.locator(SIDEBAR)
    autofocus = sidebar.locator("button.pifocus-autofocus-button")
    reason = sidebar.locator(".pifocus-reason")
    expect(autofocus).to_be_enabled()
    expect(reason).to_be_hidden()
    admin = server.session("admin")

    def set_driver(driver: str) -> None:
        r = admin.post(server.url + "/api/settings", json={"plugins": {"pifocus": {"driver": driver}}}, timeout=10)
        r.raise_for_status()
        assert server.plugin_settings("pifocus")["driver"] == driver

    try:
        set_driver("")
        # One sentence instead of the reason; a user without PiFocus administration gets no
        # set-up button (tests/test_browser_wizard.py has the administrator's side).
        no_driver = sidebar.locator(".pifocus-no-driver")
        sentence = "PiFocus has no lens driver yet: ask an administrator to set it up."
        expect(no_driver.locator(".pifocus-no-driver-text")).to_have_text(sentence)
        expect(no_driver.locator("button.pifocus-setup-open")).to_be_hidden()
        expect(reason).to_be_hidden()
        expect(sidebar.locator(".pifocus-controls")).to_be_hidden()
        expect(autofocus).to_be_hidden()

        set_driver("printer-z")
        expect(sidebar.locator(".pifocus-position-units")).to_have_text("mm")
        status = api_status(server)
        why = status["z_blocked"] or status["lens_error"]
        assert why, status
        expect(reason).to_have_text(why)
        expect(autofocus).to_be_disabled()
        expect(sidebar.locator("input.pifocus-slider")).to_have_attribute("title", why)
        screenshot(page, "pifocus-sidebar-printer-z-blocked.png", "#sidebar_plugin_pifocus_wrapper")
    finally:
        set_driver("simulated")
    expect(reason).to_be_hidden()
    expect(autofocus).to_be_enabled()
    assert_no_script_errors(page)
    page.context.close()


def test_detect_lists_what_it_found_and_fills_in_the_form(server, browser):
    from fakes.camera_streamer_server import CameraStreamerServer

    streamer = CameraStreamerServer()
    try:
        r = server.session("admin").post(server.url + "/api/settings", timeout=10, json={
            "plugins": {"pifocus": {"camera_streamer": {"url": streamer.url}}}})
        assert r.status_code == 200, r.text
        page = open_octoprint(browser, server, "admin")
        open_pifocus_settings(page)
        settings = page.locator("#settings_plugin_pifocus")
        settings.locator("#pifocus-driver").select_option("camera-streamer")
        url = settings.locator("#pifocus-cs-url")
        url.fill("http://127.0.0.1:9")  # a wrong guess, which Detect replaces
        url.dispatch_event("change")
        settings.locator("button.pifocus-detect").click()
        row = settings.locator(".pifocus-devices tbody tr").first
        expect(row).to_contain_text(streamer.url.replace("http://", ""), timeout=15_000)
        expect(row.locator("i.fa-check")).to_have_count(1)
        expect(url).to_have_value(streamer.url)
        # Detect asked the camera-streamer for its options; it moved nothing.
        assert [path for path, _ in streamer.requests] and not streamer.options.get("LensPosition")
        assert_no_script_errors(page)
        page.context.close()  # closed without saving: the driver stays as it was
    finally:
        streamer.stop()
    assert server.plugin_settings("pifocus")["driver"] == "simulated"
