"""The sidebar's curve and states, in a real browser against a real OctoPrint (issue 10, sections
3, 4 and 6).

A curve that says what it shows: labelled axes with readable ticks, an x axis that is the
run's search range from its first frame to its end, the lens's position on it, and the last
run greyed out as "last run" once the lens moved. Honest states: a printer Z nobody knows the
height of, a cancel said once, a failure without an empty "score 0 · 0 frames", presets that
ask before they are deleted or replaced. A phone-sized window: buttons a finger can hit, the
panel inside its column. Playwright drives Debian's Chromium (fixtures of test_browser.py);
screenshots go to test-artifacts/.
"""
from __future__ import annotations

import time

import pytest
from playwright.sync_api import Page, expect

from octoprint_server import DEFAULT_USERS, DISABLED_PLUGINS, OctoPrintServer, deep_merge, demo_config
from test_browser import SIDEBAR, assert_no_script_errors, browser, open_octoprint, screenshot  # noqa: F401

API = "/api/plugin/pifocus"
WRAPPER = "#sidebar_plugin_pifocus_wrapper"


@pytest.fixture(scope="module", autouse=True)
def patient_expect():
    """Assertions wait up to 15 s, not 5: two cores shared with other OctoPrints are slow."""
    expect.set_options(timeout=15_000)
    yield
    expect.set_options(timeout=5_000)


@pytest.fixture(scope="module")
def server():
    # The demo's two devices: the simulated VCM ("camera") and a microscope on printer Z.
    config = deep_merge(demo_config(microscope=True), {"plugins": {"_disabled": DISABLED_PLUGINS + ["achievements"]}})
    with OctoPrintServer(extra_config=config, users=DEFAULT_USERS) as s:
        yield s


def status(server: OctoPrintServer, device: str = "") -> dict:
    r = server.session("user").get(server.url + API, params={"device": device} if device else None, timeout=10)
    r.raise_for_status()
    return r.json()


def post(server: OctoPrintServer, command: str, **fields) -> dict:
    r = server.session("user").post(server.url + API, json=dict(fields, command=command), timeout=30)
    assert r.status_code in (200, 202), r.text
    return r.json()


def wait_idle(server: OctoPrintServer, device: str = "", timeout: float = 90.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = status(server, device)
        if not body["busy"] and body["activity"] is None:
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.2)


def open_at(server: OctoPrintServer, browser, position: int):  # noqa: F811
    """A fresh page's sidebar (as ``user``) once it shows the lens at ``position``."""
    post(server, "move", position=position)
    page = open_octoprint(browser, server, "user")
    sidebar = page.locator(SIDEBAR)
    expect(sidebar.locator(".pifocus-position-value")).to_have_text(str(position))
    return page, sidebar


def close(page: Page) -> None:
    """No PiFocus script error on ``page``, then its browser context closed."""
    assert_no_script_errors(page)
    page.context.close()


#: Records the x axis's tick labels each time the curve changes while a run is going, from
#: the first point on (a MutationObserver sees every DOM update).
WATCH_AXIS = """() => {
    const root = document.querySelector('#sidebar_plugin_pifocus');
    const seen = {ticks: []};
    const look = () => {
        const progress = root.querySelector('.pifocus-progress');
        const points = root.querySelectorAll('svg.pifocus-curve circle.pifocus-point').length;
        if (!progress || progress.offsetParent === null || points === 0) return;
        const ticks = Array.from(root.querySelectorAll('svg.pifocus-curve .pifocus-tick-label'))
            .map(t => t.textContent.trim()).join(' ');
        if (seen.ticks[seen.ticks.length - 1] !== ticks) seen.ticks.push(ticks);
    };
    new MutationObserver(look).observe(root, {subtree: true, childList: true, attributes: true, characterData: true});
    window.__pifocusAxis = seen;
}"""

#: The size each text of the curve is drawn at on the page: its CSS font size times the SVG's
#: scale (rendered width / view box width).
RENDERED_FONT_SIZES = """() => {
    const svg = document.querySelector('#sidebar_plugin_pifocus svg.pifocus-curve');
    const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
    return Array.from(svg.querySelectorAll('.pifocus-tick-label, .pifocus-axis-label'))
        .filter(t => t.getBoundingClientRect().width > 0)
        .map(t => ({text: t.textContent.trim(), css: parseFloat(getComputedStyle(t).fontSize),
                    rendered: parseFloat(getComputedStyle(t).fontSize) * scale}));
}"""


