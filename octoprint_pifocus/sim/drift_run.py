"""A simulated print watched by the drift detector: hours of frames in a few seconds.

:func:`watch_print` renders one frame per sample interval of a :class:`~.printing.PrintScene`
through a :class:`~.camera.SimulatedCamera` (noise, exposure flicker, JPEG), with the head in
the picture for a share of the samples, the part growing, an optional light switched on, and
optionally a real loss of focus: a step (the lens back at its rest position after a camera
restart) or a thermal drift of the in-focus position. Every sample goes through the real
:class:`~octoprint_pifocus.drift.DriftSampler` and :class:`~octoprint_pifocus.drift.DriftDetector`.
The tests and ``bench/drift.py`` use it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Tuple

import cv2
import numpy as np

from ..drift import DriftDetector, DriftRules, DriftSampler, DriftVerdict
from .camera import SimulatedCamera
from .lens import SimulatedLens
from .printing import PrintScene

#: In depth of field up to this blur radius (px), as in bench/search.py.
DOF_BLUR = 0.75


@dataclass(frozen=True)
class PrintRun:
    """What happens during the simulated print. Times in hours from the start."""

    hours: float = 3.0
    interval: float = 10.0
    seed: int = 1
    #: Share of the samples with the head somewhere over the part.
    head_share: float = 0.35
    flicker: float = 0.03
    noise: float = 2.0
    #: The part grows from nothing to its full height over the print.
    layers: bool = True
    #: The room light is times ``light[2]`` from ``light[0]`` to ``light[1]`` hours.
    light: Optional[Tuple[float, float, float]] = None
    #: The lens falls back to its rest position (code 0) at this hour.
    step_at: Optional[float] = None
    #: The in-focus position moves this many depths of field per hour, from ``drift_from``.
    thermal_dof_per_hour: float = 0.0
    drift_from: float = 0.0
    blur_rate: float = 0.05
    size: Tuple[int, int] = (640, 360)


@dataclass
class WatchResult:
    verdicts: List[DriftVerdict] = field(default_factory=list)
    #: Index of every sample that first reported a drift.
    alarms: List[int] = field(default_factory=list)
    #: Index of the first sample after the loss of focus began (None: none simulated).
    event_index: Optional[int] = None
    #: Depths of field between lens and focus at the first alarm.
    dof_at_alarm: Optional[float] = None

    @property
    def samples_to_detect(self) -> Optional[int]:
        """Samples from the loss of focus to its report (1: the first sample after it)."""
        after = [a for a in self.alarms if self.event_index is not None and a >= self.event_index]
        return after[0] - self.event_index + 1 if after else None

    def false_alarms(self) -> int:
        """Reports before the loss of focus began (all of them when there is none)."""
        return len([a for a in self.alarms if self.event_index is None or a < self.event_index])


def watch_print(background: np.ndarray, run: PrintRun, rules: Optional[DriftRules] = None) -> WatchResult:
    """Simulate ``run`` in front of ``background`` (BGR) and watch it; see the module docstring."""
    rng = np.random.default_rng(run.seed)
    width, height = run.size
    scene = PrintScene(cv2.resize(background, (width, height), interpolation=cv2.INTER_AREA))
    focus = 400
    lens = SimulatedLens(start=focus)
    camera = SimulatedCamera(scene.background, lens, focus, blur_rate=run.blur_rate, noise=run.noise,
                             flicker=run.flicker, seed=run.seed)
    dof = 2 * DOF_BLUR / run.blur_rate  # lens codes across the depth of field
    sampler = DriftSampler()
    detector = DriftDetector(rules)
    detector.rebase()
    result = WatchResult()
    count = int(run.hours * 3600 / run.interval)
    x0, top, x1, bottom = scene.part
    for index in range(count):
        t = index * run.interval
        hours = t / 3600.0
        head = None
        if rng.random() < run.head_share:
            head = (float(rng.uniform(x0 - 0.05, x1 + 0.05)), float(rng.uniform(top, bottom + 0.1)))
        light = run.light[2] if run.light and run.light[0] <= hours < run.light[1] else 1.0
        camera.scene = scene.render(hours / run.hours if run.layers else 0.6, head, light)
        if run.step_at is not None and hours >= run.step_at:
            if result.event_index is None:
                result.event_index = index
                lens.move_to(0)
        if run.thermal_dof_per_hour and hours >= run.drift_from:
            if result.event_index is None:
                result.event_index = index
            camera.focus_position = focus + (hours - run.drift_from) * run.thermal_dof_per_hour * dof
        verdict = detector.feed(sampler.sample(camera.capture(), t))
        result.verdicts.append(verdict)
        if verdict.new:
            result.alarms.append(index)
            if result.dof_at_alarm is None:
                result.dof_at_alarm = abs(camera.lens_position() - camera.focus_position) / dof
    return result
