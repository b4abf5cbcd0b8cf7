"""A focus device's drift watch state: its detector, the recent samples, a refocus asked for.

The drift watch (:mod:`..drift_watch`) feeds it; :meth:`FocusDevice.status` shows it (the
sidebar draws the trace). One lock, as the watch's thread, a focus ending on another thread
and the status read it at once.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any, Deque, Dict, List, Optional, Sequence

from ...drift import DriftDetector, DriftRules, DriftSample, DriftSampler, DriftVerdict

#: Samples kept for the sidebar's trace (20 minutes at the default 10 s).
TRACE_MAX = 120
#: Marks kept (baselines, drifts, refocuses).
MARKS_MAX = 20


class DriftState:
    """See the module docstring. Times are wall-clock seconds (the browser's axis)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.detector = DriftDetector()
        self._sampler: Optional[DriftSampler] = None
        self._sampler_key: Optional[tuple] = None
        self.trace: Deque[List[Any]] = deque(maxlen=TRACE_MAX)
        self.marks: Deque[Dict[str, Any]] = deque(maxlen=MARKS_MAX)
        #: A drift was reported and the action asks for a refocus at the next layer change.
        self.refocus_pending = False
        self.last: Optional[DriftVerdict] = None

    def sampler(self, roi: Sequence[float], measure: str) -> DriftSampler:
        """The sampler for the device's ROI and measure (a new one when they changed)."""
        key = (tuple(roi), measure)
        if self._sampler is None or key != self._sampler_key:
            self._sampler, self._sampler_key = DriftSampler(roi, measure), key
        return self._sampler

    def rules_for(self, drop: float) -> None:
        """Use ``drop`` (drift.drop); a change takes effect with the next baseline."""
        if self.detector.rules.drop != drop:
            with self._lock:
                self.detector.rules = DriftRules(drop=drop)

    def rebase(self, cause: str) -> None:
        """A focus ended (or a print starts): the next samples are the new baseline."""
        with self._lock:
            self.detector.rebase()
            self.refocus_pending = False
            self.last = None
            mark = {"time": time.time(), "kind": "refocus" if cause == "refocus" else "baseline", "cause": cause}
            if self.marks and mark["time"] - self.marks[-1]["time"] < 2 and self.marks[-1]["kind"] != "drift":
                # One focus fires two events (autofocus_done, focus_changed): one mark, the later one.
                self.marks.pop()
            self.marks.append(mark)

    def stop(self) -> None:
        with self._lock:
            self.detector.stop()
            self.refocus_pending = False
            self.last = None

    def feed(self, sample: DriftSample) -> DriftVerdict:
        with self._lock:
            verdict = self.detector.feed(sample)
            self.last = verdict
            if verdict.kind != "idle":
                self.trace.append([round(time.time(), 1), round(float(sample.score), 5), verdict.kind])
            if verdict.new:
                self.marks.append({"time": time.time(), "kind": "drift", "cause": ""})
            return verdict

    def status(self, config: Dict[str, Any]) -> Dict[str, Any]:
        """For the status: the watch's settings, state, baseline and threshold, the trace, marks."""
        with self._lock:
            detector = self.detector
            if detector.learning is None:
                state = "idle"
            elif detector.baseline is None:
                state = "learning"
            else:
                state = "drift" if detector.drifted else "watching"
            baseline = detector.baseline.score if detector.baseline is not None else None
            threshold = detector.threshold
            return {
                "watch": config["watch"], "action": config["action"], "state": state,
                "baseline": None if baseline is None else round(baseline, 5),
                "threshold": None if threshold is None else round(threshold, 5),
                "drop": self.last.drop if self.last is not None else None,
                "refocus_pending": self.refocus_pending,
                "trace": [list(p) for p in self.trace],
                "marks": [dict(m, time=round(m["time"], 1)) for m in self.marks],
            }
