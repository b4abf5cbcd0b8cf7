"""Follow focus on a real OctoPrint with its virtual printer (issue 11, the runtime).

Two devices as in the demo: the simulated camera on its VCM over a moving bed
(``simulation.focus_field`` "both": its sharp code follows Y and Z) and the microscope on the
printer's Z over a tilted board (its sharp Z follows X and Y). Each has a focus map seeded in
config.yaml, fitted on points of the simulation's own truth, as a calibration would find them.

The evidence: the simulated cameras' status (lens position, sharp position, blur) sampled
through the API while the virtual printer prints, and OctoPrint's serial.log (every line sent
to the printer).
"""
from __future__ import annotations

import re
import shutil
import time
from typing import Dict, List

import pytest

from octoprint_pifocus.followfocus import CalibrationPoint, FocusMap
from octoprint_pifocus.sim import bed_camera_field, microscope_field
from octoprint_server import MICROSCOPE, OctoPrintServer, deep_merge, demo_config

API = "/api/plugin/pifocus"
#: The camera's depth of field (VCM codes): 0.05 px of blur per code, sharp up to 0.75 px.
DOF = 30.0
BED = bed_camera_field(340.0)
#: The microscope is the second device: its scene is sharp 1 mm higher (simulations.py).
BOARD = microscope_field(6.0)
#: The camera map's calibrated box.
BOX = {"x": (90.0, 130.0), "y": (60.0, 160.0), "z": (0.0, 4.0)}


def camera_map() -> Dict:
    points = [CalibrationPoint({"x": x, "y": y, "z": z}, lens=round(BED({"x": x, "y": y, "z": z})), score=1.0)
              for x in BOX["x"] for y in BOX["y"] for z in BOX["z"]]
    return FocusMap.fit(points, ("x", "y", "z"), dof_width=DOF).to_dict()


def microscope_map() -> Dict:
    points = [CalibrationPoint({"x": x, "y": y}, lens=round(BOARD({"x": x, "y": y}), 2), score=1.0)
              for x in (50.0, 150.0) for y in (50.0, 150.0)] + [
        CalibrationPoint({"x": 100.0, "y": 100.0}, lens=6.0, score=1.0)]
    return FocusMap.fit(points, ("x", "y"), dof_width=0.2).to_dict()


def print_file(layers: int = 12) -> str:
    """A small print with Y travel over the calibrated box and a layer change every few moves."""
    lines = ["G21", "G90", "M82", "G28", "G92 E0", "G1 Z0.2 F3000"]
    e = 0.0
    for layer in range(1, layers + 1):
        z = round(layer * 0.3, 2)
        lines += [f";LAYER:{layer - 1}", f"G0 F3000 X100 Y60 Z{z}"]
        for x, y in ((100, 160), (110, 160), (110, 60), (120, 60), (120, 160)):
            e += 0.4
            lines.append(f"G1 F1200 X{x} Y{y} E{e:.2f}")
    lines += ["G1 Z10 F600", "M84"]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def server():
    microscope = dict(MICROSCOPE, focus_map=microscope_map(),
                      follow={"enabled": False, "interval": 0.3, "threshold": 0.5})
    config = deep_merge(demo_config(focus_field="both", noise=0.0), {
        "serial": {"log": True},
        # OctoPrint's timelapse needs an ffmpeg path to start at all (it renders none here).
        "webcam": {"ffmpeg": shutil.which("ffmpeg") or "/usr/bin/ffmpeg"},
        "plugins": {"pifocus": {
            "devices": [{"id": "camera", "name": "Camera", "driver": "simulated",
                         "camera": {"webcam": "pifocus_simulated", "settle": 0.0},
                         "focus_map": camera_map(),
                         "follow": {"enabled": False, "interval": 0.2, "threshold": 0.3}},
                        microscope],
        }},
    })
    with OctoPrintServer(extra_config=config) as s:
        yield s


