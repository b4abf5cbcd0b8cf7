"""Frames not to trust: a print head or a hand crossed the region while it was taken.

In a printer the head, or the user's hand, passes through the picture now and then. Such a
frame scores as sharp or as blurred as the object happens to be, not as the lens is: one of
them in a coarse pass can invent a peak, one in a zoom round can pull the fit away. The
search therefore looks at each new frame twice:

* **Does it disagree with its neighbours?** Its score is off the line between the samples
  either side in lens position, on the fine or the coarsest view, by more than the noise.
* **Did its content change?** Every frame carries a tiny thumbnail of the region (8x6
  cells, divided by its mean so exposure flicker does not count). Defocus hardly moves
  those cell means between neighbouring samples, sensor noise a little (about 0.02 on a
  dim frame with noise 25); something crossing the region moves them by 0.08 or more
  (measured on the simulator's drawn scene and on the PCB photograph).

A frame that does both is captured again at the same position (no lens move) and the
capture whose content matches its neighbours is kept, unless the curve explains it: a frame
far below the peak on a flank (see :meth:`OutlierGuard.explained`) cannot mislead the
search. A frame whose content changed but whose score agrees with the curve is kept: it
cannot mislead the fit. Re-captures are
capped per position and per run, so a scene that really changed (a light switched on, a
layer printed) costs a few frames, not a stuck search.
"""
from __future__ import annotations

import math
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

#: Thumbnail of the region, in cells (width, height).
SIGNATURE_CELLS = (8, 6)
#: Mean absolute difference of two mean-normalised thumbnails above which the content
#: changed. Neighbouring samples differ by 0.003-0.03 (defocus, noise 25 on a dim scene), a
#: print head or a hand in the region by 0.085-0.6.
CONTENT_CHANGE = 0.06
#: The content threshold grows to this many times the run's typical distance from the median.
SPREAD_FACTOR = 2.0
#: A score this far off the line between its neighbours' (as a share) disagrees with them.
SCORE_MARGIN = 0.05
#: A frame at most this share of the run's best score, on the flank the curve already
#: shows, cannot invent or move a peak: see :meth:`OutlierGuard.explained`.
FAR_BELOW_PEAK = 0.5
#: A view shows a clear peak when its best score is this many times its worst (the
#: search's own ``CLEAR_PEAK``).
CLEAR_PEAK = 3.0
#: Captures again at one position at most.
MAX_RECAPTURES = 2
#: Captures again in one run at most.
MAX_RUN_RECAPTURES = 4


def content_signature(grey: np.ndarray) -> np.ndarray:
    """The region's content, blind to focus and exposure: a tiny thumbnail over its mean."""
    cells = cv2.resize(grey.astype(np.float32), SIGNATURE_CELLS, interpolation=cv2.INTER_AREA)
    return cells / max(float(cells.mean()), 1e-6)


def content_distance(a: Optional[np.ndarray], b: Optional[np.ndarray]) -> float:
    """How different two signatures are (0: the same content); 0 when one is missing."""
    if a is None or b is None or a.shape != b.shape:
        return 0.0
    return float(np.abs(a - b).mean())


