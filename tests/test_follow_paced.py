"""Follow focus against the truth: PiFocus's paced virtual printer on a real OctoPrint (issue 11).

OctoPrint connects to :data:`~octoprint_pifocus.plugin.sim_printer.PORT`, the virtual printer
that runs each move at its feed rate. The simulated camera's sharp position follows *that
printer's head* (where it really is at the moment the blur is worked out), while follow focus
knows only the G-code sent, as on a real printer. Each sample of the camera's status is one
moment of the truth: the head's position, the sharp code for it and the lens's physical
position, read together in the server; so a sample says whether the picture was sharp at
that moment, whatever the machine's load did to the timing.

The print is the start of the bundled demo print (``octoprint_pifocus/demo``: Y travel of
100 mm at 30 mm/s, a layer change every 11 moves).
"""
from __future__ import annotations

import threading
import time
from typing import Dict, List

import pytest

from octoprint_pifocus.demo import follow_demo_gcode
from octoprint_pifocus.followfocus import CalibrationPoint, FocusMap
from octoprint_pifocus.plugin.sim_printer import PORT
from octoprint_pifocus.sim import bed_camera_field
from octoprint_server import OctoPrintServer, deep_merge, demo_config

API = "/api/plugin/pifocus"
#: Blur radius (px) up to which the picture is in depth of field: 0.05 px per code, ±15 codes.
DOF_BLUR = 0.75
DOF = 30.0
BED = bed_camera_field(340.0)
BOX = {"x": (90.0, 130.0), "y": (60.0, 160.0), "z": (0.0, 6.0)}
LAYERS = 2


def camera_map() -> Dict:
    """The map a calibration over the demo print's box finds (points of the field's truth)."""
    points = [CalibrationPoint({"x": x, "y": y, "z": z}, lens=round(BED({"x": x, "y": y, "z": z})), score=1.0)
              for x in BOX["x"] for y in BOX["y"] for z in BOX["z"]]
    return FocusMap.fit(points, ("x", "y", "z"), dof_width=DOF).to_dict()


@pytest.fixture(scope="module")
def server():
    config = deep_merge(demo_config(focus_field="bed", noise=0.0, width=320, height=180), {
        "serial": {"port": PORT, "log": True},
        "plugins": {"pifocus": {"devices": [
            {"id": "camera", "name": "Camera", "driver": "simulated",
             "camera": {"webcam": "pifocus_simulated", "settle": 0.0},
             "focus_map": camera_map(), "follow": {"enabled": False, "interval": 0.25, "threshold": 0.25}}]}},
    })
    with OctoPrintServer(extra_config=config) as s:
        yield s


def status(server: OctoPrintServer) -> Dict:
    r = server.session("user").get(server.url + API, params={"device": "camera"}, timeout=10)
    r.raise_for_status()
    return r.json()


def set_follow(server: OctoPrintServer, enabled: bool) -> None:
    admin = server.session("admin")
    devices = admin.get(server.url + "/api/settings", timeout=10).json()["plugins"]["pifocus"]["devices"]
    devices[0]["follow"] = dict(devices[0]["follow"], enabled=enabled)
    admin.post(server.url + "/api/settings", json={"plugins": {"pifocus": {"devices": devices}}},
               timeout=10).raise_for_status()


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.1)


def sample_while(server: OctoPrintServer, busy, every: float = 0.2) -> List[Dict]:
    """The camera's simulation status every ``every`` s while ``busy()``."""
    samples: List[Dict] = []
    stop = threading.Event()

    def run() -> None:
        session = server.session("user")
        while not stop.is_set():
            body = session.get(server.url + API, params={"device": "camera"}, timeout=10).json()
            samples.append(body["simulation"])
            stop.wait(every)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: not busy(), 600, "the print to end")
    finally:
        stop.set()
        thread.join(15)
    return samples


def print_demo(server: OctoPrintServer, name: str) -> List[Dict]:
    """Print the demo's first layers; the samples taken while the print's layers run."""
    wait_for(lambda: server.printer_state() == "Operational", 60, "the printer to be ready")
    server.printer_command("G90", "G28", "G0 F6000 X95 Y60 Z0.3", "M400")
    wait_for(lambda: (status(server)["simulation"]["toolhead"] or {}).get("y") == 60.0, 30, "the head at Y 60")
    server.print_gcode(name, follow_demo_gcode(LAYERS))
    wait_for(lambda: server.printer_state() == "Printing", 30, "the print to start")
    # "Finishing": every line sent, the printer's buffer still running.
    samples = sample_while(server, lambda: server.printer_state() in ("Printing", "Finishing"))
    top = LAYERS * 0.3
    # The layers themselves, inside the calibrated box: the travel from homing and the lift at
    # the end leave it (there the lens stays at the nearest calibrated value, and says so).
    return [s for s in samples if s["toolhead"] and 0 < s["toolhead"]["z"] <= top + 1e-6
            and all(BOX[a][0] - 1e-6 <= s["toolhead"][a] <= BOX[a][1] + 1e-6 for a in ("x", "y"))]


