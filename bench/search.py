"""Search benchmark: frames used and focus reached, PiFocus against the seed's sweep.

Each case draws an in-focus position, a start position, a blur rate (px of blur per lens
code away from focus), sensor noise and lens hysteresis at random, and runs both searches
on the same simulated VCM (codes 0..1023) and camera (disc blur, noise, 3% exposure
flicker, JPEG). A case succeeds when the lens ends within the depth of field: a remaining
blur radius of at most 0.75 px. The seed sweep is Arducam's example: from 10 in steps of
15 up to 1000, stopping after 6 falls in a row, scored with the mean Laplacian.

The real stacks are run as well: a stack camera spreads the frames over the lens range, and
every start position must end on the sharpest frame.

Harder conditions (``--conditions``; issue 12 §3), each a row of its own over the same draws
with one thing changed: ``dim`` (a third of the scene's contrast and brightness), ``noisy``
(sensor noise 20-30, two to three times the worst above), ``hysteresis`` (16 codes in every
case), ``narrow`` and ``wide`` (blur rate 0.15 and 0.02 px per code: a depth of field of 5 and
37 codes), ``occluded`` (a print head or a hand drawn into about 5% of the frames by the
simulated camera, see :mod:`octoprint_pifocus.sim.occluder`), and ``all`` of them at once
(the blur rate then 0.15 or 0.02, half the cases each).

Run: ``python bench/search.py [--cases 200] [--size 640x360] [--workers 2]
[--conditions today,dim,...|hard|every] [--no-seed]``.
"""
from __future__ import annotations

import argparse
import json
import sys
from multiprocessing import Pool

import cv2
import numpy as np

from common import RESULTS, STACKS

from octoprint_pifocus.focus import autofocus, scoring
from octoprint_pifocus.sim import Occluder, SimulatedCamera, SimulatedLens, StackCamera, dim_scene, draw_scene

DOF_BLUR = 0.75
#: Share of frames a print head or a hand crosses, in the ``occluded`` and ``all`` conditions.
OCCLUDED_SHARE = 0.05
HARD = ("dim", "noisy", "hysteresis", "narrow", "wide", "occluded", "all")
CONDITIONS = ("today",) + HARD
DESCRIPTIONS = {
    "today": "today's mix",
    "dim": "dim: a third of the contrast",
    "noisy": "sensor noise 20-30",
    "hysteresis": "hysteresis 16 codes",
    "narrow": "narrow depth of field (0.15 px/code)",
    "wide": "wide depth of field (0.02 px/code)",
    "occluded": "head or hand in ~5% of frames",
    "all": "all of them at once",
}
_scenes = {}


def seed_score(frame: bytes) -> float:
    img = cv2.imdecode(np.frombuffer(frame, np.uint8), cv2.IMREAD_COLOR)
    grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    return cv2.mean(cv2.Laplacian(grey, cv2.CV_16U))[0]


def seed_sweep(lens, camera) -> dict:
    """The seed's Autofocus.py loop, with its lens and camera replaced by ours."""
    best_pos, best, last, falls, frames, position = 10, 0.0, 0.0, 0, 0, 10
    while True:
        lens.move_to(position)
        value = seed_score(camera.capture())
        frames += 1
        if value > best:
            best_pos, best = position, value
        falls = falls + 1 if value < last else 0
        if falls > 6:
            break
        last = value
        position += 15
        if position > 1000:
            break
    lens.move_to(best_pos)
    return {"frames": frames, "position": best_pos}


def draw_case(rng: np.random.Generator) -> dict:
    return {
        "focus": float(rng.uniform(0, 1023)),
        "start": int(rng.integers(0, 1024)),
        "rate": float(np.exp(rng.uniform(np.log(0.01), np.log(0.1)))),
        "noise": float(rng.uniform(1, 10)),
        "hysteresis": float(rng.uniform(0, 16)),
    }


