"""The camera pipeline's delay, measured, and frames that provably follow the lens.

A webcam chain (sensor, encoder, streamer, network) delivers the frame that shows a lens
move some time after the move: one frame with ffmpeg's stream copy, five with a threaded
re-encode at 15 fps. A fixed settle time is too long for the first (it wastes most of an
autofocus) and too short for the second, and a frame taken too early shows the *previous*
position: the search then fits a curve that lags the moves and reports a confident wrong
focus. So:

* :func:`measure_delay` moves the lens between far-apart positions and times the first
  frame whose content changed: the chain's delay. Settle = the longest delay seen + one
  frame interval (a frame that started arriving during the move may show half of it). The
  longest, not the median: the delay jitters, and a run whose own far moves happened to
  show fast must not wait less than a stored measurement that saw the slow ones.
* :class:`FreshFrames` is the camera an autofocus run sees. Before the run it times the
  stream's frame interval and its noise (on the frames the stream already has and the first
  new one, unless those show the picture changing); after every move it watches the frames arriving
  and returns the frame after the first one that changed (the change must hold for two
  frames, or it was noise), or the first one after the settle where nothing visibly
  changes. The first large move of a run measures the delay (so a run adapts even without
  a stored measurement); a stored measurement stays the floor, and every later move that
  showed later than the settle raises it. A frame with no visible change counts only if it
  started arriving after the move plus that settle.
* **Trust.** Without a stored measurement of enough moves (:data:`TRUSTED_SAMPLES`) every
  move is watched a few frames past the settle for a change showing late, and a far move
  that never shows up to three settles. With one, once a far move of this run has shown
  within half a frame of the longest delay measured (the chain is as measured), a move takes
  the first frame that started half a frame past that delay (every frame after the first one
  a move changed is from after it) and a far move is watched two frames past the settle: a
  third less time on a slow pipeline. A move a little later than that is still caught by the
  next move's early frames, a much later one sometimes by the change it brings into a later
  move's frames (``second`` and ``late`` evidence): not reliably once the lag passes a move's
  cycle, since timing alone cannot tell whose change it is, trusted or not (README, "Through
  a real streamer"). After a frame no change confirmed, a move's change is watched for a
  second one (the first being the earlier move's, late) until the move must have shown: half
  a frame past the delay when trusting, a few frames past the settle when not. A chain that
  became slower shows on the first far move, which is watched as without trust.
* **Taken at the change.** Trusted and confirmed, on a chain that shows a move more than
  1.5 frames after it, a move that shows within the trusted delay returns the first frame
  it changed, without waiting for the next one to confirm it: the search scores it and moves
  on. The frame after it (rendered before the next move could show) is checked when it
  comes, at the next capture or at the end of the run (:meth:`FreshFrames.finish`): it must
  differ from the picture before the move (or the change was noise), and after a far move
  show the same picture as the frame taken (or that was part of the move, or not its own);
  else the run counts stale frames (``ahead``) and is re-run without trust. Only a clear
  change (:data:`CLEAR_CHANGE`), only once this run's first far move showed whole frames (its
  first changed frame equalled the next), and not after an unconfirmed sample. A move then
  costs its delay, not its delay and a frame.
* :meth:`FreshFrames.note_move` lets the search move on first and score the frame it has
  while the move settles. It counts evidence of stale frames by kind: ``late``, a move that
  showed later than an unconfirmed frame was taken after its own move; ``early``, a frame
  too soon after a move to show it that differs from the unconfirmed sample before;
  ``second``, a change after an unconfirmed sample followed by another change (the first
  was the earlier move showing late).
* :func:`autofocus_fresh` runs the search through :class:`FreshFrames`, and when the run
  saw stale frames it re-runs once with the longest delay it saw; when that still sees
  stale frames it fails with a message naming the delay, the lens back at its start. It is
  built never to report ``found=True`` on frames that did not follow the lens; what a
  jittering, starved machine still lets through is measured in bench/streamer.py.

Needs a source with ``wait_frame()`` (:class:`~octoprint_pifocus.sources.mjpeg.MjpegStream`);
snapshot sources fetch after the wait anyway and keep the plain search
(``plugin/device/timing.py`` chooses).
"""
from __future__ import annotations

import logging
import math
import statistics
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

import cv2
import numpy as np

from ..messages import Message, remember
from ..sources.base import DEFAULT_SETTLE
from .scoring import FrameScorer

_logger = logging.getLogger(__name__)

