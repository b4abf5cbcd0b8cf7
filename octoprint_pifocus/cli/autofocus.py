"""``pifocus autofocus``: focus real hardware from the command line, without OctoPrint.

The lens is any driver ``pifocus lens`` drives; the camera is a snapshot or MJPEG stream
URL, read through the engine's frame sources so that every frame was exposed after the
lens settled.
"""
from __future__ import annotations

import argparse
from contextlib import closing

from ..focus import autofocus
from ..lenses.base import describe
from ..sources import DEFAULT_SETTLE, DEFAULT_TIMEOUT, MODES, open_source
from ..sources.base import SETTLE_MAX, TIMEOUT_MAX, check_timing
from .lens import add_lens_options, open_lens_from_args
from .options import add_focus_options, number
from .report import ProgressPrinter, print_result


def add_parser(sub) -> None:
    parser = sub.add_parser(
        "autofocus", help="autofocus a lens using a webcam URL",
        description="Search the lens range for the sharpest picture and move there. "
                    "Example (Pi Camera Module 3 behind camera-streamer): pifocus autofocus "
                    "--driver camera-streamer --camera http://127.0.0.1:8080/snapshot")
    add_lens_options(parser)
    group = parser.add_argument_group("camera")
    group.add_argument("--camera", required=True, metavar="URL",
                       help="snapshot or MJPEG stream URL, e.g. http://127.0.0.1:8080/?action=stream")
    group.add_argument("--mode", choices=MODES, default="auto",
                       help="how to read --camera (default: from the URL, else ask the server)")
    group.add_argument("--settle", type=number("--settle", 0, SETTLE_MAX), default=DEFAULT_SETTLE,
                       help=f"seconds to wait after each move before a frame counts (default {DEFAULT_SETTLE})")
    group.add_argument("--discard", type=int, default=0,
                       help="fresh frames to drop after each move (default 0)")
    group.add_argument("--timeout", type=number("--timeout", high=TIMEOUT_MAX, above=0), default=DEFAULT_TIMEOUT,
                       help=f"network timeout in seconds (default {DEFAULT_TIMEOUT})")
    group = parser.add_argument_group("search")
    group.add_argument("--refine", action="store_true",
                       help="search only near the current position (quick re-focus)")
    group.add_argument("--window", type=number("--window", above=0), default=None,
                       help="refine: half-width of the window in lens units (default 8%% of the range)")
    group.add_argument("--json", action="store_true", help="print the result as JSON")
    add_focus_options(group)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    check_timing(args.settle, args.discard, args.timeout)  # before anything moves
    with closing(open_lens_from_args(args)) as lens, \
            closing(open_source(args.camera, args.mode, args.settle, args.discard, args.timeout)) as camera:
        progress = None if args.json else ProgressPrinter()
        if progress:
            print(f"Lens: {describe(lens, with_range=True)}; camera: {getattr(camera, 'name', '')}")
            progress.header()
        result = autofocus(lens, camera, roi=args.roi, measure=args.measure, progress=progress,
                           refine=args.refine, window=args.window)
        return print_result(result, getattr(lens, "units", ""), as_json=args.json)
