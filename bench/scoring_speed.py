"""Scoring speed: decode plus score, ms per frame, against the seed's pipeline in the same run.

The seed (Arducam's example) decodes the full colour frame, converts it to grey, takes a
Laplacian of the whole frame and its mean. PiFocus decodes straight to reduced greyscale
and scores only the ROI. Frames are webcam-like JPEGs (quality 85) of the drawn scene and of
a real photograph (the top 16:9 part of pcb_004; the 1024 px copy in tests/data/stacks is
scaled up for this, which makes the JPEGs only 4-7% smaller than from the 2048 px original),
at 1280x720 and 1920x1080, each twice: as OpenCV/libjpeg writes them (no restart markers) and
as many UVC webcams send them, with a restart marker every MCU row, which lets PiFocus decode
only the ROI's rows.

Run: ``python bench/scoring_speed.py``.
"""
from __future__ import annotations

import json
import sys

import cv2
import numpy as np

from common import RESULTS, STACKS, interleaved_ms

from octoprint_pifocus.focus import measure_sharpness
from octoprint_pifocus.sim import draw_scene


def seed_pipeline(data: bytes) -> float:
    """What the seed's Autofocus.py does per frame (laplacian() on a decoded capture)."""
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    lap = cv2.Laplacian(grey, cv2.CV_16U)
    return cv2.mean(lap)[0]


def jpeg(img: np.ndarray, restart: int = 0) -> bytes:
    params = [cv2.IMWRITE_JPEG_QUALITY, 85, cv2.IMWRITE_JPEG_RST_INTERVAL, restart]
    ok, data = cv2.imencode(".jpg", img, params)
    return data.tobytes()


def frames():
    photo = cv2.imread(str(STACKS / "focus-stack_depthmap" / "pcb_004.JPG"), cv2.IMREAD_COLOR)
    crop = photo[: photo.shape[1] * 9 // 16]
    for w, h in ((1280, 720), (1920, 1080)):
        per_row = -(-w // 16)  # 4:2:0 MCUs are 16 px wide
        for name, img in (("scene", draw_scene(w, h)),
                          ("photo", cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA))):
            yield f"{name} {w}x{h}", jpeg(img)
            yield f"{name} {w}x{h}, restart markers", jpeg(img, per_row)


def main() -> int:
    rows = []
    print("| frame | seed pipeline ms | PiFocus ms | speed-up |")
    print("|---|---|---|---|")
    for name, data in frames():
        ms = interleaved_ms({"seed": lambda: seed_pipeline(data),
                             "pifocus": lambda: measure_sharpness(data)})
        ratio = ms["seed"] / ms["pifocus"]
        rows.append({"frame": name, "seed_ms": ms["seed"], "pifocus_ms": ms["pifocus"], "speedup": ratio})
        print(f"| {name} | {ms['seed']:.2f} | {ms['pifocus']:.2f} | {ratio:.1f}x |", flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "scoring_speed.json").write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
