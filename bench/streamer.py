"""Streamer benchmark: autofocus through a real ffmpeg serving mpjpeg (issue 12 §2).

For each pipeline (640x480 and 1280x720, 30 and 15 fps, stream copy and re-encoding with
ffmpeg's automatic threads, -threads 1 and -threads 4) one ffmpeg serves the simulated
camera (tests/servers/ffmpeg_stream.py) and PiFocus reads it through its MJPEG source.
The chain's delay is measured first (focus/pipeline.measure_delay). Then the same cases
(in-focus position, start, blur rate, noise drawn at random) run four ways:

* ``measured``: PiFocus through focus/pipeline.autofocus_fresh, starting from the measured
  settle (what a device stored from its delay test or an earlier run), measuring again on
  its first large move and watching every move's frames for its change; the delay test saw
  enough moves to be trusted, so a move whose picture does not change takes the first frame
  after the settle;
* ``watch all``: the same, but not trusting the measurement (session 5's pipeline, and a
  device's first run after a delay test that saw too few moves): every move is watched a few
  frames past the settle for a change showing late; the in-process baseline for ``measured``;
* ``fixed 0.25``: the plain search with the old fixed 0.25 s settle;
* ``seed``: the seed's sweep (bench/search.py's ``seed_sweep``), reading the next frame after
  each move as its loop did.

Reported per pipeline and contender: median and p95 wall time, median frames, the share of
runs that end in focus (blur radius <= 0.75 px, found), stale captures (frames the rig
rendered before the move they were taken after), runs with found=True on stale frames, and
the ratio of the wall time to the physical limit frames x (measured delay + frame interval).

The machine is shared: timings are noisy, so runs are modest and ratios are what to read.
Run: ``python bench/streamer.py [--cases 4] [--quick] [--pipeline NAME] [--contenders measured,watch all]``
(the cases are drawn from ``--seed``, so runs of different contenders see the same cases).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np

from common import RESULTS, ROOT
from search import seed_sweep

sys.path.insert(0, str(ROOT / "tests"))

from servers.ffmpeg_stream import PIPELINES, FfmpegStream, Pipeline  # noqa: E402

from octoprint_pifocus.focus import FrameScorer  # noqa: E402
from octoprint_pifocus.focus.pipeline import TRUSTED_SAMPLES, autofocus_fresh, measure_delay  # noqa: E402
from octoprint_pifocus.focus.search import run_autofocus  # noqa: E402
from octoprint_pifocus.sim import SimulatedCamera, SimulatedLens, draw_scene  # noqa: E402
from octoprint_pifocus.sources.mjpeg import MjpegStream  # noqa: E402

DOF_BLUR = 0.75
CONTENDERS = ("measured", "watch all", "fixed 0.25", "seed")


class TimedLens(SimulatedLens):
    """The simulated lens, noting when each move began (the ground truth for stale)."""

    moved_at = 0.0

    def move_to(self, position) -> None:
        began = time.monotonic()  # before: see tests/test_focus_pipeline.TimedLens
        super().move_to(position)
        self.moved_at = began


class Checked:
    """A camera that counts the frames it passes on that were rendered before the last move."""

    def __init__(self, camera, rig: FfmpegStream, lens: TimedLens) -> None:
        self.camera, self.rig, self.lens = camera, rig, lens
        self.frames = 0
        self.stale = 0

    def capture(self) -> bytes:
        data = self.camera.capture()
        origin = self.rig.origin(data)
        self.frames += 1
        if origin is None or origin.shows < self.lens.moved_at:
            self.stale += 1
        return data

    def __getattr__(self, name):
        return getattr(self.camera, name)


def draw_case(rng: np.random.Generator) -> dict:
    return {"focus": float(rng.uniform(60, 960)), "start": int(rng.integers(0, 1024)),
            "rate": float(np.exp(rng.uniform(np.log(0.02), np.log(0.08)))),
            "noise": float(rng.uniform(1, 5))}


def run_pipeline(pipeline: Pipeline, cases: List[dict], contenders=CONTENDERS) -> dict:
    lens = TimedLens(start=512)
    camera = SimulatedCamera(draw_scene(*pipeline.size), lens, 500.0, blur_rate=0.05, noise=3)
    rows: List[dict] = []
    with FfmpegStream(camera, pipeline) as rig:
        stream = MjpegStream(rig.url, settle=0.0)
        try:
            stream.wait_frame(time.monotonic(), timeout=10)
            time.sleep(0.5)
            timing = measure_delay(lens, stream)
            limit_per_frame = timing.delay + (timing.interval or 1 / pipeline.fps)
            for case in cases:
                camera.focus_position = case["focus"]
                camera.blur_rate = case["rate"]
                camera.noise = case["noise"]
                rig._prepare()
                rig._cache.clear()
                for name in contenders:
                    lens.move_to(case["start"])
                    time.sleep(0.4)  # the chain shows the start position again
                    rows.append(dict(run_one(name, lens, stream, rig, limit_per_frame, timing.settle,
                                             len(timing.samples) >= TRUSTED_SAMPLES, min(timing.samples)),
                                     case=case, contender=name))
        finally:
            stream.close()
        late = rig.late
    return {"pipeline": pipeline.name, "timing": timing.to_dict(), "feeder_late": late, "rows": rows}


def run_one(name: str, lens: TimedLens, stream: MjpegStream, rig: FfmpegStream, per_frame: float,
            settle: float, trusted: bool, shortest: float = 0.0) -> dict:
    scorer = FrameScorer()
    checked = Checked(stream, rig, lens)
    started = time.monotonic()
    reruns: List[Dict[str, int]] = []  # what made a run of the measured pipeline re-run
    if name in ("measured", "watch all"):
        attempts: List[Checked] = []

        def run(lens_, camera, scorer_, **options):
            attempt = Checked(camera, rig, lens)
            attempts.append(attempt)
            return run_autofocus(lens_, attempt, scorer_, **options)

        result, _ = autofocus_fresh(lens, stream, scorer, run, settle=settle, floor=settle,
                                    trusted=name == "measured" and trusted, shortest=shortest)
        frames = sum(a.frames for a in attempts)
        stale = sum(a.stale for a in attempts)
        found, stale_final = result.found, attempts[-1].stale
        reruns = result.stale_checks["earlier"]
    elif name == "fixed 0.25":
        stream.settle = 0.25
        result = run_autofocus(lens, checked, scorer)
        frames, stale, found, stale_final = checked.frames, checked.stale, result.found, checked.stale
    else:
        stream.settle = 0.0
        seed_sweep(lens, checked)
        frames, stale, found, stale_final = checked.frames, checked.stale, True, checked.stale
    wall = time.monotonic() - started
    stream.settle = 0.0
    blur = rig.camera.blur_radius()
    return {"wall": wall, "frames": frames, "stale": stale, "found": found,
            "ok": bool(found and blur <= DOF_BLUR), "found_on_stale": bool(found and stale_final),
            "limit": frames * per_frame, "ratio": wall / (frames * per_frame),
            "reruns": reruns}


def summarise(rows: List[dict]) -> Dict[str, dict]:
    out = {}
    for name in CONTENDERS:
        mine = [r for r in rows if r["contender"] == name]
        if not mine:
            continue
        walls = [r["wall"] for r in mine]
        out[name] = {
            "runs": len(mine), "wall_median": statistics.median(walls),
            "wall_p95": float(np.percentile(walls, 95)),
            "frames_median": statistics.median(r["frames"] for r in mine),
            "in_focus": sum(r["ok"] for r in mine) / len(mine),
            "stale": sum(r["stale"] for r in mine), "frames_total": sum(r["frames"] for r in mine),
            "found_on_stale": sum(r["found_on_stale"] for r in mine),
            "ratio_median": statistics.median(r["ratio"] for r in mine),
            "ratio_p95": float(np.percentile([r["ratio"] for r in mine], 95)),
            # What made a run re-run: the evidence of stale frames its first attempt saw.
            "reruns": sum(bool(r.get("reruns")) for r in mine),
            "rerun_evidence": dict(sum((Counter(e) for r in mine for e in r.get("reruns", [])), Counter())),
        }
    return out


def select_pipelines(quick: bool = False, names: Sequence[str] = ()) -> Tuple[Pipeline, ...]:
    """The pipelines a run measures: all; ``quick``, 640x480 30 fps copy and the 5-frame one;
    ``names``, those (in that order). ``ValueError`` naming the choices for an unknown name."""
    if names:
        known = {p.name: p for p in PIPELINES}
        unknown = [name for name in names if name not in known]
        if unknown:
            raise ValueError(f"unknown pipeline(s) {', '.join(unknown)}; choose from {', '.join(known)}")
        return tuple(known[name] for name in names)
    if quick:
        return tuple(p for p in PIPELINES if p.size == (640, 480) and (
            (p.fps == 30 and p.encode == "copy") or (p.fps == 15 and p.threads == 4)))
    return PIPELINES


def main() -> int:
    parser = argparse.ArgumentParser(description="PiFocus through a real ffmpeg streamer")
    parser.add_argument("--cases", type=int, default=4, help="cases per pipeline (default 4)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--quick", action="store_true",
                        help="only 640x480 30 fps copy and the 5-frame pipeline (15 fps, -threads 4)")
    parser.add_argument("--out", default=str(RESULTS / "streamer.json"),
                        help="where to write the results as JSON (default bench/results/streamer.json)")
    parser.add_argument("--pipeline", action="append", default=[], metavar="NAME",
                        help='only this pipeline, e.g. "1280x720 30 fps encode" (repeatable)')
    parser.add_argument("--contenders", default=",".join(CONTENDERS),
                        help="comma-separated, of: " + ", ".join(CONTENDERS) + " (default: all)")
    args = parser.parse_args()
    contenders = tuple(name.strip() for name in args.contenders.split(","))
    unknown = [name for name in contenders if name not in CONTENDERS]
    if unknown:
        parser.error(f"unknown contender(s) {', '.join(unknown)}; choose from {', '.join(CONTENDERS)}")
    try:
        pipelines = select_pipelines(args.quick, args.pipeline)
    except ValueError as exc:
        parser.error(str(exc))
    rng = np.random.default_rng(args.seed)
    cases = [draw_case(rng) for _ in range(args.cases)]
    results = []
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for pipeline in pipelines:
        try:
            outcome = run_pipeline(pipeline, cases, contenders)
        except (RuntimeError, ValueError) as exc:
            # ffmpeg did not start, or (a starved machine) no move showed in the delay test.
            print(f"| {pipeline.name} | not measured: {exc} |", flush=True)
            results.append({"pipeline": pipeline.name, "error": str(exc)})
            continue
        outcome["summary"] = summarise(outcome["rows"])
        results.append(outcome)
        print(_table_rows(outcome), flush=True)
        # Written after each pipeline: a long run interrupted keeps what it measured.
        out.write_text(json.dumps(results, indent=1))
    return 0


HEADER = ("| pipeline | delay / settle (frames) | search | wall median | p95 | frames | in focus | "
          "stale frames | found on stale | ratio to limit (median, p95) | re-runs (evidence) |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|")


def _reruns(summary: dict) -> str:
    """Re-runs and their causes: "1 (late 2)"."""
    causes = ", ".join(f"{kind} {n}" for kind, n in sorted(summary["rerun_evidence"].items()))
    return f"{summary['reruns']}" + (f" ({causes})" if causes else "")


def _table_rows(outcome: dict) -> str:
    timing = outcome["timing"]
    lines = []
    if not getattr(_table_rows, "printed", False):
        lines.append(HEADER)
        _table_rows.printed = True
    for name, s in outcome["summary"].items():
        lines.append(
            f"| {outcome['pipeline']} | {timing['delay'] * 1000:.0f} ms / {timing['settle'] * 1000:.0f} ms "
            f"({timing['frames']}) | {name} | {s['wall_median']:.2f} s | {s['wall_p95']:.2f} s | "
            f"{s['frames_median']:.0f} | {s['in_focus'] * 100:.0f}% | {s['stale']}/{s['frames_total']} | "
            f"{s['found_on_stale']}/{s['runs']} | {s['ratio_median']:.2f}, {s['ratio_p95']:.2f} | "
            f"{_reruns(s)} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