def accent_pixels(element) -> int:
    """How many pixels of ``element``'s screenshot are the slider's accent colour (#08c: its
    thumb and filled track)."""
    import cv2
    import numpy as np

    image = cv2.imdecode(np.frombuffer(element.screenshot(), np.uint8), cv2.IMREAD_COLOR).astype(int)
    accent = np.array([0xCC, 0x88, 0x00])  # BGR
    return int((np.abs(image - accent).sum(axis=2) < 90).sum())


def tick_x(page: Page) -> dict:
    """Tick label -> its x in the SVG."""
    ticks = page.locator(f"{SIDEBAR} svg.pifocus-curve .pifocus-tick-label")
    return {ticks.nth(i).text_content().strip(): float(ticks.nth(i).get_attribute("x")) for i in range(ticks.count())}


def test_the_curve_labels_its_axes_keeps_its_range_and_marks_the_lens(server, browser):  # noqa: F811
    page, sidebar = open_at(server, browser, 900)
    autofocus = sidebar.locator("button.pifocus-autofocus-button")
    expect(autofocus).to_be_enabled()
    curve = sidebar.locator("svg.pifocus-curve")

    # The axes say what they show: relative sharpness against the position in the driver's unit.
    expect(curve.locator(".pifocus-axis-label-y")).to_have_text("relative sharpness")
    expect(curve.locator(".pifocus-axis-label-x")).to_have_text("position (VCM steps)")
    expect(sidebar.locator(".pifocus-position-units")).to_have_text("VCM steps")

    # A full search: the axis is the lens range from the first frame to the end.
    page.evaluate(WATCH_AXIS)
    autofocus.click()
    result = sidebar.locator(".pifocus-result")
    expect(result).to_have_class("alert pifocus-result alert-success", timeout=90_000)
    body = status(server)
    assert body["last_result"]["search_range"] == [0, 1023], body["last_result"]
    seen = page.evaluate("window.__pifocusAxis")
    assert seen["ticks"] == ["0 512 1023"], seen  # one axis for the whole run: no jump
    assert list(tick_x(page)) == ["0", "512", "1023"]

    # Readable: every label of the curve is at least 11 px on the page, at the sidebar's width.
    sizes = page.evaluate(RENDERED_FONT_SIZES)
    assert len(sizes) >= 5, sizes  # three ticks and two axis titles
    assert all(s["css"] >= 11 and s["rendered"] >= 11 for s in sizes), sizes

    # The lens is where the run ended: the marker stands at the peak, nothing is "last run".
    position = body["position"]
    assert position == body["last_result"]["position"]
    ticks = tick_x(page)

    def x_of(value: float) -> float:
        return ticks["0"] + (ticks["1023"] - ticks["0"]) * value / 1023

    marker = curve.locator(".pifocus-current-line")
    expect(marker).to_have_count(1)
    assert abs(float(marker.get_attribute("x1")) - x_of(position)) < 1
    peak_x = float(curve.locator("circle.pifocus-peak").get_attribute("cx"))
    assert abs(float(marker.get_attribute("x1")) - peak_x) < 1
    expect(sidebar.locator(".pifocus-plot")).not_to_have_class("pifocus-plot pifocus-stale")
    expect(curve.locator(".pifocus-stale-label")).to_be_hidden()
    screenshot(page, "pifocus-sidebar-curve-axes.png", WRAPPER)

    # Moved by hand: the marker follows the lens, the run's curve and result are "last run".
    sidebar.locator("input.pifocus-target").fill("700")
    sidebar.locator("button.pifocus-go").click()
    expect(sidebar.locator(".pifocus-position-value")).to_have_text("700")
    expect(sidebar.locator(".pifocus-result-title")).to_have_text(f"Last run: In focus at {position} VCM steps")
    expect(result).to_have_class("alert pifocus-result alert-success pifocus-stale")
    expect(sidebar.locator(".pifocus-plot")).to_have_class("pifocus-plot pifocus-stale")
    expect(curve.locator(".pifocus-stale-label")).to_have_text("last run")
    assert abs(float(marker.get_attribute("x1")) - x_of(700)) < 1
    expect(curve.locator(".pifocus-current-label")).to_have_text("700")
    drawing_opacity = page.evaluate(
        "() => getComputedStyle(document.querySelector('#sidebar_plugin_pifocus .pifocus-run-drawing')).opacity")
    assert float(drawing_opacity) < 0.5, drawing_opacity
    screenshot(page, "pifocus-sidebar-last-run.png", WRAPPER)

    # A refine run from the peak: its axis is the window around the start (search.window 80),
    # from its first frame on.
    post(server, "move", position=position)
    expect(result).to_have_class("alert pifocus-result alert-success")  # back at the peak: current again
    page.evaluate(WATCH_AXIS)
    sidebar.locator(".pifocus-refine input").check()
    autofocus.click()
    expect(sidebar.locator("button.pifocus-cancel")).to_be_visible()
    expect(autofocus).to_be_visible(timeout=90_000)
    body = wait_idle(server)
    low, high = body["last_result"]["search_range"]
    assert [low, high] == [position - 80, position + 80], body["last_result"]
    seen = page.evaluate("window.__pifocusAxis")
    assert seen["ticks"] and seen["ticks"][0] == f"{low} {round((low + high) / 2)} {high}", seen
    close(page)


