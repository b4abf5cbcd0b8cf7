"""Settings > PiFocus, Follow focus: calibrating a focus map in a real browser (issue 11).

Against a real OctoPrint with its virtual printer, the simulated cameras' sharp positions
following the toolhead (``focus_field: both``: the bed in Y for the camera, a tilted board for
the microscope): the user makes three points along Y, calibrates,
sees the progress, then each point's residual in depth-of-field units, the expected error and
the plot of the fitted curve; takes a point "here" after jogging; and the microscope (printer Z)
gets a colour map from corners and centre. Screenshots go to test-artifacts/.
"""
from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

from octoprint_server import DISABLED_PLUGINS, OctoPrintServer, deep_merge, demo_config
from test_browser import assert_no_script_errors, browser, open_octoprint, screenshot  # noqa: F401
from test_browser_settings_devices import open_settings, row

API = "/api/plugin/pifocus"


@pytest.fixture(scope="module")
def server():
    config = deep_merge(demo_config(microscope=True, noise=0.5, focus_field="both"),
                        {"plugins": {"_disabled": DISABLED_PLUGINS + ["achievements"]}})
    with OctoPrintServer(extra_config=config) as s:
        s.printer_command("G28")
        yield s


def wait_idle(server, device):
    deadline = time.monotonic() + 120
    while server.session("admin").get(server.url + API, params={"device": device}, timeout=10).json()["busy"]:
        assert time.monotonic() < deadline
        time.sleep(0.3)


def test_calibrating_a_line_shows_residuals_the_error_and_the_curve(server, browser):  # noqa: F811
    page = open_octoprint(browser, server, "admin")
    logs = []
    page.on("console", lambda m: logs.append(m.text))
    settings = open_settings(page)
    section = settings.locator(".pifocus-followmap")
    expect(section).to_be_visible()
    expect(section.locator("select.pifocus-map-axes")).to_have_value("y")
    # Make three points along Y, 30..170 mm.
    section.locator(".pifocus-map-count").fill("3")
    y_range = section.locator('.pifocus-map-range[data-axis="y"]')
    y_range.locator(".pifocus-map-from").fill("30")
    y_range.locator(".pifocus-map-to").fill("170")
    section.locator("button.pifocus-map-generate").click()
    points = section.locator("tr.pifocus-map-point")
    expect(points).to_have_count(3)
    expect(points.nth(1).locator(".pifocus-map-y")).to_have_value("100")

    section.locator("button.pifocus-map-calibrate").click()
    expect(section.locator(".pifocus-map-progress")).to_be_visible(timeout=10_000)
    expect(section.locator(".pifocus-map-progress-text")).to_contain_text("of 3")
    result = section.locator(".pifocus-map-result")
    expect(section.locator(".pifocus-map-progress")).to_be_hidden(timeout=120_000)
    expect(result).to_be_visible()
    rows = result.locator("tr.pifocus-map-result-point")
    expect(rows).to_have_count(3)
    # Each point's residual in depth-of-field units: numbers, small (the simulation is exact).
    for i in range(3):
        text = rows.nth(i).locator(".pifocus-map-residual").inner_text().replace(",", ".")
        assert abs(float(text)) < 0.5, text
    expect(result.locator(".pifocus-map-kind")).to_contain_text("piecewise-linear over Y, 3 points")
    expect(result.locator(".pifocus-map-expected")).to_contain_text("depth of field")
    # The plot: three points and the fitted line through them.
    curve = result.locator("svg.pifocus-map-curve")
    expect(curve.locator("circle")).to_have_count(3)
    assert curve.locator("path.pifocus-line").get_attribute("d").count("L") == 2
    # The lens axis says its unit (the simulated lens counts codes), the toolhead axis its mm.
    expect(curve.locator(".pifocus-map-yunit")).to_have_text(
        page.evaluate("PiFocusShared.unitsLabel('code', 'simulated')"))
    assert curve.locator(".pifocus-map-yunit").text_content().strip()
    expect(curve.locator(".pifocus-axis-label").first).to_have_text("Y (mm)")
    # The bed's Y matters: the lens positions rise along Y (the field: 1.2 codes per mm).
    lenses = [float(rows.nth(i).locator(".pifocus-map-lens").inner_text().replace(",", ""))
              for i in range(3)]
    assert lenses[0] < lenses[1] < lenses[2], lenses
    screenshot(page, "pifocus-followmap-line.png", ".pifocus-map-result")

    # "Here": jog, then take the toolhead's position as a point.
    server.printer_command("G0 X40 Y60 F6000", "M400")
    section.locator("button.pifocus-map-clear-points").click()
    expect(points).to_have_count(0)
    section.locator("button.pifocus-map-here").click()
    expect(points).to_have_count(1)
    expect(points.nth(0).locator(".pifocus-map-y")).to_have_value("60")
    assert_no_script_errors(page)
    assert not [line for line in logs if "PiFocus" in line and "Error" in line], logs


