"""The PiFocus UI in German, in normal and in error states: no English may leak through.

A real OctoPrint (PiFocus on its simulated lens and camera) and Debian's Chromium, the page
opened with ``?l10n=de``. The sidebar and Settings > PiFocus are rendered in the states a
user meets: set up and idle, after an autofocus, after a cancelled run, with a camera that is
down (at a URL with a password), and with an I2C driver on a bus that does not exist. Each
time every visible text (text, tooltips, placeholders, the choices of drop-downs, pop-ups) is
collected and checked against the plugin's catalogue: a text that is an English msgid whose
German msgstr differs, or that contains one of the longer English sentences or an English
engine message (octoprint_pifocus/messages.py, also if it had no German at all), fails the
test with the leaked text. So a message that skips the translation anywhere (the engine, a
background thread's push, the browser's formatting) is caught, whatever the state.

Numbers: the run's seconds and the shared formatting follow the German locale ("3,3 s").
Layout: every choice of every drop-down in the settings fits its box, and every text of the
focus curve fits in the curve.
Screenshots: test-artifacts/pifocus-de-*.png.
"""
from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Dict, Iterable, List, Pattern, Tuple

import pytest
from babel.messages.pofile import read_po
from playwright.sync_api import Page, expect, sync_playwright
from test_browser import (ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, PAGE_TIMEOUT, SIDEBAR, api_status,
                          assert_no_script_errors, open_pifocus_settings)

from octoprint_pifocus.messages import CATALOGUE
from octoprint_server import DEFAULT_USERS, DISABLED_PLUGINS, OctoPrintServer, deep_merge, demo_config

ROOT = Path(__file__).resolve().parents[1]
GERMAN_PO = ROOT / "translations" / "de" / "LC_MESSAGES" / "messages.po"

#: Where PiFocus shows text: the sidebar, its settings, the set-up dialog, pop-ups.
REGIONS = ["#sidebar_plugin_pifocus_wrapper", "#settings_plugin_pifocus", "#pifocus_setup_dialog",
           ".ui-pnotify"]

#: A placeholder in a msgid: Python's %(name)s, JavaScript's too, and %%.
PLACEHOLDER = re.compile(r"%\(\w+\)[sdfg]|%[sd]|%%")

#: A password that must never be shown.
SECRET = "s3cret-pw"


# ~~ what counts as English

def english_patterns() -> Tuple[Dict[str, str], List[Tuple[str, Pattern[str]]]]:
    """``(exact, searched)``: msgids that leak when a text *is* one (German msgstr differs), and
    (msgid, regex) for the longer ones that leak when a text *contains* one. The engine's
    templates count whether or not they have a German msgstr."""
    with open(GERMAN_PO, "rb") as f:
        catalogue = {m.id: m.string for m in read_po(f, locale="de") if m.id and isinstance(m.id, str)}
    english = {msgid for msgid, msgstr in catalogue.items() if msgstr and msgstr != msgid}
    english |= {template for template in CATALOGUE.values() if catalogue.get(template) != template}
    exact = {}
    searched = []
    for msgid in english:
        literal = PLACEHOLDER.sub("", msgid)
        if not re.search(r"[A-Za-z]{2}", literal):
            continue  # nothing English in it ("%(position)s %(units)s")
        parts = PLACEHOLDER.split(msgid)
        regex = ".+?".join(re.escape(part) for part in parts)
        if PLACEHOLDER.search(msgid):
            exact_re = re.compile("^" + regex + "$", re.S)
            searched.append((msgid, exact_re))
        else:
            exact[msgid] = msgid
        # Sentences of four words or more are searched for inside longer texts too.
        if len(literal.split()) >= 4:
            searched.append((msgid, re.compile(r"(?<![A-Za-z])" + regex, re.S)))
    return exact, searched


EXACT, SEARCHED = english_patterns()


def leaks(texts: Iterable[str]) -> List[Tuple[str, str]]:
    """(text, English msgid it is or contains) for every text that leaked English."""
    found = []
    for text in texts:
        if text in EXACT:
            found.append((text, text))
            continue
        for msgid, pattern in SEARCHED:
            if pattern.search(text):
                found.append((text, msgid))
                break
    return found


