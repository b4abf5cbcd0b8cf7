"""Follow focus through the real plugin: fixed focus, refocus at every layer, follow, on PiFocus's
paced virtual printer.

One real OctoPrint (tests/octoprint_server.py) connected to PiFocus's paced virtual printer
(``PIFOCUS_SIM``, ``octoprint_pifocus/plugin/sim_printer.py``: each move at its feed rate,
1500 mm/s² acceleration, OctoPrint's ``commandBuffer`` of 4 lines), with PiFocus's simulated VCM
camera over a moving bed (``simulation.focus_field`` "bed": the sharp code follows Y and Z of
*the paced printer's head*, where it really is at that moment; follow focus knows only the
G-code sent, as on a real printer). The camera's focus map is calibrated before the prints with
the real autofocus on the same simulated camera at 8 points (X 90/130, Y 60/160, Z 0/top:
:func:`~octoprint_pifocus.followfocus.calibrate`, in this process) and seeded into
config.yaml. The bundled demo print (``octoprint_pifocus/demo``: Y travel, a layer change every
11 moves, about 20 s a layer) is printed once per strategy:

- **fixed**: one full autofocus through the API at the first layer's start, follow off;
- **refocus**: ``@PIFOCUS AUTOFOCUS REFINE`` after the move to each layer's start (the print
  holds for it);
- **follow**: follow focus on, at each ``--intervals`` (threshold ``--threshold``).

The simulated camera's true blur is sampled through the API every ``--sample`` s while each
print runs (a sample is in depth of field at a blur radius of at most 0.75 px, as
bench/follow.py); counted are the samples of the print's layers inside the calibrated box (not
the travel from homing, nor the lift at the end). "At layer changes" are the samples taken while
the head's true Z changes between two layers. The print time is from the upload to the printer
being idle again, against the print's own move time on the paced printer.

Run: ``python bench/follow_printer.py [--layers 10] [--intervals 0.5,0.25] [--sample 0.25]``
(about 4 min a print at 10 layers, as the printer runs at the feed rate).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import threading
import time
from typing import Dict, List

import common  # noqa: F401  (puts the repository on sys.path)
from common import ROOT, RESULTS

sys.path.insert(0, str(ROOT / "tests"))

from octoprint_server import OctoPrintServer, deep_merge, demo_config  # noqa: E402

from octoprint_pifocus.demo import follow_demo_gcode  # noqa: E402
from octoprint_pifocus.plugin.sim_printer import ACCEL, PORT as PACED_PORT, _duration  # noqa: E402
from octoprint_pifocus.focus import autofocus  # noqa: E402
from octoprint_pifocus.followfocus import FocusMap, calibrate, grid_points  # noqa: E402
from octoprint_pifocus.sim import SimulatedCamera, SimulatedLens, bed_camera_field, draw_scene  # noqa: E402

API = "/api/plugin/pifocus"
DOF_BLUR = 0.75
BLUR_RATE = 0.05
DOF_WIDTH = 2 * DOF_BLUR / BLUR_RATE
BOX = {"x": (90.0, 130.0), "y": (60.0, 160.0), "z": (0.0, 6.0)}


def calibrated_map(top: float) -> Dict:
    """The map a calibration finds: the real autofocus at 8 points on the simulated camera,
    over the print's box up to its top layer ``top`` (mm)."""
    field = bed_camera_field(340.0)
    lens = SimulatedLens(start=700)
    camera = SimulatedCamera(draw_scene(480, 270, seed=7), lens, 0.0, blur_rate=BLUR_RATE, noise=2.0,
                             seed=1, focus_field=field)
    points = calibrate(grid_points(dict(BOX, z=(0.0, max(BOX["z"][1], top))), 2), go_to=camera.set_toolhead, focus=lambda: autofocus(lens, camera))
    return FocusMap.fit(points, ("x", "y", "z"), dof_width=DOF_WIDTH).to_dict()


