"""A content signature of the region of interest that defocus leaves alone.

Defocus removes fine detail; a print head crossing the picture, a part growing layer by
layer or a light switched on change the large shapes and the brightness. So the signature is
the ROI smoothed with a Gaussian of 3 px and shrunk to 8 x 6 cells (each cell averages about
30 x 22 px of the 160 px fine view), divided by its mean: a blur of up to 7 px radius moves it
by less than 0.005 (mean absolute difference, measured on the drawn scene and on the real PCB
photograph of tests/data), a dark head over a tenth of the ROI by more than 0.05. The mean
grey level is kept apart, as the brightness.
"""
from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np

#: Cells of the signature (columns, rows).
CELLS = (8, 6)
#: Smoothing before shrinking, in px of the fine view: hides fine texture and noise.
SMOOTH_PX = 3.0
#: The ROI is first shrunk (area average) to this many times the cells, and smoothed there:
#: the same picture as smoothing the fine view, for a tenth of the work.
PRE_SHRINK = 8


class Signature(NamedTuple):
    """The ROI's large shapes (``cells``, mean 1) and its mean grey level (0-255)."""

    cells: np.ndarray
    brightness: float


def signature_of(grey: np.ndarray) -> Signature:
    """The signature of a grey ROI (any size of at least 8 x 6 px), its brightness the mean
    of the whole ROI."""
    small = (CELLS[0] * PRE_SHRINK, CELLS[1] * PRE_SHRINK)
    if grey.shape[1] > small[0] and grey.shape[0] > small[1]:
        sigma = SMOOTH_PX * small[0] / float(grey.shape[1])
        grey_small = cv2.resize(grey, small, interpolation=cv2.INTER_AREA).astype(np.float32)
        smooth = cv2.GaussianBlur(grey_small, (0, 0), sigma) if sigma >= 0.3 else grey_small
    else:
        smooth = cv2.GaussianBlur(grey.astype(np.float32), (0, 0), SMOOTH_PX)
    cells = cv2.resize(smooth, CELLS, interpolation=cv2.INTER_AREA)
    mean = float(cells.mean())
    if mean <= 1e-6:
        return Signature(np.ones(CELLS[::-1], np.float32), 0.0)
    return Signature(cells / mean, float(cv2.mean(grey)[0]))


def distance(a: np.ndarray, b: np.ndarray) -> float:
    """How different two signatures' cells are: the mean absolute difference (0: the same)."""
    return float(np.mean(np.abs(a - b)))


def brightness_change(brightness: float, reference: float) -> float:
    """The relative change of ``brightness`` against ``reference`` (0.3: 30% brighter or darker)."""
    if reference <= 1e-6:
        return 0.0 if brightness <= 1e-6 else float("inf")
    ratio = brightness / reference
    return float(max(ratio, 1.0 / ratio) - 1.0) if ratio > 0 else float("inf")
