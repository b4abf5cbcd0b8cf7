"""A content signature of the region of interest that defocus leaves alone.

Defocus removes fine detail; a print head crossing the picture, a part growing layer by
layer or a light switched on change the large shapes and the brightness. So the signature is
the ROI smoothed and shrunk to 8 x 6 cells (each cell averages about 30 x 22 px of the 160 px
fine view), divided by its mean. On the drift benchmark's 640 x 360 frames (noise 2) a blur of
up to 7 px radius moves it by at most 0.003 (mean absolute difference) on the drawn scene and
0.012 on the real PCB photograph of tests/data, the print head over the ROI by 0.04-0.06 (0.03
where it crosses the part on the photograph). The mean grey level is kept apart, as the
brightness.

The smoothing is two ``cv2.pyrDown`` steps (a 5-tap Gaussian each, about 2 px of the fine
view together): the sampler has that quarter-size view anyway for the acuity, so the
signature costs one small resize. Before, an area resize of the fine view to 64 x 48 px and a
3 px Gaussian took most of the sampler's time after the decode (0.13 of 0.55 ms).
"""
from __future__ import annotations

from typing import NamedTuple, Optional

import cv2
import numpy as np

#: Cells of the signature (columns, rows).
CELLS = (8, 6)
#: Smoothing of a ROI too small for the pyramid, in px of the fine view.
SMOOTH_PX = 3.0
#: The quarter-size view must have at least this many pixels per cell in each direction.
MIN_PX_PER_CELL = 2


class Signature(NamedTuple):
    """The ROI's large shapes (``cells``, mean 1) and its mean grey level (0-255)."""

    cells: np.ndarray
    brightness: float


def quarter_view(grey: np.ndarray) -> np.ndarray:
    """``grey`` smoothed and shrunk 4 times by two ``cv2.pyrDown`` steps (what
    :func:`signature_of` and the acuity share)."""
    return cv2.pyrDown(cv2.pyrDown(grey))


def pyramid_fits(width: int, height: int) -> bool:
    """Whether a quarter view of ``width`` x ``height`` px has enough pixels per cell."""
    return width >= MIN_PX_PER_CELL * CELLS[0] and height >= MIN_PX_PER_CELL * CELLS[1]


def signature_of(grey: np.ndarray, quarter: Optional[np.ndarray] = None,
                 brightness: Optional[float] = None) -> Signature:
    """The signature of a grey ROI (any size of at least 8 x 6 px), its brightness the mean
    of the whole ROI. ``quarter`` (:func:`quarter_view` of ``grey``) and ``brightness`` (its
    mean grey level), when the caller has them, are not computed again."""
    if brightness is None:
        brightness = float(cv2.mean(grey)[0])
    if quarter is None and pyramid_fits(grey.shape[1] // 4, grey.shape[0] // 4):
        quarter = quarter_view(grey)
    if quarter is not None and pyramid_fits(quarter.shape[1], quarter.shape[0]):
        smooth = quarter.astype(np.float32)
    else:
        smooth = cv2.GaussianBlur(grey.astype(np.float32), (0, 0), SMOOTH_PX)
    cells = cv2.resize(smooth, CELLS, interpolation=cv2.INTER_AREA)
    mean = float(cells.mean())
    if mean <= 1e-6:
        return Signature(np.ones(CELLS[::-1], np.float32), 0.0)
    return Signature(cells / mean, brightness)


def distance(a: np.ndarray, b: np.ndarray) -> float:
    """How different two signatures' cells are: the mean absolute difference (0: the same)."""
    return float(np.mean(np.abs(a - b)))


def brightness_change(brightness: float, reference: float) -> float:
    """The relative change of ``brightness`` against ``reference`` (0.3: 30% brighter or darker)."""
    if reference <= 1e-6:
        return 0.0 if brightness <= 1e-6 else float("inf")
    ratio = brightness / reference
    return float(max(ratio, 1.0 / ratio) - 1.0) if ratio > 0 else float("inf")
