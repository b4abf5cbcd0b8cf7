"""Where the toolhead is *now*, not where the last line sent will leave it.

The G-code stream says where each move ends, but a bed that travels 100 mm in Y at print
speed takes seconds to get there, and the sharp lens position changes all the way: a lens
set once per line is wrong for most of a long line. :class:`MotionTimeline` times the moves
sent, so :meth:`MotionTimeline.position_at` estimates the toolhead's position at any time
and a follower can ask a few times a second.

A move takes its distance at its feed rate, plus the time to speed up and slow down at
``accel`` (a trapezoid that stops at each end: a little slow where the firmware would keep
speed through a corner). Two ways to place the moves in time:

- **the chain**: each move starts when it is sent or when the one before it ends, whichever
  is later. Right while the printer runs lines as they come, and whenever it waited (heating,
  ``M400``, a pause), since the next move then starts when it is sent;
- **the anchor**: while the firmware's planner buffer is full, OctoPrint sends a line only
  when a move finishes and frees a slot, so a line runs ``lag`` moves after it was sent, and
  the chain, off by the smallest timing error, runs ahead by up to the whole buffer. Then the
  gaps between sends repeat the durations of the moves finishing ``lag`` moves earlier: the
  lag whose durations correlate best with the gaps (the smallest one among equals: a print's
  repeating moves also match whole periods later) is taken when the correlation is clear,
  with the ratio of the sums as the printer's pace. Each send then says "move *j − lag* starts
  now", and the position is walked on from there.

With no clear lag (too few moves, a stream that does not fill the buffer, a wait) the chain
is used. Given the printer's ``buffer`` (moves it holds beyond the one it runs), the chain
is also kept from falling behind the printer: a line goes out only once the printer has room
for it, so the move ``buffer`` moves before it has started by then. A printer that runs faster
than the timeline thinks (a higher speed factor, OctoPrint's virtual printer, which runs moves
in a tenth of their time) is then at most ``buffer`` moves ahead of the estimate.

Adding a move is cheap (it runs on the printer's communication thread for every line); the
lag is measured when a reader next asks, if moves were added since, at most once per
``LAG_EVERY`` timed moves.
"""
from __future__ import annotations

import math
import threading
from collections import deque
from typing import Deque, Dict, List, Mapping, Optional, Tuple

#: Feed rate assumed for a move whose rate is not known yet (mm/s): a slow, common one.
DEFAULT_FEEDRATE = 25.0
#: Moves remembered; older ones are long finished.
MAX_MOVES = 256
#: Acceleration assumed, mm/s² (Marlin's and Klipper's defaults are 500-3000).
DEFAULT_ACCEL = 1000.0
#: Send gaps the lag is measured on.
LAG_WINDOW = 48
#: Largest lag looked for, in moves (Marlin's planner holds 16 moves, 32 on some boards).
MAX_LAG = 32
#: Correlation needed to trust a lag, and how close to the best a smaller lag may be.
MIN_CORRELATION = 0.9
LAG_TIE = 0.02
#: Measure the lag again after this many timed moves.
LAG_EVERY = 4

Position = Mapping[str, Optional[float]]


class _Move:
    """One move: ``t0`` (when it starts on the chain) is the only field that changes, when
    the printer's buffer pulls the chain back (readers work on a snapshot taken under the lock)."""

    __slots__ = ("start", "end", "duration", "sent_at", "t0")

    def __init__(self, start: Dict[str, Optional[float]], end: Dict[str, Optional[float]],
                 duration: float, sent_at: float, t0: float) -> None:
        self.start = start
        self.end = end
        self.duration = duration    # distance / feed rate
        self.sent_at = sent_at
        self.t0 = t0