class Sampler:
    """Polls the camera's status in a thread: (time, blur radius, follow moves)."""

    def __init__(self, server: OctoPrintServer, every: float) -> None:
        self.server, self.every = server, every
        self.samples: List[tuple] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        session = self.server.session("user")
        while not self._stop.is_set():
            body = session.get(self.server.url + API, params={"device": "camera"}, timeout=10).json()
            sim = body["simulation"]
            self.samples.append((time.monotonic(), sim["blur_radius"], body["follow"]["moves"],
                                 body["position"], (sim.get("toolhead") or {}).get("z"), sim.get("toolhead")))
            self._stop.wait(self.every)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(5)


def set_follow(server: OctoPrintServer, enabled: bool, interval: float = 0.5) -> None:
    devices = server.session("admin").get(server.url + "/api/settings", timeout=10).json()["plugins"]["pifocus"]["devices"]
    devices[0]["follow"] = dict(devices[0]["follow"], enabled=enabled, interval=interval)
    r = server.session("admin").post(server.url + "/api/settings", json={"plugins": {"pifocus": {"devices": devices}}},
                                     timeout=10)
    r.raise_for_status()


def wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not within {timeout} s")
        time.sleep(0.1)


def run_print(server: OctoPrintServer, name: str, text: str, every: float, top: float) -> Dict:
    log_mark = len(server.log_text())
    with Sampler(server, every) as sampler:
        started = time.monotonic()
        server.print_gcode(name, text)
        wait(lambda: server.printer_state() == "Printing", 30, "print started")
        wait(lambda: server.printer_state() == "Operational", 1800, "print finished")
        duration = time.monotonic() - started
    log = server.log_text()[log_mark:]
    # The print's layers inside the calibrated box: not the travel from homing nor the lift at
    # the end (there the lens stays at the nearest calibrated value, and says so).
    sampler.samples = [s for s in sampler.samples if s[5] and 0 < s[5]["z"] <= top + 1e-6 and
                       all(BOX[a][0] - 1e-6 <= s[5][a] <= BOX[a][1] + 1e-6 for a in ("x", "y"))]
    blur = [s[1] for s in sampler.samples]
    positions = [s[3] for s in sampler.samples]
    # The first sample after the head's true Z changed: a layer change.
    # The first sample after the head's true Z changed between two layers (``top``: the last
    # layer's Z; not the homing, not the lift at the end).
    layer = [s[1] for prev, s in zip(sampler.samples, sampler.samples[1:])
             if s[4] is not None and prev[4] is not None and abs(s[4] - prev[4]) > 1e-6
             and 0 < prev[4] <= top + 1e-6 and s[4] <= top + 1e-6]
    autofocus_frames = [int(n) for n in re.findall(r"Autofocus done \(.*?\): position \S+, score \S+, (\d+) frames", log)]
    return {
        "samples": len(blur),
        "in_dof": sum(b <= DOF_BLUR for b in blur) / len(blur),
        "layer_samples": len(layer),
        "layer_in_dof": sum(b <= DOF_BLUR for b in layer) / len(layer) if layer else None,
        "mean_blur": sum(blur) / len(blur),
        "print_time": duration,
        "follow_moves": sampler.samples[-1][2] - sampler.samples[0][2],
        "autofocus_runs": len(autofocus_frames),
        "autofocus_frames": sum(autofocus_frames),
        "lens_positions": len({p for p in positions if p is not None}),
    }


def nominal_time(gcode: str) -> float:
    """The print's moves' own time on the paced printer (what a print takes with nothing added)."""
    printer = _Planner()
    return sum(printer.plan(line) for line in gcode.splitlines())