def harden(case: dict, condition: str, index: int) -> dict:
    """``case`` under ``condition``: the same draw with the condition's parts changed."""
    case = dict(case, dim=False, occluded=False)
    every = condition == "all"
    # Derived from the draw, so every condition changes the same cases the same way.
    u = (case["focus"] * 7.31 + case["start"] * 0.13) % 1.0
    if every or condition == "dim":
        case["dim"] = True
    if every or condition == "noisy":
        case["noise"] = 20.0 + 10.0 * u
    if every or condition == "hysteresis":
        case["hysteresis"] = 16.0
    if condition == "narrow" or (every and index % 2 == 0):
        case["rate"] = 0.15
    if condition == "wide" or (every and index % 2 == 1):
        case["rate"] = 0.02
    if every or condition == "occluded":
        case["occluded"] = True
    return case


def load_scene(kind: str, size) -> np.ndarray:
    """The sharp picture the simulated camera defocuses: drawn, or a real photograph."""
    if kind == "photo":
        photo = cv2.imread(str(STACKS / "focus-stack_depthmap" / "pcb_004.JPG"), cv2.IMREAD_COLOR)
        return cv2.resize(photo, size, interpolation=cv2.INTER_AREA)
    return draw_scene(*size)


def run_case(args) -> dict:
    index, case, size, fine_target, scene, names = args
    key = (scene, case.get("dim", False))
    if key not in _scenes:
        picture = load_scene(scene, size)
        _scenes[key] = dim_scene(picture) if key[1] else picture
    picture = _scenes[key]
    if fine_target:
        scoring.FINE_TARGET_PX = fine_target
    out = {"case": case}
    for name in names:
        lens = SimulatedLens(start=case["start"], hysteresis=case["hysteresis"])
        occluder = Occluder(rate=OCCLUDED_SHARE, seed=10_000 + index) if case.get("occluded") else None
        camera = SimulatedCamera(picture, lens, case["focus"], blur_rate=case["rate"], noise=case["noise"],
                                 flicker=0.03, jpeg_quality=80, seed=index, occluder=occluder)
        if name == "pifocus":
            result = autofocus(lens, camera)
            frames, found = result.captures, result.found
        else:
            frames, found = seed_sweep(lens, camera)["frames"], True
        blur = camera.blur_radius()
        dof = DOF_BLUR / case["rate"]
        out[name] = {"frames": frames, "found": found, "blur": blur,
                     "occluded": len(occluder.hit) if occluder else 0,
                     "error_dof": abs(lens.actual_position - case["focus"]) / dof,
                     "ok": bool(found and blur <= DOF_BLUR)}
    return out


def summarise(rows, name: str) -> dict:
    if not rows or name not in rows[0]:
        return {}
    frames = np.array([r[name]["frames"] for r in rows])
    errors = np.array([r[name]["error_dof"] for r in rows])
    ok = np.array([r[name]["ok"] for r in rows])
    return {"frames_median": float(np.median(frames)), "frames_p95": float(np.percentile(frames, 95)),
            "frames_max": int(frames.max()), "success": float(ok.mean()),
            "error_dof_median": float(np.median(errors)), "error_dof_p95": float(np.percentile(errors, 95)),
            "occluded_frames": int(sum(r[name].get("occluded", 0) for r in rows)),
            "frames_total": int(frames.sum())}


