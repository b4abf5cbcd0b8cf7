"""Focus measures: one number per grey image that grows as the image gets sharper.

Every measure here is divided by the image's mean brightness (squared where the measure is
quadratic in pixel values), so a camera whose exposure drifts by 10% does not look 10% sharper
or blurrier. Without that, auto-exposure flicker becomes noise on the focus curve, and a
brighter frame can win the search.

The default was chosen by measurement (``bench/measures.py``; figures in the README):
Tenengrad ranks the real stacks correctly with and without sensor noise and JPEG
compression, and keeps the largest peak-to-tail contrast on noisy frames, where the variance
of the Laplacian goes flat.
"""
from __future__ import annotations

from typing import Callable, Dict, Optional

import cv2
import numpy as np

#: Below this mean grey level (of 255) the ROI is treated as black: no measure is meaningful.
DARK_LEVEL = 4.0

MeasureFn = Callable[[np.ndarray, float], float]


def _as_float(grey: np.ndarray) -> np.ndarray:
    return grey if grey.dtype == np.float32 else grey.astype(np.float32)


def tenengrad(grey: np.ndarray, mean: float) -> float:
    """Gradient energy: mean squared Sobel gradient magnitude / mean²."""
    if grey.dtype == np.uint8 and grey.ndim == 2:
        # The same number, 3x faster: 8-bit Sobel gradients fit in int16 exactly and
        # cv2.norm sums their squares in double (a fifth of a drift sample's time before).
        gx, gy = cv2.spatialGradient(grey)
        energy = (cv2.norm(gx, cv2.NORM_L2SQR) + cv2.norm(gy, cv2.NORM_L2SQR)) / grey.size
        return float(energy) / (mean * mean)
    img = _as_float(grey)
    gx = cv2.Sobel(img, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(img, cv2.CV_32F, 0, 1, ksize=3)
    energy = cv2.mean(cv2.multiply(gx, gx) + cv2.multiply(gy, gy))[0]
    return float(energy) / (mean * mean)


def brenner(grey: np.ndarray, mean: float) -> float:
    """Brenner's gradient: squared differences two pixels apart, both directions, / mean²."""
    img = _as_float(grey)
    dx = img[:, 2:] - img[:, :-2]
    dy = img[2:, :] - img[:-2, :]
    return float(np.mean(dx * dx) + np.mean(dy * dy)) / (mean * mean)


def modified_laplacian(grey: np.ndarray, mean: float) -> float:
    """Nayar's modified Laplacian: mean of |d²I/dx²| + |d²I/dy²|, / mean."""
    img = _as_float(grey)
    lx = np.abs(2.0 * img[1:-1, 1:-1] - img[1:-1, :-2] - img[1:-1, 2:])
    ly = np.abs(2.0 * img[1:-1, 1:-1] - img[:-2, 1:-1] - img[2:, 1:-1])
    return float(np.mean(lx + ly)) / mean


def normalized_variance(grey: np.ndarray, mean: float) -> float:
    """Grey-level variance / mean² (Groen's normalized variance, squared mean for gain invariance)."""
    img = _as_float(grey)
    return float(np.var(img)) / (mean * mean)


def laplacian_variance(grey: np.ndarray, mean: float) -> float:
    """Variance of the Laplacian / mean²: the classic baseline, weak on noisy frames."""
    img = _as_float(grey)
    lap = cv2.Laplacian(img, cv2.CV_32F, ksize=1)
    return float(np.var(lap)) / (mean * mean)


MEASURES: Dict[str, MeasureFn] = {
    "tenengrad": tenengrad,
    "brenner": brenner,
    "modified_laplacian": modified_laplacian,
    "normalized_variance": normalized_variance,
    "laplacian_variance": laplacian_variance,
}

DEFAULT_MEASURE = "tenengrad"

#: Short descriptions for the CLI and the settings page.
DESCRIPTIONS: Dict[str, str] = {
    "tenengrad": "Sobel gradient energy (default: robust to noise, sharp peak)",
    "brenner": "Brenner gradient, 2-pixel differences",
    "modified_laplacian": "Nayar's modified Laplacian",
    "normalized_variance": "grey-level variance / mean^2 (wide, smooth curve)",
    "laplacian_variance": "variance of the Laplacian (classic baseline; flat on noisy frames)",
}


def get_measure(name: Optional[str]) -> MeasureFn:
    """The measure function called ``name``; ``None`` gives the default. ``ValueError`` if unknown."""
    key = DEFAULT_MEASURE if name is None else str(name).strip().lower().replace("-", "_")
    try:
        return MEASURES[key]
    except KeyError:
        raise ValueError(
            f"Unknown focus measure {name!r}; choose one of: {', '.join(MEASURES)}"
        ) from None


def score_grey(grey: np.ndarray, measure: MeasureFn, mean: Optional[float] = None) -> float:
    """Score a grey ROI; a black ROI scores 0.0 instead of dividing by almost nothing.
    ``mean``: the ROI's mean grey level, when the caller has taken it already."""
    mean = float(cv2.mean(grey)[0]) if mean is None else float(mean)
    if mean < DARK_LEVEL:
        return 0.0
    return measure(grey, mean)
