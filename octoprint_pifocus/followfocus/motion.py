"""Where the toolhead is *now*, not where the last line sent will leave it.

The G-code stream says where each move ends, but a bed that travels 100 mm in Y at print
speed takes seconds to get there, and the sharp lens position changes all the way: a lens
set once per line is wrong for most of a long line. :class:`MotionTimeline` times the moves
sent, so :meth:`MotionTimeline.position_at` estimates the toolhead's position at any time
and a follower can ask a few times a second.

Each move starts when it is sent or when the move before it ends, whichever is later, and
runs in a straight line at its feed rate. That is right while the printer runs lines as they
come, and it stays right while the firmware's planner buffer is full (OctoPrint then sends
a line only when a move finishes, so a line runs many moves after it was sent) as long as
the durations are right, since the chain starts with the first lines as the printer does.
But moves take longer than planned (acceleration): with a full buffer the chain then runs
ahead of the printer, by up to the whole buffer (bench/follow.py measures what that
costs). It falls back in step whenever the printer waits (heating, ``M400``, a pause),
since the next move sent then starts when it is sent. The send times alone do not say how many moves are
buffered (a print's repeating moves make the gaps between sends ambiguous); a position the
printer reports in real time, or a known buffer size, would.
"""
from __future__ import annotations

import math
import threading
from collections import deque
from typing import Deque, Dict, Mapping, NamedTuple, Optional

#: Feed rate assumed for a move whose rate is not known yet (mm/s): a slow, common one.
DEFAULT_FEEDRATE = 25.0
#: Moves remembered; older ones are long finished.
MAX_MOVES = 256

Position = Mapping[str, Optional[float]]


class _Move(NamedTuple):
    start: Dict[str, Optional[float]]
    end: Dict[str, Optional[float]]
    duration: float       # distance / feed rate
    sent_at: float
    t0: float             # when it starts on the chain


class MotionTimeline:
    """A timetable of the moves sent, to estimate the toolhead position at a given time."""

    def __init__(self, max_moves: int = MAX_MOVES) -> None:
        self._moves: Deque[_Move] = deque(maxlen=max_moves)
        self._lock = threading.Lock()

    def add(self, start: Position, end: Position, feedrate: Optional[float], sent_at: float) -> float:
        """Add a move from ``start`` to ``end`` (mm per axis) at ``feedrate`` (mm/s) sent at
        ``sent_at`` (s, the same clock as :meth:`position_at`); returns its estimated end time.

        A move with an unknown axis at either end takes no time: there is no distance to time
        it by.
        """
        rate = feedrate if feedrate and math.isfinite(feedrate) and feedrate > 0 else DEFAULT_FEEDRATE
        start, end = dict(start), dict(end)
        axes = [a for a in end if start.get(a) is not None and end.get(a) is not None]
        distance = math.sqrt(sum((end[a] - start[a]) ** 2 for a in axes))
        unknown = any((start.get(a) is None) != (end.get(a) is None) for a in end)
        duration = 0.0 if unknown else distance / rate
        with self._lock:
            t0 = max(sent_at, self._moves[-1].t0 + self._moves[-1].duration) if self._moves else sent_at
            self._moves.append(_Move(start, end, duration, sent_at, t0))
            return t0 + duration

    def set_position(self, position: Position, at: float) -> None:
        """The position changed without a timed move (homing, a position report): from ``at``
        on it is ``position``, after whatever was queued before."""
        self.add(position, position, None, at)

    def busy_until(self) -> Optional[float]:
        """When the last move sent is estimated to end (None before any)."""
        with self._lock:
            return self._moves[-1].t0 + self._moves[-1].duration if self._moves else None

    def position_at(self, t: float) -> Optional[Dict[str, Optional[float]]]:
        """The estimated toolhead position at time ``t`` (None before any move is known)."""
        with self._lock:
            if not self._moves:
                return None
            if t < self._moves[0].t0:
                return dict(self._moves[0].start)
            for move in reversed(self._moves):
                if move.t0 <= t:
                    if move.duration <= 0 or t >= move.t0 + move.duration:
                        return dict(move.end)
                    f = (t - move.t0) / move.duration
                    return {a: (None if move.end.get(a) is None or move.start.get(a) is None
                                else move.start[a] + (move.end[a] - move.start[a]) * f) for a in move.end}
            return dict(self._moves[0].start)  # pragma: no cover - the first check catches it