class OutlierGuard:
    """Finds the frames of a sweep to capture again, and keeps the right capture.

    ``frames`` maps lens positions to :class:`~.scoring.FrameScore` (with ``content``); the
    guard reads it and replaces entries in it, it never moves the lens itself.
    """

    def __init__(self, max_run: int = MAX_RUN_RECAPTURES) -> None:
        self.left = max_run
        #: Positions captured again, in order: for the result and the tests.
        self.recaptured: List[float] = []
        #: Positions whose content was seen twice alike: changed for good, not crossed.
        self.trusted = set()

    # ~~ the two questions

    @staticmethod
    def neighbours(position: float, frames: Dict) -> Tuple[Optional[float], Optional[float]]:
        below = [p for p in frames if p < position]
        above = [p for p in frames if p > position]
        return (max(below) if below else None), (min(above) if above else None)

    def disagrees(self, position: float, frames: Dict) -> bool:
        """Is the score at ``position`` off the line between its neighbours' scores (in
        log-score, on the fine and on the coarsest view) by more than the noise? At the end
        of the range, the one neighbour is the line."""
        below, above = self.neighbours(position, frames)
        if below is None and above is None:
            return False
        here = frames[position]
        others = [frames[p] for p in (below, above) if p is not None]
        for level in {0, min(len(f.levels) for f in [here] + others) - 1}:
            y = here.levels[level]
            if below is not None and above is not None:
                t = (position - below) / float(above - below)
                lo, hi = frames[below].levels[level], frames[above].levels[level]
                expected = math.exp((1 - t) * math.log(max(lo, 1e-12)) + t * math.log(max(hi, 1e-12)))
            else:
                expected = others[0].levels[level]
            if abs(math.log(max(y, 1e-12) / max(expected, 1e-12))) > math.log(1 + SCORE_MARGIN):
                return True
        return False

    def explained(self, position: float, frames: Dict) -> bool:
        """Does the curve itself explain the frame at ``position``, so that capturing it
        again would not change the search? True where the finest view that shows a clear
        peak (its best at least :data:`CLEAR_PEAK` times its worst, the view the coarse
        pass then uses) puts the frame at most :data:`FAR_BELOW_PEAK` of the best, and that
        view and the next coarser one put it on the flank its neighbours draw (see
        :meth:`on_flank`). The coarser view matters: in a dim, noisy scene the fine view's
        "clear peak" can be noise, while a dark head that scores low there makes a peak on
        the coarser views.

        Such a frame can neither make a peak nor hide one. A real focus stack needs this: its
        frames farthest from focus differ in content (magnification, parallax) as much as a
        crossing does and sit off the straight line between their neighbours, as any frame on
        a curved flank does. Where no view shows a clear peak (dim, noisy) it never applies.
        """
        ordered = sorted(frames)
        i = ordered.index(position)
        levels = min(len(f.levels) for f in frames.values())
        for clear in range(levels):
            scores = [frames[p].levels[clear] for p in ordered]
            if min(scores) > 0 and max(scores) / min(scores) >= CLEAR_PEAK:
                break
        else:
            return False
        if scores[i] > FAR_BELOW_PEAK * max(scores):
            return False
        for level in range(clear, min(clear + 2, levels)):
            if not self.on_flank(i, [frames[p].levels[level] for p in ordered]):
                return False
        return True

    @staticmethod
    def on_flank(i: int, scores: Sequence[float]) -> bool:
        """Is ``scores[i]`` between its neighbours' or, at an end, below its one neighbour
        while the curve rises away from that end?"""
        y = scores[i]
        if 0 < i < len(scores) - 1:
            return min(scores[i - 1], scores[i + 1]) <= y <= max(scores[i - 1], scores[i + 1])
        side = 1 if i == 0 else -1
        if not 0 <= i + 2 * side < len(scores):
            return False
        return y <= scores[i + side] <= scores[i + 2 * side]

    def change(self, position: float, content: Optional[np.ndarray], frames: Dict) -> float:
        """How far ``content`` is from what the run saw around ``position``, in units of
        what defocus and noise alone explain (> 1: changed).

        The references are the median of all other frames (a crossing is brief, so the
        median never shows it) and the neighbours either side in lens position, whose
        blur is closest, but only a neighbour that itself matches that median: two frames
        of one crossing must not vouch for each other. On a scene whose thumbnail defocus
        does change a lot (dense detail, a very narrow depth of field) the threshold grows
        with the spread of the frames around their median.
        """
        if content is None:
            return 0.0
        others = {p: f.content for p, f in frames.items() if p != position and f.content is not None}
        if len(others) < 2:
            return 0.0
        median = np.median(np.stack(list(others.values())), axis=0)
        spread = [content_distance(c, median) for c in others.values()]
        threshold = max(CONTENT_CHANGE, SPREAD_FACTOR * float(np.median(spread)))
        references = [median] + [others[p] for p in self.neighbours(position, frames)
                                 if p is not None and content_distance(others[p], median) <= threshold]
        return min(content_distance(content, r) for r in references) / threshold

    def suspects(self, positions: Sequence[float], frames: Dict) -> List[float]:
        """The positions among ``positions`` whose frame disagrees AND changed content."""
        return [p for p in positions if p in frames and p not in self.trusted
                and self.change(p, frames[p].content, frames) > 1.0
                and self.disagrees(p, frames) and not self.explained(p, frames)]

    # ~~ capturing again

    def settle(self, position: float, frames: Dict, capture: Callable[[], object]) -> int:
        """Capture again at ``position`` (the lens is there) until a frame's content matches
        its neighbours, at most :data:`MAX_RECAPTURES` times; keep the best-matching frame.
        Returns the frames captured."""
        first = best = frames[position]
        best_change = self.change(position, best.content, frames)
        taken = 0
        while best_change > 1.0 and taken < MAX_RECAPTURES and self.left > 0:
            again = capture()
            taken += 1
            self.left -= 1
            self.recaptured.append(position)
            if content_distance(again.content, first.content) <= CONTENT_CHANGE:
                # The same content twice: nothing crossed, the frame was right all along.
                best = again
                self.trusted.add(position)
                break
            change = self.change(position, again.content, frames)
            if change < best_change:
                best, best_change = again, change
        frames[position] = best
        return taken
