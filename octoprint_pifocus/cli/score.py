"""``pifocus score IMAGE...``: the sharpness of image files, e.g. to compare two focus settings."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import PiFocusError
from ..focus import measure_sharpness
from .options import add_focus_options


def add_parser(sub) -> None:
    parser = sub.add_parser("score", help="print the sharpness of image files",
                            description="Print each image's sharpness; higher is sharper. "
                                        "Scores compare between images of the same size and ROI.")
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="JPEG or PNG files")
    add_focus_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    failures = 0
    width = max(len(str(p)) for p in args.images)
    for name in args.images:
        path = Path(name)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise PiFocusError("cli.cannot_read", name=name, reason=exc.strerror or exc) from None
        try:
            score = measure_sharpness(data, roi=args.roi, measure=args.measure)
        except ValueError as exc:
            print(f"{name:<{width}}  error: {exc}")
            failures += 1
            continue
        print(f"{name:<{width}}  {score:.6g}")
    return 1 if failures else 0
