#!/usr/bin/env python3
"""Make the small copies of the real focus stacks that the tests and benchmarks read.

The full-size stacks (about 36 MB) cannot live in the repository; a copy with the long side
at 1024 px, as JPEG quality 90, is a few MB and keeps what the tests need: the same frames in
the same focus order, the same sharpest frame, real camera JPEG headers (the PCB frames keep
their EXIF block with its embedded thumbnail; only its pixel size fields are corrected).

Run once by hand, never by the tests:

    .venv/bin/python scripts/reduce-stacks.py /path/to/shared/stacks tests/data/stacks

SRC holds the folders named in ``STACKS`` below (see tests/data/stacks/README.md); each
folder in DST gets its frames, its licence file and a SOURCE.md saying where it came from.
"""
from __future__ import annotations

import argparse
import shutil
import struct
import sys
from pathlib import Path
from typing import Optional

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from octoprint_pifocus.focus.jpeg_header import header_segments  # noqa: E402

LONG_SIDE = 1024
QUALITY = 90

#: folder -> where it came from. ``commit`` is None where the shared copy does not record one.
STACKS = {
    "focus-stack_depthmap": {
        "repo": "PetteriAimonen/focus-stack", "commit": "d8532c82", "path": "examples/depthmap",
        "licence": "MIT", "licence_file": "LICENSE.md", "pattern": "pcb_*.JPG",
    },
    "cmcguinness_focusstack": {
        "repo": "cmcguinness/focusstack", "commit": None, "path": "Input",
        "licence": "Apache-2.0", "licence_file": "LICENSE", "pattern": "step*.jpg",
    },
    "la3lma_scorpion_lapse": {
        "repo": "la3lma/focusstack", "commit": "c96074b1", "path": "data/scorpion-lapse",
        "licence": "Apache-2.0", "licence_file": "LICENSE_NOTE.txt", "pattern": "scorpion_lapse_*.png",
        "licence_note": "The repository has no licence file: its README.md states the licence, "
                        "and LICENSE_NOTE.txt quotes those lines.",
    },
}

APP1 = 0xE1
EXIF_IFD_POINTER = 0x8769
PIXEL_X, PIXEL_Y = 0xA002, 0xA003


def exif_segment(data: bytes) -> Optional[bytes]:
    """The whole APP1 Exif segment (marker, length and body) of a JPEG, or None."""
    for marker, body, length in header_segments(data):
        if marker == APP1 and data[body:body + 6] == b"Exif\0\0":
            return data[body - 4:body + length]
    return None


def with_pixel_size(segment: bytes, width: int, height: int) -> bytes:
    """The Exif segment with its PixelXDimension/PixelYDimension set to the new size, so the
    metadata does not claim the original size. Everything else, the thumbnail too, is kept."""
    out = bytearray(segment)
    tiff = 10  # FF E1, length (2), "Exif\0\0"
    order = "<" if out[tiff:tiff + 2] == b"II" else ">"

    def entries(ifd: int):
        count = struct.unpack_from(order + "H", out, tiff + ifd)[0]
        for k in range(count):
            at = tiff + ifd + 2 + 12 * k
            tag, kind = struct.unpack_from(order + "HH", out, at)
            yield tag, kind, at

    ifd0 = struct.unpack_from(order + "I", out, tiff + 4)[0]
    for tag, _, at in entries(ifd0):
        if tag == EXIF_IFD_POINTER:
            exif_ifd = struct.unpack_from(order + "I", out, at + 8)[0]
            for tag2, kind, at2 in entries(exif_ifd):
                if tag2 in (PIXEL_X, PIXEL_Y):
                    value = width if tag2 == PIXEL_X else height
                    # SHORT (3) sits left-justified in the 4-byte value field, LONG (4) fills it.
                    if kind == 3:
                        struct.pack_into(order + "HH", out, at2 + 8, value, 0)
                    else:
                        struct.pack_into(order + "I", out, at2 + 8, value)
    return bytes(out)


def reduce_frame(src: Path) -> bytes:
    """The frame scaled to LONG_SIDE with INTER_AREA, as a baseline JPEG at QUALITY, carrying
    the original's Exif segment (if any) right after the JFIF header."""
    raw = src.read_bytes()
    img = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if img is None:
        raise SystemExit(f"{src}: not an image OpenCV can read")
    h, w = img.shape[:2]
    scale = LONG_SIDE / max(w, h)
    size = (round(w * scale), round(h * scale))
    small = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
    ok, enc = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, QUALITY])
    if not ok:
        raise SystemExit(f"{src}: OpenCV could not encode the reduced frame")
    data = enc.tobytes()
    exif = exif_segment(raw)
    if exif is None:
        return data
    # After SOI and OpenCV's APP0 (JFIF), where a camera puts it.
    first = next(iter(header_segments(data)))
    insert_at = first[1] + first[2] if first[0] == 0xE0 else 2
    return data[:insert_at] + with_pixel_size(exif, *size) + data[insert_at:]


def source_md(folder: str, meta: dict, frames: int, original: str, reduced: str) -> str:
    commit = f" @ {meta['commit']}" if meta["commit"] else " (commit not recorded)"
    return (
        f"# {folder}\n\n"
        f"Source: https://github.com/{meta['repo']}{commit} : `{meta['path']}`\n\n"
        f"Licence: {meta['licence']}; see `{meta['licence_file']}` (copied unchanged)."
        + (" " + meta["licence_note"] if "licence_note" in meta else "") + "\n\n"
        f"Reduced for the PiFocus tests by `scripts/reduce-stacks.py`: {frames} frames, "
        f"{original} scaled to {reduced} (long side {LONG_SIDE} px) with OpenCV "
        f"`cv2.resize(..., interpolation=cv2.INTER_AREA)` and written as baseline JPEG, "
        f"quality {QUALITY}, by OpenCV {cv2.__version__}. "
        + ("File names are unchanged." if meta["pattern"].lower().endswith(".jpg")
           else "File names are the original ones with `.png` changed to `.jpg`.")
        + (" The camera's Exif block (with its embedded thumbnail) is carried over; its "
           "pixel-size fields are set to the new size." if meta["pattern"].endswith(".JPG") else "")
        + "\n"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src", type=Path, help="folder holding the full-size stacks")
    parser.add_argument("dst", type=Path, help="where the reduced copies go (e.g. tests/data/stacks)")
    args = parser.parse_args()
    for folder, meta in STACKS.items():
        files = sorted((args.src / folder).glob(meta["pattern"]))
        if not files:
            raise SystemExit(f"No frames matching {meta['pattern']} in {args.src / folder}")
        out = args.dst / folder
        out.mkdir(parents=True, exist_ok=True)
        original = reduced = ""
        for f in files:
            data = reduce_frame(f)
            target = out / (f.stem + (f.suffix if f.suffix.lower() in (".jpg", ".jpeg") else ".jpg"))
            target.write_bytes(data)
            img = cv2.imread(str(f), cv2.IMREAD_UNCHANGED)
            small = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
            original = f"{img.shape[1]}x{img.shape[0]}"
            reduced = f"{small.shape[1]}x{small.shape[0]}"
        shutil.copyfile(args.src / folder / meta["licence_file"], out / meta["licence_file"])
        (out / "SOURCE.md").write_text(source_md(folder, meta, len(files), original, reduced))
        size = sum(p.stat().st_size for p in out.iterdir())
        print(f"{folder}: {len(files)} frames, {original} -> {reduced}, {size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
