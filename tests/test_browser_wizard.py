"""The set-up wizard in a real browser (Playwright + Debian's Chromium against a real OctoPrint).

The servers start as after installing PiFocus on a machine with the simulation on: no lens
driver configured, the wizard not seen yet. The tests click what a user clicks:

- the wizard appears on its own; Detect lists the simulated lens and the connected printer;
  picking the simulated lens picks its webcam; the region dragged on the snapshot, Test and a
  first autofocus (ending in focus, its curve drawn) all reach the plugin; after Finish and a
  reload the wizard stays away and the sidebar works;
- Settings > PiFocus > Run set-up opens the same steps again;
- skipping (Finish without choosing) leaves a working plugin without a driver: the sidebar says
  so in one sentence with a button that opens the set-up; the API refuses moves with 409; a
  save the settings checks refuse shows why and keeps the choices on screen;
- running the set-up again keeps a camera URL in the settings unless an OctoPrint webcam is
  picked (shown with its password masked); choosing printer Z shows the Z window it will move
  in and saves it only once the user confirmed it is safe.

Screenshots: test-artifacts/pifocus-wizard-*.png.
"""
from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from octoprint_server import DEFAULT_USERS, DISABLED_PLUGINS, OctoPrintServer, deep_merge, demo_config
from test_browser import PAGE_TIMEOUT, SIDEBAR, api_status, assert_no_script_errors, browser, open_octoprint, screenshot  # noqa: F401

WIZARD = "#wizard_plugin_pifocus"
DIALOG = "#pifocus_setup_dialog"


def fresh_config() -> dict:
    """The simulation on (so there is something to pick without hardware), no driver chosen."""
    return deep_merge(demo_config(), {"plugins": {"_disabled": DISABLED_PLUGINS + ["achievements"],
                                                  "pifocus": {"driver": ""}}})


@pytest.fixture(scope="module")
def server():
    with OctoPrintServer(extra_config=fresh_config(), users=DEFAULT_USERS) as server:
        yield server


@pytest.fixture(scope="module")
def skip_server():
    # A search window fine for a VCM but less than three Z steps: choosing printer Z in the
    # set-up is refused (a Z window with max < min would do too, but PiFocus now repairs such
    # stored values at start-up), which the set-up must show without losing the user's choices.
    config = deep_merge(fresh_config(), {"plugins": {"pifocus": {"search": {"window": 0.01}}}})
    with OctoPrintServer(extra_config=config, users=DEFAULT_USERS) as server:
        yield server


def wizard_state(server: OctoPrintServer) -> dict:
    r = server.session("admin").get(server.url + "/api/setup/wizard", timeout=10)
    r.raise_for_status()
    return r.json()["pifocus"]


def choice(root, driver: str):
    return root.locator(f"tr.pifocus-setup-choice[data-driver='{driver}']")


def drag(page: Page, image, start, end) -> None:
    """Drag from ``start`` to ``end`` (fractions of the picture) on ``image``."""
    image.scroll_into_view_if_needed()
    box = image.bounding_box()
    page.mouse.move(box["x"] + start[0] * box["width"], box["y"] + start[1] * box["height"])
    page.mouse.down()
    for f in (0.5, 1.0):
        page.mouse.move(box["x"] + (start[0] + f * (end[0] - start[0])) * box["width"],
                        box["y"] + (start[1] + f * (end[1] - start[1])) * box["height"], steps=4)
    page.mouse.up()


def wait_for_snapshot(page: Page, root: str) -> None:
    page.wait_for_function(
        "(root) => { const i = document.querySelector(root + ' img.pifocus-roi-snapshot');"
        " return i && i.complete && i.naturalWidth > 0; }", arg=root)


