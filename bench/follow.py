"""Follow-focus benchmark: fixed focus, refocus at every layer, and follow focus, in one run.

A simulated print on a bed-slinger watched by a camera fixed to the frame: 100 layers of
0.2 mm, each a 40 x 100 mm rectangle with infill lines along Y, so the bed travels 100 mm in
Y all the time and drops 20 mm over the print. The simulated camera's sharp lens position
follows the toolhead (:func:`~octoprint_pifocus.sim.bed_camera_field`: 1.2 codes per mm of Y,
-2 per mm of Z); its blur is sampled at every layer change and every second of print time.
A sample is in depth of field at a blur radius of at most 0.75 px, as in the search
benchmark. Every autofocus is the real engine's on the simulated VCM and camera.

- **fixed**: one full autofocus at the start of the first layer, then the lens stays;
- **refocus**: a refine held at every layer change (at the layer's first point); the print
  waits ``--frame-time`` seconds per frame it takes (a fresh frame after a lens move);
- **follow (lines only)**: a map calibrated before the print (8 points over X, Y and Z, real
  autofocus), then the G-code tracker and the follower move the lens as each line is sent,
  to where that line ends, without holding the print;
- **follow**: the same map, with a :class:`~octoprint_pifocus.followfocus.MotionTimeline`
  timing the moves sent and the follower asked every ``--min-interval`` seconds for where the
  toolhead will be half an interval later; the printer runs each line as it is sent;
- **follow (buffered)**: the same, but the printer's planner buffer is full: it runs
  ``--lead`` moves behind the sender (Marlin's planner holds 16), and each line goes out as
  a move finishes, up to ``--jitter`` s late. The timeline measures the lag from the gaps;
- **follow (buffered chain only)**: the same printer, the timeline not measuring the lag.

The printer accelerates at ``--accel`` mm/s² (the timeline assumes its own default, 1000,
on purpose not the same), stopping at every corner.

Run: ``python bench/follow.py [--layers 100] [--lead 16] [--accel 1500] [--frame-time 0.2]``.
"""
from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from dataclasses import dataclass
from typing import Dict, List, Optional

import numpy as np

from common import RESULTS

from octoprint_pifocus.focus import autofocus
from octoprint_pifocus.followfocus import (FocusMap, Follower, MotionTimeline, ToolheadTracker, calibrate,
                                           grid_points)
from octoprint_pifocus.sim import SimulatedCamera, SimulatedLens, bed_camera_field, draw_scene

DOF_BLUR = 0.75
BLUR_RATE = 0.05                       # px of blur per VCM code
DOF_WIDTH = 2 * DOF_BLUR / BLUR_RATE   # 30 codes: the whole sharp band
AXES = ("x", "y", "z")


def print_gcode(layers: int, layer_height: float = 0.2) -> List[str]:
    """A slicer-like print: start script, then rectangles with infill along Y."""
    lines = [";FLAVOR:Marlin", "G21", "G90", "M82", "G28", "G92 E0", "G1 Z2 F3000"]
    e = 0.0
    for layer in range(1, layers + 1):
        z = round(layer * layer_height, 3)
        lines += [f";LAYER:{layer - 1}", f"G0 F7200 X90 Y60 Z{z}"]
        for x, y in ((130, 60), (130, 160), (90, 160), (90, 60)):
            e += 0.5
            lines.append(f"G1 F2400 X{x} Y{y} E{e:.3f}")
        for i, x in enumerate(range(94, 130, 4)):
            y = 160 if i % 2 == 0 else 60
            e += 0.4
            lines += [f"G0 F7200 X{x}", f"G1 F2400 Y{y} E{e:.3f}"]
    lines += ["G1 Z30 F600", "M84"]
    return lines


@dataclass
class Move:
    index: int              # line index
    start: Dict[str, float]
    end: Dict[str, float]
    duration: float
    layer_start: bool


def executed_moves(lines: List[str], accel: float) -> List[Move]:
    """What the printer executes, line by line: positions from a tracker, times from F with
    trapezoid ramps at ``accel``."""
    printer = MotionTimeline(accel=accel, measure_lag=False)
    tracker = ToolheadTracker()
    feed = 3000.0
    moves: List[Move] = []
    layer_next = False
    for index, line in enumerate(lines):
        if line.startswith(";LAYER:"):
            layer_next = True
        before = tracker.position
        tracker.feed(line)
        after = tracker.position
        for word in line.split():
            if word.startswith("F"):
                feed = float(word[1:])
        known = all(before[a] is not None for a in AXES)
        distance = math.dist([before[a] for a in AXES], [after[a] for a in AXES]) if known else 0.0
        is_print_move = line.startswith("G1") and "E" in line
        moves.append(Move(index, before if known else after, after, printer.duration(distance, feed / 60.0),
                          layer_start=layer_next and is_print_move))
        if layer_next and is_print_move:
            layer_next = False
    return moves