class _Planner:
    """The paced printer's move timing, without a serial port: absolute G-code only (the demo's)."""

    def __init__(self) -> None:
        self.pos, self.e, self.f = {"x": 0.0, "y": 0.0, "z": 0.0}, 0.0, 200.0

    def plan(self, line: str) -> float:
        line = line.split(";", 1)[0].strip()
        if line.startswith("G28"):
            self.pos = {"x": 0.0, "y": 0.0, "z": 0.0}
            return 0.0
        if not re.match(r"G[01]\b", line):
            return 0.0
        words = {k.lower(): float(v) for k, v in re.findall(r"([XYZEF])(-?[\d.]+)", line)}
        self.f = words.get("f", self.f)
        end = {a: words.get(a, self.pos[a]) for a in self.pos}
        distance = sum((end[a] - self.pos[a]) ** 2 for a in end) ** 0.5
        de = abs(words.get("e", self.e) - self.e)
        self.pos, self.e = end, words.get("e", self.e)
        return _duration(distance if distance > 0 else de, self.f / 60.0, ACCEL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=10)
    parser.add_argument("--sample", type=float, default=0.25, help="seconds between blur samples")
    parser.add_argument("--intervals", default="0.5,0.25", help="follow intervals to run, s (comma-separated)")
    parser.add_argument("--threshold", type=float, default=0.25, help="follow threshold, share of the DoF")
    parser.add_argument("--strategies", default="fixed,refocus,follow", help="which prints to run")
    args = parser.parse_args()
    print("calibrating the map (real autofocus at 8 points on the simulated camera) ...", flush=True)
    focus_map = calibrated_map(round(args.layers * 0.3, 3))
    config = deep_merge(demo_config(focus_field="bed", noise=2.0, width=480, height=270), {"plugins": {"pifocus": {"devices": [
        {"id": "camera", "name": "Camera", "driver": "simulated",
         "camera": {"webcam": "pifocus_simulated", "settle": 0.0},
         "search": {"window": 60},
         "focus_map": focus_map, "follow": {"enabled": False, "interval": 0.5,
                                                      "threshold": args.threshold}}]}},
        # PiFocus's paced virtual printer: moves at their feed rate, its head is the camera's truth.
        "serial": {"port": PACED_PORT}})
    results = {}
    with OctoPrintServer(extra_config=config) as server:
        plain = follow_demo_gcode(args.layers)
        top = round(args.layers * 0.3, 3)
        wanted = args.strategies.split(",")
        # fixed: one autofocus at the first layer's start.
        server.printer_command("G90", "G28", "G0 F6000 X95 Y60 Z0.3", "M400")
        time.sleep(1.0)
        server.session("admin").post(server.url + API, json={"command": "autofocus"}, timeout=10)
        wait(lambda: not server.session("user").get(server.url + API, timeout=10).json()["busy"], 120, "autofocus")
        if "fixed" in wanted:
            results["fixed focus (one autofocus at the start)"] = run_print(server, "fixed.gcode", plain, args.sample, top)
        if "refocus" in wanted:
            results["refocus at every layer (@PIFOCUS AUTOFOCUS REFINE)"] = run_print(
                server, "refocus.gcode", follow_demo_gcode(args.layers, layer_command="@PIFOCUS AUTOFOCUS REFINE"),
                args.sample, top)
        for interval in (float(i) for i in args.intervals.split(",")) if "follow" in wanted else ():
            set_follow(server, True, interval)
            results[f"follow focus (interval {interval:g} s, threshold {args.threshold:g})"] = run_print(
                server, "follow.gcode", plain, args.sample, top)
            set_follow(server, False)
    nominal = nominal_time(plain)
    print(f"\n{args.layers} layers on PiFocus's paced virtual printer ({PACED_PORT}: moves at their feed rate, "
          f"accel {ACCEL:g} mm/s²; the print's own move time {nominal:.1f} s), true blur sampled every "
          f"{args.sample} s; load average {os.getloadavg()[0]:.2f}\n")
    print("| strategy | in depth of field | at layer changes | mean blur (px) | print time | added | lens moves |")
    print("|---|---|---|---|---|---|---|")
    for name, r in results.items():
        moves = (f"{r['follow_moves']} follow moves" if r["follow_moves"] else
                 f"{r['autofocus_runs']} autofocus during the print ({r['autofocus_frames']} frames)")
        layer = "-" if r["layer_in_dof"] is None else f"{r['layer_in_dof']:.0%} of {r['layer_samples']}"
        print(f"| {name} | {r['in_dof']:.1%} of {r['samples']} | {layer} | {r['mean_blur']:.2f} | "
              f"{r['print_time']:.1f} s | {r['print_time'] - nominal:+.1f} s | {moves} |")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "follow_printer.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
