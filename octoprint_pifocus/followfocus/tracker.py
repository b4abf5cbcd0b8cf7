"""Where the toolhead is, from the G-code lines OctoPrint sends.

Follow focus needs the toolhead's position without asking the printer after every move, so
it reads the stream of commands the way Octolapse's position tracker and OctoPrint's G-code
analysis do:

- ``G0``/``G1`` move; ``G2``/``G3`` arcs are followed to their end point (the arc's path does
  not matter for focus, only where it stops);
- ``G90``/``G91`` switch X, Y and Z between absolute and relative moves; ``M82``/``M83`` only
  concern the extruder, whose position is ignored altogether;
- ``G92`` sets the *logical* position without moving: the tracker keeps the machine position
  and an offset per axis, as the firmware does, so a ``G92 Z0.2`` in a start script does not
  shift the map. Before an axis is known, ``G92`` defines it. ``G92`` with no axis zeroes X, Y
  and Z like Marlin 1, Klipper and Octolapse (``bare_g92_zeroes=False`` follows Marlin 2 and
  RepRapFirmware, where it does nothing); ``G92.1`` clears the offsets;
- ``G28`` homes every axis, or only those named (``G28 X0 Y`` homes X and Y; the numbers
  are ignored, as the firmware ignores them). The machine position after homing is
  ``home`` (0 by default) and homing clears the axis's ``G92`` offset. ``G28 O`` homes only
  axes the tracker does not know yet;
- ``G29`` (bed levelling) leaves the toolhead wherever the probing ended: X, Y and Z become
  unknown until the next absolute move, ``G92`` or position report;
- ``G20``/``G21`` switch the numbers that follow to inches or millimetres; positions are
  always kept in millimetres;
- ``F`` on a move sets the feed rate (:attr:`feedrate`, mm/s), which
  :class:`~octoprint_pifocus.followfocus.motion.MotionTimeline` uses to time the moves;
  ``M220 S<percent>`` (the printer's feed-rate factor, OctoPrint's "feed rate" slider) scales
  it (:attr:`speed_factor`; ``M220 B``/``M220 R`` back it up and restore it, as Marlin 2);
- comments (``; ...`` and ``( ... )``), line numbers and checksums (``N12 G1 X5*34``),
  lowercase, and words written without spaces (``G1X5Y5``) are all understood; ``@``
  commands and anything unknown are ignored.

An axis is ``None`` until it is known. Before an axis is homed (or set by ``G92`` or a
position report) the firmware's coordinates mean nothing, so moves do not make it known;
once referenced, an absolute move makes it known again (after ``G29``), a relative one on an
unknown axis keeps it unknown.
The firmware's own answer to ``M114`` (:func:`parse_position_report`, :meth:`feed_reply`)
corrects the tracker whenever it arrives.
"""
from __future__ import annotations

import math
import re
import threading
from typing import Dict, Iterable, List, Mapping, Optional, Tuple

AXES = ("x", "y", "z")
MM_PER_INCH = 25.4

_WORD = re.compile(r"([A-Za-z])\s*([-+]?(?:\d+\.?\d*|\.\d+))?")
_COMMENT = re.compile(r"\([^)]*\)|;.*$")
_LINE_NUMBER = re.compile(r"^\s*[Nn]\s*\d+\s*")
_REPORT_AXIS = re.compile(r"(?<![A-Za-z])([XYZ]):\s*([-+]?(?:\d+\.?\d*|\.\d+))")


def _words(line: str) -> List[Tuple[str, Optional[str]]]:
    """The (letter, number) words of one G-code line, comments, line number and checksum gone."""
    text = line.split("*", 1)[0]
    text = _COMMENT.sub(" ", text)
    text = _LINE_NUMBER.sub("", text).strip()
    if not text or text.startswith("@"):
        return []
    return [(letter.upper(), number) for letter, number in _WORD.findall(text)]


def _code(number: Optional[str]) -> Optional[Tuple[int, int]]:
    """``"92.1"`` as ``(92, 1)``; ``None`` for a bad number."""
    if number is None:
        return None
    try:
        value = float(number)
    except ValueError:
        return None
    if not math.isfinite(value) or value < 0:
        return None
    major = int(value)
    return major, int(round((value - major) * 10))