def test_the_simulated_camera_follows_the_printers_head_at_its_feed_rate(server):
    """The truth is the paced printer's head: a 60 mm move at 20 mm/s takes its 3 s, in either
    direction (OctoPrint's own virtual printer would be there at once going down in Y), and the
    head passes the points in between."""
    server.printer_command("G90", "G28", "M400")
    wait_for(lambda: (status(server)["simulation"]["toolhead"] or {}).get("y") == 0.0, 30, "homed")
    for target in (60.0, 0.0):
        sent = time.monotonic()
        server.printer_command(f"G0 F1200 Y{target:g}")
        seen = []
        while True:
            body = status(server)["simulation"]
            seen.append(body["toolhead"]["y"])
            if body["toolhead"]["y"] == target:
                break
            assert time.monotonic() - sent < 30, f"the head never reached Y {target}: {seen[-5:]}"
            time.sleep(0.1)
        took = time.monotonic() - sent
        assert took >= 2.9, f"Y {target}: the head was there after {took:.2f} s, not its 3 s"
        between = [y for y in seen if 5.0 < y < 55.0]
        assert between, f"no position between the ends on the way to Y {target}: {seen}"
        # The sharp code is the field's value at the true head.
        assert body["focus"] == pytest.approx(BED(body["toolhead"]), abs=0.01)


def test_follow_keeps_the_picture_sharp_and_without_it_it_drifts(server):
    # Without follow: one autofocus at the first layer's start, then the bed's travel drifts.
    server.printer_command("G90", "G28", "G0 F6000 X95 Y60 Z0.3", "M400")
    wait_for(lambda: (status(server)["simulation"]["toolhead"] or {}).get("y") == 60.0, 30, "at the start")
    server.session("admin").post(server.url + API, json={"command": "autofocus"}, timeout=10).raise_for_status()
    wait_for(lambda: not status(server)["busy"], 120, "the autofocus")
    fixed = print_demo(server, "fixed.gcode")
    fixed_blur = [s["blur_radius"] for s in fixed]
    assert len(fixed) >= 40, f"only {len(fixed)} samples of a print of ~40 s"
    assert sum(b <= DOF_BLUR for b in fixed_blur) / len(fixed) < 0.6
    assert max(fixed_blur) > 2 * DOF_BLUR

    set_follow(server, True)
    try:
        follow = print_demo(server, "follow.gcode")
    finally:
        set_follow(server, False)
    blur = [s["blur_radius"] for s in follow]
    assert len(follow) >= 40
    share = sum(b <= DOF_BLUR for b in blur) / len(blur)
    # The target (95 %) is the benchmark's (bench/follow_printer.py); here a loaded 2-core machine
    # may delay the follower's timer now and then, so the test asks for a clear majority and
    # no sample far out of focus.
    assert share >= 0.85, f"{share:.0%} of {len(blur)} samples in depth of field, worst {max(blur):.2f} px"
    assert max(blur) < 3 * DOF_BLUR, f"worst blur {max(blur):.2f} px"
    # The lens moved with the print, inside its limits.
    assert len({round(s["position"]) for s in follow}) >= 10


def test_the_paced_printer_honours_m220_and_g92(server):
    """M220 S50 halves the speed of the moves after it (60 mm at 20 mm/s takes 6 s, not 3); a
    G92 offset moves the logical coordinates, not the head (the truth is in machine mm)."""
    server.printer_command("G90", "G28", "M400")
    wait_for(lambda: (status(server)["simulation"]["toolhead"] or {}).get("y") == 0.0, 30, "homed")
    try:
        server.printer_command("G92 Y10", "M220 S50")
        sent = time.monotonic()
        server.printer_command("G0 F1200 Y70")
        wait_for(lambda: status(server)["simulation"]["toolhead"]["y"] == 60.0, 60, "the head at machine Y 60")
        took = time.monotonic() - sent
        assert took >= 5.9, f"the move took {took:.2f} s: M220 S50 was not honoured"
        # PiFocus's own estimate followed the same G-code: the same machine position.
        assert status(server)["toolhead"]["y"] == pytest.approx(60.0)
    finally:
        server.printer_command("M220 S100", "G28", "M400")