def at(move: Move, t: float) -> Dict[str, float]:
    """The toolhead position ``t`` seconds into ``move``."""
    if move.duration <= 0:
        return dict(move.end)
    f = min(max(t / move.duration, 0.0), 1.0)
    return {a: move.start[a] + (move.end[a] - move.start[a]) * f for a in AXES}


class Rig:
    """The simulated VCM and camera of one strategy."""

    def __init__(self, scene: np.ndarray, seed: int) -> None:
        self.field = bed_camera_field(340.0)
        self.lens = SimulatedLens(start=700)
        self.camera = SimulatedCamera(scene, self.lens, 0.0, blur_rate=BLUR_RATE, noise=3.0, flicker=0.03,
                                      seed=seed, focus_field=self.field)
        self.frames = 0
        self.moves_before = 0

    def blur_at(self, position: Dict[str, float]) -> float:
        return BLUR_RATE * abs(self.lens.actual_position - self.field(position))

    def count(self, result):
        """Count an autofocus result's frames; returns the result."""
        self.frames += result.captures
        return result

    def autofocus(self, position: Dict[str, float], refine: bool) -> int:
        self.camera.set_toolhead(position)
        return self.count(autofocus(self.lens, self.camera, refine=refine)).captures


STRATEGIES = ("fixed", "refocus", "follow (lines only)", "follow", "follow (buffered)",
              "follow (buffered chain only)")