#: Every visible text under the regions: text nodes, tooltips, placeholders, aria labels and
#: the choices of visible drop-downs.
COLLECT = """(regions) => {
    const shown = (el) => !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length)
        && getComputedStyle(el).visibility !== 'hidden';
    const texts = [];
    for (const selector of regions) {
        for (const root of document.querySelectorAll(selector)) {
            if (!shown(root)) continue;
            const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
            let node;
            while ((node = walker.nextNode())) {
                const el = node.parentElement;
                if (!el || ['SCRIPT', 'STYLE', 'OPTION'].includes(el.tagName) || !shown(el)) continue;
                const text = node.textContent.replace(/\\s+/g, ' ').trim();
                if (text) texts.push(text);
            }
            for (const el of root.querySelectorAll('[title], [placeholder], [aria-label]')) {
                if (!shown(el)) continue;
                for (const name of ['title', 'placeholder', 'aria-label']) {
                    const value = (el.getAttribute(name) || '').replace(/\\s+/g, ' ').trim();
                    if (value) texts.push(value);
                }
            }
            for (const select of root.querySelectorAll('select')) {
                if (!shown(select)) continue;
                for (const option of select.options) texts.push(option.text.replace(/\\s+/g, ' ').trim());
            }
        }
    }
    return texts;
}"""


#: Texts of the focus curve (SVG) that do not fit in its box: SVG text never wraps, so a long
#: German sentence is cut at the edges.
SVG_OVERFLOW = """(regions) => {
    const cut = [];
    for (const selector of regions) {
        for (const svg of document.querySelectorAll(selector + ' svg')) {
            if (!svg.getClientRects().length) continue;
            // On the page, so rotated texts (the y axis's label) count as drawn.
            const box = svg.getBoundingClientRect();
            for (const text of svg.querySelectorAll('text')) {
                if (!text.getClientRects().length || !text.textContent.trim()) continue;
                const b = text.getBoundingClientRect();
                if (b.left < box.left - 0.5 || b.right > box.right + 0.5 ||
                        b.top < box.top - 0.5 || b.bottom > box.bottom + 0.5) {
                    cut.push(text.textContent.trim() + ' (' + Math.round(b.left - box.left) + '..' +
                             Math.round(b.right - box.left) + ' of ' + Math.round(box.width) + ')');
                }
            }
        }
    }
    return cut;
}"""


#: The focus devices' names, as the page's own session reads them from the status.
DEVICE_NAMES = """() => fetch(OctoPrint.getSimpleApiUrl('pifocus'), {credentials: 'same-origin'})
    .then((r) => r.json()).then((st) => (st.devices || []).map((d) => d.device_name))"""


def check_german(page: Page, state: str) -> List[str]:
    """Collect the visible texts of ``state``, screenshot it, fail on English, on a password
    or on a curve text cut off."""
    texts = page.evaluate(COLLECT, REGIONS)
    cut = page.evaluate(SVG_OVERFLOW, REGIONS)
    assert not cut, f"texts of the curve cut off ({state}): {cut}"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"pifocus-de-{state}.png"), full_page=True)
    # Device names are the user's data (a device may well be called "Camera"), not UI text.
    names = set(page.evaluate(DEVICE_NAMES))
    leaked = [(text, msgid) for text, msgid in leaks(texts) if text not in names]
    assert not leaked, f"English in the German UI ({state}): " + "; ".join(
        f"{text!r} (msgid {msgid!r})" for text, msgid in leaked)
    assert not [t for t in texts if SECRET in t], f"a password is shown ({state})"
    return texts


# ~~ the server and the browser

@pytest.fixture(scope="module")
def server():
    config = deep_merge(demo_config(), {"plugins": {"_disabled": DISABLED_PLUGINS + ["achievements"]}})
    with OctoPrintServer(extra_config=config, users=DEFAULT_USERS) as server:
        yield server


