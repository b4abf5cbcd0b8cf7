"""One frame -> one :class:`~.detector.DriftSample`: the ROI's sharpness and its signature.

It decodes the frame once, at the fine view's resolution the autofocus scores (so the scores
of the watch and of a focus run are comparable), and costs a few ms per frame.
"""
from __future__ import annotations

from typing import Optional, Sequence

import cv2

from ..focus.measures import DARK_LEVEL, score_grey
from ..focus.scoring import FrameScorer
from .detector import DriftSample
from .signature import signature_of


class DriftSampler:
    """Scores frames for one ROI and focus measure (``None``: the defaults)."""

    def __init__(self, roi: Optional[Sequence[float]] = None, measure: Optional[str] = None) -> None:
        self.scorer = FrameScorer(roi, measure, levels=1)

    def sample(self, frame, time: float) -> DriftSample:
        """The sample of ``frame`` (JPEG/PNG bytes or an image array) taken at ``time`` (s).

        Raises ``ValueError`` for a frame that cannot be decoded."""
        grey = self.scorer.grey_roi(frame)
        signature = signature_of(grey)
        score = acuity = 0.0
        if signature.brightness >= DARK_LEVEL:
            score = score_grey(grey, self.scorer.measure_fn)
            acuity = acuity_of(grey, score, self.scorer.measure_fn)
        return DriftSample(float(time), float(score), signature.cells, signature.brightness, float(acuity))


def acuity_of(grey, score: float, measure_fn) -> float:
    """The fine view's score over the score of the same view at a quarter of its size.

    Defocus takes fine detail first, so this ratio falls with it; content (a part growing in
    the region, another texture) changes both scores alike and moves the ratio much less.
    The detector uses it to refuse re-baselining on a scene change that hides a drift."""
    small = cv2.pyrDown(cv2.pyrDown(grey))
    coarse = score_grey(small, measure_fn) if min(small.shape[:2]) >= 8 else 0.0
    return score / coarse if coarse > 1e-12 else 0.0