def test_the_slider_label_follows_the_thumb_and_go_clears_after_a_preset(server, browser):  # noqa: F811
    page, sidebar = open_at(server, browser, 600)
    slider = sidebar.locator("input.pifocus-slider")
    label = sidebar.locator(".pifocus-slider-current")

    # Dragging (input events, no release yet): the label shows the thumb's value, the lens stays.
    slider.evaluate("el => { el.value = 250; el.dispatchEvent(new Event('input', {bubbles: true})); }")
    expect(label).to_be_visible()
    expect(label).to_have_text("250")
    slider.evaluate("el => { el.value = 275; el.dispatchEvent(new Event('input', {bubbles: true})); }")
    expect(label).to_have_text("275")
    assert status(server)["position"] == 600
    screenshot(page, "pifocus-sidebar-slider-dragging.png", WRAPPER)
    # Released: the lens goes there and the label hides.
    slider.evaluate("el => el.dispatchEvent(new Event('change', {bubbles: true}))")
    expect(sidebar.locator(".pifocus-position-value")).to_have_text("275")
    expect(label).to_be_hidden()
    assert status(server)["position"] == 275

    # The number typed for Go does not stay up once a preset moved the lens elsewhere.
    post(server, "preset_save", name="slide", position=450)
    try:
        target = sidebar.locator("input.pifocus-target")
        target.fill("320")
        sidebar.locator("button.pifocus-go").click()
        expect(sidebar.locator(".pifocus-position-value")).to_have_text("320")
        expect(target).to_have_value("320")  # Go went where it says: it stays
        sidebar.locator(".pifocus-preset", has_text="slide").locator("button.pifocus-preset-apply").click()
        expect(sidebar.locator(".pifocus-position-value")).to_have_text("450")
        expect(target).to_have_value("")
    finally:
        post(server, "preset_delete", name="slide")
    close(page)


def test_the_pointer_on_autofocus_asks_once_for_the_camera_to_be_opened(server, browser):  # noqa: F811
    """Reaching the Autofocus button (pointer or keyboard) tells the server a run is likely:
    it opens a stream camera now, so the run starts on frames it already has. Once per ten
    seconds, however often the pointer comes back. (The demo's camera is rendered in-process,
    not a stream: the server says there is nothing to open.)"""
    page, sidebar = open_at(server, browser, 600)
    warms = []
    page.on("request", lambda r: warms.append(r.url) if r.method == "POST"
            and "warm_camera" in (r.post_data or "") else None)
    button = sidebar.locator("button.pifocus-autofocus-button")
    with page.expect_response(lambda r: r.request.method == "POST"
                              and "warm_camera" in (r.request.post_data or "")) as reply:
        button.hover()
    assert reply.value.status == 200 and reply.value.json() == {"warm": False}
    sidebar.locator(".pifocus-position-value").hover()
    button.hover()
    button.focus()
    page.wait_for_timeout(500)
    assert len(warms) == 1, warms
    close(page)


