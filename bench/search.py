"""Search benchmark: frames used and focus reached, PiFocus against the seed's sweep.

Each case draws an in-focus position, a start position, a blur rate (px of blur per lens
code away from focus), sensor noise and lens hysteresis at random, and runs both searches
on the same simulated VCM (codes 0..1023) and camera (disc blur, noise, 3% exposure
flicker, JPEG). A case succeeds when the lens ends within the depth of field: a remaining
blur radius of at most 0.75 px. The seed sweep is Arducam's example: from 10 in steps of
15 up to 1000, stopping after 6 falls in a row, scored with the mean Laplacian.

The real stacks are run as well: a stack camera spreads the frames over the lens range, and
every start position must end on the sharpest frame.

Run: ``python bench/search.py [--cases 200] [--size 640x360] [--workers 2]``.
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
from octoprint_pifocus.sim import SimulatedCamera, SimulatedLens, StackCamera, draw_scene

DOF_BLUR = 0.75
_scene = None


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


def load_scene(kind: str, size) -> np.ndarray:
    """The sharp picture the simulated camera defocuses: drawn, or a real photograph."""
    if kind == "photo":
        photo = cv2.imread(str(STACKS / "focus-stack_depthmap" / "pcb_004.JPG"), cv2.IMREAD_COLOR)
        return cv2.resize(photo, size, interpolation=cv2.INTER_AREA)
    return draw_scene(*size)


def run_case(args) -> dict:
    index, case, size, fine_target, scene = args
    global _scene
    if _scene is None:
        _scene = load_scene(scene, size)
    if fine_target:
        scoring.FINE_TARGET_PX = fine_target
    out = {"case": case}
    for name in ("pifocus", "seed"):
        lens = SimulatedLens(start=case["start"], hysteresis=case["hysteresis"])
        camera = SimulatedCamera(_scene, lens, case["focus"], blur_rate=case["rate"], noise=case["noise"],
                                 flicker=0.03, jpeg_quality=80, seed=index)
        if name == "pifocus":
            result = autofocus(lens, camera)
            frames, found = result.captures, result.found
        else:
            frames, found = seed_sweep(lens, camera)["frames"], True
        blur = camera.blur_radius()
        dof = DOF_BLUR / case["rate"]
        out[name] = {"frames": frames, "found": found, "blur": blur,
                     "error_dof": abs(lens.actual_position - case["focus"]) / dof,
                     "ok": bool(found and blur <= DOF_BLUR)}
    return out


def summarise(rows, name: str) -> dict:
    frames = np.array([r[name]["frames"] for r in rows])
    errors = np.array([r[name]["error_dof"] for r in rows])
    ok = np.array([r[name]["ok"] for r in rows])
    return {"frames_median": float(np.median(frames)), "frames_p95": float(np.percentile(frames, 95)),
            "frames_max": int(frames.max()), "success": float(ok.mean()),
            "error_dof_median": float(np.median(errors)), "error_dof_p95": float(np.percentile(errors, 95))}


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
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.lower().split("x"))
    rng = np.random.default_rng(args.seed)
    jobs = [(i, draw_case(rng), size, args.fine_target, args.scene) for i in range(args.cases)]
    with Pool(args.workers) as pool:
        rows = pool.map(run_case, jobs, chunksize=4)
    summary = {name: summarise(rows, name) for name in ("pifocus", "seed")}
    summary["stacks"] = {} if args.no_stacks else stacks()
    print(f"{args.cases} simulated cases, {args.scene} scene at {size[0]}x{size[1]}: blur rate 0.01-0.1 px/code, "
          "noise 1-10, hysteresis 0-16 codes, 3% flicker, JPEG 80")
    print()
    print("| search | frames median | frames p95 | max | in depth of field | error/DoF median | p95 |")
    print("|---|---|---|---|---|---|---|")
    for name in ("pifocus", "seed"):
        s = summary[name]
        print(f"| {name} | {s['frames_median']:.0f} | {s['frames_p95']:.0f} | {s['frames_max']} | "
              f"{s['success'] * 100:.1f}% | {s['error_dof_median']:.2f} | {s['error_dof_p95']:.2f} |")
    print()
    if args.no_stacks:
        return 0
    print("| real stack | PiFocus: sharpest frame chosen | frames | seed sweep: sharpest chosen | frames |")
    print("|---|---|---|---|---|")
    for folder, res in summary["stacks"].items():
        p, s = res["pifocus"], res["seed"]
        print(f"| {folder} | {p['right']}/{p['of']} starts | {p['frames_median']:.0f} | "
              f"{s['right']}/{s['of']} starts | {s['frames_median']:.0f} |")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "search.json").write_text(json.dumps({"summary": summary, "rows": rows}, indent=1))
    failures = [r for r in rows if not r["pifocus"]["ok"]]
    if failures:
        print(f"\n{len(failures)} PiFocus failures, first few:")
        for r in failures[:5]:
            print("  ", r["case"], r["pifocus"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
