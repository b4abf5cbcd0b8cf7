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

from ..followfocus import MotionTimeline, ToolheadTracker
from ..followfocus.tracker import AXES

#: A move (G0..G3, as G1 or G01, after an optional line number), not G10 or G28.
_MOVE = re.compile(r"^\s*(?:[Nn]\s*\d+\s*)?[Gg]0*[0-3](?![\d.])")

Position = Dict[str, Optional[float]]


class Toolhead:
    """The toolhead's machine position in mm (``None`` per axis while unknown), from the lines
    sent and the printer's position reports. ``clock`` is the timeline's clock (seconds)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._tracker = ToolheadTracker()
        self._timeline = MotionTimeline()
        self._connection: object = None
        #: Lines that changed the position since the last reset (for the status and tests).
        self.changes = 0

    # ~~ writing (OctoPrint's communication thread)

    def on_sent(self, line: str, connection: object = None) -> None:
        """One line OctoPrint sent (``octoprint.comm.protocol.gcode.sent``). ``connection`` is
        the comm object: a new one means a new connection, which knows nothing yet."""
        if connection is not None and connection is not self._connection:
            with self._lock:
                if connection is not self._connection:
                    self._connection = connection
                    self._forget()
        if not isinstance(line, str) or ("G" not in line and "g" not in line):
            return  # M-codes, T-codes, @commands: no position change
        with self._lock:
            before = self._tracker.position
            if not self._tracker.feed(line):
                return
            after = self._tracker.position
            now = self._clock()
            if _MOVE.match(line):
                self._timeline.add(before, after, self._tracker.feedrate, now)
            else:  # G28, G92 on an unknown axis, G29: no timed travel
                self._timeline.set_position(after, now)
            self.changes += 1

    def on_received(self, line: str) -> None:
        """One line the printer answered (``octoprint.comm.protocol.gcode.received``): a
        position report (``M114``) corrects the position."""
        if not isinstance(line, str) or "X:" not in line:
            return
        with self._lock:
            if self._tracker.feed_reply(line):
                self._timeline.set_position(self._tracker.position, self._clock())
                self.changes += 1

    def reset(self) -> None:
        """The printer disconnected: nothing is known any more."""
        with self._lock:
            self._connection = None
            self._forget()

    def _forget(self) -> None:
        self._tracker.reset()
        self._timeline = MotionTimeline()
        self.changes = 0

    # ~~ reading (any thread)

    def position(self) -> Position:
        """Where the last line sent leaves the toolhead: ``{"x", "y", "z"}`` in mm, None = unknown."""
        return self._tracker.position

    def position_at(self, t: float) -> Optional[Position]:
        """The estimated position at time ``t`` (the ``clock``'s seconds) from the timed moves;
        None before any position is known. Axes never known stay None."""
        with self._lock:
            timeline = self._timeline
        found = timeline.position_at(t)
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