#: A move of at least this share of the lens range is "far": it should change the picture.
FAR_MOVE = 0.1
#: Before any delay is known, watch a far move's frames this long for the change.
FIRST_WATCH = 2.0
#: The same with a trusted stored measurement, until a far move of the run showed: twice the
#: slowest chain the issue measured (366 ms, a threaded re-encode at 15 fps).
TRUSTED_FIRST_WATCH = 0.75
#: Once a delay is known, keep watching a move this many frame intervals past the settle for
#: its change, a far move at least FAR_WATCH times the settle or FAR_FRAMES intervals past it.
LATE_FRAMES = 2
FAR_WATCH = 3.0
FAR_FRAMES = 6
#: A frame "changed" when it differs from the reference by this many times the frame-to-frame
#: noise, plus a floor in grey levels, on some level. The noise is a mean over thousands of
#: pixels, so it hardly varies between frames: 1.5 times it is far outside its spread.
CHANGE_NOISE = 1.5
CHANGE_FLOOR = 0.2
#: Frames timed to estimate the interval and the noise before a run. Not fewer with a
#: trusted measurement: the noise is the largest of their differences, and under load noisy
#: frames already pass for a change now and then with three differences (seen with four
#: frames and with three; fewer would only make it likelier).
PRIME_FRAMES = 4
#: The prime uses frames the source already has only when they started at most this long
#: before it was asked (older ones may be from before a stall, and say nothing of the rate now).
PRIME_HISTORY = 0.5
#: Frames the prime already has show the picture changing (see :func:`_a_step`) when the
#: difference of one pair exceeds this many times another's: then it waits for new ones.
STEP = 3.0
#: A stored measurement of at least this many delays is trusted: its longest delay plus a frame
#: is waited for, and no longer (the late watch above costs two frames on every move whose
#: picture hardly changes, the far watch up to three settles: a third of a run near focus).
TRUSTED_SAMPLES = 6
#: Moves of the delay test: enough that its measurement is trusted even when a move or two
#: between equally blurred pictures shows no change.
MEASURE_MOVES = 8
#: A frame is taken at its move's change (see the module docstring) only on a chain whose far
#: moves in this run, and every move of the stored measurement, showed more than this many
#: frame intervals after them: the search moves right after a frame arrives, like the moves
#: that were timed, so the frame after that one cannot show the new move yet. A chain that
#: shows a move in the next frame never does; one whose delay jitters across that line (a
#: camera rendering and sending within a frame, 0.8-1.7 frames) must not be judged by a run's
#: first far moves alone, which may all have been its slow ones.
AHEAD_FRAMES = 1.5
#: A frame is taken at its change only when it differs from the picture before by this many
#: times what counts as a change: a change at the noise's edge may be noise, which the frame
#: after it would then not confirm (a re-run); such a move waits for its confirmation.
CLEAR_CHANGE = 1.5
#: Safety added to a measured delay beyond the one frame interval, in seconds: scheduling
#: jitter on a busy Pi.
MARGIN = 0.01


def settle_after(delay: float, interval: Optional[float]) -> float:
    """The wait after a move for a chain of ``delay`` and frame ``interval``: the delay plus
    one frame (a frame that started arriving during the move may show half of it) and
    :data:`MARGIN`."""
    return delay + (interval or 0.0) + MARGIN


@dataclass
class Timing:
    """A measured chain: delay from a move to the first frame showing it, frame interval."""

    delay: float
    interval: Optional[float] = None
    samples: List[float] = field(default_factory=list)

    @property
    def upper(self) -> float:
        """A delay no move exceeded: the longest sample (the delay jitters, and a settle from
        the median lets the slower half of the moves show late), the median without samples."""
        return max([self.delay] + list(self.samples))

    @property
    def settle(self) -> float:
        """The wait after a move before a frame counts: the longest delay seen plus one frame."""
        return round(settle_after(self.upper, self.interval), 3)

    @property
    def frames(self) -> Optional[float]:
        """The settle in frames, where the frame rate is known."""
        if not self.interval:
            return None
        return round(self.settle / self.interval, 1)

    def to_dict(self) -> Dict[str, object]:
        return {"delay": round(self.delay, 3),
                "interval": None if self.interval is None else round(self.interval, 4),
                "settle": self.settle, "frames": self.frames,
                "samples": [round(s, 3) for s in self.samples]}


LEVELS = 3


