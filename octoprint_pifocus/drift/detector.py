"""The drift detector: fed one sample at a time, it says when focus was lost for good.

How it decides (the README says the same):

1. **Baseline.** Right after a focus (:meth:`DriftDetector.rebase`), the first
   ``baseline_samples`` (5) samples that agree with each other give the baseline: the median
   score, the spread of the scores (MAD), the median signature and brightness.
2. **Content check.** Every later sample is compared with the reference signature (which
   follows slow changes, see 4): a signature further than ``content_limit`` (0.04) away, or a
   brightness more than ``light_limit`` (25%) off, means the picture shows something else (a
   print head, a hand, a light switched on): the sample is set aside, its score not used.
3. **Sustained drop.** Of the last ``window`` (8) samples that passed, at least ``need`` (6)
   must score below the threshold and so must their median. The threshold is the lower of
   ``baseline x (1 - drop)`` (drop 0.2) and ``baseline - noise_mads (5) x 1.4826 x MAD``, so a
   noisy camera needs a larger drop. One bad frame, or two, never alarms.
4. **A scene that changes.** The reference signature follows the samples that pass (an
   average with weight ``track``, 0.1). When it has moved ``scene_rebase`` (0.02) away from
   the baseline's signature (a part grown in front of the camera), the baseline is taken again
   from the last ``window`` samples. When ``new_scene_samples`` (6) set-aside samples in a row
   agree with each other (the light stays on, the part covers the ROI now), they become the
   new baseline. Once a drift was reported nothing re-baselines until the next focus.
   Each sample also carries its *acuity*, the fine view's score over the same view's at a
   quarter size: defocus takes fine detail first, new content changes both alike. A scene
   re-baseline whose acuity is ``acuity_drop`` (35%) below the last focus's (or light
   change's) is refused like one below the threshold: otherwise a slow drift while a part
   grows through the region is taken into the baseline bit by bit and never reported.

Samples are counted, not seconds. A sudden loss (a lens back at its rest position after a
camera restart) is reported after 6 passing samples at best, a minute at one sample every
10 s; with the head in the picture in a third of the samples it took 9 to 11 samples on the
drawn scene and up to 40 on the PCB photograph, whose strong blur also moves the signature
(bench/drift.py, figures in the README).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Deque, List, Optional

import numpy as np

from .signature import brightness_change, distance

#: MAD to standard deviation for normally distributed noise.
MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class DriftRules:
    """The numbers the decision uses; see the module docstring."""

    drop: float = 0.2
    window: int = 8
    need: int = 6
    baseline_samples: int = 5
    noise_mads: float = 5.0
    content_limit: float = 0.04
    light_limit: float = 0.25
    scene_rebase: float = 0.02
    new_scene_samples: int = 6
    track: float = 0.1
    acuity_drop: float = 0.35

    def __post_init__(self) -> None:
        if not 0 < self.drop < 1:
            raise ValueError(f"drop must be between 0 and 1, not {self.drop!r}")
        if not 1 <= self.need <= self.window:
            raise ValueError(f"need ({self.need}) must be between 1 and window ({self.window})")
        if not 0 < self.acuity_drop < 1:
            raise ValueError(f"acuity_drop must be between 0 and 1, not {self.acuity_drop!r}")
        if self.baseline_samples < 1 or self.new_scene_samples < 2:
            raise ValueError("baseline_samples must be at least 1 and new_scene_samples at least 2")


@dataclass
class DriftSample:
    """One look at the ROI: when (s), its sharpness score, its signature cells and brightness."""

    time: float
    score: float
    cells: np.ndarray
    brightness: float
    #: Fine over coarse score (see :func:`~.sampler.acuity_of`); 0 when unknown.
    acuity: float = 0.0


@dataclass(frozen=True)
class DriftVerdict:
    """What one sample led to.

    ``kind``: ``idle`` (no baseline asked for), ``learning`` (baseline being taken),
    ``ok``, ``low`` (below the threshold, not sustained yet), ``content`` / ``light`` (set
    aside), ``rebased`` (a new baseline, ``reason`` says why), ``drift`` (``new`` on the sample
    that first reported it)."""

    kind: str
    time: float
    score: float
    baseline: Optional[float] = None
    drop: Optional[float] = None
    new: bool = False
    reason: str = ""

    @property
    def counted(self) -> bool:
        """Whether the sample's score was used (not set aside, not learning)."""
        return self.kind in ("ok", "low", "drift", "rebased")


@dataclass
class _Baseline:
    score: float
    mad: float
    cells: np.ndarray
    brightness: float

    def threshold(self, rules: DriftRules) -> float:
        return min(self.score * (1.0 - rules.drop), self.score - rules.noise_mads * MAD_TO_SIGMA * self.mad)