def test_the_wizard_walks_a_fresh_install_to_a_first_autofocus(server, browser):
    assert wizard_state(server)["required"] is True
    page = open_octoprint(browser, server, "admin")
    wizard = page.locator(WIZARD)
    expect(page.locator("#wizard_dialog")).to_be_visible()
    expect(wizard).to_be_visible()

    # 1. Detect runs by itself: the simulated lens and the virtual printer, both usable.
    simulated, printer = choice(wizard, "simulated"), choice(wizard, "printer-z")
    expect(simulated).to_have_count(1, timeout=20_000)
    expect(simulated.locator("i.fa-check")).to_have_count(1)
    expect(printer.locator("i.fa-check")).to_have_count(1)
    expect(printer).to_contain_text("printer")
    # The simulated lens is the only... no: two are usable, so nothing is picked for the user.
    save_lens = wizard.locator("button.pifocus-setup-save-lens")
    expect(save_lens).to_be_disabled()
    simulated.locator("input[type=radio]").check()
    expect(wizard.locator("select.pifocus-setup-webcam")).to_have_value("pifocus_simulated")
    screenshot(page, "pifocus-wizard-detect.png", "#wizard_dialog")
    save_lens.click()

    # 2. Saved through the settings API; the snapshot comes from the chosen camera.
    expect(wizard.locator(".pifocus-setup-step-roi")).to_be_visible()
    saved = server.plugin_settings("pifocus")
    assert saved["driver"] == "simulated" and saved["camera"]["webcam"] == "pifocus_simulated", saved
    wait_for_snapshot(page, WIZARD)
    drag(page, wizard.locator("img.pifocus-roi-snapshot"), (0.2, 0.3), (0.7, 0.8))
    expect(wizard.locator(".pifocus-roi-text")).to_have_text("x 20%, y 30%, width 50%, height 50%")
    screenshot(page, "pifocus-wizard-roi.png", "#wizard_dialog")
    wizard.locator("button.pifocus-setup-save-roi").click()

    # 3. Test nudges the saved lens and back.
    expect(wizard.locator(".pifocus-setup-step-test")).to_be_visible()
    assert server.plugin_settings("pifocus")["roi"] == pytest.approx([0.2, 0.3, 0.5, 0.5], abs=0.01)
    wizard.locator("button.pifocus-setup-test").click()
    result = wizard.locator(".pifocus-setup-test-result")
    expect(result).to_have_class("alert pifocus-setup-test-result alert-success", timeout=20_000)
    expect(result).to_contain_text("Test passed")
    screenshot(page, "pifocus-wizard-test.png", "#wizard_dialog")
    wizard.locator("button.pifocus-setup-next").click()

    # 4. The first autofocus, drawn live as in the sidebar.
    step = wizard.locator(".pifocus-setup-step-autofocus")
    expect(step).to_be_visible()
    step.locator("button.pifocus-setup-autofocus").click()
    outcome = step.locator(".pifocus-result")
    expect(outcome).to_have_class("alert pifocus-result alert-success", timeout=60_000)
    status = api_status(server)
    assert status["last_result"]["found"] and not status["busy"], status
    position = f"{status['position']:.0f}"
    expect(step.locator(".pifocus-result-title")).to_have_text(f"In focus at {position} VCM steps")
    expect(step.locator("svg.pifocus-curve circle.pifocus-point")).to_have_count(len(status["curve"]))
    assert len(status["curve"]) > 3
    assert step.locator("svg.pifocus-curve path.pifocus-line").get_attribute("d").count("L") >= 3
    expect(step.locator("svg.pifocus-curve circle.pifocus-peak")).to_have_count(1)
    screenshot(page, "pifocus-wizard-autofocus.png", "#wizard_dialog")

    # Finish: OctoPrint saves that the wizard was seen; the choices stay.
    page.locator("#wizard_dialog .button-finish").click()
    expect(page.locator("#wizard_dialog")).to_be_hidden()
    assert wizard_state(server)["required"] is False
    assert server.plugin_settings("pifocus")["driver"] == "simulated"
    assert_no_script_errors(page)

    # After a reload: no wizard, and the sidebar works.
    page.reload()
    sidebar = page.locator(SIDEBAR)
    # Bound again (a button is "enabled" before its bindings run): slow on a busy machine.
    expect(sidebar.locator(".pifocus-position-value")).to_have_text(position, timeout=PAGE_TIMEOUT)
    expect(sidebar.locator("button.pifocus-autofocus-button")).to_be_enabled()
    expect(page.locator(WIZARD)).to_have_count(0)
    expect(page.locator("#wizard_dialog")).to_be_hidden()
    expect(sidebar.locator(".pifocus-no-driver")).to_be_hidden()
    expect(sidebar.locator(".pifocus-position-value")).to_have_text(position)
    sidebar.locator(".pifocus-nudge button >> nth=2").click()
    expect(sidebar.locator(".pifocus-position-value")).to_have_text(str(int(position) + 10))
    screenshot(page, "pifocus-wizard-after-reload.png")
    assert_no_script_errors(page)
    page.context.close()