def test_presets_ask_before_a_delete_or_a_replace(server, browser):  # noqa: F811
    post(server, "preset_save", name="bed", position=600)
    page, sidebar = open_at(server, browser, 600)
    preset = sidebar.locator(".pifocus-preset", has_text="bed")
    expect(preset).to_have_count(1)

    # Delete asks, naming the preset; Cancel keeps it.
    preset.locator("button.pifocus-preset-delete").click()
    dialog = page.locator(".pifocus-confirm-delete")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text('The preset "bed" (600 VCM steps)')
    screenshot(page, "pifocus-sidebar-preset-delete-confirm.png")
    dialog.locator(".modal-footer .btn", has_text="Cancel").click()
    expect(dialog).to_be_hidden()
    assert [p["name"] for p in status(server)["presets"]] == ["bed"]
    expect(preset).to_have_count(1)

    # Saving under a name in use (any case) says it replaces that preset; Replace does.
    sidebar.locator("input.pifocus-target").fill("650")
    sidebar.locator("button.pifocus-go").click()
    expect(sidebar.locator(".pifocus-position-value")).to_have_text("650")
    sidebar.locator(".pifocus-preset-save input").fill("BED")
    sidebar.locator(".pifocus-preset-save button").click()
    replace = page.locator(".pifocus-confirm-replace")
    expect(replace).to_be_visible()
    expect(replace).to_contain_text('The preset "bed" is at 600 VCM steps. Saving replaces it with 650 VCM steps.')
    replace.locator(".modal-footer .btn-primary").click()
    expect(sidebar.locator(".pifocus-preset-position")).to_have_text(["650"])
    assert [(p["name"], p["position"]) for p in status(server)["presets"]] == [("BED", 650)]

    # Delete, confirmed.
    sidebar.locator(".pifocus-preset button.pifocus-preset-delete").click()
    expect(dialog).to_be_visible()
    dialog.locator(".modal-footer .btn-danger").click()
    expect(sidebar.locator(".pifocus-preset")).to_have_count(0)
    assert status(server)["presets"] == []
    close(page)


def test_a_cancel_says_cancelled_once_and_a_failure_shows_no_empty_score(server, browser):  # noqa: F811
    page, sidebar = open_at(server, browser, 800)
    result = sidebar.locator(".pifocus-result")
    sidebar.locator("button.pifocus-autofocus-button").click()
    expect(sidebar.locator("svg.pifocus-curve circle.pifocus-point").first).to_be_visible(timeout=30_000)
    sidebar.locator("button.pifocus-cancel").click()
    expect(result).to_have_class("alert pifocus-result alert-warning", timeout=30_000)
    text = result.inner_text()
    assert text.lower().count("cancel") == 1, text
    assert "score" not in text and " 0 frames" not in text, text
    expect(sidebar.locator(".pifocus-result-message")).to_have_text(
        "The lens is back where it started, at 800 VCM steps.")
    screenshot(page, "pifocus-sidebar-cancelled.png", WRAPPER)

    # A camera that never answers: the run fails before its first frame. No "score 0 · 0
    # frames", just the reason.
    admin = server.session("admin")
    dead = f"http://127.0.0.1:{server.port}/no/such/camera.jpg"
    r = admin.post(server.url + "/api/settings",
                   json={"plugins": {"pifocus": {"camera": {"url": dead, "mode": "snapshot"}}}}, timeout=10)
    assert r.status_code == 200, r.text
    try:
        sidebar.locator("button.pifocus-autofocus-button").click()
        expect(result).to_have_class("alert pifocus-result alert-error", timeout=60_000)
        body = wait_idle(server)
        assert body["last_result"]["captures"] == 0 and body["last_result"]["found"] is False, body["last_result"]
        expect(sidebar.locator(".pifocus-result-title")).to_have_text("Autofocus failed")
        expect(sidebar.locator(".pifocus-result-details")).to_be_hidden()
        text = result.inner_text()
        assert "score" not in text and "frames" not in text, text
        assert body["last_result"]["message"] and body["last_result"]["message"][:30] in text, text
        screenshot(page, "pifocus-sidebar-failed.png", WRAPPER)
    finally:
        r = admin.post(server.url + "/api/settings",
                       json={"plugins": {"pifocus": {"camera": {"url": ""}}}}, timeout=10)
        assert r.status_code == 200, r.text
    close(page)


def test_printer_z_before_its_first_move_shows_the_position_as_unknown(server, browser):  # noqa: F811
    server.printer_command("G28")  # homed: OctoPrint does not know Z until it moves
    deadline = time.monotonic() + 10
    while (z := status(server, "microscope"))["position"] is not None or z["z_blocked"] is not None:
        assert time.monotonic() < deadline, z
        time.sleep(0.2)
    page = open_octoprint(browser, server, "user")
    sidebar = page.locator(SIDEBAR)
    sidebar.locator("select.pifocus-device-select").select_option("microscope")
    expect(sidebar.locator(".pifocus-position-units")).to_be_hidden()
    unknown = sidebar.locator(".pifocus-position-unknown")
    expect(unknown).to_have_text(
        "Position unknown until the lens moves to a set position: use Go, the slider or a preset.")
    slider = sidebar.locator("input.pifocus-slider")
    expect(slider).to_have_class("pifocus-slider pifocus-slider-unknown")  # no thumb: no guess
    assert accent_pixels(slider) == 0  # no thumb, no filled track: nothing in the accent colour
    expect(sidebar.locator(".pifocus-position-value")).to_have_text("–")
    screenshot(page, "pifocus-sidebar-z-unknown.png", WRAPPER)

    # One move, and Z is known: the number, the unit and the thumb are back.
    sidebar.locator("input.pifocus-target").fill("5")
    sidebar.locator("button.pifocus-go").click()
    expect(sidebar.locator(".pifocus-position-value")).to_have_text("5.00")
    expect(sidebar.locator(".pifocus-position-units")).to_have_text("mm")
    expect(unknown).to_be_hidden()
    expect(slider).to_have_class("pifocus-slider")
    assert accent_pixels(slider) > 20  # the thumb and the filled track are back
    sidebar.locator("select.pifocus-device-select").select_option("camera")  # the next tests' device
    expect(sidebar.locator(".pifocus-position-units")).to_have_text("VCM steps")
    close(page)