def test_the_microscope_gets_a_colour_map_from_corners_and_centre(server, browser):  # noqa: F811
    wait_idle(server, "camera")
    page = open_octoprint(browser, server, "admin")
    logs = []
    page.on("console", lambda m: logs.append(m.text))
    settings = open_settings(page)
    row(settings, "microscope").locator("a.pifocus-device-open").click()
    section = settings.locator(".pifocus-followmap")
    expect(section.locator("select.pifocus-map-axes")).to_have_value("xy")
    # Follow mode's settings, and what following means for a printer-Z device.
    expect(section.locator("input.pifocus-follow-enabled")).to_be_visible()
    expect(section.locator(".pifocus-follow-printer-z")).to_contain_text("never during a print")
    section.locator("select.pifocus-map-generator-kind").select_option("corners")
    section.locator("button.pifocus-map-generate").click()
    expect(section.locator("tr.pifocus-map-point")).to_have_count(5)
    section.locator("button.pifocus-map-calibrate").click()
    result = section.locator(".pifocus-map-result")
    expect(result.locator("tr.pifocus-map-result-point")).to_have_count(5, timeout=180_000)
    expect(result.locator(".pifocus-map-kind")).to_contain_text("a plane over X, Y, 5 points")
    canvas = result.locator("canvas.pifocus-map-colours")
    expect(canvas).to_be_visible()
    # The canvas is drawn: its pixels are not all blank.
    painted = canvas.evaluate("""c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n / (d.length / 4); }""")
    assert painted > 0.8, painted
    # The tilted board: the map's lens positions span more than a millimetre of Z.
    low, high = (float(t.replace(",", ".")) for t in result.locator(".pifocus-map-legend span").all_inner_texts()[:3:2])
    assert high - low > 1.0, (low, high)
    screenshot(page, "pifocus-followmap-colours.png", ".pifocus-map-result")
    assert_no_script_errors(page)
    assert not [line for line in logs if "PiFocus" in line and "Error" in line], logs


def test_the_follow_focus_section_speaks_german(server, browser):  # noqa: F811
    from test_browser_german import COLLECT, leaks
    wait_idle(server, "microscope")
    page = open_octoprint(browser, server, "admin", query="?l10n=de")
    settings = open_settings(page)
    result = settings.locator(".pifocus-followmap .pifocus-map-result")
    expect(result).to_be_visible()  # the camera's map from the first test
    expect(result.locator(".pifocus-map-kind")).to_contain_text("stückweise linear über Y")
    # Numbers in the German locale: "100,0" mm.
    expect(result.locator("tr.pifocus-map-result-point").nth(1)).to_contain_text("Y 100,0")
    texts = page.evaluate(COLLECT, ["#settings_plugin_pifocus .pifocus-followmap"])
    assert any("Schärfentiefen" in t for t in texts), texts
    assert not leaks(texts), leaks(texts)
    screenshot(page, "pifocus-de-followmap.png", ".pifocus-map-result")
    assert_no_script_errors(page)
