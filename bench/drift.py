"""Drift watch benchmark: false alarms per simulated hour of printing, samples to detect a real
loss of focus, and the cost of one sample.

Each scenario is a simulated print (octoprint_pifocus/sim/drift_run.py): frames from the real
SimulatedCamera (noise 2, 3% exposure flicker, JPEG) of the drawn scene or of the sharpest
real PCB photograph, with the print head over the part in 35% of the samples, the part
growing through the region of interest, one sample every 10 s:

* ``print``: 3 h, the room light 40% brighter from 1 h to 1.5 h; no loss of focus.
* ``step``: the lens falls back to its rest position (code 0) at 0.5 h (a camera restart).
* ``thermal``: the in-focus position moves 3 depths of field per hour from 0.2 h, the part
  standing still in the ROI; ``thermal+layers``: the same while the part grows.

Run: ``python bench/drift.py [--seeds 4]``; writes bench/results/drift.json. On a shared
machine: ``--only "PCB photo:thermal+layers"`` runs the rows named (background:scenario, comma
separated), ``--cost`` only the cost of one sample.
"""
from __future__ import annotations

import argparse
import json
import os

import cv2
import numpy as np

from common import RESULTS, STACKS, interleaved_ms

from octoprint_pifocus.drift import DriftSampler
from octoprint_pifocus.focus.scoring import FrameScorer
from octoprint_pifocus.sim import SimulatedCamera, SimulatedLens, draw_scene
from octoprint_pifocus.sim.drift_run import PrintRun, watch_print

SCENARIOS = {
    "print": lambda seed: PrintRun(hours=3, light=(1.0, 1.5, 1.4), seed=seed),
    "step": lambda seed: PrintRun(hours=1, step_at=0.5, seed=seed),
    "thermal": lambda seed: PrintRun(hours=1.5, thermal_dof_per_hour=3, drift_from=0.2, layers=False, seed=seed),
    "thermal+layers": lambda seed: PrintRun(hours=1.5, thermal_dof_per_hour=3, drift_from=0.2, seed=seed),
}


