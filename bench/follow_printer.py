"""Follow focus through the real plugin: fixed focus, refocus at every layer, follow, on OctoPrint's
virtual printer.

One real OctoPrint (tests/octoprint_server.py) with PiFocus's simulated VCM camera over a moving
bed (``simulation.focus_field`` "bed": the sharp code follows Y and Z). The camera's focus map
is calibrated before the prints with the real autofocus on the same simulated camera at 8
points (X 90/130, Y 60/160, Z 0/6: :func:`~octoprint_pifocus.followfocus.calibrate`, in this
process) and seeded into config.yaml. The bundled demo print (``octoprint_pifocus/demo``: Y
travel, a layer change every 11 moves) is printed three times:

- **fixed**: one full autofocus through the API at the first layer's start, follow off;
- **refocus**: ``@PIFOCUS AUTOFOCUS REFINE`` after the move to each layer's start (the print
  holds for it);
- **follow**: follow focus on (``interval`` 0.5 s, ``threshold`` 0.5).

The simulated camera's blur is sampled through the API every ``--sample`` s while each print
runs; a sample is in depth of field at a blur radius of at most 0.75 px (as bench/follow.py).

Figures (README, Benchmarks): follow adds no print time with 11 lens moves over 20 layers;
refocusing at every layer adds 6.5 s (28%). What the virtual printer does NOT model (read the
figures with it): it runs every move in a
tenth of its feed-rate time and moves towards lower coordinates at once, so print times are
the virtual printer's, and the simulated camera's "truth" is PiFocus's own estimate of where
the toolhead is (the only position the plugin has). So "in depth of field" here shows the
follow logic working through OctoPrint (the map, the interval, the threshold, the jobs), not how
well the motion timeline predicts a real printer: bench/follow.py measures that against a
modelled printer. The print time added and the lens moves are measured as they happen.

Run: ``python bench/follow_printer.py [--layers 20] [--sample 0.25]``.
"""
from __future__ import annotations

import argparse
import json
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
from octoprint_pifocus.focus import autofocus  # noqa: E402
from octoprint_pifocus.followfocus import FocusMap, calibrate, grid_points  # noqa: E402
from octoprint_pifocus.sim import SimulatedCamera, SimulatedLens, bed_camera_field, draw_scene  # noqa: E402

API = "/api/plugin/pifocus"
DOF_BLUR = 0.75
BLUR_RATE = 0.05
DOF_WIDTH = 2 * DOF_BLUR / BLUR_RATE
BOX = {"x": (90.0, 130.0), "y": (60.0, 160.0), "z": (0.0, 6.0)}


def calibrated_map() -> Dict:
    """The map a calibration finds: the real autofocus at 8 points on the simulated camera."""
    field = bed_camera_field(340.0)
    lens = SimulatedLens(start=700)
    camera = SimulatedCamera(draw_scene(480, 270, seed=7), lens, 0.0, blur_rate=BLUR_RATE, noise=2.0,
                             seed=1, focus_field=field)
    points = calibrate(grid_points(BOX, 2), go_to=camera.set_toolhead, focus=lambda: autofocus(lens, camera))
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
            self.samples.append((time.monotonic(), body["simulation"]["blur_radius"], body["follow"]["moves"],
                                 body["position"]))
            self._stop.wait(self.every)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(5)


def set_follow(server: OctoPrintServer, enabled: bool) -> None:
    devices = server.session("admin").get(server.url + "/api/settings", timeout=10).json()["plugins"]["pifocus"]["devices"]
    devices[0]["follow"] = dict(devices[0]["follow"], enabled=enabled)
    r = server.session("admin").post(server.url + "/api/settings", json={"plugins": {"pifocus": {"devices": devices}}},
                                     timeout=10)
    r.raise_for_status()


def wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not within {timeout} s")
        time.sleep(0.1)


def run_print(server: OctoPrintServer, name: str, text: str, every: float) -> Dict:
    log_mark = len(server.log_text())
    with Sampler(server, every) as sampler:
        started = time.monotonic()
        server.print_gcode(name, text)
        wait(lambda: server.printer_state() == "Printing", 30, "print started")
        wait(lambda: server.printer_state() == "Operational", 1800, "print finished")
        duration = time.monotonic() - started
    log = server.log_text()[log_mark:]
    blur = [b for _, b, _, _ in sampler.samples]
    positions = [p for _, _, _, p in sampler.samples]
    autofocus_frames = [int(n) for n in re.findall(r"Autofocus done \(.*?\): position \S+, score \S+, (\d+) frames", log)]
    return {
        "samples": len(blur),
        "in_dof": sum(b <= DOF_BLUR for b in blur) / len(blur),
        "mean_blur": sum(blur) / len(blur),
        "print_time": duration,
        "follow_moves": sampler.samples[-1][2] - sampler.samples[0][2],
        "autofocus_runs": len(autofocus_frames),
        "autofocus_frames": sum(autofocus_frames),
        "lens_positions": len({p for p in positions if p is not None}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=20)
    parser.add_argument("--sample", type=float, default=0.25, help="seconds between blur samples")
    args = parser.parse_args()
    print("calibrating the map (real autofocus at 8 points on the simulated camera) ...", flush=True)
    focus_map = calibrated_map()
    config = deep_merge(demo_config(focus_field="bed", noise=2.0, width=480, height=270), {"plugins": {"pifocus": {"devices": [
        {"id": "camera", "name": "Camera", "driver": "simulated",
         "camera": {"webcam": "pifocus_simulated", "settle": 0.0},
         "search": {"window": 60},
         "focus_map": focus_map, "follow": {"enabled": False, "interval": 0.5, "threshold": 0.5}}]}}})
    results = {}
    with OctoPrintServer(extra_config=config) as server:
        plain = follow_demo_gcode(args.layers)
        # fixed: one autofocus at the first layer's start.
        server.printer_command("G28", "G0 F6000 X95 Y60 Z0.3", "M400")
        time.sleep(1.0)
        server.session("admin").post(server.url + API, json={"command": "autofocus"}, timeout=10)
        wait(lambda: not server.session("user").get(server.url + API, timeout=10).json()["busy"], 120, "autofocus")
        results["fixed focus (one autofocus at the start)"] = run_print(server, "fixed.gcode", plain, args.sample)
        results["refocus at every layer (@PIFOCUS AUTOFOCUS REFINE)"] = run_print(
            server, "refocus.gcode", follow_demo_gcode(args.layers, layer_command="@PIFOCUS AUTOFOCUS REFINE"),
            args.sample)
        set_follow(server, True)
        results["follow focus (interval 0.5 s, threshold 0.5)"] = run_print(server, "follow.gcode", plain, args.sample)
        set_follow(server, False)
    base = results["fixed focus (one autofocus at the start)"]["print_time"]
    print(f"\n{args.layers} layers on OctoPrint's virtual printer, blur sampled every {args.sample} s\n")
    print("| strategy | in depth of field | mean blur (px) | print time (virtual) | added | lens moves |")
    print("|---|---|---|---|---|---|")
    for name, r in results.items():
        moves = (f"{r['follow_moves']} follow moves" if r["follow_moves"] else
                 f"{r['autofocus_runs']} autofocus during the print ({r['autofocus_frames']} frames)")
        print(f"| {name} | {r['in_dof']:.1%} | {r['mean_blur']:.2f} | {r['print_time']:.1f} s | "
              f"{max(0.0, r['print_time'] - base):+.1f} s | {moves} |")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "follow_printer.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