def _grey(scorer: FrameScorer, frame) -> List[np.ndarray]:
    """The region of interest at the fine view's size and two coarser ones: noise averages
    out on the coarse ones, so a wide blur change shows there even in a noisy stream."""
    grey = scorer.grey_roi(frame).astype(np.float32)
    out = [grey - float(grey.mean())]  # structure, not exposure: flicker is no change
    for _ in range(LEVELS - 1):
        if min(out[-1].shape) < 16:
            break
        out.append(cv2.pyrDown(out[-1]))
    return out


def _differences(greys: List[List[np.ndarray]]) -> List[List[float]]:
    """The :func:`_difference` of each pair of consecutive frames."""
    return [_difference(a, b) for a, b in zip(greys, greys[1:])]


def _a_step(diffs: List[List[float]]) -> bool:
    """Consecutive frames (their :func:`_differences`) of which one pair differs by far more
    than another on some level: the picture changed between them (noise alone differs alike
    from frame to frame)."""
    if len(diffs) < 2:
        return False
    for level in zip(*diffs):
        if not all(math.isfinite(d) for d in level) or max(level) > STEP * min(level) + CHANGE_FLOOR:
            return True
    return False


def _difference(a: List[np.ndarray], b: List[np.ndarray]) -> List[float]:
    """Mean absolute grey difference per level (infinite when the frames differ in size)."""
    return [float(np.mean(np.abs(x - y))) if x.shape == y.shape else math.inf for x, y in zip(a, b)]