def stacks() -> dict:
    """Every start position on each real stack must end on the sharpest frame."""
    out = {}
    for folder, pattern, sharp in (("focus-stack_depthmap", "pcb_*.JPG", {4}),
                                   ("cmcguinness_focusstack", "step*.jpg", {0, 1})):
        files = sorted((STACKS / folder).glob(pattern), key=lambda p: (len(p.stem), p.stem))
        frames = [f.read_bytes() for f in files]
        starts = [int(round(i * 1023 / (len(frames) - 1))) for i in range(len(frames))]
        res = {"pifocus": [], "seed": []}
        for start in starts:
            for name in res:
                lens = SimulatedLens(start=start)
                camera = StackCamera(frames, lens)
                if name == "pifocus":
                    result = autofocus(lens, camera)
                    frames_used = result.captures
                else:
                    frames_used = seed_sweep(lens, camera)["frames"]
                res[name].append({"start": start, "frame": camera.frame_index(), "frames": frames_used})
        out[folder] = {name: {"right": sum(r["frame"] in sharp for r in v), "of": len(v),
                              "frames_median": float(np.median([r["frames"] for r in v]))}
                       for name, v in res.items()}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description="PiFocus search benchmark")
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--size", default="640x360", help="simulated frame size (default 640x360)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--fine-target", type=int, default=0,
                        help="override the fine view's minimum ROI size in px (default: the engine's)")
    parser.add_argument("--no-stacks", action="store_true", help="skip the real stacks")
    parser.add_argument("--scene", choices=("drawn", "photo"), default="drawn",
                        help="what the simulated camera looks at: the drawn scene, or the real "
                             "photograph pcb_004 from the stacks (default drawn)")
    parser.add_argument("--conditions", default="today",
                        help="comma-separated rows from " + ", ".join(CONDITIONS) +
                             "; 'hard' = every one but today, 'every' = all of them (default today)")
    parser.add_argument("--no-seed", action="store_true", help="skip the seed's sweep (it takes 67 frames a case)")
    args = parser.parse_args()
    if args.conditions == "hard":
        conditions = HARD
    elif args.conditions == "every":
        conditions = CONDITIONS
    else:
        conditions = tuple(c.strip() for c in args.conditions.split(",") if c.strip())
        unknown = [c for c in conditions if c not in CONDITIONS]
        if unknown:
            parser.error(f"unknown condition(s) {', '.join(unknown)}; choose from {', '.join(CONDITIONS)}")
    names = ("pifocus",) if args.no_seed else ("pifocus", "seed")
    size = tuple(int(v) for v in args.size.lower().split("x"))
    rng = np.random.default_rng(args.seed)
    cases = [draw_case(rng) for _ in range(args.cases)]
    summary, all_rows = {}, {}
    print(f"{args.cases} simulated cases, {args.scene} scene at {size[0]}x{size[1]}: blur rate 0.01-0.1 px/code, "
          "noise 1-10, hysteresis 0-16 codes, 3% flicker, JPEG 80; then each condition changes one thing")
    print()
    print("| condition | search | frames median | frames p95 | max | in depth of field | error/DoF median | p95 |")
    print("|---|---|---|---|---|---|---|---|")
    for condition in conditions:
        jobs = [(i, harden(c, condition, i), size, args.fine_target, args.scene, names)
                for i, c in enumerate(cases)]
        with Pool(args.workers) as pool:
            rows = pool.map(run_case, jobs, chunksize=4)
        all_rows[condition] = rows
        summary[condition] = {name: summarise(rows, name) for name in names}
        for name in names:
            s = summary[condition][name]
            print(f"| {DESCRIPTIONS[condition]} | {name} | {s['frames_median']:.0f} | {s['frames_p95']:.0f} | "
                  f"{s['frames_max']} | {s['success'] * 100:.1f}% | {s['error_dof_median']:.2f} | "
                  f"{s['error_dof_p95']:.2f} |", flush=True)
        if condition in ("occluded", "all"):
            s = summary[condition]["pifocus"]
            print(f"|   ({s['occluded_frames']} of PiFocus's {s['frames_total']} frames had a head or a hand in them) |",
                  flush=True)
    rows = all_rows.get("today", [])
    summary["stacks"] = {} if args.no_stacks else stacks()
    print()
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "search.json").write_text(json.dumps({"summary": summary, "rows": all_rows}, indent=1))
    for condition, rows in all_rows.items():
        failures = [r for r in rows if not r["pifocus"]["ok"]]
        if failures:
            print(f"{condition}: {len(failures)} PiFocus failures, first few:")
            for r in failures[:4]:
                print("  ", r["case"], r["pifocus"])
    if args.no_stacks:
        return 0
    print("| real stack | PiFocus: sharpest frame chosen | frames | seed sweep: sharpest chosen | frames |")
    print("|---|---|---|---|---|")
    for folder, res in summary["stacks"].items():
        p, s = res["pifocus"], res["seed"]
        print(f"| {folder} | {p['right']}/{p['of']} starts | {p['frames_median']:.0f} | "
              f"{s['right']}/{s['of']} starts | {s['frames_median']:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