def test_run_set_up_in_the_settings_opens_the_steps_again(server, browser):
    page = open_octoprint(browser, server, "admin")
    expect(page.locator(WIZARD)).to_have_count(0)
    page.locator("#navbar_show_settings").click()
    page.locator("#settings_plugin_pifocus_link a").click()
    page.locator("#settings_plugin_pifocus button.pifocus-run-setup").click()
    dialog = page.locator(DIALOG)
    expect(dialog).to_be_visible()
    expect(choice(dialog, "simulated").locator("i.fa-check")).to_have_count(1, timeout=20_000)
    # The lens in use is picked already; its webcam too.
    expect(choice(dialog, "simulated").locator("input[type=radio]")).to_be_checked()
    expect(dialog.locator("select.pifocus-setup-webcam")).to_have_value("pifocus_simulated")
    screenshot(page, "pifocus-wizard-from-settings.png")
    dialog.locator("button.pifocus-setup-close").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#settings_dialog")).to_be_visible()
    assert_no_script_errors(page)
    page.context.close()


def test_skipping_leaves_a_working_plugin_without_a_driver(skip_server, browser):
    server = skip_server
    page = open_octoprint(browser, server, "admin")
    expect(page.locator(WIZARD)).to_be_visible()
    page.locator("#wizard_dialog .button-finish").click()  # skipped: nothing chosen
    expect(page.locator("#wizard_dialog")).to_be_hidden()
    assert wizard_state(server)["ignored"] is True
    assert server.plugin_settings("pifocus")["driver"] == ""

    # The sidebar: one sentence and a button, and no controls that could not work anyway.
    sidebar = page.locator(SIDEBAR)
    notice = sidebar.locator(".pifocus-no-driver")
    expect(notice).to_be_visible()
    expect(notice.locator(".pifocus-no-driver-text")).to_have_text(
        "PiFocus has no lens driver yet: set it up to focus your camera.")
    expect(sidebar.locator(".pifocus-reason")).to_be_hidden()
    expect(sidebar.locator(".pifocus-controls")).to_be_hidden()
    expect(sidebar.locator("button.pifocus-autofocus-button")).to_be_hidden()
    r = server.session("user").post(server.url + "/api/plugin/pifocus", json={"command": "move", "position": 5},
                                    timeout=10)
    assert r.status_code == 409 and r.json()["error"].startswith("No lens driver is configured")
    screenshot(page, "pifocus-wizard-skipped-sidebar.png", "#sidebar_plugin_pifocus_wrapper")

    # A user without PiFocus administration is told whom to ask, with no button.
    user_page = open_octoprint(browser, server, "user")
    user_sidebar = user_page.locator(SIDEBAR)
    expect(user_sidebar.locator(".pifocus-no-driver-text")).to_have_text(
        "PiFocus has no lens driver yet: ask an administrator to set it up.")
    expect(user_sidebar.locator("button.pifocus-setup-open")).to_be_hidden()
    expect(user_page.locator("#wizard_dialog")).to_be_hidden()
    user_page.context.close()

    # The button opens the set-up.
    notice.locator("button.pifocus-setup-open").click()
    dialog = page.locator(DIALOG)
    expect(dialog).to_be_visible()
    expect(choice(dialog, "simulated").locator("i.fa-check")).to_have_count(1, timeout=20_000)
    screenshot(page, "pifocus-wizard-dialog.png", DIALOG)

    # A refused save: the message, and the choices stay on screen.
    choice(dialog, "printer-z").locator("input[type=radio]").check()
    dialog.locator("select.pifocus-setup-webcam").select_option("pifocus_simulated")
    dialog.locator("input.pifocus-setup-z-confirm").check()
    dialog.locator("button.pifocus-setup-save-lens").click()
    error = dialog.locator(".pifocus-setup-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("at least three Z steps")
    expect(error).to_contain_text("search.window must be")  # names the setting to fix
    expect(dialog.locator(".pifocus-setup-step-lens")).to_be_visible()
    expect(choice(dialog, "printer-z").locator("input[type=radio]")).to_be_checked()
    expect(dialog.locator("select.pifocus-setup-webcam")).to_have_value("pifocus_simulated")
    assert server.plugin_settings("pifocus")["driver"] == ""
    screenshot(page, "pifocus-wizard-refused.png", DIALOG)
    # After a reload the wizard does not come back by itself.
    page.reload()
    expect(page.locator(SIDEBAR).locator(".pifocus-no-driver")).to_be_visible(timeout=PAGE_TIMEOUT)
    expect(page.locator(WIZARD)).to_have_count(0)
    assert_no_script_errors(page)
    page.context.close()


CAMERA_PASSWORD = "Topsecret42"


@pytest.fixture(scope="module")
def url_server():
    """Set up before: the simulated lens, and a camera URL with a password instead of a webcam.
    The URL is the simulated camera's own snapshot route, with credentials OctoPrint ignores."""
    config = deep_merge(demo_config(), {"plugins": {"_disabled": DISABLED_PLUGINS + ["achievements"]}})
    with OctoPrintServer(extra_config=config, users=DEFAULT_USERS) as server:
        url = server.url.replace("://", f"://cam:{CAMERA_PASSWORD}@") + "/plugin/pifocus/simcam/snapshot"
        r = server.session("admin").post(server.url + "/api/settings",
                                         json={"plugins": {"pifocus": {"camera": {"url": url}}}}, timeout=20)
        assert r.status_code == 200 and server.plugin_settings("pifocus")["camera"]["url"] == url
        server.camera_url = url
        yield server


def open_setup(page: Page):
    page.locator("#navbar_show_settings").click()
    page.locator("#settings_plugin_pifocus_link a").click()
    page.locator("#settings_plugin_pifocus button.pifocus-run-setup").click()
    dialog = page.locator(DIALOG)
    expect(dialog).to_be_visible()
    expect(choice(dialog, "simulated").locator("i.fa-check")).to_have_count(1, timeout=20_000)
    return dialog


def test_running_the_set_up_again_keeps_the_camera_url(url_server, browser):
    server = url_server
    page = open_octoprint(browser, server, "admin")
    dialog = open_setup(page)
    webcam = dialog.locator("select.pifocus-setup-webcam")
    # The stored URL is a choice, picked already, its password masked.
    selected = webcam.locator("option:checked")
    expect(selected).to_contain_text("(the camera URL in the settings)")
    expect(selected).to_contain_text(server.camera_url.replace(CAMERA_PASSWORD, "***"))
    assert CAMERA_PASSWORD not in dialog.inner_text()
    screenshot(page, "pifocus-wizard-camera-url.png", DIALOG)
    expect(choice(dialog, "simulated").locator("input[type=radio]")).to_be_checked()
    dialog.locator("button.pifocus-setup-save-lens").click()
    expect(dialog.locator(".pifocus-setup-step-roi")).to_be_visible()
    saved = server.plugin_settings("pifocus")
    assert saved["driver"] == "simulated" and saved["camera"]["url"] == server.camera_url, saved["camera"]

    # Picking an OctoPrint webcam instead is what clears the URL.
    dialog.locator(".pifocus-setup-step-roi button.pifocus-setup-back").click()
    webcam.select_option("pifocus_simulated")
    dialog.locator("button.pifocus-setup-save-lens").click()
    expect(dialog.locator(".pifocus-setup-step-roi")).to_be_visible()
    camera = server.plugin_settings("pifocus")["camera"]
    assert camera["url"] == "" and camera["webcam"] == "pifocus_simulated", camera
    assert_no_script_errors(page)
    page.context.close()


def test_printer_z_is_saved_only_with_a_window_the_user_confirmed(url_server, browser):
    server = url_server
    stored = server.plugin_settings("pifocus")["printer_z"]
    page = open_octoprint(browser, server, "admin")
    dialog = open_setup(page)
    z_part = dialog.locator(".pifocus-setup-z")
    expect(z_part).to_be_hidden()  # only for printer Z
    choice(dialog, "printer-z").locator("input[type=radio]").check()

    # The stored window, the printer's Z, and no save before the confirmation.
    expect(z_part).to_be_visible()
    expect(z_part.locator("input.pifocus-setup-z-min")).to_have_value(f"{stored['min']:g}")
    expect(z_part.locator("input.pifocus-setup-z-max")).to_have_value(f"{stored['max']:g}")
    expect(z_part.locator(".pifocus-setup-z-current")).to_contain_text("The printer reports Z at")
    save = dialog.locator("button.pifocus-setup-save-lens")
    expect(save).to_be_disabled()
    confirm = z_part.locator("input.pifocus-setup-z-confirm")
    confirm.check()
    expect(save).to_be_enabled()
    # A changed window must be confirmed again.
    z_part.locator("input.pifocus-setup-z-max").fill("4.5")
    expect(confirm).not_to_be_checked()
    expect(save).to_be_disabled()
    z_part.locator("input.pifocus-setup-z-min").fill("1.5")
    confirm.check()
    screenshot(page, "pifocus-wizard-printer-z-window.png", DIALOG)
    assert server.plugin_settings("pifocus")["driver"] == "simulated"  # nothing saved so far
    save.click()

    expect(dialog.locator(".pifocus-setup-step-roi")).to_be_visible()
    saved = server.plugin_settings("pifocus")
    assert saved["driver"] == "printer-z"
    assert saved["printer_z"]["min"] == 1.5 and saved["printer_z"]["max"] == 4.5, saved["printer_z"]
    assert_no_script_errors(page)
    page.context.close()