class DriftDetector:
    """See the module docstring. Not thread-safe: one watcher feeds it."""

    def __init__(self, rules: Optional[DriftRules] = None) -> None:
        self.rules = rules or DriftRules()
        self.baseline: Optional[_Baseline] = None
        self.learning: Optional[List[DriftSample]] = None
        self.drifted = False
        self._reference: Optional[np.ndarray] = None
        self._reference_brightness = 0.0
        self._passed: Deque[DriftSample] = deque(maxlen=self.rules.window)
        self._aside: List[DriftSample] = []
        #: The acuity at the last focus (or light change): what a scene re-baseline is held to.
        self._focus_acuity = 0.0

    # ~~ control

    def rebase(self) -> None:
        """A focus just ended: take the baseline from the next samples, forget any drift."""
        self.baseline = None
        self.learning = []
        self.drifted = False
        self._passed.clear()
        self._aside = []

    def stop(self) -> None:
        """Forget everything (the watch is off); :meth:`rebase` starts again."""
        self.rebase()
        self.learning = None

    @property
    def threshold(self) -> Optional[float]:
        return self.baseline.threshold(self.rules) if self.baseline is not None else None

    # ~~ feeding

    def feed(self, sample: DriftSample) -> DriftVerdict:
        if self.learning is None:
            return DriftVerdict("idle", sample.time, sample.score)
        if self.baseline is None:
            return self._learn(sample)
        rules = self.rules
        changed = distance(sample.cells, self._reference) > rules.content_limit
        lit = brightness_change(sample.brightness, self._reference_brightness) > rules.light_limit
        if changed or lit:
            return self._set_aside(sample, "content" if changed else "light")
        self._aside = []
        self._passed.append(sample)
        self._reference = (1 - rules.track) * self._reference + rules.track * sample.cells
        self._reference_brightness = (1 - rules.track) * self._reference_brightness + rules.track * sample.brightness
        if not self.drifted and distance(self._reference, self.baseline.cells) > rules.scene_rebase:
            if self._take_baseline(list(self._passed)):
                return self._verdict("rebased", sample, reason="scene")
        return self._judge(sample)

    def _learn(self, sample: DriftSample) -> DriftVerdict:
        rules = self.rules
        first = self.learning[0] if self.learning else None
        if first is not None and (distance(sample.cells, first.cells) > rules.content_limit
                                  or brightness_change(sample.brightness, first.brightness) > rules.light_limit):
            # Something crossed the ROI while the baseline was taken: start again from this one.
            self.learning = []
        self.learning.append(sample)
        if len(self.learning) < rules.baseline_samples:
            return DriftVerdict("learning", sample.time, sample.score)
        self._take_baseline(self.learning, guard=False, anchor=True)
        return self._verdict("rebased", sample, reason="focus")

    def _set_aside(self, sample: DriftSample, kind: str) -> DriftVerdict:
        rules = self.rules
        if self._aside and (distance(sample.cells, self._aside[-1].cells) > rules.content_limit / 2
                            or brightness_change(sample.brightness, self._aside[-1].brightness)
                            > rules.light_limit / 2):
            self._aside = []
        self._aside = self._aside[-(rules.new_scene_samples - 1):] + [sample]
        if len(self._aside) >= rules.new_scene_samples and not self.drifted:
            aside, self._aside = self._aside, []
            # Defocus keeps the mean brightness: a light switched on or off re-baselines always.
            if self._take_baseline(aside, guard=kind == "content", anchor=kind != "content"):
                return self._verdict("rebased", sample, reason="new scene" if kind == "content" else "light")
            return self._judge(sample)
        return self._verdict(kind, sample)

    def _take_baseline(self, samples: List[DriftSample], guard: bool = True, anchor: bool = False) -> bool:
        """A new baseline from ``samples``; False when they score below the threshold of the
        baseline in force, or their acuity is ``acuity_drop`` below the last focus's: then
        only the reference signature follows them (a strong blur moves the signature too, a
        slow drift hides in a scene that changes), the score baseline stays and the drop is
        judged as usual. ``anchor``: a focus or a light change, whose acuity becomes the one
        later re-baselines are held to."""
        scores = np.array([s.score for s in samples], dtype=float)
        median = float(np.median(scores))
        acuity = float(np.median([s.acuity for s in samples]))
        if anchor or self._focus_acuity <= 0:
            self._focus_acuity = acuity
        blurred = acuity < self._focus_acuity * (1.0 - self.rules.acuity_drop)
        cells = np.median(np.stack([s.cells for s in samples]), axis=0).astype(np.float32)
        brightness = float(np.median([s.brightness for s in samples]))
        self._reference = cells.copy()
        self._reference_brightness = brightness
        self._passed = deque(samples[-self.rules.window:], maxlen=self.rules.window)
        if guard and self.baseline is not None and (median < self.baseline.threshold(self.rules) or blurred):
            self.baseline = _Baseline(self.baseline.score, self.baseline.mad, cells, brightness)
            return False
        self.baseline = _Baseline(median, float(np.median(np.abs(scores - median))), cells, brightness)
        return True

    def _judge(self, sample: DriftSample) -> DriftVerdict:
        rules = self.rules
        threshold = self.baseline.threshold(rules)
        scores = [s.score for s in self._passed]
        below = sum(1 for s in scores if s < threshold)
        if (len(scores) >= rules.window and below >= rules.need
                and float(np.median(scores)) < threshold):
            new = not self.drifted
            self.drifted = True
            return self._verdict("drift", sample, new=new)
        if self.drifted:
            return self._verdict("drift", sample)
        return self._verdict("low" if sample.score < threshold else "ok", sample)

    def _verdict(self, kind: str, sample: DriftSample, new: bool = False, reason: str = "") -> DriftVerdict:
        base = self.baseline.score if self.baseline is not None else None
        window = [s.score for s in self._passed] or [sample.score]
        median = float(np.median(window))
        drop = None if not base else round(1.0 - median / base, 4)
        return DriftVerdict(kind, sample.time, sample.score, baseline=base, drop=drop, new=new, reason=reason)