def parse_position_report(line: str) -> Optional[Dict[str, float]]:
    """X, Y and Z in mm from a firmware's answer to ``M114``, or ``None`` if ``line`` is not one.

    Understands Marlin and Prusa (``X:10.00 Y:20.00 Z:0.30 E:0.00 Count X:800 ...``), Klipper
    (``ok X:10.000 Y:20.000 Z:0.300 E:0.0000``) and RepRapFirmware (``X:10.000 Y:20.000 Z:0.300
    E0:0.0 Count 800 1600 120 Machine ...``). Only what comes before ``Count`` counts (the
    stepper counts after it are not millimetres); Marlin's probe reports (``Bed X: 10.000 Y:
    ...``) are not toolhead positions and are refused.
    """
    if not isinstance(line, str):
        return None
    text = line.strip()
    if text.lower().startswith("bed") or "Bed X" in text:
        return None
    text = re.split(r"\bCount\b|\bMachine\b", text, maxsplit=1)[0]
    found: Dict[str, float] = {}
    for letter, number in _REPORT_AXIS.findall(text):
        axis = letter.lower()
        if axis in found:
            return None
        value = float(number)
        if not math.isfinite(value):
            return None
        found[axis] = value
    if set(found) != set(AXES):
        return None
    return found


class ToolheadTracker:
    """The toolhead's machine position in mm, followed from the G-code lines sent.

    ``feed(line)`` reads one sent line and says whether the position changed;
    :attr:`position` is ``{"x": ..., "y": ..., "z": ...}`` with ``None`` for an axis not known
    yet. ``home`` is the machine position after homing, per axis (default 0). Safe to call from
    OctoPrint's communication thread while another thread reads the position.
    """

    def __init__(self, home: Optional[Mapping[str, float]] = None, bare_g92_zeroes: bool = True) -> None:
        home = dict(home or {})
        for axis, value in home.items():
            if axis not in AXES:
                raise ValueError(f"home names an unknown axis {axis!r}; use x, y or z")
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
                raise ValueError(f"home position of {axis} must be a finite number, not {value!r}")
        self._home = {axis: float(home.get(axis, 0.0)) for axis in AXES}
        self._bare_g92_zeroes = bool(bare_g92_zeroes)
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Forget everything, as after a new connection: position unknown, absolute, mm."""
        with self._lock:
            self._machine: Dict[str, Optional[float]] = {axis: None for axis in AXES}
            #: Axes whose coordinates mean something (homed, set by G92, or reported).
            self._referenced = {axis: False for axis in AXES}
            self._offset: Dict[str, float] = {axis: 0.0 for axis in AXES}
            self._relative = False
            self._scale = 1.0
            self._feedrate: Optional[float] = None
            self._speed_factor = 1.0
            self._speed_backup = 1.0

    # ~~ reading

    @property
    def position(self) -> Dict[str, Optional[float]]:
        """The machine position in mm per axis, ``None`` while unknown."""
        with self._lock:
            return dict(self._machine)

    @property
    def logical_position(self) -> Dict[str, Optional[float]]:
        """The position as the G-code sees it (machine minus the ``G92`` offset)."""
        with self._lock:
            return {axis: None if value is None else value - self._offset[axis]
                    for axis, value in self._machine.items()}

    @property
    def feedrate(self) -> Optional[float]:
        """The modal feed rate in mm/s (``F`` is mm/min, or in/min after ``G20``); None until set."""
        return self._feedrate

    @property
    def speed_factor(self) -> float:
        """The printer's feed-rate factor from ``M220`` (1.0 = 100 %), for the moves sent after it."""
        return self._speed_factor

    @property
    def relative(self) -> bool:
        """True after ``G91``: X, Y and Z moves are relative."""
        return self._relative

    @property
    def inches(self) -> bool:
        """True after ``G20``."""
        return self._scale != 1.0

    def known(self, axes: Iterable[str] = AXES) -> bool:
        """Whether every one of ``axes`` is known."""
        with self._lock:
            return all(self._machine[axis] is not None for axis in axes)

    # ~~ feeding

    def feed(self, line: str) -> bool:
        """Read one sent G-code line; True if the known position changed."""
        if not isinstance(line, str):
            return False
        words = _words(line)
        if not words:
            return False
        with self._lock:
            before = dict(self._machine)
            self._apply(words)
            return self._machine != before

    def feed_all(self, lines: Iterable[str]) -> int:
        """Feed many lines (a file, a script); how many changed the position."""
        return sum(1 for line in lines if self.feed(line))

    def feed_reply(self, line: str) -> bool:
        """Read one line the printer answered; a position report corrects the position.

        The report is logical (after ``G92``), so the known offsets are added back. True if
        the line was a report and changed the position.
        """
        report = parse_position_report(line)
        if report is None:
            return False
        return self.learn(report)

    def learn(self, logical: Mapping[str, float]) -> bool:
        """Take a reported logical position in mm (from ``M114``); True if it changed ours."""
        with self._lock:
            before = dict(self._machine)
            for axis in AXES:
                value = logical.get(axis)
                if isinstance(value, (int, float)) and math.isfinite(value):
                    self._machine[axis] = float(value) + self._offset[axis]
                    self._referenced[axis] = True
            return self._machine != before

    # ~~ the rules

    def _apply(self, words: List[Tuple[str, Optional[str]]]) -> None:
        commands: List[Tuple[int, int]] = []
        params: Dict[str, Optional[str]] = {}
        for letter, number in words:
            if letter == "G":
                code = _code(number)
                if code is not None:
                    commands.append(code)
            elif letter in ("M", "T"):
                # M82/M83 and tool changes concern the extruder only; a line with an M code
                # carries no move of its own. M220 sets the feed-rate factor.
                if letter == "M" and _code(number) == (220, 0) and not commands:
                    self._feed_factor(words)
                return
            elif letter not in params:
                params[letter] = number
        # Modal codes first, so that "G91 G0 X5" or "G20 G1 X1" on one line work.
        for major, minor in commands:
            if (major, minor) == (90, 0):
                self._relative = False
            elif (major, minor) == (91, 0):
                self._relative = True
            elif (major, minor) == (20, 0):
                self._scale = MM_PER_INCH
            elif (major, minor) == (21, 0):
                self._scale = 1.0
        feed = params.get("F")
        if feed is not None and any(code[0] in (0, 1, 2, 3) for code in commands):
            try:
                value = float(feed) * self._scale / 60.0
            except ValueError:
                value = math.nan
            if math.isfinite(value) and value > 0:
                self._feedrate = value
        for major, minor in commands:
            if major in (0, 1, 2, 3) and minor == 0:
                self._move(params)
            elif major == 28 and minor == 0:
                self._home_axes(params)
            elif major == 29:
                self._machine = {axis: None for axis in AXES}
            elif major == 92:
                self._set_position(minor, params)

    def _feed_factor(self, words: List[Tuple[str, Optional[str]]]) -> None:
        """``M220``: ``S`` sets the factor in percent, ``B`` backs it up, ``R`` restores it."""
        letters = {letter: number for letter, number in words[1:]}
        if "B" in letters:
            self._speed_backup = self._speed_factor
        if "R" in letters:
            self._speed_factor = self._speed_backup
        try:
            percent = float(letters["S"]) if letters.get("S") is not None else math.nan
        except ValueError:
            percent = math.nan
        if math.isfinite(percent) and percent > 0:
            self._speed_factor = percent / 100.0

    def _values(self, params: Mapping[str, Optional[str]]) -> Dict[str, float]:
        """The X/Y/Z numbers of a line in mm (bad or missing numbers left out)."""
        values = {}
        for axis in AXES:
            raw = params.get(axis.upper())
            if raw is None:
                continue
            try:
                value = float(raw) * self._scale
            except ValueError:
                continue
            if math.isfinite(value):
                values[axis] = value
        return values

    def _move(self, params: Mapping[str, Optional[str]]) -> None:
        for axis, value in self._values(params).items():
            current = self._machine[axis]
            if self._relative:
                if current is not None:
                    self._machine[axis] = current + value
            elif self._referenced[axis]:
                self._machine[axis] = value + self._offset[axis]

    def _home_axes(self, params: Mapping[str, Optional[str]]) -> None:
        named = [axis for axis in AXES if axis.upper() in params]
        axes = named or list(AXES)
        if "O" in params:
            axes = [axis for axis in axes if self._machine[axis] is None]
        for axis in axes:
            self._machine[axis] = self._home[axis]
            self._offset[axis] = 0.0
            self._referenced[axis] = True

    def _set_position(self, minor: int, params: Mapping[str, Optional[str]]) -> None:
        if minor == 1:  # G92.1: back to machine coordinates
            self._offset = {axis: 0.0 for axis in AXES}
            return
        if minor != 0:
            return
        values = self._values(params)
        if not values and "E" not in params and self._bare_g92_zeroes:
            values = {axis: 0.0 for axis in AXES}
        for axis, value in values.items():
            current = self._machine[axis]
            if current is None:
                self._machine[axis] = value
                self._offset[axis] = 0.0
                self._referenced[axis] = True
            else:
                self._offset[axis] = current - value
