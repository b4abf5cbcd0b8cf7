"""Cameras for the simulation: a physically sensible defocus model, and real focus stacks.

:class:`SimulatedCamera` renders a sharp image as a lens out of focus would: a disc
(pillbox) blur whose radius grows linearly with the lens's distance from the in-focus
position (thin-lens geometry for small defocus), then exposure flicker, sensor noise and
JPEG encoding, like a webcam stream. :class:`StackCamera` serves real photographs taken at
successive focus settings, so a search can be run against real optics.
"""
from __future__ import annotations

import functools
import threading
from pathlib import Path
from typing import Callable, Mapping, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

Number = Union[int, float]


@functools.lru_cache(maxsize=512)
def _disc_kernel(radius_hundredths: int) -> np.ndarray:
    radius = radius_hundredths / 100.0
    half = int(np.ceil(radius))
    size = 2 * half + 1
    # Supersample each pixel 8x8 so that sub-pixel radii give smoothly growing kernels.
    sub = 8
    coords = (np.arange(size * sub) + 0.5) / sub - (half + 0.5)
    yy, xx = np.meshgrid(coords, coords, indexing="ij")
    inside = (xx * xx + yy * yy) <= radius * radius
    kernel = inside.reshape(size, sub, size, sub).mean(axis=(1, 3)).astype(np.float32)
    total = kernel.sum()
    if total <= 0:
        kernel = np.zeros((1, 1), np.float32)
        kernel[0, 0] = 1
        return kernel
    return kernel / total


def disc_blur(image: np.ndarray, radius: float) -> np.ndarray:
    """Blur ``image`` with a disc of ``radius`` pixels (the defocus point-spread function).

    Radii under a quarter pixel leave the image as it is. Large radii are rendered at a
    reduced size and scaled back up: the result is smooth anyway, and it keeps a 60 px blur
    as cheap as a 10 px one.
    """
    if radius < 0.25:
        return image.copy()
    if radius > 12:
        factor = radius / 8.0
        h, w = image.shape[:2]
        small = cv2.resize(image, (max(8, int(w / factor)), max(8, int(h / factor))),
                           interpolation=cv2.INTER_AREA)
        small = disc_blur(small, radius / factor)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    kernel = _disc_kernel(int(round(radius * 100)))
    return cv2.filter2D(image, -1, kernel, borderType=cv2.BORDER_REFLECT)


class SimulatedCamera:
    """A camera looking at ``scene`` through ``lens``, in focus at ``focus_position``.

    Frames are JPEG bytes when ``jpeg_quality`` is set (like a webcam), else BGR arrays.
    The blur follows the lens's *physical* position (``actual_position`` where the lens has
    one, as :class:`~octoprint_pifocus.sim.SimulatedLens` does), so hysteresis shows.
    With a ``focus_field`` (:class:`~octoprint_pifocus.sim.FocusField`), :meth:`set_toolhead`
    moves the in-focus position with the toolhead; without one it stays ``focus_position``.
    """

    def __init__(
        self,
        scene: np.ndarray,
        lens,
        focus_position: Number,
        blur_rate: float = 0.05,
        base_blur: float = 0.0,
        noise: float = 2.0,
        flicker: float = 0.0,
        jpeg_quality: Optional[int] = 85,
        seed: Optional[int] = None,
        focus_field: Optional[Callable[[Mapping[str, Optional[float]]], float]] = None,
        occluder=None,
    ) -> None:
        if scene.ndim == 2:
            scene = cv2.cvtColor(scene, cv2.COLOR_GRAY2BGR)
        self.scene = scene
        self.lens = lens
        self.focus_position = focus_position
        self.blur_rate = float(blur_rate)
        self.base_blur = float(base_blur)
        self.noise = float(noise)
        self.flicker = float(flicker)
        self.jpeg_quality = jpeg_quality
        self._rng = np.random.default_rng(seed)
        self._lock = threading.Lock()
        self.captures = 0
        self.focus_field = focus_field
        #: An :class:`~octoprint_pifocus.sim.occluder.Occluder` drawn into the frames it
        #: chooses (a print head or a hand crossing the picture), or None.
        self.occluder = occluder

    def set_toolhead(self, position: Mapping[str, Optional[float]]) -> float:
        """Put the toolhead at ``position`` (mm per axis): the in-focus position follows the
        focus field. Returns the new in-focus position."""
        if self.focus_field is None:
            raise ValueError("this simulated camera has no focus field, so the toolhead does not matter")
        self.focus_position = float(self.focus_field(position))
        return self.focus_position

    def lens_position(self) -> float:
        return float(getattr(self.lens, "actual_position", self.lens.position))

    def blur_radius(self, position: Optional[float] = None) -> float:
        """The blur radius in pixels at ``position`` (default: where the lens physically is)."""
        if position is None:
            position = self.lens_position()
        return self.base_blur + self.blur_rate * abs(position - self.focus_position)

    def render(self, position: Optional[float] = None, capture: Optional[int] = None) -> np.ndarray:
        """A BGR frame as the sensor would see it with the lens at ``position``; the occluder
        (if any) decides by the ``capture`` number whether something crosses it."""
        with self._lock:
            gain = 1.0 + self.flicker * float(self._rng.standard_normal()) if self.flicker else 1.0
            noise = (self._rng.standard_normal(self.scene.shape[:2]).astype(np.float32) * self.noise
                     if self.noise else None)
        blurred = disc_blur(self.scene, self.blur_radius(position)).astype(np.float32)
        if self.occluder is not None and capture is not None:
            with self._lock:
                blurred = self.occluder.draw(blurred, capture)
        if gain != 1.0:
            blurred *= gain
        if noise is not None:
            blurred += noise[:, :, None]
        return np.clip(blurred, 0, 255).astype(np.uint8)

    def capture(self):
        self.captures += 1
        frame = self.render(capture=self.captures)
        if self.jpeg_quality is None:
            return frame
        ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, int(self.jpeg_quality)])
        return data.tobytes()


class StackCamera:
    """Serves the photographs of a real focus stack by lens position.

    The lens range is spread evenly over the frames, and each position gets the nearest
    frame: a staircase focus curve, as from a lens that maps many positions to one frame.
    """

    def __init__(self, frames: Sequence[Union[bytes, str, Path]], lens,
                 limits: Optional[Tuple[Number, Number]] = None) -> None:
        if not frames:
            raise ValueError("A stack camera needs at least one frame")
        self.frames = [Path(f).read_bytes() if isinstance(f, (str, Path)) else bytes(f)
                       for f in frames]
        self.lens = lens
        self.limits = tuple(limits) if limits is not None else tuple(lens.limits)
        self.captures = 0

    def frame_index(self, position: Optional[float] = None) -> int:
        if position is None:
            position = float(getattr(self.lens, "actual_position", self.lens.position))
        low, high = self.limits
        n = len(self.frames)
        if high == low or n == 1:
            return 0
        fraction = (position - low) / (high - low)
        return int(min(n - 1, max(0, round(fraction * (n - 1)))))

    def capture(self) -> bytes:
        self.captures += 1
        return self.frames[self.frame_index()]