@pytest.fixture(scope="module")
def chromium():
    if not Path(CHROMIUM).exists():
        raise FileNotFoundError(f"{CHROMIUM} is missing: install Debian's chromium package (scripts/system-deps.sh)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def open_german(chromium, server: OctoPrintServer, user: str = "admin") -> Page:
    context = chromium.new_context(viewport={"width": 1440, "height": 900})
    context.add_cookies(server.login_cookies(user))
    page = context.new_page()
    errors: List[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.pifocus_errors = errors  # type: ignore[attr-defined]
    page.set_default_timeout(PAGE_TIMEOUT)
    page.goto(server.url + "/?l10n=de")
    expect(page.locator(SIDEBAR)).to_be_visible(timeout=PAGE_TIMEOUT)
    expect(page.locator(SIDEBAR + " button.pifocus-autofocus-button")).to_have_text("Autofokus", timeout=PAGE_TIMEOUT)
    return page


def save_settings(server: OctoPrintServer, pifocus: dict) -> None:
    r = server.session("admin").post(server.url + "/api/settings", json={"plugins": {"pifocus": pifocus}}, timeout=10)
    assert r.status_code == 200, r.text


def dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SIMULATED = {"driver": "simulated", "camera": {"webcam": "pifocus_simulated", "url": "", "mode": "snapshot"}}


@pytest.fixture
def setup_restored(server):
    yield
    save_settings(server, SIMULATED)
    assert api_status(server)["driver"] == "simulated"


# ~~ the tests

def test_the_leak_check_finds_english(server):
    """The check itself: English texts of every kind are found, German ones are not."""
    assert leaks(["Autofocus"]) and leaks(["Autofocus failed"])
    assert leaks(["Autofokus beendet: Cannot connect to the camera at http://127.0.0.1:9/x: connection "
                  "refused. Is the webcam service running, or does the streamer accept only one client "
                  "(ffmpeg's -listen 1)? Check the URL and port."])
    assert leaks(["In focus at 512 code"])
    assert not leaks(["Autofokus", "Autofokus fehlgeschlagen", "Scharf bei 512 Code", "512", "camera-streamer"])


def test_sidebar_and_settings_in_german_in_normal_states(server, chromium, setup_restored):
    page = open_german(chromium, server)
    sidebar = page.locator(SIDEBAR)
    check_german(page, "sidebar")

    # Numbers in the German format, as the shared code formats them everywhere.
    formatted = page.evaluate("""() => [PiFocusShared.formatNumber(1.55, 2), PiFocusShared.formatSeconds(3.3),
                                        PiFocusShared.formatScore(1.234), PiFocusShared.formatNumber(1023, 0),
                                        PiFocusShared.formatNumber(-0.001, 1)]""")
    assert formatted == ["1,55", "3,3", "1,23", "1023", "0,0"], formatted

    # An autofocus: its result, with the duration in German format.
    sidebar.locator("button.pifocus-autofocus-button").click()
    result = sidebar.locator(".pifocus-result")
    expect(result).to_have_class("alert pifocus-result alert-success", timeout=60_000)
    status = api_status(server)
    expect(sidebar.locator(".pifocus-result-title")).to_have_text(f"Scharf: {status['position']:.0f} VCM-Schritte")
    details = sidebar.locator(".pifocus-result-details").inner_text()
    seconds = status["last_result"]["duration"]
    shown = f"{seconds:.1f}".replace(".", ",") if seconds < 10 else f"{seconds:.0f}"
    assert f"· {shown} s" in details and "." not in details.split("·")[-1], details
    check_german(page, "sidebar-autofocus")

    # The settings: every section, Detect, Test.
    open_pifocus_settings(page)
    settings = page.locator("#settings_plugin_pifocus")
    page.wait_for_function(
        "() => { const i = document.querySelector('#settings_plugin_pifocus img.pifocus-roi-snapshot');"
        " return i && i.complete && i.naturalWidth > 0; }")
    settings.locator("button.pifocus-detect").click()
    expect(settings.locator(".pifocus-devices tbody tr").first).to_be_visible(timeout=15_000)
    # The simulated lens as Detect names it, in German (it was English: "PiFocus simulation").
    expect(settings.locator(".pifocus-devices tbody tr").first).to_contain_text("PiFocus-Simulation")
    check_german(page, "settings")

    # German choices fit their drop-downs (they were cut off: "Schnappschuss-Webcam von OctoPri").
    cut = page.evaluate("""() => {
        const canvas = document.createElement('canvas').getContext('2d');
        const cut = [];
        for (const select of document.querySelectorAll('#settings_plugin_pifocus select')) {
            if (!select.offsetWidth) continue;
            const style = getComputedStyle(select);
            canvas.font = style.font;
            // The text's room: the box less its padding and borders and the arrow (about 20 px).
            const room = select.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight) - 20;
            for (const option of select.options) {
                const width = canvas.measureText(option.text).width;
                if (width > room) cut.push(select.id + ': ' + option.text + ' (' + Math.round(width) + ' > ' + room + ')');
            }
        }
        return cut;
    }""")
    assert cut == [], cut
    assert_no_script_errors(page)
    page.context.close()


def test_a_cancelled_run_in_german(server, chromium, setup_restored):
    page = open_german(chromium, server)
    sidebar = page.locator(SIDEBAR)
    sidebar.locator("button.pifocus-autofocus-button").click()
    cancel = sidebar.locator("button.pifocus-cancel")
    expect(cancel).to_be_visible()
    expect(sidebar.locator("svg.pifocus-curve circle.pifocus-point").first).to_be_visible()
    cancel.click()
    expect(sidebar.locator(".pifocus-result")).to_have_class("alert pifocus-result alert-warning", timeout=30_000)
    expect(sidebar.locator(".pifocus-result-title")).to_have_text("Autofokus abgebrochen")
    # The run view's one cancel sentence, with the position in German numbers and units.
    expect(sidebar.locator(".pifocus-result-message")).to_contain_text(
        "Das Objektiv ist zurück an seiner Startposition (")
    assert api_status(server)["last_result"]["message"].startswith("Autofocus cancelled.")  # English stays
    check_german(page, "sidebar-cancelled")
    assert_no_script_errors(page)
    page.context.close()


def test_a_camera_that_is_down_in_german(server, chromium, setup_restored):
    port = dead_port()
    save_settings(server, {"camera": {"webcam": "", "url": f"http://admin:{SECRET}@127.0.0.1:{port}/snapshot",
                                      "mode": "snapshot"}})
    page = open_german(chromium, server)
    sidebar = page.locator(SIDEBAR)
    sidebar.locator("button.pifocus-autofocus-button").click()
    expect(sidebar.locator(".pifocus-result")).to_have_class("alert pifocus-result alert-error", timeout=60_000)
    expect(sidebar.locator(".pifocus-result-title")).to_have_text("Autofokus fehlgeschlagen")
    message = sidebar.locator(".pifocus-result-message")
    expect(message).to_contain_text(f"Autofokus beendet: Keine Verbindung zur Kamera unter "
                                     f"http://admin:***@127.0.0.1:{port}/snapshot: Verbindung abgelehnt.")
    check_german(page, "sidebar-camera-down")

    # The settings' snapshot of the same camera: the route's error, in the request's language.
    open_pifocus_settings(page)
    error = page.locator("#settings_plugin_pifocus span", has_text="Kein Schnappschuss von der Kamera").first
    expect(error).to_be_visible(timeout=20_000)
    expect(error).to_contain_text("Keine Verbindung zur Kamera unter http://admin:***@127.0.0.1:")
    check_german(page, "settings-camera-down")
    assert_no_script_errors(page)
    page.context.close()


def test_an_i2c_driver_on_a_missing_bus_in_german(server, chromium, setup_restored):
    bus = next(n for n in range(200, 256) if not Path(f"/dev/i2c-{n}").exists())
    save_settings(server, {"driver": "i2c", "i2c": {"bus": bus}})
    page = open_german(chromium, server)
    sidebar = page.locator(SIDEBAR)
    reason = sidebar.locator(".pifocus-reason")
    expect(reason).to_have_text(re.compile(rf"^/dev/i2c-{bus} existiert nicht\. Aktivieren Sie den I2C-Bus"),
                                timeout=20_000)
    assert api_status(server)["lens_error"].startswith(f"/dev/i2c-{bus} does not exist.")  # the API's English
    expect(sidebar.locator("button.pifocus-autofocus-button")).to_be_disabled()
    check_german(page, "sidebar-i2c-missing-bus")

    # The API in the browser's language: a move refused by the same missing bus.
    reply = page.evaluate("""() => OctoPrint.simpleApiCommand('pifocus', 'move', {position: 10})
        .then(() => null, (xhr) => xhr.responseJSON)""")
    assert reply["error"].startswith(f"/dev/i2c-{bus} existiert nicht."), reply
    assert reply["error_code"] == "i2c.no_device", reply

    open_pifocus_settings(page)
    settings = page.locator("#settings_plugin_pifocus")
    settings.locator("button.pifocus-test").click()
    expect(settings.locator(".pifocus-test-result")).to_contain_text(f"/dev/i2c-{bus} existiert nicht", timeout=20_000)
    check_german(page, "settings-i2c-missing-bus")
    assert_no_script_errors(page)
    page.context.close()
