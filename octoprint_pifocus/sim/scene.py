"""A scene drawn by code, so the demo and the tests need no image files.

It imitates what a print-cam looks at: a textured build plate with a grid, a printed part
with layer lines, a calibration target and a label. It has detail at every scale, from
single-pixel texture to large shapes, which is what gives a focus curve a realistic shape:
fine texture vanishes after a pixel of blur, large edges survive tens of pixels.
"""
from __future__ import annotations

import cv2
import numpy as np


def draw_scene(width: int = 1280, height: int = 720, seed: int = 7) -> np.ndarray:
    """A BGR uint8 image of a printer bed with a part on it."""
    rng = np.random.default_rng(seed)
    # Textured plate: smoothed noise at two scales on a warm grey.
    fine = rng.normal(0, 1, (height, width)).astype(np.float32)
    coarse = cv2.GaussianBlur(rng.normal(0, 1, (height, width)).astype(np.float32), (0, 0), 6)
    plate = 120 + 10 * cv2.GaussianBlur(fine, (0, 0), 0.8) + 40 * coarse
    img = np.dstack([plate * 0.85, plate * 0.95, plate * 1.05])
    img = np.clip(img, 0, 255).astype(np.uint8)

    # Bed grid.
    step = max(16, width // 20)
    for x in range(step // 2, width, step):
        cv2.line(img, (x, 0), (x, height - 1), (70, 70, 80), 1, cv2.LINE_AA)
    for y in range(step // 2, height, step):
        cv2.line(img, (0, y), (width - 1, y), (70, 70, 80), 1, cv2.LINE_AA)

    # A printed part with layer lines, in the middle of the frame.
    cx, cy = width // 2, height // 2
    pw, ph = width // 4, height // 3
    x0, y0 = cx - pw // 2, cy - ph // 2
    cv2.rectangle(img, (x0, y0), (x0 + pw, y0 + ph), (40, 90, 200), -1)
    for y in range(y0, y0 + ph, 3):
        shade = 25 if (y // 3) % 2 else -25
        cv2.line(img, (x0, y), (x0 + pw, y), (40 + shade, 90 + shade, 200 + shade // 2), 1)
    cv2.rectangle(img, (x0, y0), (x0 + pw, y0 + ph), (20, 40, 110), 2, cv2.LINE_AA)

    # A checkerboard calibration target and concentric rings.
    sq = max(6, width // 80)
    tx, ty = cx - pw // 2 - 6 * sq - 20, cy - 3 * sq
    for i in range(6):
        for j in range(6):
            if (i + j) % 2 == 0:
                cv2.rectangle(img, (tx + i * sq, ty + j * sq),
                              (tx + (i + 1) * sq - 1, ty + (j + 1) * sq - 1), (15, 15, 15), -1)
            else:
                cv2.rectangle(img, (tx + i * sq, ty + j * sq),
                              (tx + (i + 1) * sq - 1, ty + (j + 1) * sq - 1), (235, 235, 235), -1)
    rx, ry = cx + pw // 2 + 4 * sq, cy
    for r in range(3 * sq, 0, -max(2, sq // 3)):
        colour = (230, 230, 230) if (r // max(2, sq // 3)) % 2 else (25, 25, 25)
        cv2.circle(img, (rx, ry), r, colour, -1, cv2.LINE_AA)

    # A label with small and large text.
    scale = width / 1280.0
    cv2.putText(img, "PiFocus", (cx - int(150 * scale), y0 - int(20 * scale)),
                cv2.FONT_HERSHEY_DUPLEX, 2.0 * scale, (245, 245, 245), max(1, int(3 * scale)), cv2.LINE_AA)
    cv2.putText(img, "layer 42 / 0.20 mm  PLA 215C", (x0, y0 + ph + int(30 * scale)),
                cv2.FONT_HERSHEY_SIMPLEX, 0.7 * scale, (20, 20, 20), 1, cv2.LINE_AA)
    return img


def dim_scene(scene: np.ndarray, factor: float = 1.0 / 3.0) -> np.ndarray:
    """``scene`` in a dim enclosure: every grey level times ``factor``, so the contrast (and
    the brightness) drop to that share while the sensor's noise stays what it was."""
    if not 0.0 < factor <= 1.0:
        raise ValueError(f"factor must be in (0, 1], got {factor!r}")
    return np.clip(scene.astype(np.float32) * factor + 0.5, 0, 255).astype(np.uint8)
