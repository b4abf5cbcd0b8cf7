"""One frame -> one :class:`~.detector.DriftSample`: the ROI's sharpness and its signature.

It decodes the frame once, at the fine view's resolution the autofocus scores (a smaller
decode would save little and see a slow drift later: at a quarter of that resolution a depth
of field of blur lowers the score half as much, bench/drift.py and the README), then computes
everything from that one grey view and its quarter-size copy: the score, the brightness, the
acuity and the signature. The decode is most of the cost (about 1.7 of 2 ms for a 960x540
JPEG on an idle machine).
"""
from __future__ import annotations

from typing import Optional, Sequence

import cv2

from ..focus.measures import score_grey
from ..focus.scoring import FrameScorer
from .detector import DriftSample
from .signature import quarter_view, signature_of


class DriftSampler:
    """Scores frames for one ROI and measure (``None``: the defaults)."""

    def __init__(self, roi: Optional[Sequence[float]] = None, measure: Optional[str] = None) -> None:
        self.scorer = FrameScorer(roi, measure, levels=1)

    def sample(self, frame, time: float) -> DriftSample:
        """The sample of ``frame`` (JPEG/PNG bytes or an image array) taken at ``time`` (s).

        Raises ``ValueError`` for a frame that cannot be decoded."""
        grey = self.scorer.grey_roi(frame)
        brightness = float(cv2.mean(grey)[0])
        quarter = quarter_view(grey)
        signature = signature_of(grey, quarter, brightness)
        score = score_grey(grey, self.scorer.measure_fn, brightness)  # 0.0 on a black ROI
        acuity = acuity_of(grey, score, self.scorer.measure_fn, quarter) if score > 0 else 0.0
        return DriftSample(float(time), score, signature.cells, signature.brightness, float(acuity))


def acuity_of(grey, score: float, measure_fn, quarter=None) -> float:
    """The fine view's score over the score of the same view at a quarter of its size
    (``quarter``: :func:`~.signature.quarter_view` of ``grey``, when the caller has it).

    Defocus takes fine detail first, so this ratio falls with it; content (a part growing in
    the region, another texture) changes both scores alike and moves the ratio much less.
    The detector uses it to refuse re-baselining on a scene change that hides a drift."""
    small = quarter_view(grey) if quarter is None else quarter
    coarse = score_grey(small, measure_fn) if min(small.shape[:2]) >= 8 else 0.0
    return score / coarse if coarse > 1e-12 else 0.0