class FreshFrames:
    """The camera an autofocus run sees: frames after each move that follow the lens.

    ``source`` has ``wait_frame(not_before)`` returning a frame with ``data`` and
    ``started``; ``lens`` is read for how far each move went. ``settle`` is the wait to use
    until this run measured its own (a stored measurement, or the default); ``manual``
    keeps it as the user set it (the run still watches, and still detects stale frames).
    """

    def __init__(self, source, lens, scorer: Optional[FrameScorer] = None,
                 settle: float = DEFAULT_SETTLE, manual: bool = False, timeout: float = 5.0,
                 floor: float = 0.0, trusted: bool = False, shortest: float = 0.0) -> None:
        self.source = source
        #: The settle never goes below this (a stored measurement of the chain): the delays
        #: of one run's few far moves are a sample, and may all have been the fast ones.
        self.floor = float(floor)
        #: The shortest delay the stored measurement saw (0: none known): no frame is taken at
        #: its change on a chain that ever showed a move sooner than :data:`AHEAD_FRAMES`.
        self.shortest = float(shortest)
        #: The floor comes from enough measured moves (:data:`TRUSTED_SAMPLES`) to stop
        #: watching at the settle; a manual settle is never trusted (it is a guess).
        self.trusted = bool(trusted) and self.floor > 0 and not manual
        #: This run's far moves show within the trusted settle: the chain is as measured. Until
        #: one has (and after one showed later), every move is watched as without trust, so a
        #: chain that became slower (a streamer now re-encoding) is measured, not trusted.
        self.confirmed = False
        self.lens = lens
        self.scorer = scorer or FrameScorer()
        self.timeout = timeout
        low, high = lens.limits
        self.far = FAR_MOVE * float(high - low)
        self.settle = max(float(settle), self.floor)
        self.manual = manual
        self.interval: Optional[float] = None
        self.noise: List[float] = []
        self.delays: List[float] = []
        #: Evidence of stale frames: a change later than a settle used for an unconfirmed
        #: frame, or a frame from before a move that differs from the sample before it.
        self.lagged = 0
        #: The same by kind: "early", "late", "second" (see :meth:`_watch`).
        self.evidence: Dict[str, int] = {}
        #: Far moves whose frames never changed in the watch window.
        self.unchanged = 0
        self.far_moves = 0
        self.captures = 0
        self._unconfirmed: List[float] = []  # how late after its move each unconfirmed frame started
        self._unconfirmed_last = False  # the last frame returned was not confirmed by a change
        self._ref: Optional[List[np.ndarray]] = None
        self._position: Optional[float] = None
        self._moved: Optional[float] = None  # see note_move
        #: This run's chain delivers whole frames at a change: the first frame a far move
        #: changed equalled the frame after it. None: not seen yet.
        self._whole: Optional[bool] = None
        #: Frames taken at their move's change, and the last one until the frame after it
        #: vouched for it (see :meth:`_vouch`).
        self.at_change = 0
        #: What :meth:`prime` timed the stream on: frames it already had ("kept") or "new" ones.
        self.primed_on = ""
        #: (frame taken, its grey views, the picture before its move, far move) until vouched.
        self._pending: Optional[Tuple[object, List[np.ndarray], List[np.ndarray], bool]] = None

    # ~~ before the run

    def prime(self, kept: bool = False, rested: float = 0.0) -> None:
        """Time the stream and its noise with the lens at rest, and take the reference.

        On :data:`PRIME_FRAMES` frames that start now. With ``kept``, for a run the caller
        started with the lens at rest, on the first of them and the ones the source already
        has from right before it, where it keeps them (``frames_before``): a run then starts a
        frame after it is asked to, not four. New frames still where it has too few, or where
        those show the picture changing (a move just before the run still showing: its change
        would be taken for noise, and its picture for the reference). Not after a wait that is
        itself a guess (a retry after stale frames, the delay test): those frames may all be
        from before the last move showed, and four new ones give it longer. Nor from before
        ``rested`` (``time.monotonic()``): the lens's last move and a settle after it."""
        called = time.monotonic()
        first = self.source.wait_frame(called, timeout=self.timeout)
        frames = (self._had_before(first, max(called - PRIME_HISTORY, rested)) if kept else []) + [first]
        greys = [_grey(self.scorer, f.data) for f in frames]
        diffs = _differences(greys)
        self.primed_on = "kept"
        if len(frames) < PRIME_FRAMES or _a_step(diffs):
            self.primed_on = "new"
            frames, greys = [first], greys[-1:]
            while len(frames) < PRIME_FRAMES:
                frames.append(self.source.wait_frame(frames[-1].started + 1e-6, timeout=self.timeout))
                greys.append(_grey(self.scorer, frames[-1].data))
            diffs = _differences(greys)
        # The mean gap over the span, not the median gap: a loaded streamer or feeder sends
        # frames in bunches (two 5 ms apart, then a long gap), whose median is far too short.
        span = frames[-1].started - frames[0].started if len(frames) > 1 else 0.0
        self.interval = span / (len(frames) - 1) if span > 0 else None
        self.noise = [max(d[i] for d in diffs) for i in range(len(greys[0]))] if diffs else \
            [0.0] * len(greys[0])
        self._ref = greys[-1]
        self._position = self.lens.position

    def _had_before(self, first, since: float) -> List:
        """The frames the source received right before ``first`` (enough of them, none that
        started before ``since``), or none."""
        before = getattr(self.source, "frames_before", None)
        if not callable(before):
            return []
        frames = [f for f in before(first, PRIME_FRAMES - 1) if f.started >= since]
        return frames if len(frames) == PRIME_FRAMES - 1 else []

    def changed(self, grey: List[np.ndarray]) -> bool:
        """``grey`` differs from the reference beyond the noise on some level."""
        return self._differs(grey, self._ref)

    @property
    def timing(self) -> Optional[Timing]:
        """What this run measured (None before any far move showed its change)."""
        if not self.delays:
            return None
        return Timing(statistics.median(self.delays), self.interval, list(self.delays))

    # ~~ the camera interface

    def note_move(self) -> None:
        """The lens just moved: the next :meth:`capture` times its wait from now, so the
        search can score the previous frame in between (the wait overlaps the scoring)."""
        self._moved = time.monotonic()

    def capture(self) -> bytes:
        """A frame that shows the lens where it is now (called right after a move, or after
        :meth:`note_move`)."""
        moved = self._moved if self._moved is not None else time.monotonic()
        self._moved = None
        if self._ref is None:
            self.prime()
        self._vouch()
        position = self.lens.position
        distance = abs(float(position) - float(self._position)) if self._position is not None else 0.0
        self._position = position
        frame = self._watch(moved, distance >= self.far)
        self.captures += 1
        return frame.data

    def finish(self) -> None:
        """The run is over: check the last frame taken at its change (see :meth:`_vouch`)."""
        self._vouch()

    def _watch(self, moved: float, far: bool):
        interval = self.interval or 0.0
        settle = self.settle
        counts = self._counts_after()
        if far:
            # A far move should show: watch past the settle for it (a delay spike shows here,
            # not as a change mistaken for the next move's). Trusted, two frames past: a far
            # move between two equally blurred pictures never shows, and waiting three settles
            # for it was most of a slow pipeline's overhead.
            self.far_moves += 1
            if self._trusting():
                window = settle + LATE_FRAMES * interval
            elif self.delays:
                window = max(FAR_WATCH * settle, settle + FAR_FRAMES * interval)
            elif self.trusted:
                # Before a far move confirmed a trusted measurement: the settle is measured,
                # not a guess, so not the first watch's 2 s, which runs starting with far moves
                # between equally blurred pictures spent on each. Long enough for a chain
                # slower than measured by up to TRUSTED_FIRST_WATCH to show here and be
                # measured; a slower one shows late in a later move's frames ("late"
                # evidence), and the run is re-run without trust, which measures it.
                window = max(FAR_WATCH * settle, settle + FAR_FRAMES * interval, TRUSTED_FIRST_WATCH)
            else:
                window = max(settle, FIRST_WATCH)
        else:
            window = counts + self._late_frames() * interval
        # Frames this soon after the move cannot show it yet (half the shortest delay seen: the
        # delay jitters): if one differs from a reference no change confirmed, that reference
        # was stale.
        early = 0.5 * min(self.delays) if self.delays else 0.0
        fallback = None
        frame = self.source.wait_frame(moved, timeout=self.timeout)
        while True:
            grey = _grey(self.scorer, frame.data)
            changed = self.changed(grey)
            if not changed and frame.started < moved + early:
                # Before the move can show: pure noise, at the picture as it is now (noise
                # grows near focus, where JPEG keeps more of it).
                self._learn_noise(grey)
            if changed and frame.started < moved + early and not self._unconfirmed_last:
                # The sample before was confirmed by a change that held for two frames: this
                # is noise, or this move showing early (the delay jitters), not a picture
                # catching up: the frames after it tell.
                changed = False
            elif changed and frame.started < moved + early:
                # The picture was still catching up with an earlier move: that sample was stale.
                self._evidence("early")
                _logger.debug("Stale sample: a frame %.0f ms after a move differs from the sample "
                              "before it", (frame.started - moved) * 1000)
                self._ref = grey  # what the picture shows before this move, now
            elif changed and self._may_take_the_change(frame.started - moved) and \
                    self._differs(grey, self._ref, CLEAR_CHANGE):
                # Taken at its change; the frame after it is checked once it comes (_vouch).
                self._changed_after(frame.started - moved, far)
                self._pending = (frame, grey, self._ref, far)
                self._ref = grey
                self._unconfirmed_last = False
                self.at_change += 1
                return frame
            elif changed:
                # The frame after the first changed one: a frame that started during the
                # move may show only part of it. It must differ too, or the "change" was noise.
                after = self.source.wait_frame(frame.started + 1e-6, timeout=self.timeout)
                after_grey = _grey(self.scorer, after.data)
                if self.changed(after_grey):
                    self._changed_after(frame.started - moved, far)
                    if far and self._whole is not False:
                        self._whole = not self._differs(after_grey, grey)
                    self._ref = after_grey
                    if self._unconfirmed_last:
                        # The sample before was not confirmed by a change: this change may be
                        # its move showing late. Then this move shows later still: look until
                        # it must have shown, trusted or not (the change itself may have come
                        # after the settle). Trusted and confirmed, a move shows within the
                        # bound its frames count from (a frame past it has no change to wait
                        # for: the chain is as measured); watching, a few frames past the settle.
                        after = self._second_change(after, moved + self._second_watch())
                    self._unconfirmed_last = False
                    return after
                frame, grey = after, after_grey
                changed = False
            if fallback is None and frame.started >= moved + counts:
                fallback = (frame, grey)
            if frame.started >= moved + window:
                break
            frame = self.source.wait_frame(frame.started + 1e-6, timeout=self.timeout)
        if far:
            self.unchanged += 1
        chosen, grey = fallback or (frame, grey)
        # How long after its move the frame started: it showed the move if the move's delay
        # was shorter. A longer delay seen later says it may not have.
        self._unconfirmed.append(chosen.started - moved)
        self._unconfirmed_last = True
        self._ref = grey
        return chosen

    def _may_take_the_change(self, delay: float) -> bool:
        """A move that showed ``delay`` after it may be taken at its first changed frame
        (see :data:`AHEAD_FRAMES` and the module docstring, "Taken at the change")."""
        interval = self.interval or 0.0
        return (self._trusting() and self._whole is True and not self._unconfirmed_last
                and interval > 0 and self._shortest_delay() > AHEAD_FRAMES * interval
                and delay <= self._half_a_frame_past_the_delay(self.floor)
                and callable(getattr(self.source, "frame_after", None)))

    def _shortest_delay(self) -> float:
        """The shortest delay this run's moves and the stored measurement showed."""
        return min(self.delays + ([self.shortest] if self.shortest > 0 else []))

    def _vouch(self) -> None:
        """The frame right after one taken at its change must not show the picture before the
        move, and after a far move must show the same as that one: then that one was from
        after its move, and whole. It was rendered before the next move could show (the chain
        shows a move more than :data:`AHEAD_FRAMES` frames after it, and the next move came
        after the frame taken). One that fails, or cannot be had, counts as evidence of stale
        frames (``ahead``), and no frame is taken at its change again."""
        if self._pending is None:
            return
        frame, grey, before, far = self._pending
        self._pending = None
        after = self.source.frame_after(frame, timeout=self.timeout)
        after_grey = None if after is None else _grey(self.scorer, after.data)
        # Changed from the picture before the move too, as a confirming frame must be: a
        # "change" that was noise leaves the frame after it like the picture before. The
        # same picture as the frame taken, after a far move: a part of one would score far
        # off. Not after a small one, whose part scores as the whole within the noise, and
        # near focus, where the noise measured on blurred frames is too low, the two frames
        # of one picture differ by more than it.
        if after_grey is not None and self._differs(after_grey, before) and \
                not (far and self._differs(after_grey, grey)):
            # The newest picture of this position: the next move's watch, which sees this
            # frame first, must not take its noise for that move's change.
            self._ref = after_grey
            return
        self._whole = False
        self._evidence("ahead")

    def _differs(self, a: List[np.ndarray], b: List[np.ndarray], times: float = 1.0) -> bool:
        """``a`` differs from ``b`` beyond the noise on some level (as :meth:`changed`), or
        beyond ``times`` that."""
        diffs = _difference(a, b)
        return any(d > times * (CHANGE_NOISE * n + CHANGE_FLOOR) for d, n in zip(diffs, self.noise))

    def _trusting(self) -> bool:
        return self.trusted and self.confirmed

    def _counts_after(self) -> float:
        """How long after a move a frame counts without a change showing. Watching: the
        settle. Trusting: half a frame past the longest delay the chain showed (the settle
        less half a frame and :data:`MARGIN`), the bound a far move must show within to
        confirm the trust. Every frame after the first one a move changed is from after the
        move, so with the delay within its measurement a frame started that late is fresh; the
        half frame is slack for jitter. The settle's full frame cost a frame per move where the
        frames arrive in step with the moves (the chain shows every move at the same delay,
        so the first frame past the settle was the third after the move, not the second)."""
        if not self._trusting():
            return self.settle
        return self._half_a_frame_past_the_delay(self.settle)

    def _half_a_frame_past_the_delay(self, settle: float) -> float:
        """Half a frame past the delay a ``settle`` waits for (it is the delay, a frame and
        :data:`MARGIN`): from the stored floor, the bound a far move must show within to
        confirm the trust; from the run's settle (the floor, or more once a far move showed
        later), where a trusted move's frame counts."""
        return max(0.0, settle - 0.5 * (self.interval or 0.0) - MARGIN)

    def _late_frames(self) -> int:
        """Frames to watch a move past the settle for a change showing late: none when the
        settle is a trusted measurement's that this run's far moves confirmed (a change a
        little later is then caught by the next move's early frames, ``early`` evidence, and
        the run is re-run)."""
        return 0 if self._trusting() else LATE_FRAMES

    def _second_watch(self) -> float:
        """How long after a move to look for its change behind an earlier move's late one."""
        if self._trusting():
            return self._counts_after()
        return self.settle + LATE_FRAMES * (self.interval or 0.0)

    def _second_change(self, after, until: float):
        """Watch until ``until`` for another change after ``after``; one means the first
        change was an earlier move showing late (a stale sample): return the newer frame."""
        frame = after
        while frame.started < until:
            frame = self.source.wait_frame(frame.started + 1e-6, timeout=self.timeout)
            grey = _grey(self.scorer, frame.data)
            if self.changed(grey):
                confirm = self.source.wait_frame(frame.started + 1e-6, timeout=self.timeout)
                confirm_grey = _grey(self.scorer, confirm.data)
                if self.changed(confirm_grey):
                    self._evidence("second")
                    self._ref = confirm_grey
                    return confirm
        return after

    def _evidence(self, kind: str) -> None:
        self.lagged += 1
        self.evidence[kind] = self.evidence.get(kind, 0) + 1

    def _learn_noise(self, grey: List[np.ndarray]) -> None:
        diffs = _difference(grey, self._ref)
        self.noise = [max(n, d) if math.isfinite(d) else n for n, d in zip(self.noise, diffs)]

    def _changed_after(self, delay: float, far: bool) -> None:
        """A move showed ``delay`` s after it: learn the delay, and notice frames taken too soon."""
        beyond_trust = self._trusting() and delay > self._counts_after()
        if any(late < delay for late in self._unconfirmed) or (beyond_trust and self._unconfirmed):
            # An earlier frame that no change confirmed was taken sooner than this move
            # showed: it may have shown the position before its move. Trusted, any such frame
            # was taken at a settle this move just overran: none of them can be vouched for.
            self._evidence("late")
            self._unconfirmed = []
        if not far:
            # A small move's change, confirmed by two frames, that showed later than the
            # settle: the delay jittered up. Wait that long from now on (the stored timing
            # keeps the far moves' delays: a small change may be an earlier move's, late).
            if not self.manual and self.delays:
                self.settle = max(self.settle, settle_after(delay, self.interval))
            return
        first = not self.delays
        self.delays.append(delay)
        # Within the stored settle (half a frame of slack for where the frame fell): the chain
        # is as measured; later, it is not, whatever the first far moves said.
        self.confirmed = self.trusted and delay <= self._half_a_frame_past_the_delay(self.floor)
        if not self.manual:
            wanted = settle_after(delay, self.interval)
            self.settle = max(wanted, self.floor) if first else max(self.settle, wanted)

    @property
    def stale(self) -> bool:
        """The run saw frames that did not follow the lens."""
        return self.lagged > 0