class MotionTimeline:
    """A timetable of the moves sent, to estimate the toolhead position at a given time.

    ``accel`` (mm/s², None for none) times the moves; ``measure_lag=False`` keeps to the chain.
    """

    def __init__(self, max_moves: int = MAX_MOVES, accel: Optional[float] = DEFAULT_ACCEL,
                 measure_lag: bool = True, buffer: Optional[int] = None) -> None:
        self._moves: Deque[_Move] = deque(maxlen=max_moves)
        self._lock = threading.Lock()
        self._accel = accel if accel and math.isfinite(accel) and accel > 0 else None
        self._measure = measure_lag
        self._buffer: Optional[int] = None
        self.buffer = buffer
        self._timed = 0
        self._lag: Optional[Tuple[int, float]] = None
        #: Timed moves since the lag was last measured were added: measure again on next read.
        self._lag_due = False

    @property
    def lag(self) -> Optional[Tuple[int, float]]:
        """``(moves, pace)`` measured from the send gaps, or None while the chain is used."""
        with self._lock:
            moves = self._due_moves()
        return self._measured(moves)

    def _due_moves(self) -> Optional[List[_Move]]:
        """The timed moves to measure the lag on, if a measurement is due (under the lock)."""
        if not self._lag_due:
            return None
        self._lag_due = False
        return [m for m in self._moves if m.duration > 0]

    def _measured(self, timed: Optional[List[_Move]]) -> Optional[Tuple[int, float]]:
        """The lag, measured on ``timed`` first when given (outside the lock: it takes ~1 ms)."""
        if timed is not None:
            self._lag = _measure_lag(timed)
        return self._lag

    def duration(self, distance: float, feedrate: Optional[float]) -> float:
        """Seconds for a move of ``distance`` mm at ``feedrate`` mm/s, from rest to rest."""
        rate = feedrate if feedrate and math.isfinite(feedrate) and feedrate > 0 else DEFAULT_FEEDRATE
        if distance <= 0:
            return 0.0
        if self._accel is None:
            return distance / rate
        if distance >= rate * rate / self._accel:
            return distance / rate + rate / self._accel
        return 2.0 * math.sqrt(distance / self._accel)

    def add(self, start: Position, end: Position, feedrate: Optional[float], sent_at: float) -> float:
        """Add a move from ``start`` to ``end`` (mm per axis) at ``feedrate`` (mm/s) sent at
        ``sent_at`` (s, the same clock as :meth:`position_at`); returns its end on the chain.

        A move with an unknown axis at either end takes no time: there is no distance to time
        it by.
        """
        start, end = dict(start), dict(end)
        axes = [a for a in end if start.get(a) is not None and end.get(a) is not None]
        distance = math.sqrt(sum((end[a] - start[a]) ** 2 for a in axes))
        unknown = any((start.get(a) is None) != (end.get(a) is None) for a in end)
        duration = 0.0 if unknown else self.duration(distance, feedrate)
        with self._lock:
            t0 = max(sent_at, self._moves[-1].t0 + self._moves[-1].duration) if self._moves else sent_at
            self._moves.append(_Move(start, end, duration, sent_at, t0))
            if self._buffer is not None and len(self._moves) > self._buffer:
                t0 -= self._catch_up(sent_at)
            if duration > 0:
                self._timed += 1
                if self._measure and self._timed % LAG_EVERY == 0:
                    self._lag_due = True
            return t0 + duration

    @property
    def buffer(self) -> Optional[int]:
        """The moves the printer holds beyond the one it runs (None: not known, no bound)."""
        return self._buffer

    @buffer.setter
    def buffer(self, moves: Optional[int]) -> None:
        with self._lock:
            self._buffer = moves if isinstance(moves, int) and 0 < moves < (self._moves.maxlen or MAX_MOVES) else None

    def _catch_up(self, sent_at: float) -> float:
        """The move ``buffer`` moves before the last one has started by ``sent_at``: pull the
        chain back to it if it runs later (under the lock). Returns by how much."""
        first = len(self._moves) - 1 - self._buffer
        late = self._moves[first].t0 - sent_at
        if late <= 1e-9:
            return 0.0
        for i in range(first, len(self._moves)):
            self._moves[i].t0 -= late
        return late

    def finished_by(self, at: float) -> None:
        """Every move added so far had ended by ``at`` (the printer answered a command that
        waits for its moves, ``M400`` or ``G28``): a chain that runs later is pulled back."""
        with self._lock:
            if not self._moves:
                return
            late = self._moves[-1].t0 + self._moves[-1].duration - at
            if late <= 1e-9:
                return
            for move in self._moves:
                move.t0 -= late

    def set_position(self, position: Position, at: float) -> None:
        """The position changed without a timed move (homing, a position report): from ``at``
        on it is ``position``, after whatever was queued before."""
        self.add(position, position, None, at)

    def busy_until(self) -> Optional[float]:
        """When the last move sent ends on the chain (None before any)."""
        with self._lock:
            return self._moves[-1].t0 + self._moves[-1].duration if self._moves else None

    def position_at(self, t: float) -> Optional[Dict[str, Optional[float]]]:
        """The estimated toolhead position at time ``t`` (None before any move is known)."""
        with self._lock:
            if not self._moves:
                return None
            # A snapshot: the printer's buffer may pull the chain back (t0) while we read.
            moves = [_Move(m.start, m.end, m.duration, m.sent_at, m.t0) for m in self._moves]
            due = self._due_moves()
        lag = self._measured(due)
        if lag is not None:
            found = _from_anchor(moves, t, *lag)
            if found is not None:
                return found
        return _on_chain(moves, t)