def status(server, device: str) -> Dict:
    r = server.session("user").get(server.url + API, params={"device": device}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def command(server, name: str, **fields):
    return server.session("admin").post(server.url + API, json=dict(fields, command=name), timeout=30)


def set_follow(server, device: str, enabled: bool, **follow) -> None:
    """Switch follow focus of one device through OctoPrint's settings API."""
    r = server.session("admin").get(server.url + "/api/settings", timeout=10)
    devices = r.json()["plugins"]["pifocus"]["devices"]
    for entry in devices:
        if entry["id"] == device:
            entry["follow"] = dict(entry["follow"], enabled=enabled, **follow)
    r = server.session("admin").post(server.url + "/api/settings",
                                     json={"plugins": {"pifocus": {"devices": devices}}}, timeout=10)
    assert r.status_code == 200, r.text


def sent_lines(server, mark: int) -> List[str]:
    """Lines sent to the printer since ``mark`` (serial.log length), numbers and checksums removed."""
    lines = []
    for line in server.serial_log_text()[mark:].splitlines():
        m = re.match(r"\S+ \S+ - Send: (?:N\d+ )?([^*]*)", line)
        if m:
            lines.append(m.group(1).strip())
    return lines


def wait_for(predicate, timeout=20.0, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.1)


def test_the_camera_lens_follows_the_map_during_a_print(server):
    set_follow(server, "camera", True)
    server.printer_command("G28")
    mark = len(server.serial_log_text())
    moves_before = status(server, "camera")["follow"]["moves"]
    text = print_file()
    server.print_gcode("follow.gcode", text)
    started = time.monotonic()
    wait_for(lambda: server.printer_state() == "Printing", what="print started")
    samples = []
    while server.printer_state() in ("Printing", "Starting"):
        body = status(server, "camera")
        samples.append((body["simulation"]["position"], body["simulation"]["focus"], body["follow"]))
        time.sleep(0.1)
    duration = time.monotonic() - started
    wait_for(lambda: server.printer_state() == "Operational", what="print finished")
    set_follow(server, "camera", False)

    assert len(samples) >= 20, f"only {len(samples)} samples: the print was too short to judge"
    followed = sum(abs(lens - sharp) <= DOF / 2 for lens, sharp, _ in samples) / len(samples)
    sharps = [sharp for _, sharp, _ in samples]
    # The sharp position travelled over several depths of field (the bed's Y travel). The
    # simulated camera's truth is PiFocus's estimate of the virtual printer's position, so this
    # shows the follow logic (map, interval, threshold), not the timing estimate's accuracy
    # (bench/follow.py measures that against a modelled printer). The estimate jumps when the
    # virtual printer's buffer pulls it on; the lens catches up within an interval.
    # The samples (every 0.1 s plus an API call) catch most of its 120-code travel, not all of it
    # on a loaded machine (82 codes seen): two depths of field are enough to tell following
    # from standing still.
    assert max(sharps) - min(sharps) >= 2 * DOF, (min(sharps), max(sharps))
    assert followed >= 0.8, followed
    moves = status(server, "camera")["follow"]["moves"] - moves_before
    # Rate-limited: no more than one move per interval (0.2 s) over the print.
    assert 3 <= moves <= duration / 0.2 + 1, (moves, duration)
    assert any(f["state"] == "following" and f["active"] for _, _, f in samples)
    # A VCM follows without a single line to the printer: every move sent is the file's.
    file_lines = {line.strip() for line in text.splitlines() if line.strip() and not line.startswith(";")}
    moves_sent = [line for line in sent_lines(server, mark) if re.match(r"G[0-3]\b", line)]
    assert moves_sent and set(moves_sent) <= file_lines, set(moves_sent) - file_lines


def test_the_clamp_outside_the_calibrated_range_is_said_once(server):
    set_follow(server, "camera", True)
    log_mark = len(server.log_text())
    server.printer_command("G28", "M400", "G1 X100 Y100 Z2 F6000", "M400", "M105")
    inside = round(BED({"x": 100.0, "y": 100.0, "z": 2.0}))
    wait_for(lambda: abs(status(server, "camera")["position"] - inside) <= 0.3 * DOF, what="following inside")
    # Out of the box in Y (up to 160): the lens stays at the value for Y 160.
    server.printer_command("G1 Y200 F6000")
    body = wait_for(lambda: (lambda b: b if b["follow"]["state"] == "outside" else None)(status(server, "camera")),
                    what="outside")
    assert body["follow"]["clamped"] is True
    assert "outside the focus map's calibrated range in Y" in body["follow"]["notice"]
    assert body["follow"]["notice_code"] == "follow.outside"
    expected = round(BED({"x": 100.0, "y": 160.0, "z": 2.0}))
    # Within the threshold (0.3 depth of field) of it: closer is not worth a move.
    wait_for(lambda: abs(status(server, "camera")["position"] - expected) <= 0.3 * DOF,
             what="lens at the clamped value")
    # Still outside for several ticks, further out: said once.
    server.printer_command("G1 Y210 F6000", "G1 Y220 F6000")
    time.sleep(1.5)
    log = server.log_text()[log_mark:]
    assert log.count("outside the focus map's calibrated range in Y (device Camera)") == 1, log[-3000:]
    # Back inside, out again: a new excursion, said again.
    server.printer_command("G1 Y100 F6000", "M400", "M105")
    wait_for(lambda: status(server, "camera")["follow"]["state"] == "following", what="back inside")
    assert status(server, "camera")["follow"]["notice"] is None
    server.printer_command("G1 Y230 F6000")
    wait_for(lambda: status(server, "camera")["follow"]["state"] == "outside", what="outside again")
    assert server.log_text()[log_mark:].count("outside the focus map's calibrated range in Y (device Camera)") == 2
    set_follow(server, "camera", False)


def test_pifocus_map_sets_the_lens_to_the_maps_value(server):
    set_follow(server, "camera", False)  # whatever a test before left
    server.printer_command("G28", "G1 X110 Y140 Z1 F6000", "@PIFOCUS MAP")
    expected = round(BED({"x": 110.0, "y": 140.0, "z": 1.0}))
    wait_for(lambda: abs(status(server, "camera")["position"] - expected) <= 1, what="@PIFOCUS MAP applied")
    assert status(server, "camera")["simulation"]["blur_radius"] <= 0.1
    # The API's map_apply does the same for where the toolhead is now.
    server.printer_command("G1 Y70 F6000")
    expected = round(BED({"x": 110.0, "y": 70.0, "z": 1.0}))
    time.sleep(0.5)
    r = command(server, "map_apply", device="camera")
    assert r.status_code == 200, r.text
    assert abs(r.json()["position"] - expected) <= 1


def test_pifocus_map_in_a_print_uses_the_position_after_the_moves_before_it(server):
    set_follow(server, "camera", False)
    text = "\n".join(["G28", "G1 X120 Y150 Z0.5 F3000", "@PIFOCUS MAP", "G1 Y60 F3000", "M400"]) + "\n"
    log_mark = len(server.log_text())
    server.print_gcode("map.gcode", text)
    wait_for(lambda: "@PIFOCUS MAP done" in server.log_text()[log_mark:], what="@PIFOCUS MAP done")
    wait_for(lambda: server.printer_state() == "Operational", what="print finished")
    expected = round(BED({"x": 120.0, "y": 150.0, "z": 0.5}))
    assert abs(status(server, "camera")["position"] - expected) <= 1


def test_map_apply_without_a_map_says_what_to_do(server):
    r = server.session("admin").get(server.url + "/api/settings", timeout=10)
    devices = r.json()["plugins"]["pifocus"]["devices"]
    # A third device, simulated, without a map.
    devices.append({"id": "spare", "name": "Spare", "driver": "simulated"})
    r = server.session("admin").post(server.url + "/api/settings",
                                     json={"plugins": {"pifocus": {"devices": devices}}}, timeout=10)
    assert r.status_code == 200, r.text
    r = command(server, "map_apply", device="spare")
    assert r.status_code == 409
    assert "has no focus map: calibrate one" in r.json()["error"]
    assert r.json()["error_code"] == "follow.no_map"


def test_the_microscope_corrects_z_after_xy_jogs_but_never_during_a_print(server):
    server.printer_command("G28", "G1 X100 Y100 Z5 F6000")
    set_follow(server, "microscope", True)
    wait_for(lambda: status(server, "microscope")["follow"]["state"] == "following", what="following")
    mark = len(server.serial_log_text())
    server.printer_command("G1 X150 Y50 F6000")          # a jog in X and Y
    expected = BOARD({"x": 150.0, "y": 50.0})             # 6.5 mm: inside the Z window 3..9

    def z_values():
        return [float(re.search(r"Z(-?[\d.]+)", line).group(1)) for line in sent_lines(server, mark)
                if re.match(r"G[01]\b.*Z", line)]

    wait_for(lambda: any(abs(z - expected) < 0.011 for z in z_values()), what="Z correction sent")
    time.sleep(1.0)  # the move's last lines and its count
    body = status(server, "microscope")
    assert body["follow"]["moves"] >= 1
    assert body["follow"]["target"] == pytest.approx(expected, abs=0.011)
    for z in z_values():
        assert 3.0 - 0.2 - 1e-9 <= z <= 9.0, z  # the backlash overshoot below the target at most

    # A Z jogged by hand stays until the next XY move.
    moves = status(server, "microscope")["follow"]["moves"]
    server.printer_command("G1 Z4 F600")
    time.sleep(1.5)
    assert status(server, "microscope")["follow"]["moves"] == moves

    # During a print: no Z from PiFocus, whatever the XY travel.
    text = print_file(layers=4)
    mark = len(server.serial_log_text())
    server.print_gcode("microscope.gcode", text)
    wait_for(lambda: server.printer_state() == "Printing", what="print started")
    states = set()
    while server.printer_state() in ("Printing", "Starting"):
        states.add(status(server, "microscope")["follow"]["state"])
        time.sleep(0.2)
    wait_for(lambda: server.printer_state() == "Operational", what="print finished")
    assert "printing_blocked" in states
    file_lines = {line.strip() for line in text.splitlines() if line.strip() and not line.startswith(";")}
    printed = sent_lines(server, mark)
    end = max(i for i, line in enumerate(printed) if line == "M84")
    moves_sent = [line for line in printed[:end + 1] if re.match(r"G[0-3]\b", line)]
    assert set(moves_sent) <= file_lines, set(moves_sent) - file_lines
    assert status(server, "microscope")["follow"]["moves"] == moves
    # The print's own XY travel is no jog: after it, Z stays where the print left it.
    time.sleep(1.5)
    assert status(server, "microscope")["follow"]["moves"] == moves
    set_follow(server, "microscope", False)


def test_timelapse_frames_are_taken_with_the_lens_at_the_maps_value(server):
    # Follow moves at most once a minute here: the lens moves for the frames only.
    set_follow(server, "camera", True, interval=60.0)
    r = server.session("admin").post(server.url + "/api/timelapse",
                                     json={"type": "zchange", "minDelay": 0.01, "renderAfterPrint": "never", "save": False},
                                     timeout=10)
    assert r.status_code == 200, r.text
    before = status(server, "camera")["follow"]
    log_mark = len(server.log_text())
    server.printer_command("G28", "M400")
    server.print_gcode("timelapse.gcode", print_file(layers=12))
    wait_for(lambda: server.printer_state() == "Printing", what="print started")
    wait_for(lambda: server.printer_state() == "Operational", timeout=60, what="print finished")
    server.session("admin").post(server.url + "/api/timelapse", json={"type": "off", "save": False}, timeout=10)
    after = status(server, "camera")["follow"]
    set_follow(server, "camera", False, interval=0.2)

    frames = re.findall(r"Timelapse frame \(device Camera\): lens at ([\d.]+) for the toolhead at (\{[^}]*\})",
                        server.log_text()[log_mark:])
    assert len(frames) >= 3, "\n".join(l for l in server.log_text()[log_mark:].splitlines() if "imelapse" in l or "apture" in l or "rror" in l)[-3000:]
    focus_map = FocusMap.from_dict(camera_map())
    for target, where in frames:
        position = eval(where, {})  # a dict of floats, as logged
        assert float(target) == pytest.approx(focus_map.evaluate(position).value, abs=0.5)
    assert after["timelapse_moves"] - before["timelapse_moves"] >= 2
    assert after["moves"] - before["moves"] <= 2