def measure_delay(lens, source, scorer: Optional[FrameScorer] = None, moves: int = MEASURE_MOVES,
                  timeout: float = 5.0) -> Timing:
    """The chain's delay: move the lens between far-apart positions and time the first frame
    that changed after each move. The lens ends where it started.

    Raises ``ValueError`` when no move changed the picture (a frozen stream, a lens that
    does not move, or nothing in focus range): the delay cannot be told then.
    """
    low, high = lens.limits
    start = lens.position
    span = float(high - low)
    # Three positions, so that at least two pairs differ even when focus sits in the middle.
    stops = [low + 0.15 * span, low + 0.5 * span, high - 0.15 * span]
    if isinstance(low, int) and isinstance(high, int):
        stops = [int(round(s)) for s in stops]
    fresh = FreshFrames(source, lens, scorer, settle=0.0, manual=True, timeout=timeout)
    fresh.far = 0.0  # every move here is far enough
    delays: List[float] = []
    try:
        lens.move_to(stops[0])
        time.sleep(FIRST_WATCH / 4)  # long enough for any sane chain to show the move
        fresh.prime()
        for i in range(moves):
            lens.move_to(stops[(i + 1) % len(stops)])
            fresh.delays = []  # each move watched as the first: no delay assumed
            fresh.capture()
            delays += fresh.delays
    finally:
        lens.move_to(start)
    if not delays:
        raise ValueError("no move changed the picture")
    return Timing(statistics.median(delays), fresh.interval, delays)


