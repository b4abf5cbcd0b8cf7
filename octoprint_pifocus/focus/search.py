"""Search a lens range for the sharpest position with few frames.

The plan, and why:

1. **Coarse pass.** A handful of positions evenly over the whole range, scored on the
   coarsest view of each frame (see :mod:`.scoring`). That view's focus curve is wide, so
   even the sample nearest to a sharp, narrow peak already sees it: the pass finds the
   *global* peak, not a local bump, and flat noisy tails cannot stop it early, because it
   does not stop early at all.
2. **Zoom.** Three samples around the estimate, a third as far apart each round, each round
   scored on a finer view and fitted with a parabola in log-score (a Gaussian peak). It stops
   as soon as the fine curve is flat across the step: the lens is then well inside the depth
   of field. A peak that is not bracketed moves the window instead of trusting the fit.
3. **Final approach.** Every sample was approached from the same side (the measuring
   direction), and so is the final position, from an overshoot. Lens hysteresis and
   leadscrew backlash then shift the samples and the result alike, and cancel out.

After every sweep, a frame that disagrees with its neighbours and whose content changed (a
print head or a hand crossed the region) is captured again: see :mod:`.outliers`.

It fails honestly: without a peak clearly above the noise the lens goes back to where it
started and the result says what to do.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from ..errors import CameraError, PiFocusError
from ..messages import Message, remember, text_of
from .outliers import OutlierGuard
from .scoring import FrameScore, FrameScorer, trusted_levels

Number = float
_logger = logging.getLogger(__name__)

#: Samples in the coarse pass over the full range.
COARSE_SAMPLES = 6
#: Samples in the coarse pass of a refine run, over the window around the current position.
REFINE_SAMPLES = 4
#: Default half-width of the refine window, as a fraction of the lens range.
REFINE_WINDOW = 0.08
#: A curve whose best score is not this many times its worst (at some scale) has no peak.
MIN_CONTRAST = 1.25
#: Stop zooming once the fine score drops by less than this fraction one step either side of
#: the peak: the samples then sit on the top of the peak, where the log-parabola fits well.
#: Tuned on the simulator (bench/search.py): smaller values zoom further into the noise and
#: cost frames without gaining accuracy.
FLAT_ENOUGH = 0.6
#: Bracketing moves allowed per zoom round before the fit is trusted as it is.
MAX_SHIFTS = 2
#: A view "clearly sees" a peak when its best coarse sample scores this many times its worst.
CLEAR_PEAK = 3.0
#: A second coarse peak is explored when it rises this share of the best one's height.
SECOND_PEAK = 0.3
#: Coarse peaks explored at most.
MAX_CANDIDATES = 2
#: A sample away from the zoomed peak must beat it by this much on the fine view (more than
#: frame-to-frame noise) to make the search zoom in there instead.
GLOBAL_MARGIN = 0.04
#: How many times the global check may send the search elsewhere.
MAX_GLOBAL_RETRIES = 2
#: A zoom round's samples are those within this many steps of its centre: its own three,
#: plus an earlier one that happens to fall close.
NEAR_STEPS = 1.6
#: Zoom rounds start no coarser than this view: the coarsest views (a ROI of 40 or 20 px)
#: are there for the coarse pass to see a narrow peak through heavy noise, too coarse to zoom on.
MAX_ZOOM_LEVEL = 1
#: Zoom rounds at most, coarse pass excluded.
MAX_ROUNDS = 4
#: A zoom sample this close to an earlier one (as a share of the step) reuses that frame.
REUSE_WITHIN = 0.34
#: Default overshoot for the final approach, as a fraction of the range, when the lens has
#: no ``backlash`` attribute of its own.
DEFAULT_OVERSHOOT = 0.03


class Sample(NamedTuple):
    """One scored frame: where, how sharp, and in which phase of the search."""

    position: Number
    score: float
    phase: str


@dataclass
class AutofocusResult:
    """What an autofocus run did and where it left the lens."""

    position: Number
    score: float
    found: bool
    message: str
    samples: List[Tuple[Number, float]] = field(default_factory=list)
    captures: int = 0
    duration: float = 0.0
    cancelled: bool = False
    start_position: Optional[Number] = None
    mode: str = "full"
    #: On a stream: what the run's stale-frame checks saw and how it was timed (see
    #: :func:`..pipeline.autofocus_fresh`); None for the plain search.
    stale_checks: Optional[Dict[str, object]] = None

    def to_dict(self) -> Dict[str, object]:
        return {
            "position": self.position,
            "score": self.score,
            "found": self.found,
            "message": self.message,
            "samples": [[p, s] for p, s in self.samples],
            "captures": self.captures,
            "duration": round(self.duration, 3),
            "cancelled": self.cancelled,
            "start_position": self.start_position,
            "mode": self.mode,
            "stale_checks": self.stale_checks,
        }


class _Cancelled(Exception):
    pass


class _NoPeak(Exception):
    pass


ProgressFn = Callable[[float, Sample], None]


class _Search:
    """One autofocus run: owns the samples, the moves and the bookkeeping."""

    def __init__(self, lens, camera, scorer: FrameScorer, progress: Optional[ProgressFn],
                 should_cancel: Optional[Callable[[], bool]], expected_frames: int) -> None:
        self.lens = lens
        self.camera = camera
        self.scorer = scorer
        self.progress = progress
        self.should_cancel = should_cancel
        self.expected = max(1, expected_frames)
        low, high = lens.limits
        if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
            raise ValueError(f"Lens limits must be two finite numbers, low < high; got {lens.limits!r}")
        self.low, self.high = low, high
        self.resolution = float(getattr(lens, "resolution", 0) or 0)
        self.integer = isinstance(low, int) and isinstance(high, int) and self.resolution >= 1
        backlash = getattr(lens, "backlash", None)
        self.overshoot = float(backlash) if backlash else DEFAULT_OVERSHOOT * (high - low)
        self.overshoot = max(self.overshoot, self.resolution)
        self.direction = 1
        self.frames: Dict[Number, FrameScore] = {}
        self.order: List[Sample] = []
        self.guard = OutlierGuard()

    # ~~ positions and moves

    def snap(self, position: float) -> Number:
        position = min(self.high, max(self.low, position))
        if self.resolution > 0:
            steps = round((position - self.low) / self.resolution)
            position = self.low + steps * self.resolution
            position = min(self.high, max(self.low, position))
            if self.integer:
                return int(round(position))
            # Keep floats tidy (0.1 + 0.2 problems) at the resolution's decimals.
            decimals = max(0, -int(math.floor(math.log10(self.resolution))) + 1)
            return round(position, decimals)
        return position

    def check_cancel(self) -> None:
        if self.should_cancel is not None and self.should_cancel():
            raise _Cancelled()

    def approach(self, position: Number) -> None:
        """Move to ``position`` arriving in the measuring direction (overshoot first if needed)."""
        current = self.lens.position
        if (position - current) * self.direction < 0 or position == current:
            # We would arrive from the wrong side (or not move at all): back off first.
            back = self.snap(position - self.direction * self.overshoot)
            if back != position:
                self.check_cancel()
                self.lens.move_to(back)
        self.check_cancel()
        self.lens.move_to(position)

    def sweep(self, positions: Sequence[Number], phase: str) -> None:
        """Sample each new position in the measuring direction, one approach for the lot."""
        todo = sorted({p for p in positions if p not in self.frames}, key=lambda p: p * self.direction)
        # A camera that can be told when the lens moved (focus/pipeline.FreshFrames) times its
        # wait from the move: then the lens moves on first and the frame already taken is
        # scored while the move settles.
        moved = getattr(self.camera, "note_move", None)
        pending: Optional[Tuple[Number, bytes]] = None
        for i, position in enumerate(todo):
            if i == 0:
                self.approach(position)
            else:
                self.check_cancel()
                self.lens.move_to(position)
            if not callable(moved):
                self.frames[position] = self.take(position, phase)
                continue
            moved()
            if pending is not None:
                self.frames[pending[0]] = self.record(pending[0], self.scored(pending[1]), phase)
            self.check_cancel()
            pending = (position, self.camera.capture())
        if pending is not None:
            self.frames[pending[0]] = self.record(pending[0], self.scored(pending[1]), phase)
        self.recheck(todo)

    def take(self, position: Number, phase: str) -> FrameScore:
        """A scored frame at ``position`` (the lens is there), recorded and reported."""
        self.check_cancel()
        return self.record(position, self.capture_scored(), phase)

    def record(self, position: Number, scored: FrameScore, phase: str) -> FrameScore:
        """Note a scored frame taken at ``position`` and report it."""
        sample = Sample(position, scored.fine, phase)
        self.order.append(sample)
        if self.progress is not None:
            self.progress(min(0.99, len(self.order) / float(self.expected)), sample)
        return scored

    def recheck(self, positions: Sequence[Number]) -> None:
        """Capture again the frames of a sweep that disagree with their neighbours and whose
        content changed: a print head or a hand crossed them (see :mod:`.outliers`)."""
        for _ in range(2):  # twice: a fixed frame can show that its neighbour was crossed too
            suspects = sorted(self.guard.suspects(positions, self.frames), key=lambda p: p * self.direction)
            for i, position in enumerate(suspects):
                if self.guard.left <= 0:
                    return
                if position != self.lens.position:
                    if i == 0:
                        self.approach(position)
                    else:
                        self.check_cancel()
                        self.lens.move_to(position)
                self.guard.settle(position, self.frames, lambda: self.take(position, "again"))
            if not suspects:
                return

    def capture_scored(self) -> FrameScore:
        """A frame from the camera, scored. A frame that is not an image is a camera failure
        (an HTML login page, a truncated JPEG), not a bad argument: the search must end
        with the lens back at its start, like for any other camera failure."""
        return self.scored(self.camera.capture())

    def scored(self, frame: bytes) -> FrameScore:
        """``frame`` scored; a frame that is not an image is a camera failure."""
        try:
            return self.scorer.score(frame)
        except ValueError as exc:
            raise CameraError("camera.unusable_frame", error=str(exc)) from None

    # ~~ curve analysis

    def level_of(self, wanted: int) -> int:
        available = trusted_levels(list(self.frames.values()))
        return max(0, min(wanted, available - 1))

    def curve(self, level: int, low: Optional[float] = None,
              high: Optional[float] = None) -> Tuple[np.ndarray, np.ndarray]:
        positions = sorted(p for p in self.frames
                           if (low is None or p >= low) and (high is None or p <= high))
        scores = [self.frames[p].levels[min(level, len(self.frames[p].levels) - 1)] for p in positions]
        return np.asarray(positions, dtype=float), np.asarray(scores, dtype=float)

    def check_contrast(self) -> None:
        """Raise :class:`_NoPeak` unless some scale shows a peak clearly above its floor."""
        dark = min(f.brightness for f in self.frames.values())
        levels = trusted_levels(list(self.frames.values()))
        best = 0.0
        for level in range(levels):
            _, scores = self.curve(level)
            if scores.max() <= 0:
                continue
            best = max(best, scores.max() / max(scores.min(), 1e-12))
        if best < MIN_CONTRAST:
            if dark < 8:
                raise _NoPeak(Message("autofocus.too_dark", grey=f"{dark:.0f}"))
            raise _NoPeak(Message("autofocus.no_peak", percent=f"{(best - 1) * 100:.0f}"))

    # ~~ the phases

    def coarse(self, low: Number, high: Number, count: int,
               phase: str) -> Tuple[List[float], float, int]:
        """Evenly spaced samples over ``[low, high]``.

        Returns the estimated positions of the significant peaks (best first), the spacing,
        and the view level they were seen on.
        """
        count = max(3, count)
        positions = [self.snap(low + (high - low) * i / (count - 1)) for i in range(count)]
        self.sweep(positions, phase)
        self.check_contrast()
        level = self.coarse_level(low, high)
        xs, ys = self.curve(level, low, high)
        spacing = (high - low) / float(count - 1)
        return [fit_peak(xs[max(0, i - 1):i + 2], ys[max(0, i - 1):i + 2])
                for i in local_peaks(ys)], spacing, level

    def coarse_level(self, low: float, high: float) -> int:
        """The finest view on which the coarse samples already show a clear peak.

        Coarser views have wider curves, so they see a narrow peak from far away; but in a
        scene with depth they weigh large shapes over fine detail and can prefer another
        plane. So the finest view that clearly sees the peak wins, the coarsest otherwise.
        """
        coarsest = self.level_of(3)
        for level in range(coarsest):
            _, ys = self.curve(level, low, high)
            if ys.min() > 0 and ys.max() / ys.min() >= CLEAR_PEAK:
                return level
        return coarsest

    def near(self, level: int, centre: float, step: float) -> Tuple[np.ndarray, np.ndarray]:
        """The samples of one zoom round around ``centre``: within ``NEAR_STEPS`` steps."""
        return self.curve(level, centre - NEAR_STEPS * step, centre + NEAR_STEPS * step)

    def zoom(self, estimate: float, step: float, level: int, phase: str) -> float:
        """Samples ``step`` either side of ``estimate`` (and at it, unless one is already
        close), fitted on ``level``; re-centred while the best sample is at the edge."""
        for _ in range(MAX_SHIFTS + 1):
            centre = self.snap(estimate)
            positions = [self.reuse(self.snap(centre - step), step), self.reuse(self.snap(centre + step), step)]
            if not any(abs(p - centre) <= step / 2.0 for p in self.frames):
                positions.append(centre)
            self.sweep(positions, phase)
            xs, ys = self.near(level, centre, step)
            best = xs[int(np.argmax(ys))]
            at_edge = (best <= positions[0] and positions[0] > self.low) or \
                      (best >= positions[1] and positions[1] < self.high)
            estimate = fit_peak(xs, ys)
            if not at_edge or self.on_plateau(centre, step):
                break
            estimate = best
        return estimate

    def reuse(self, position: Number, step: float) -> Number:
        """An earlier sample within ``REUSE_WITHIN`` steps of ``position``, else ``position``:
        a frame a few codes off tells the fit as much as a new one."""
        close = [p for p in self.frames if abs(p - position) <= REUSE_WITHIN * step]
        return min(close, key=lambda p: abs(p - position)) if close else position

    def is_flat(self, centre: float, step: float) -> bool:
        _, ys = self.near(0, centre, step)
        if len(ys) < 3 or ys.max() <= 0:
            return False
        return (ys.max() - ys.min()) / ys.max() < FLAT_ENOUGH

    def on_plateau(self, centre: float, step: float) -> bool:
        """The best fine score near ``centre`` is shared by several samples: a lens (or a focus
        stack) that maps many positions to one frame. Its middle is the answer; zooming further
        gains nothing."""
        _, ys = self.near(0, centre, step)
        return len(ys) > 0 and int(np.sum(ys >= ys.max() * (1 - 1e-9))) >= 2

    def narrow(self, estimate: float, step: float, level: int) -> Tuple[float, float]:
        """Zoom rounds on ever finer views until the fine curve is flat across a step."""
        level = min(level, MAX_ZOOM_LEVEL + 1)
        for _ in range(MAX_ROUNDS):
            level = max(0, level - 1)
            if step < max(self.resolution, 1e-9):
                break
            estimate = self.zoom(estimate, step, level, "fine")
            if self.on_plateau(estimate, step) or (level == 0 and self.is_flat(estimate, step)):
                break
            step /= 3.0
        return estimate, step

    def best_near(self, centre: float, step: float) -> float:
        _, ys = self.near(0, centre, step)
        return float(ys.max()) if len(ys) else 0.0

    def check_global(self, estimate: float, step: float, spacing: float) -> Tuple[float, float]:
        """The answer must be the sharpest at full detail, not only on the coarse view.

        In a scene with depth, the coarse view can favour a different plane than fine
        detail does. If a sample away from the zoomed peak beats it on the fine view by more
        than the noise, zoom again around that sample on the fine view.
        """
        for _ in range(MAX_GLOBAL_RETRIES):
            xs, ys = self.curve(0)
            near = np.abs(xs - estimate) <= NEAR_STEPS * step
            if not near.any() or near.all():
                break
            best_far = int(np.argmax(np.where(near, -np.inf, ys)))
            if ys[best_far] <= ys[near].max() * (1 + GLOBAL_MARGIN):
                break
            estimate, step = self.narrow(float(xs[best_far]), spacing / 3.0, 1)
        return estimate, step


def local_peaks(ys: np.ndarray) -> List[int]:
    """Indices of the local maxima of a coarse curve that stand out from its floor, best first.

    A maximum counts when it rises above the curve's floor by at least ``SECOND_PEAK`` of
    the highest peak's rise: noise in the flat tails never does, a second object does.
    """
    floor, top = float(ys.min()), float(ys.max())
    found = []
    for i, y in enumerate(ys):
        left = ys[i - 1] if i > 0 else -np.inf
        right = ys[i + 1] if i + 1 < len(ys) else -np.inf
        if y >= left and y > right or (y > left and y >= right):
            if i == int(np.argmax(ys)) or (y - floor) >= SECOND_PEAK * (top - floor):
                found.append(i)
    return sorted(found, key=lambda i: -ys[i])


def fit_peak(xs: np.ndarray, ys: np.ndarray) -> float:
    """Peak position of sampled ``(xs, ys)``: a parabola in log-score through the best sample
    and its neighbours; the middle of the best plateau when the curve is flat there."""
    if len(xs) == 0:
        raise ValueError("no samples to fit")
    top = ys.max()
    ties = xs[ys >= top * (1 - 1e-9)]
    i = int(np.argmax(ys))
    if len(ties) > 1:
        # Piecewise-constant curve (several positions, one frame): take the plateau's middle.
        return float((ties.min() + ties.max()) / 2.0)
    if i == 0 or i == len(xs) - 1:
        return float(xs[i])
    x = xs[i - 1:i + 2]
    y = np.log(np.maximum(ys[i - 1:i + 2], 1e-12))
    (x0, x1, x2), (y0, y1, y2) = x, y
    denom = (x0 - x1) * (x0 - x2) * (x1 - x2)
    if denom == 0:
        return float(x1)
    a = (x2 * (y1 - y0) + x1 * (y0 - y2) + x0 * (y2 - y1)) / denom
    b = (x2 * x2 * (y0 - y1) + x1 * x1 * (y2 - y0) + x0 * x0 * (y1 - y2)) / denom
    if a >= 0:
        return float(x1)
    vertex = -b / (2 * a)
    return float(min(x2, max(x0, vertex)))


def run_autofocus(lens, camera, scorer: FrameScorer, progress: Optional[ProgressFn] = None,
                  should_cancel: Optional[Callable[[], bool]] = None, refine: bool = False,
                  window: Optional[float] = None) -> AutofocusResult:
    """The search behind :func:`octoprint_pifocus.focus.autofocus`; see the module docstring."""
    started = time.monotonic()
    start_position = lens.position
    # Drivers that cannot read the lens back (camera-streamer) report a stand-in position.
    start_known = getattr(lens, "position_known", True) is not False
    expected = (REFINE_SAMPLES if refine else COARSE_SAMPLES) + 7
    search = _Search(lens, camera, scorer, progress, should_cancel, expected)
    mode = "refine" if refine else "full"
    if refine:
        half = (window if window is not None else REFINE_WINDOW * (search.high - search.low))
        if not half > 0:
            raise ValueError(f"The refine window must be greater than 0, got {window!r}")

    def finish(position, score, found, message, cancelled=False) -> AutofocusResult:
        return AutofocusResult(
            position=position, score=score, found=found, message=message,
            samples=[(s.position, s.score) for s in search.order], captures=len(search.order),
            duration=time.monotonic() - started, cancelled=cancelled,
            start_position=start_position, mode=mode,
        )

    def go_back(reason: Message, cancelled: bool = False) -> AutofocusResult:
        position = str(start_position)
        try:
            lens.move_to(start_position)
            message = Message("autofocus.back" if start_known else "autofocus.left", reason=reason,
                              position=position)
        except Exception as exc:  # noqa: BLE001 - the reason of the first failure must survive
            if str(exc) in str(reason):
                message = Message("autofocus.back_failed_same", reason=reason, position=position)
            else:
                message = Message("autofocus.back_failed", reason=reason, position=position, error=text_of(exc))
        return finish(lens.position, 0.0, False, remember(message), cancelled)

    try:
        if refine:
            low = search.snap(start_position - half)
            high = search.snap(start_position + half)
            search.direction = 1
            peaks, spacing, level = search.coarse(low, high, REFINE_SAMPLES, "coarse")
        else:
            # Sweep away from the nearer end, so a Z axis travels as little as possible.
            search.direction = 1 if start_position - search.low <= search.high - start_position else -1
            peaks, spacing, level = search.coarse(search.low, search.high, COARSE_SAMPLES, "coarse")

        # Zoom into every significant peak of the coarse pass, keep the sharpest in fine detail:
        # a second object at another depth must not win just because it was sampled closer.
        best = None
        for candidate in peaks[:MAX_CANDIDATES]:
            estimate, step = search.narrow(candidate, spacing / 3.0, level + 1)
            score = search.best_near(estimate, step)
            if best is None or score > best[2] * (1 + GLOBAL_MARGIN):
                best = (estimate, step, score)
        estimate, step = search.check_global(best[0], best[1], spacing)

        target = search.snap(estimate)
        search.approach(target)
        search.check_cancel()
        final = search.capture_scored()
        search.order.append(Sample(target, final.fine, "final"))
        if progress is not None:
            progress(1.0, search.order[-1])
        return finish(target, final.fine, True, "")
    except _Cancelled:
        return go_back(Message("autofocus.cancelled"), cancelled=True)
    except _NoPeak as exc:
        return go_back(exc.args[0])
    except PiFocusError as exc:
        return go_back(Message("autofocus.stopped", error=text_of(exc)))
    except Exception as exc:  # noqa: BLE001 - a user's camera or lens object may raise anything
        _logger.exception("Autofocus stopped by an unexpected error")
        return go_back(Message("autofocus.unexpected", error=f"{type(exc).__name__}: {exc}"))
