"""A print as the camera sees it over time: a part growing layer by layer, the print head
crossing the picture, the room light switched on and off.

The drift watch's simulation tests and benchmark render frames of it (through
:class:`~.camera.SimulatedCamera`, by setting its ``scene``) to check that none of these is
taken for a loss of focus. The background is any BGR picture: the drawn scene, or a real
photograph.
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import cv2
import numpy as np


class PrintScene:
    """``background`` with a part whose top rises from ``part[3]`` to ``part[1]`` as the print
    goes from 0 to 1 (``part``: x0, top, x1, bottom as fractions of the frame)."""

    def __init__(self, background: np.ndarray, part: Sequence[float] = (0.38, 0.40, 0.62, 0.70),
                 head_size: Tuple[float, float] = (0.10, 0.16)) -> None:
        self.background = background
        self.part = tuple(float(v) for v in part)
        self.head_size = head_size

    def render(self, progress: float, head: Optional[Tuple[float, float]] = None, light: float = 1.0) -> np.ndarray:
        """The frame at ``progress`` (0..1) with the head's nozzle at ``head`` (fractions of
        the frame; None: out of the picture) and the room light times ``light``."""
        img = self.background.copy()
        h, w = img.shape[:2]
        x0, top, x1, bottom = self.part
        height = (bottom - top) * min(1.0, max(0.0, progress))
        px0, px1, pbottom = int(x0 * w), int(x1 * w), int(bottom * h)
        ptop = int(round(pbottom - height * h))
        if ptop < pbottom:
            img[ptop:pbottom, px0:px1] = (50, 120, 215)
            layer = max(2, h // 180)
            for y in range(pbottom - 1, ptop - 1, -layer):  # layer lines from the bed up
                if ((pbottom - y) // layer) % 2:
                    img[y, px0:px1] = (35, 95, 185)
            cv2.rectangle(img, (px0, ptop), (px1 - 1, pbottom - 1), (25, 60, 130), 1)
        if head is not None:
            self._draw_head(img, head)
        if light != 1.0:
            img = np.clip(img.astype(np.float32) * light, 0, 255).astype(np.uint8)
        return img

    def _draw_head(self, img: np.ndarray, head: Tuple[float, float]) -> None:
        h, w = img.shape[:2]
        hw, hh = int(self.head_size[0] * w), int(self.head_size[1] * h)
        nx, ny = int(head[0] * w), int(head[1] * h)
        # The hot end's body above the nozzle, a fan in its front, the nozzle's cone below.
        cv2.rectangle(img, (nx - hw // 2, ny - hh), (nx + hw // 2, ny - hh // 5), (40, 40, 42), -1)
        cv2.circle(img, (nx, ny - hh * 3 // 5), hw // 3, (90, 90, 95), -1)
        cv2.circle(img, (nx, ny - hh * 3 // 5), hw // 3, (20, 20, 20), 2)
        cone = np.array([[nx - hw // 6, ny - hh // 5], [nx + hw // 6, ny - hh // 5], [nx, ny]], np.int32)
        cv2.fillConvexPoly(img, cone, (30, 150, 200))