def old_sample(scorer: FrameScorer, frame) -> tuple:
    """The drift sample as it was before issue 12 §1's rework, kept to time against: float
    Tenengrad, the signature from an area resize to 64 x 48 px and a 3 px Gaussian, the
    acuity's pyramid and the means computed on their own."""
    grey = scorer.grey_roi(frame)

    def tenengrad(img):
        mean = float(cv2.mean(img)[0])
        img = img.astype(np.float32)
        gx, gy = cv2.Sobel(img, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(img, cv2.CV_32F, 0, 1, ksize=3)
        return float(cv2.mean(cv2.multiply(gx, gx) + cv2.multiply(gy, gy))[0]) / (mean * mean)

    small = cv2.resize(grey, (64, 48), interpolation=cv2.INTER_AREA).astype(np.float32)
    cells = cv2.resize(cv2.GaussianBlur(small, (0, 0), 3.0 * 64 / grey.shape[1]), (8, 6), interpolation=cv2.INTER_AREA)
    cells, brightness = cells / float(cells.mean()), float(cv2.mean(grey)[0])
    score = tenengrad(grey)
    acuity = score / tenengrad(cv2.pyrDown(cv2.pyrDown(grey)))
    return score, cells, brightness, acuity


def sample_cost_ms(background, size=(960, 540), compare: bool = True) -> dict:
    """Median ms to turn one JPEG of ``size`` into a drift sample (decode, score, signature,
    acuity), next to the old sample and the reduced grey decode of the ROI alone (what
    neither can skip) and to the sample of the same frame with restart markers (many UVC
    webcams send them; only the ROI's rows are decoded), interleaved; with ``compare`` also
    the autofocus's one-level score of the same frame."""
    lens = SimulatedLens(start=400)
    camera = SimulatedCamera(cv2.resize(background, size), lens, 400, seed=1)
    frame = camera.capture()
    marked = cv2.imencode(".jpg", cv2.imdecode(np.frombuffer(frame, np.uint8), cv2.IMREAD_COLOR),
                          [cv2.IMWRITE_JPEG_QUALITY, int(camera.jpeg_quality), cv2.IMWRITE_JPEG_RST_INTERVAL, size[0] // 16])[1].tobytes()
    sampler, scorer, marked_sampler = DriftSampler(), FrameScorer(None, None, levels=1), DriftSampler()
    fns = {"drift sample": lambda: sampler.sample(frame, 0),
           "old sample": lambda: old_sample(scorer, frame),
           "decode only": lambda: scorer.grey_roi(frame),
           "sample, restart markers": lambda: marked_sampler.sample(marked, 0)}
    if compare:
        fns["autofocus score"] = lambda: scorer.score(frame)
    times = interleaved_ms(fns, rounds=15)
    out = {name: round(ms, 2) for name, ms in times.items()}
    out["sample / old"] = round(times["drift sample"] / times["old sample"], 2)
    if compare:
        out["sample / score"] = round(times["drift sample"] / times["autofocus score"], 2)
    out["sample / decode"] = round(times["drift sample"] / times["decode only"], 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--only", default="", help="rows to run, as 'background:scenario' comma separated")
    parser.add_argument("--cost", action="store_true", help="only the cost of one sample")
    args = parser.parse_args()
    only = {tuple(item.split(":", 1)) for item in args.only.split(",") if ":" in item}
    backgrounds = {"drawn scene": draw_scene(960, 540),
                   "PCB photo": cv2.imread(str(STACKS / "focus-stack_depthmap" / "pcb_004.JPG"))}
    rows = []
    for bg_name, background in backgrounds.items():
        for name, make in SCENARIOS.items():
            if args.cost or (only and (bg_name, name) not in only):
                continue
            hours = false = 0.0
            detect, dofs, missed = [], [], 0
            for seed in range(1, args.seeds + 1):
                run = make(seed)
                result = watch_print(background, run)
                false += result.false_alarms()
                hours += (run.hours if result.event_index is None
                          else result.event_index * run.interval / 3600.0)
                if result.event_index is not None:
                    if result.samples_to_detect is None:
                        missed += 1
                    else:
                        detect.append(result.samples_to_detect)
                        dofs.append(result.dof_at_alarm)
            row = {"background": bg_name, "scenario": name, "runs": args.seeds,
                   "hours_before_event": round(hours, 2), "false_alarms": int(false),
                   "false_per_hour": round(false / hours, 3) if hours else None,
                   "missed": missed,
                   "samples_median": float(np.median(detect)) if detect else None,
                   "samples_max": int(max(detect)) if detect else None,
                   "dof_at_alarm_max": round(float(max(dofs)), 2) if dofs and name.startswith("thermal") else None}
            rows.append(row)
            print(json.dumps(row), flush=True)
    cost = {name: sample_cost_ms(bg) for name, bg in backgrounds.items()}
    print("ms per sample (960x540 JPEG):", cost, "load average %.1f" % os.getloadavg()[0])
    sizes = {f"{name} {w}x{h}": sample_cost_ms(bg, (w, h), compare=False)
             for name, bg in backgrounds.items() for w, h in ((1280, 720), (1920, 1080))}
    print("other frame sizes:", sizes, "load average %.1f" % os.getloadavg()[0])
    cost.update(sizes)
    print()
    print("| background | scenario | runs | simulated h before the event | false alarms | samples to detect median / max | missed | DoF off at alarm (max) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        samples = "-" if r["samples_median"] is None else f"{r['samples_median']:g} / {r['samples_max']}"
        print(f"| {r['background']} | {r['scenario']} | {r['runs']} | {r['hours_before_event']} | {r['false_alarms']} "
              f"| {samples} | {r['missed'] if r['scenario'] != 'print' else '-'} | {r['dof_at_alarm_max'] or '-'} |")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "drift.json").write_text(json.dumps({"rows": rows, "ms_per_sample": cost}, indent=1))


if __name__ == "__main__":
    main()