def test_on_a_phone_the_panel_fits_its_column_and_fingers_hit_its_buttons(server, browser):  # noqa: F811
    post(server, "preset_save", name="bed", position=400)
    try:
        context = browser.new_context(viewport={"width": 390, "height": 844})
        context.add_cookies(server.login_cookies("user"))
        page = context.new_page()
        page.pifocus_errors = []  # type: ignore[attr-defined]
        page.on("pageerror", lambda error: page.pifocus_errors.append(str(error)))  # type: ignore[attr-defined]
        page.set_default_timeout(30_000)
        page.goto(server.url + "/")
        sidebar = page.locator(SIDEBAR)
        expect(sidebar).to_be_visible(timeout=30_000)
        expect(sidebar.locator("button.pifocus-autofocus-button")).to_be_enabled()
        expect(sidebar.locator(".pifocus-preset")).to_have_count(1)
        sidebar.scroll_into_view_if_needed()

        sizes = page.evaluate("""() => {
            const root = document.querySelector('#sidebar_plugin_pifocus');
            const box = el => el.getBoundingClientRect();
            const name = el => el.tagName.toLowerCase() + '.' + String(el.className).replace(/ +/g, '.');
            const panel = box(root.querySelector('.pifocus-sidebar'));
            const column = box(document.querySelector('#sidebar_plugin_pifocus_wrapper'));
            const outside = Array.from(root.querySelectorAll('.pifocus-sidebar *'))
                .filter(el => { const r = box(el); return r.width > 0 && (r.left < panel.left - 0.5 || r.right > panel.right + 0.5); })
                .map(name);
            const targets = Array.from(root.querySelectorAll('.pifocus-sidebar button, .pifocus-sidebar input, .pifocus-sidebar select, .pifocus-sidebar label.checkbox'))
                .filter(el => el.offsetParent !== null && !(el.type === 'checkbox'))
                .map(el => ({name: name(el), width: box(el).width, height: box(el).height}));
            return {panel: [panel.left, panel.right], column: [column.left, column.right], outside, targets};
        }""")
        # The panel inside its column, nothing of it sticking out.
        assert sizes["column"][0] <= sizes["panel"][0] and sizes["panel"][1] <= sizes["column"][1], sizes
        assert sizes["outside"] == [], sizes["outside"]
        # Every button, field and check box label at least 40 px high; the preset's delete as wide.
        short = [t for t in sizes["targets"] if t["height"] < 40]
        assert not short, short
        names = [t["name"] for t in sizes["targets"]]
        assert sum(1 for n in names if n.startswith("button.btn") and "pifocus-nudge" not in n) >= 4, names
        delete = sidebar.locator("button.pifocus-preset-delete").bounding_box()
        assert delete["height"] >= 40 and delete["width"] >= 40, delete
        for i in range(4):
            assert sidebar.locator(".pifocus-nudge button").nth(i).bounding_box()["height"] >= 40

        # The page's sideways scroll: OctoPrint's own layout is a fixed 940 px wide (it loads no
        # responsive styles), so it scrolls at 390 px with or without PiFocus; PiFocus adds none.
        width = page.evaluate("document.scrollingElement.scrollWidth")
        without = page.evaluate("""() => {
            const wrapper = document.querySelector('#sidebar_plugin_pifocus_wrapper');
            const parent = wrapper.parentNode, next = wrapper.nextSibling;
            parent.removeChild(wrapper);
            const width = document.scrollingElement.scrollWidth;
            parent.insertBefore(wrapper, next);
            return width;
        }""")
        assert width == without, (width, without)
        screenshot(page, "pifocus-sidebar-phone.png", WRAPPER)
        assert_no_script_errors(page)
        context.close()
    finally:
        post(server, "preset_delete", name="bed")
