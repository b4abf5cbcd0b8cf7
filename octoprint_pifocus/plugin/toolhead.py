"""The printer's toolhead, followed from the G-code OctoPrint sends: one per printer.

Follow focus and the focus-map calibration need to know where the toolhead is now, without
asking the printer after every move. :class:`Toolhead` feeds every sent line to the engine's
:class:`~octoprint_pifocus.followfocus.ToolheadTracker` (G90/G91, G92, homing, units) and
each move to a :class:`~octoprint_pifocus.followfocus.MotionTimeline` (where the toolhead is
between two lines); a position report (``M114``'s answer) corrects both.

The sent hook runs on OctoPrint's communication thread for every line of a print, so
:meth:`Toolhead.on_sent` drops lines that cannot move anything before parsing them
(``bench/toolhead.py`` measures it). The readers (follow timers, the API) run on other
threads; one lock keeps a line's "before" and "after" together.
"""
from __future__ import annotations

import re
import threading
import time
from typing import Callable, Dict, Iterable, Optional

from ..followfocus import MotionTimeline, ToolheadTracker, parse_position_report
from ..followfocus.tracker import AXES

#: Moves a printer holds beyond the one it runs, unless told (Marlin: a 16-move planner and a
#: 4-line command queue; 32-bit boards hold more). Bounds how far the estimate falls behind.
PLANNER_MOVES = 32

#: Commands after which the firmware answers only once every move before them has ended
#: (Marlin's G28 and G29 synchronise the planner; M400 is made for it; heating waits too).
_WAITS = re.compile(r"^\s*(?:[Nn]\s*\d+\s*)?(?:[Mm]0*(?:400|109|190|191)|[Gg]0*(?:28|29|4))(?![\d.])")

#: A move (G0..G3, as G1 or G01, after an optional line number), not G10 or G28.
_MOVE = re.compile(r"^\s*(?:[Nn]\s*\d+\s*)?[Gg]0*[0-3](?![\d.])")

Position = Dict[str, Optional[float]]


class Toolhead:
    """The toolhead's machine position in mm (``None`` per axis while unknown), from the lines
    sent and the printer's position reports. ``clock`` is the timeline's clock (seconds)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, planner_moves: int = PLANNER_MOVES) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._planner = planner_moves
        self._tracker = ToolheadTracker()
        self._timeline = MotionTimeline(buffer=planner_moves)
        self._connection: object = None
        #: Lines that changed the position since the last reset (for the status and tests).
        self.changes = 0
        #: A command that waits for the moves before it was sent: when the next line goes out,
        #: its answer came, so those moves had ended.
        self._waited = False

    # ~~ writing (OctoPrint's communication thread)

    def on_sent(self, line: str, connection: object = None) -> None:
        """One line OctoPrint sent (``octoprint.comm.protocol.gcode.sent``). ``connection`` is
        the comm object: a new one means a new connection, which knows nothing yet."""
        if connection is not None and connection is not self._connection:
            with self._lock:
                if connection is not self._connection:
                    self._connection = connection
                    self._forget()
        if not isinstance(line, str):
            return
        if self._waited:
            with self._lock:
                self._waited = False
                self._timeline.finished_by(self._clock())
        if _WAITS.match(line):
            self._waited = True
        if "G" not in line and "g" not in line:
            if "220" in line:  # M220: the feed-rate factor times the moves sent after it
                with self._lock:
                    self._tracker.feed(line)
            return  # M-codes, T-codes, @commands: no position change
        with self._lock:
            before = self._tracker.position
            if not self._tracker.feed(line):
                return
            after = self._tracker.position
            now = self._clock()
            if _MOVE.match(line):
                rate = self._tracker.feedrate
                self._timeline.add(before, after, None if rate is None else rate * self._tracker.speed_factor, now)
            else:  # G28, G92 on an unknown axis, G29: no timed travel
                self._timeline.set_position(after, now)
            self.changes += 1

    def on_received(self, line: str) -> None:
        """One line the printer answered (``octoprint.comm.protocol.gcode.received``): a
        position report (``M114``, or ``M154``'s auto-report) corrects the position while an
        axis is unknown or no move is under way. Reports during moves are left out: a
        printer reports where it is in its buffer (OctoPrint's virtual printer: the move it
        runs, up to its buffer behind the lines sent), not where the lines sent leave it."""
        if not isinstance(line, str):
            return
        if self._waited and line.startswith("ok"):
            # The answer to a command that waits for the moves (OctoPrint sends the next line
            # only after it): they have ended.
            with self._lock:
                self._waited = False
                self._timeline.finished_by(self._clock())
        if "X:" not in line:
            return
        report = parse_position_report(line)
        if report is None:
            return
        with self._lock:
            now = self._clock()
            busy = self._timeline.busy_until()
            if self._tracker.known() and busy is not None and busy > now:
                return
            if self._tracker.learn(report):
                self._timeline.set_position(self._tracker.position, now)
                self.changes += 1

    def set_planner_moves(self, moves: int) -> None:
        """How many moves this printer holds beyond the one it runs (OctoPrint's virtual
        printer: its ``commandBuffer`` and the move it runs)."""
        with self._lock:
            self._planner = moves
            self._timeline.buffer = moves

    def reset(self) -> None:
        """The printer disconnected: nothing is known any more."""
        with self._lock:
            self._connection = None
            self._forget()

    def _forget(self) -> None:
        self._tracker.reset()
        self._timeline = MotionTimeline(buffer=self._planner)
        self.changes = 0
        self._waited = False

    # ~~ reading (any thread)

    def position(self) -> Position:
        """Where the last line sent leaves the toolhead: ``{"x", "y", "z"}`` in mm, None = unknown."""
        return self._tracker.position

    def position_at(self, t: float) -> Optional[Position]:
        """The estimated position at time ``t`` (the ``clock``'s seconds) from the timed moves;
        None before any position is known. Axes never known stay None."""
        with self._lock:
            timeline = self._timeline  # a reconnection replaces it: read the one in use now
        found = timeline.position_at(t)  # safe on its own (it reads a snapshot of its moves)
        if found is None:
            return None
        return {axis: found.get(axis) for axis in AXES}

    def now(self) -> float:
        """The clock :meth:`position_at` counts in."""
        return self._clock()

    def known(self, axes: Iterable[str] = AXES) -> bool:
        """Whether every one of ``axes`` (``"x"``, ``"y"``, ``"z"``) is known."""
        return self._tracker.known([str(a).lower() for a in axes])

    def busy_until(self) -> Optional[float]:
        """When the last move sent ends, as far as the timeline knows (None before any)."""
        with self._lock:
            timeline = self._timeline
        return timeline.busy_until()