def autofocus_fresh(lens, source, scorer: FrameScorer, run: Callable,
                    settle: float = DEFAULT_SETTLE, manual: bool = False, retries: int = 1,
                    timeout: float = 5.0, floor: float = 0.0, trusted: bool = False,
                    shortest: float = 0.0, moved_at: Optional[float] = None, **options):
    """Run ``run(lens, camera, scorer, **options)`` (the search) on frames that follow the lens.

    ``settle`` is the wait until the run measured the delay itself (a stored measurement
    or the default); ``manual`` keeps it fixed; ``floor`` is a settle the run never goes below
    (a stored measurement's: its longest delay plus a frame); ``trusted``: that measurement
    saw enough moves (:data:`TRUSTED_SAMPLES`) to stop watching at the settle, and
    ``shortest`` is its shortest delay (see :data:`AHEAD_FRAMES`). Returns
    ``(result, timing)``: the search's result (with ``stale_checks``: what the last attempt's
    watch saw, and in ``earlier`` the evidence that made each attempt before it re-run), and
    the chain's timing this run measured (None if no far move showed). A run that saw stale
    frames is re-run with the delay it saw, watching every move, at most ``retries`` times; if
    frames still lag, the result is ``found=False`` with a message naming the delay, and the
    lens is back where it started. ``options`` go to ``run``; their ``should_cancel`` also
    ends the wait before a retry (a cancelled run, the lens back at its start).

    The run starts with the lens at rest in the picture. The lens says when it last moved
    (its ``moved_at``, as the drivers keep it), and a caller that moved something else the
    camera sees passes ``moved_at`` (``time.monotonic()`` of that move): the run first waits
    the settle from the later of the two, and primes on frames from after that only.
    """
    start = lens.position
    began = time.monotonic()
    timing: Optional[Timing] = None
    result = None
    longest = 0.0
    frames = 0
    earlier: List[Dict[str, int]] = []  # what made each earlier attempt re-run
    moves = [t for t in (moved_at, getattr(lens, "moved_at", None)) if t is not None]
    rested = max(moves) + max(settle, floor) if moves else 0.0
    # The chain shows the last move a delay later: primed sooner, the run would take its
    # change for noise, or the picture before it for the reference (and the move's change for
    # the first move's). Short (a settle); the search checks a cancel right after.
    time.sleep(max(0.0, rested - time.monotonic()))
    for attempt in range(retries + 1):
        fresh = FreshFrames(source, lens, scorer, settle=settle, manual=manual, timeout=timeout,
                            floor=floor, trusted=trusted, shortest=shortest)
        # Before the first move: the noise of a picture at rest. The first attempt starts with
        # the lens at rest (the caller's promise): on frames already received. A retry comes
        # right after moves that showed late, after a wait from a delay that just proved short.
        fresh.prime(kept=attempt == 0, rested=rested)
        result = run(lens, fresh, scorer, **options)
        fresh.finish()
        # The whole run, retries included: what the user waited for and the frames it took.
        frames += fresh.captures
        result.captures = frames
        result.duration = time.monotonic() - began
        timing = fresh.timing or timing
        longest = max([longest] + fresh.delays)
        result.stale_checks = {"lagged": fresh.lagged, "evidence": dict(fresh.evidence),
                               "unchanged": fresh.unchanged,
                               "far_moves": fresh.far_moves, "at_change": fresh.at_change,
                               "attempt": attempt + 1,
                               "trusted": fresh.trusted, "confirmed": fresh.confirmed,
                               "settle": round(fresh.settle, 3), "primed": fresh.primed_on,
                               "earlier": list(earlier)}
        if not fresh.stale or not result.found:
            return result, timing
        earlier.append(dict(fresh.evidence))
        _logger.info("Autofocus saw stale frames (settle %.3f s, longest delay %.3f s); %s",
                     fresh.settle, longest, "retrying" if attempt < retries else "giving up")
        # Re-measure: the next attempt waits for the longest delay this one saw, at least
        # twice what it used, as its floor, and raises it on any later move (a manual settle
        # has just proved too short: the retry measures).
        settle = max(fresh.settle * 2, settle_after(longest, fresh.interval))
        floor, manual, trusted = settle, False, False  # the stored measurement just proved short
        # The last moves may not show yet: the retry's prime must see the lens at rest, or its
        # first frame is from before them. A cancel ends the wait and the run.
        if _cancelled_while_waiting(settle, options.get("should_cancel")):
            return _back(lens, start, result, Message("autofocus.cancelled"), cancelled=True), timing
    return _back(lens, start, result, Message("autofocus.stale", delay=f"{longest * 1000:.0f}")), timing


def _cancelled_while_waiting(seconds: float, should_cancel: Optional[Callable[[], bool]]) -> bool:
    """Wait ``seconds``, asking ``should_cancel`` every 50 ms; True as soon as it says stop."""
    end = time.monotonic() + seconds
    while not (should_cancel is not None and should_cancel()):
        left = end - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(0.05, left))
    return True


def _back(lens, start, result, reason: Message, cancelled: bool = False):
    """``result`` turned into a run that did not find focus, for ``reason``, the lens back at
    ``start``: never found=True on frames that may not have followed the lens."""
    try:
        lens.move_to(start)
    except Exception:  # noqa: BLE001 - the reason (stale frames, a cancel) is the message that matters
        _logger.exception("Moving the lens back after the autofocus failed")
    result.found = False
    result.cancelled = cancelled
    result.position = lens.position
    result.message = remember(Message("autofocus.back", reason=reason, position=str(start)))
    return result
