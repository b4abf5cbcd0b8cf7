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
#: Levels with fewer pixels than this on the shorter side are "small" (a 16:9 ROI's 40 and
#: 20 px views). They see a narrow peak through noise that buries it on the finer views (a dim
#: enclosure, bench/search.py), but on a featureless frame JPEG blocks and a few noisy pixels
#: fake a peak on them; so they count only where their detail really rises (see
#: :func:`trusted_levels`).
SMALL_LEVEL_PX = 24
#: The RMS gradient (grey levels) a small level must gain between a run's blurriest and
#: sharpest frame to be trusted: a flat wall with noise 1-25 gains 1-3, the dim, noisy scene
#: 7 or more at 20 px.
MIN_DETAIL_RISE = 4.0


class FrameScore(NamedTuple):
    """Scores of one frame, finest level first, the ROI's mean grey level, and a thumbnail
    of its content (see :mod:`.outliers`) to tell a crossing print head from defocus."""

    levels: Tuple[float, ...]
    brightness: float
    content: Optional[np.ndarray] = None
    #: RMS gradient in grey levels per level, for the small levels only (None elsewhere).
    detail: Tuple[Optional[float], ...] = ()

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
        scores, detail = [], []
        level = roi
        for k in range(self.max_levels):
            if k > 0:
                if min(level.shape) // 2 < MIN_LEVEL_PX:
                    break
                level = cv2.pyrDown(level)
            scores.append(score_grey(level, self.measure_fn) if brightness >= DARK_LEVEL else 0.0)
            detail.append(rms_gradient(level) if min(level.shape) < SMALL_LEVEL_PX else None)
        return FrameScore(tuple(scores), brightness, content_signature(level), tuple(detail))


def rms_gradient(grey: np.ndarray) -> float:
    """Root mean square Sobel gradient magnitude, in grey levels."""
    img = grey.astype(np.float32)
    gx = cv2.Sobel(img, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(img, cv2.CV_32F, 0, 1, ksize=3)
    return float(np.sqrt(cv2.mean(cv2.multiply(gx, gx) + cv2.multiply(gy, gy))[0]))


def trusted_levels(frames: Sequence[FrameScore]) -> int:
    """How many levels, finest first, all of ``frames`` have and the search may trust: a
    small level only where its detail rises by :data:`MIN_DETAIL_RISE` across the frames."""
    count = min(len(f.levels) for f in frames)
    for k in range(count):
        details = [f.detail[k] for f in frames if len(f.detail) > k and f.detail[k] is not None]
        if details and max(details) - min(details) < MIN_DETAIL_RISE:
            return max(1, k)
    return count


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
