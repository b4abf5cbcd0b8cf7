"""Frames for the test servers: a simulated camera seen through its lens, and plain JPEGs.

:class:`SimFrames` remembers where the lens was when it rendered each frame, so a test can
tell, for any frame a source returned, whether it was exposed before or after a move.
"""
from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from typing import NamedTuple, Optional

import cv2
import numpy as np

from octoprint_pifocus.sim import SimulatedCamera, SimulatedLens, draw_scene


def encode_jpeg(image: np.ndarray, quality: int = 85, **flags: int) -> bytes:
    """JPEG bytes of a BGR or grey image; ``flags`` are extra ``cv2.IMWRITE_*`` values by name
    without the prefix, e.g. ``JPEG_PROGRESSIVE=1``."""
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
    for name, value in flags.items():
        params += [getattr(cv2, f"IMWRITE_{name}"), int(value)]
    ok, data = cv2.imencode(".jpg", image, params)
    assert ok, "OpenCV could not encode a JPEG"
    return data.tobytes()


class Origin(NamedTuple):
    """Where the lens physically was when a frame was rendered, and when (monotonic)."""

    position: float
    rendered: float


class SimFrames:
    """A render function for :class:`~servers.CameraServer`: JPEGs of ``camera``
    (a :class:`~octoprint_pifocus.sim.SimulatedCamera`) at its lens's current position."""

    def __init__(self, camera, quality: int = 85, keep: int = 4096) -> None:
        self.camera = camera
        self.quality = quality
        self._keep = keep
        self._lock = threading.Lock()
        self._origins: "OrderedDict[bytes, Origin]" = OrderedDict()

    def __call__(self) -> bytes:
        when = time.monotonic()
        position = self.camera.lens_position()
        data = encode_jpeg(self.camera.render(position), self.quality)
        with self._lock:
            self._origins[_key(data)] = Origin(position, when)
            while len(self._origins) > self._keep:
                self._origins.popitem(last=False)
        return data

    def origin(self, frame: bytes) -> Optional[Origin]:
        """Where and when ``frame`` was rendered; None if it was not rendered here."""
        with self._lock:
            return self._origins.get(_key(frame))


def _key(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest()


def sim_frames(width: int = 160, height: int = 96, start: float = 500, focus: float = 500,
               seed: int = 1, scene: Optional[np.ndarray] = None, **camera_options) -> SimFrames:
    """:class:`SimFrames` of a new simulated lens (at ``start``) and camera (in focus at
    ``focus``), over ``scene`` or a drawn one of ``width`` x ``height``. The lens and the
    camera are ``frames.camera.lens`` and ``frames.camera``."""
    lens = SimulatedLens(start=start)
    scene = draw_scene(width, height) if scene is None else scene
    return SimFrames(SimulatedCamera(scene, lens, focus_position=focus, seed=seed, **camera_options))
