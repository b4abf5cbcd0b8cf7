"""``pifocus demo``: autofocus on the simulated lens and camera, printed as it happens."""
from __future__ import annotations

import argparse
import random
from pathlib import Path

from ..focus import autofocus, measure_sharpness
from ..sim import SimulatedCamera, SimulatedLens, draw_scene
from .options import add_focus_options, number
from .report import ProgressPrinter, print_result


def add_parser(sub) -> None:
    parser = sub.add_parser("demo", help="autofocus a simulated camera (no hardware needed)",
                            description="Runs a full autofocus on a simulated VCM lens (codes "
                                        "0-1023) and a camera that blurs a drawn printer-bed "
                                        "scene as a real lens would, with sensor noise, "
                                        "exposure flicker and JPEG compression.")
    parser.add_argument("--focus", type=number("--focus", 0, 1023), default=None,
                        help="where the simulated lens is in focus (default: random)")
    parser.add_argument("--start", type=int, default=None, help="start position (default: random)")
    parser.add_argument("--blur-rate", type=number("--blur-rate", 0, 10), default=0.05,
                        help="blur radius in pixels per lens code away from focus (default 0.05)")
    parser.add_argument("--noise", type=number("--noise", 0, 255), default=4.0, help="sensor noise, grey levels (default 4)")
    parser.add_argument("--hysteresis", type=number("--hysteresis", 0, 1023), default=6.0, help="lens hysteresis in codes (default 6)")
    parser.add_argument("--refine", action="store_true", help="search only near the start position")
    parser.add_argument("--seed", type=int, default=None, help="random seed, for a repeatable run")
    parser.add_argument("--save", metavar="DIR", default=None,
                        help="save before.jpg and after.jpg into DIR")
    add_focus_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    rng = random.Random(args.seed)
    focus = args.focus if args.focus is not None else rng.uniform(60, 960)
    start = args.start if args.start is not None else int(rng.uniform(0, 1023))
    lens = SimulatedLens(start=start, hysteresis=args.hysteresis)
    camera = SimulatedCamera(draw_scene(1280, 720), lens, focus, blur_rate=args.blur_rate,
                             noise=args.noise, flicker=0.03, seed=args.seed)
    before = camera.capture()
    print(f"Simulated VCM lens, codes 0..1023, in focus at {focus:.1f} (hidden from the search).")
    print(f"Start at {start}: blur radius {camera.blur_radius():.1f} px, "
          f"sharpness {measure_sharpness(before, args.roi, args.measure):.4g}")
    progress = ProgressPrinter()
    progress.header()
    result = autofocus(lens, camera, roi=args.roi, measure=args.measure, progress=progress,
                       refine=args.refine)
    code = print_result(result)
    if result.found:
        print(f"Remaining blur radius {camera.blur_radius():.2f} px "
              f"(depth of field: blur <= 0.75 px); lens {abs(lens.actual_position - focus):.1f} codes from focus.")
    if args.save:
        out = Path(args.save)
        out.mkdir(parents=True, exist_ok=True)
        (out / "before.jpg").write_bytes(before)
        (out / "after.jpg").write_bytes(camera.capture())
        print(f"Saved {out / 'before.jpg'} and {out / 'after.jpg'}")
    return code