def run(strategy: str, moves: List[Move], lines: List[str], scene: np.ndarray, args) -> dict:
    """One simulated print with one strategy; the blur samples and the costs."""
    rig = Rig(scene, seed=7)
    started = time.perf_counter()
    clock = [0.0]
    follower: Optional[Follower] = None
    tracker: Optional[ToolheadTracker] = None
    timeline: Optional[MotionTimeline] = None
    calibration_frames = 0
    expected_dof = None
    buffered = strategy.startswith("follow (buffered")
    lead = args.lead if buffered else 0
    jitter = random.Random(3)
    if strategy.startswith("follow"):
        positions = grid_points({"x": (90, 130), "y": (60, 160), "z": (0.2, 0.2 * args.layers)}, 2)
        points = calibrate(positions, rig.camera.set_toolhead,
                           lambda: rig.count(autofocus(rig.lens, rig.camera)))
        calibration_frames = rig.frames
        fmap = FocusMap.fit(points, AXES, dof_width=DOF_WIDTH)
        expected_dof = fmap.expected_error_dof
        follower = Follower(fmap, rig.lens.limits, rig.lens.resolution, DOF_WIDTH,
                            threshold=args.threshold, min_interval=args.min_interval, clock=lambda: clock[0])
        tracker = ToolheadTracker()
        if strategy != "follow (lines only)":
            timeline = MotionTimeline(measure_lag=strategy != "follow (buffered chain only)")
    lens_moves_before = len(rig.lens.moves)
    timed_lines = [m.index for m in moves if m.duration > 0]
    next_timed, rank = [], 0
    for m in moves:
        next_timed.append(rank)
        rank += m.duration > 0
    fed = 0
    samples: List[float] = []
    layer_samples: List[float] = []
    added = 0.0
    next_sample = 0.0
    next_tick: Optional[float] = 0.0 if timeline is not None else None
    retry_at: Optional[float] = None
    first_layer_done = False

    def decide(position) -> Optional[float]:
        """Ask the follower; returns when to ask again if it said wait."""
        if position is None:
            return None
        decision = follower.decide(position, rig.lens.position)
        if decision.action == "move":
            rig.lens.move_to(decision.target)
        return clock[0] + decision.due_in if decision.action == "wait" else None

    for move in moves:
        if tracker is not None:
            # Lines go out until the planner holds `lead` moves beyond the one executing
            # (other commands take no planner slot).
            rank = next_timed[move.index]
            until = timed_lines[min(rank + lead, len(timed_lines) - 1)] if rank < len(timed_lines) else len(lines) - 1
            while fed <= max(until, move.index):
                before = tracker.position
                if tracker.feed(lines[fed]) and timeline is not None:
                    late = jitter.uniform(0, args.jitter) if buffered and fed > lead else 0.0
                    timeline.add(before, tracker.position, tracker.feedrate, sent_at=clock[0] + late)
                fed += 1
            if timeline is None:
                retry_at = decide(tracker.position)
        if move.layer_start:
            if strategy == "fixed" and not first_layer_done:
                rig.autofocus(move.start, refine=False)
            elif strategy == "refocus":
                frames = rig.autofocus(move.start, refine=first_layer_done)
                hold = frames * args.frame_time
                clock[0] += hold
                added += hold
                next_sample = math.ceil(clock[0])
            first_layer_done = True
            layer_samples.append(rig.blur_at(move.start))
        duration = move.duration
        begin, end = clock[0], clock[0] + duration
        while True:
            events = [t for t in (next_sample, next_tick, retry_at) if t is not None and t <= end]
            if not events:
                break
            now = min(events)
            clock[0] = now
            if now == retry_at:
                retry_at = decide(tracker.position)
            if now == next_tick:
                # A timer a few times a second: the estimated position half a tick ahead.
                decide(timeline.position_at(now + args.min_interval / 2))
                next_tick = now + args.min_interval
            if now == next_sample:
                if first_layer_done:
                    samples.append(rig.blur_at(at(move, now - begin)))
                next_sample += 1.0
        clock[0] = end

    blur = np.array(samples + layer_samples)
    layer = np.array(layer_samples)
    print_minutes = clock[0] / 60.0
    lens_moves = len(rig.lens.moves) - lens_moves_before
    return {
        "strategy": strategy, "samples": int(blur.size), "in_dof": float(np.mean(blur <= DOF_BLUR)),
        "layer_changes_in_dof": float(np.mean(layer <= DOF_BLUR)),
        "blur_mean_px": float(blur.mean()), "blur_p95_px": float(np.percentile(blur, 95)),
        "blur_max_px": float(blur.max()), "blur_mean_dof": float(blur.mean() / DOF_BLUR),
        "print_time_s": float(clock[0]), "time_added_s": float(added),
        "lens_moves": int(lens_moves), "lens_moves_per_min": lens_moves / print_minutes,
        "frames_in_print": int(rig.frames - calibration_frames),
        "calibration_frames": int(calibration_frames), "map_error_dof": expected_dof,
        "wall_s": time.perf_counter() - started,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description="PiFocus follow-focus benchmark")
    parser.add_argument("--layers", type=int, default=100)
    parser.add_argument("--lead", type=int, default=16,
                        help="buffered: moves the planner holds beyond the one executing")
    parser.add_argument("--accel", type=float, default=1500.0, help="the printer's acceleration, mm/s²")
    parser.add_argument("--jitter", type=float, default=0.01, help="buffered: a line goes out up to this late, s")
    parser.add_argument("--frame-time", type=float, default=0.2,
                        help="print seconds per autofocus frame while a refocus holds the print")
    parser.add_argument("--threshold", type=float, default=0.25, help="follower threshold, share of DoF")
    parser.add_argument("--min-interval", type=float, default=0.5, help="follower minimum interval, s")
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--strategies", default=",".join(STRATEGIES),
                        help="comma-separated, from: " + ", ".join(STRATEGIES))
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    scene = draw_scene(width, height)
    lines = print_gcode(args.layers)
    moves = executed_moves(lines, args.accel)
    wanted = [name.strip() for name in args.strategies.split(",")]
    unknown = [name for name in wanted if name not in STRATEGIES]
    if unknown:
        parser.error(f"unknown strategy {unknown[0]!r}; choose from {', '.join(STRATEGIES)}")
    rows = [run(name, moves, lines, scene, args) for name in wanted]
    print(f"{args.layers} layers, Y travel 60-160 mm, Z 0.2-{0.2 * args.layers:.0f} mm; sharp = blur <= "
          f"{DOF_BLUR} px; refocus frame time {args.frame_time} s; follow threshold {args.threshold} DoF, "
          f"interval {args.min_interval} s; printer accel {args.accel:g} mm/s²; buffered: {args.lead} moves "
          f"ahead, sends up to {args.jitter * 1000:g} ms late")
    print()
    print("| strategy | samples in DoF | layer changes in DoF | mean blur / DoF | p95 blur px | print time added | "
          "lens moves (per min) | frames (print + calibration) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['strategy']} | {r['in_dof'] * 100:.1f}% | {r['layer_changes_in_dof'] * 100:.0f}% | "
              f"{r['blur_mean_dof']:.2f} | {r['blur_p95_px']:.2f} | {r['time_added_s']:.0f} s of "
              f"{r['print_time_s'] / 60:.0f} min | {r['lens_moves']} ({r['lens_moves_per_min']:.0f}) | "
              f"{r['frames_in_print']} + {r['calibration_frames']} |")
    follow = next((r for r in rows if r["strategy"] == "follow"), None)
    if follow is not None:
        print()
        print(f"map expected error {follow['map_error_dof']:.3f} DoF; mean blur ratios to follow: " + ", ".join(
            f"{r['strategy']} {r['blur_mean_px'] / follow['blur_mean_px']:.1f}x" for r in rows))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "follow.json").write_text(json.dumps({"args": vars(args), "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