def _interpolate(move: _Move, f: float) -> Dict[str, Optional[float]]:
    f = min(max(f, 0.0), 1.0)
    return {a: (None if move.end.get(a) is None or move.start.get(a) is None
                else move.start[a] + (move.end[a] - move.start[a]) * f) for a in move.end}


def _on_chain(moves: List[_Move], t: float) -> Dict[str, Optional[float]]:
    if t < moves[0].t0:
        return dict(moves[0].start)
    for move in reversed(moves):
        if move.t0 <= t:
            if move.duration <= 0 or t >= move.t0 + move.duration:
                return dict(move.end)
            return _interpolate(move, (t - move.t0) / move.duration)
    return dict(moves[0].start)  # pragma: no cover - the first check catches it


def _from_anchor(moves: List[_Move], t: float, lag: int, pace: float) -> Optional[Dict[str, Optional[float]]]:
    """The last timed send before ``t`` (move *j*) came as move *j − lag* started: walk on
    from there at ``pace``. None when that send is not known (or the move is not)."""
    timed = [m for m in moves if m.duration > 0]
    last = next((i for i in range(len(timed) - 1, -1, -1) if timed[i].sent_at <= t), None)
    if last is None or last - lag < 0:
        return None
    clock = timed[last].sent_at
    for move in timed[last - lag:]:
        duration = move.duration * pace
        if t < clock + duration:
            return _interpolate(move, (t - clock) / duration)
        clock += duration
    return dict(timed[-1].end)


def _measure_lag(timed: List[_Move]) -> Optional[Tuple[int, float]]:
    """``(lag, pace)`` from the gaps between the last sends, or None when no lag is clear."""
    timed = timed[-(LAG_WINDOW + MAX_LAG + 1):]
    n = len(timed)
    results = []
    for lag in range(0, MAX_LAG + 1):
        pairs = [(timed[j].sent_at - timed[j - 1].sent_at, timed[j - lag - 1].duration)
                 for j in range(lag + 1, n)][-LAG_WINDOW:]
        if len(pairs) < LAG_WINDOW // 2:
            break
        gaps = [g for g, _ in pairs]
        planned = [d for _, d in pairs]
        r = _correlation(gaps, planned)
        if r is not None:
            results.append((lag, r, sum(gaps) / sum(planned)))
    if not results:
        return None
    best = max(r for _, r, _ in results)
    if best < MIN_CORRELATION:
        return None
    lag, _, pace = next(item for item in results if item[1] >= best - LAG_TIE)
    if not 0.5 <= pace <= 3.0:
        return None
    return lag, pace


def _correlation(a: List[float], b: List[float]) -> Optional[float]:
    n = len(a)
    ma, mb = sum(a) / n, sum(b) / n
    va = sum((x - ma) ** 2 for x in a)
    vb = sum((y - mb) ** 2 for y in b)
    if va <= 1e-12 or vb <= 1e-12:
        return None
    return sum((x - ma) * (y - mb) for x, y in zip(a, b)) / math.sqrt(va * vb)
