"""One frame -> one :class:`~.detector.DriftSample`: the ROI's sharpness and its signature.

It decodes the frame once, at the fine view's resolution the autofocus scores (so the scores
of the watch and of a focus run are comparable), and costs a few ms per frame.
"""
from __future__ import annotations

from typing import Optional, Sequence

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
        score = score_grey(grey, self.scorer.measure_fn) if signature.brightness >= DARK_LEVEL else 0.0
        return DriftSample(float(time), float(score), signature.cells, signature.brightness)
