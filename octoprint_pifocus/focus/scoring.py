"""Score one frame: decode once, crop the ROI, and measure it at several scales.

The search needs two views of every frame. A coarse view (the ROI shrunk 4-8x) has a wide
focus curve that still rises far from focus, so a sparse coarse pass cannot step over the
peak. A fine view (near full resolution) has a narrow, sharp curve that pins the peak down.
Both come from the same capture, so the coarse view costs no extra frames.
"""
from __future__ import annotations

from typing import NamedTuple, Optional, Sequence, Tuple

import cv2
import numpy as np

from .decode import Roi, choose_reduction, crop_roi, decode_grey, validate_roi
from .jpeg_band import roi_band
from .jpeg_header import jpeg_size
from .measures import DARK_LEVEL, get_measure, score_grey
from .outliers import content_signature

#: The fine view's ROI keeps at least this many pixels on its longer side. Chosen by
#: measurement (bench/search.py): 160 px found focus with fewer frames *and* less residual
#: blur than 320 px on 640-1920 px wide frames, because a smoother fine curve fits better;
#: it also lets libjpeg skip more of the decode.
FINE_TARGET_PX = 160
#: Pyramid levels scored per frame: level k is the fine view shrunk 2**k times.
LEVELS = 4
#: A level is only used while its ROI keeps this many pixels on its shorter side.
MIN_LEVEL_PX = 10


class FrameScore(NamedTuple):
    """Scores of one frame, finest level first, the ROI's mean grey level, and a thumbnail
    of its content (see :mod:`.outliers`) to tell a crossing print head from defocus."""

    levels: Tuple[float, ...]
    brightness: float
    content: Optional[np.ndarray] = None

    @property
    def fine(self) -> float:
        return self.levels[0]


class FrameScorer:
    """Decodes and scores frames for one ROI and measure; decides the reduction on first use."""

    def __init__(self, roi: Optional[Sequence[float]] = None, measure: Optional[str] = None,
                 fine_target: Optional[int] = None, levels: int = LEVELS) -> None:
        self.roi: Roi = validate_roi(roi)
        self.measure_fn = get_measure(measure)
        self.fine_target = fine_target or FINE_TARGET_PX
        self.max_levels = levels
        self._reduce: Optional[int] = None
        #: Decode only the ROI's rows of JPEGs with restart markers (see :mod:`.jpeg_band`).
        self.use_bands = True

    def reduction_for(self, frame) -> int:
        """libjpeg reduction for this frame size (from the JPEG header; arrays: from the shape)."""
        if isinstance(frame, np.ndarray):
            h, w = frame.shape[:2]
        else:
            size = jpeg_size(bytes(frame)) if isinstance(frame, (bytes, bytearray, memoryview)) else None
            if size is None:
                return 1  # PNG or unknown: decode in full, then shrink
            w, h = size
        return choose_reduction(w, h, self.roi, self.fine_target)

    def grey_roi(self, frame) -> np.ndarray:
        """The ROI of ``frame`` in grey at the fine view's resolution."""
        if self._reduce is None:
            self._reduce = self.reduction_for(frame)
        roi = None
        if isinstance(frame, (bytes, bytearray)) and self.use_bands:
            band = roi_band(bytes(frame), self.roi[1], self.roi[1] + self.roi[3])
            if band is not None:
                r = self._reduce
                grey = decode_grey(band.jpeg, r)
                roi = crop_roi(grey, self.roi, full_height=-(-band.full_height // r),
                               row_offset=band.first_row // r)
        if roi is None:
            grey = decode_grey(frame, self._reduce)
            roi = crop_roi(grey, self.roi)
        longer = max(roi.shape)
        if longer > 2 * self.fine_target:
            # PNG, arrays, or a frame larger than libjpeg's 1/8 covers: shrink here.
            factor = longer / float(self.fine_target)
            roi = cv2.resize(roi, (max(8, int(roi.shape[1] / factor)), max(8, int(roi.shape[0] / factor))),
                             interpolation=cv2.INTER_AREA)
        return roi

    def score(self, frame) -> FrameScore:
        roi = self.grey_roi(frame)
        brightness = float(cv2.mean(roi)[0])
        scores = []
        level = roi
        for k in range(self.max_levels):
            if k > 0:
                if min(level.shape) // 2 < MIN_LEVEL_PX:
                    break
                level = cv2.pyrDown(level)
            scores.append(score_grey(level, self.measure_fn) if brightness >= DARK_LEVEL else 0.0)
        return FrameScore(tuple(scores), brightness, content_signature(level))


def measure_sharpness(frame, roi: Optional[Sequence[float]] = None,
                      measure: Optional[str] = None) -> float:
    """Sharpness of ``frame`` in ``roi`` (fractions ``(x, y, w, h)``; ``None``: central half).

    ``frame`` is JPEG/PNG bytes or a numpy image (grey or BGR). ``measure`` is a name from
    :data:`~octoprint_pifocus.focus.measures.MEASURES` (``None``: the default). Scores of frames
    of the same size and ROI are comparable; higher is sharper. Raises ``ValueError`` for a bad
    ROI, an unknown measure or an undecodable frame.
    """
    scorer = FrameScorer(roi, measure, levels=1)
    roi_px = scorer.grey_roi(frame)
    return score_grey(roi_px, scorer.measure_fn)
