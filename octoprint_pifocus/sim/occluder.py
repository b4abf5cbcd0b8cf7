"""Something crossing the picture: a print head or a hand, drawn into some frames.

A search in a printer sees the head (or the user's hand) pass through the region of interest
now and then. :class:`Occluder` draws one into the frames it chooses, as the simulated camera
renders them, so a search meets the real thing: a sharp-edged dark block with a fan and a
brass nozzle, or a smooth skin-coloured hand close to the lens, at its own blur, covering part
of the region for one or two frames while it moves across. It changes the frame's content and
its sharpness alike, never a made-up score.

Which frames are hit is seeded (``rate``: the share of frames a crossing is in, on average),
or given outright by capture number (``frames``), for tests that count re-captures.
"""
from __future__ import annotations

from typing import Collection, Optional, Tuple

import cv2
import numpy as np

KINDS = ("head", "hand")


class Occluder:
    """Decides which captures are crossed, and draws the crossing object into them."""

    def __init__(self, rate: float = 0.04, frames: Optional[Collection[int]] = None,
                 kinds: Tuple[str, ...] = KINDS, seed: Optional[int] = None,
                 max_length: int = 2) -> None:
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"rate must be a share of frames in [0, 1), got {rate!r}")
        for kind in kinds:
            if kind not in KINDS:
                raise ValueError(f"unknown occluder kind {kind!r}; use {' or '.join(KINDS)}")
        self.rate = float(rate)
        self.frames = None if frames is None else frozenset(int(f) for f in frames)
        self.kinds = tuple(kinds)
        self.max_length = max(1, int(max_length))
        self._rng = np.random.default_rng(seed)
        self._left = 0          # frames the current crossing still lasts
        self._crossing = None   # (kind, start xy, velocity xy, scale, blur)
        #: Capture numbers (1-based) that were drawn over: what a test compares re-captures to.
        self.hit = []

    def _start(self, shape) -> None:
        h, w = shape[:2]
        rng = self._rng
        kind = self.kinds[int(rng.integers(len(self.kinds)))]
        # Somewhere over the central half (the default region), moving sideways.
        x = rng.uniform(0.3, 0.7) * w
        y = rng.uniform(0.3, 0.7) * h
        speed = rng.uniform(0.08, 0.2) * w * (1 if rng.random() < 0.5 else -1)
        scale = rng.uniform(0.22, 0.4) * h
        # The head is near the bed's plane (a little blur); a hand is close to the lens.
        blur = rng.uniform(0.0, 3.0) if kind == "head" else rng.uniform(5.0, 14.0)
        self._crossing = (kind, (x, y), (speed, rng.uniform(-0.03, 0.03) * h), scale, blur)
        self._left = int(rng.integers(1, self.max_length + 1))

    def covers(self, capture: int, shape) -> bool:
        """Whether capture number ``capture`` (1-based) is crossed; advances the crossing."""
        if self.frames is not None:
            if capture in self.frames:
                self._start(shape)
                self._left = 1
            else:
                return False
        elif self._left <= 0:
            mean_length = (1 + self.max_length) / 2.0
            if self._rng.random() >= self.rate / mean_length:
                return False
            self._start(shape)
        self._left -= 1
        return True

    def draw(self, image: np.ndarray, capture: int) -> np.ndarray:
        """``image`` (BGR float32) with the crossing drawn in, when capture ``capture`` is hit."""
        if not self.covers(capture, image.shape):
            return image
        kind, (x, y), (vx, vy), scale, blur = self._crossing
        # The next frame of the same crossing sees the object further along.
        self._crossing = (kind, (x + vx, y + vy), (vx, vy), scale, blur)
        colour, alpha = (_draw_head if kind == "head" else _draw_hand)(image.shape, x, y, scale)
        if blur >= 0.5:
            k = (0, 0)
            colour = cv2.GaussianBlur(colour, k, blur / 2.0)
            alpha = cv2.GaussianBlur(alpha, k, blur / 2.0)
        self.hit.append(capture)
        a = alpha[:, :, None]
        return image * (1.0 - a) + colour * a


def _canvas(shape):
    h, w = shape[:2]
    return np.zeros((h, w, 3), np.float32), np.zeros((h, w), np.float32)


def _draw_head(shape, x: float, y: float, scale: float):
    """A dark hotend block with a fan grille, a heater block and a brass nozzle."""
    colour, alpha = _canvas(shape)
    s = scale
    x0, y0, x1, y1 = int(x - 0.6 * s), int(y - 0.9 * s), int(x + 0.6 * s), int(y + 0.4 * s)
    cv2.rectangle(colour, (x0, y0), (x1, y1), (38, 38, 42), -1)
    cv2.rectangle(alpha, (x0, y0), (x1, y1), 1.0, -1)
    fan = (int(x), int(y - 0.25 * s))
    for r in range(int(0.45 * s), 2, -max(2, int(0.06 * s))):
        cv2.circle(colour, fan, r, (70, 70, 76) if (r // 3) % 2 else (20, 20, 22), 2, cv2.LINE_AA)
    for angle in range(0, 180, 30):
        dx, dy = np.cos(np.radians(angle)) * 0.45 * s, np.sin(np.radians(angle)) * 0.45 * s
        cv2.line(colour, (int(fan[0] - dx), int(fan[1] - dy)), (int(fan[0] + dx), int(fan[1] + dy)),
                 (90, 90, 96), 1, cv2.LINE_AA)
    hb = (int(x - 0.25 * s), int(y + 0.4 * s), int(x + 0.25 * s), int(y + 0.65 * s))
    cv2.rectangle(colour, hb[:2], hb[2:], (150, 150, 155), -1)
    cv2.rectangle(alpha, hb[:2], hb[2:], 1.0, -1)
    nozzle = np.array([[x - 0.1 * s, y + 0.65 * s], [x + 0.1 * s, y + 0.65 * s], [x, y + 0.8 * s]], np.int32)
    cv2.fillConvexPoly(colour, nozzle, (40, 140, 200), cv2.LINE_AA)
    cv2.fillConvexPoly(alpha, nozzle, 1.0, cv2.LINE_AA)
    return colour, alpha


def _draw_hand(shape, x: float, y: float, scale: float):
    """A palm and four fingers in skin tone: smooth, large, close to the camera."""
    colour, alpha = _canvas(shape)
    s = scale * 1.3
    skin = (120, 160, 215)
    cv2.ellipse(colour, (int(x), int(y)), (int(0.55 * s), int(0.7 * s)), 0, 0, 360, skin, -1, cv2.LINE_AA)
    cv2.ellipse(alpha, (int(x), int(y)), (int(0.55 * s), int(0.7 * s)), 0, 0, 360, 1.0, -1, cv2.LINE_AA)
    for i in range(4):
        fx = int(x - 0.4 * s + i * 0.27 * s)
        cv2.rectangle(colour, (fx, int(y - 1.4 * s)), (fx + int(0.18 * s), int(y - 0.4 * s)), skin, -1)
        cv2.rectangle(alpha, (fx, int(y - 1.4 * s)), (fx + int(0.18 * s), int(y - 0.4 * s)), 1.0, -1)
    return colour, alpha
