"""A virtual printer that moves at its feed rate and says where its head is: the simulation's truth.

OctoPrint's own virtual printer is made to test the serial protocol, not motion: it sets the
position to a move's target as the move *starts*, runs it in a tenth of its time, and times a
move towards lower coordinates as no time at all. A simulated camera whose sharp position
followed it (or PiFocus's own estimate of the toolhead, which is what follow focus is tested
against) would show nothing true about follow focus.

:class:`PacedPrinter` is a small subclass that keeps the whole serial protocol (the line
numbers, the ``ok`` after a move is queued in its ``commandBuffer``, M114, M400) and changes
only how moves run:

- each move is planned when it is received, in order with G90/G91, G92, G20/G21, G28 and
  M220 (the feed-rate factor applies to the moves received after it, as in Marlin);
- it runs for its real time: the straight-line distance at its feed rate, speeding up and
  slowing down at ``accel`` (a trapezoid from rest to rest), whichever direction it goes;
- :meth:`PacedPrinter.position_at` answers where the head is at a given moment (machine
  coordinates, mm), interpolated along the move under way.

PiFocus offers it on its own serial port name, :data:`PORT`, while the simulation is on (the
demo connects to it); OctoPrint's ``VIRTUAL`` port stays OctoPrint's. Follow focus knows
nothing of it: it reads only the G-code sent and the printer's answers, as on a real printer.
"""
from __future__ import annotations

import collections
import math
import re
import threading
import time
from typing import Deque, Dict, Optional

try:
    from octoprint.plugins.virtual_printer.virtual import VirtualPrinter
except ImportError:  # an OctoPrint whose virtual printer moved: PiFocus loads, without the port
    VirtualPrinter = None

#: The serial port name PiFocus offers the paced printer under.
PORT = "PIFOCUS_SIM"
#: Acceleration the paced printer moves at, mm/s² (PiFocus's motion timeline assumes 1000: the
#: truth is deliberately not the estimate's own model).
ACCEL = 1500.0
#: Moves remembered for :meth:`PacedPrinter.position_at` (older ones have ended long ago).
HISTORY = 64
AXES = ("x", "y", "z")

_WORD = re.compile(r"([XYZEF])\s*(-?\d+(?:\.\d*)?|-?\.\d+)", re.IGNORECASE)


class _Move:
    __slots__ = ("start", "end", "distance", "speed", "duration", "t0")

    def __init__(self, start: Dict[str, float], end: Dict[str, float], distance: float, speed: float,
                 duration: float) -> None:
        self.start, self.end = start, end
        self.distance, self.speed, self.duration = distance, speed, duration
        self.t0: Optional[float] = None


class PacedPrinter(VirtualPrinter if VirtualPrinter is not None else object):  # type: ignore[misc]
    """OctoPrint's virtual printer with moves at their real pace (see the module docstring)."""

    def __init__(self, *args, accel: float = ACCEL, clock=time.monotonic, **kwargs) -> None:
        self._accel = accel
        self._clock = clock
        self._truth_lock = threading.Lock()
        self._history: Deque[_Move] = collections.deque(maxlen=HISTORY)
        #: Where the moves received so far leave the head (machine mm), and the G92 offsets
        #: (logical = machine + offset).
        self._machine = {a: 0.0 for a in AXES}
        self._offset = {a: 0.0 for a in AXES}
        self._planned_e = 0.0
        self._inch = False
        super().__init__(*args, **kwargs)

    # ~~ the truth

    def position_at(self, t: Optional[float] = None) -> Dict[str, float]:
        """Where the head is at ``t`` (the clock's seconds, default now), machine mm per axis."""
        t = self._clock() if t is None else t
        with self._truth_lock:
            moves = list(self._history)
        if not moves:
            return {a: 0.0 for a in AXES}  # where the virtual printer starts
        for move in reversed(moves):
            if move.t0 is None:
                continue
            if t >= move.t0:
                return _along(move, t - move.t0, self._accel)
        first = moves[0]
        return dict(first.start)

    @property
    def connected(self) -> bool:
        """Whether OctoPrint still talks to this printer (False once it closed the port)."""
        return self.buffered is not None and not self._killed

    # ~~ planning, in the order the lines come

    def _gcode_G0(self, data: str) -> None:
        self.buffered.put(self._plan(data))

    _gcode_G1 = _gcode_G0
    _gcode_G2 = _gcode_G0
    _gcode_G3 = _gcode_G0

    @property
    def _unit(self) -> float:
        """mm per G-code unit (25.4 after G20)."""
        return 25.4 if self._inch else 1.0

    def _plan(self, line: str) -> _Move:
        words = {k.upper(): float(v) for k, v in _WORD.findall(line.split(";", 1)[0][2:])}
        unit = self._unit
        if "F" in words and words["F"] > 0:
            self._lastF = words["F"] * unit  # mm/min
        speed = self._lastF / 60.0 * (self._feedrate_multiplier / 100.0)
        if speed <= 0:
            speed = 1e9
        with self._truth_lock:
            start = dict(self._machine)
            end = dict(start)
            for axis in AXES:
                value = words.get(axis.upper())
                if value is None:
                    continue
                value *= unit
                end[axis] = start[axis] + value if self._relative else value - self._offset[axis]
            self._machine = dict(end)
        distance = math.sqrt(sum((end[a] - start[a]) ** 2 for a in AXES))
        if "E" in words:
            e = words["E"] * unit
            de = e if self._relative else e - self._planned_e
            self._planned_e = self._planned_e + e if self._relative else e
            length = distance if distance > 0 else abs(de)
        else:
            length = distance
        self._report_logical()
        return _Move(start, end, distance, speed, _duration(length, speed, self._accel))

    def _report_logical(self) -> None:
        """M114 answers the planned position in logical units (as Marlin's does)."""
        unit = self._unit
        self._lastX = (self._machine["x"] + self._offset["x"]) / unit
        self._lastY = (self._machine["y"] + self._offset["y"]) / unit
        self._lastZ = (self._machine["z"] + self._offset["z"]) / unit

    def _gcode_G20(self, data: str) -> None:
        self._inch = True
        self._unitModifier = 1 / 25.4
        self._report_logical()

    def _gcode_G21(self, data: str) -> None:
        self._inch = False
        self._unitModifier = 1.0
        self._report_logical()

    def _gcode_G92(self, data: str) -> None:
        words = {k.upper(): float(v) for k, v in _WORD.findall(data.split(";", 1)[0][3:])}
        unit = self._unit
        with self._truth_lock:
            if not any(k in words for k in "XYZE"):
                for axis in AXES:
                    self._offset[axis] = -self._machine[axis]
                self._planned_e = 0.0
            for axis in AXES:
                if axis.upper() in words:
                    self._offset[axis] = words[axis.upper()] * unit - self._machine[axis]
            if "E" in words:
                self._planned_e = words["E"] * unit
        self._report_logical()

    def _gcode_G28(self, data: str) -> None:
        # Marlin homes after the moves before it have ended; homing itself is taken as instant.
        self.buffered.join()
        axes = [a for a in AXES if a.upper() in data[3:].upper()] or list(AXES)
        with self._truth_lock:
            start = dict(self._machine)
            for axis in axes:
                self._machine[axis] = 0.0
                self._offset[axis] = 0.0
            jump = _Move(start, dict(self._machine), 0.0, 1e9, 0.0)
            jump.t0 = self._clock()
            self._history.append(jump)
        self._report_logical()

    # ~~ running, one move after the other

    def _performMove(self, line) -> None:
        move = line if isinstance(line, _Move) else self._plan(str(line))  # SD printing queues text
        now = self._clock()
        with self._truth_lock:
            previous = self._history[-1] if self._history else None
            if previous is not None and previous.t0 is not None:
                now = max(now, previous.t0 + previous.duration)
            move.t0 = now
            self._history.append(move)
        end = now + move.duration
        while not self._killed:
            left = end - self._clock()
            if left <= 0:
                break
            time.sleep(min(left, 0.5))


def _duration(length: float, speed: float, accel: float) -> float:
    """Seconds for ``length`` mm at ``speed`` mm/s from rest to rest at ``accel`` mm/s²."""
    if length <= 0:
        return 0.0
    if length >= speed * speed / accel:
        return length / speed + speed / accel
    return 2.0 * math.sqrt(length / accel)


def _along(move: _Move, elapsed: float, accel: float) -> Dict[str, float]:
    """The head ``elapsed`` s into ``move`` (a trapezoid: speed up, cruise, slow down)."""
    if move.duration <= 0 or elapsed >= move.duration or move.distance <= 0:
        return dict(move.end) if elapsed >= move.duration or move.distance <= 0 else dict(move.start)
    d, v, a, T = move.distance, move.speed, accel, move.duration
    ramp = min(v / a, T / 2.0)                 # time to speed up (a triangle when the move is short)
    peak = a * ramp
    if elapsed < ramp:
        s = 0.5 * a * elapsed * elapsed
    elif elapsed <= T - ramp:
        s = 0.5 * a * ramp * ramp + peak * (elapsed - ramp)
    else:
        left = T - elapsed
        s = d - 0.5 * a * left * left
    f = min(max(s / d, 0.0), 1.0)
    return {axis: move.start[axis] + (move.end[axis] - move.start[axis]) * f for axis in AXES}


class PacedPort:
    """OctoPrint's serial hooks for :data:`PORT`: offered while ``enabled()`` (the simulation
    is on), built with the bundled virtual printer plugin's settings, and remembered so the
    simulated camera can ask where its head is."""

    def __init__(self, plugin_manager, enabled, logger=None) -> None:
        self._plugin_manager = plugin_manager
        self._enabled = enabled
        self._logger = logger
        self.printer: Optional[PacedPrinter] = None

    def _virtual_plugin(self):
        info = self._plugin_manager.get_plugin_info("virtual_printer") if self._plugin_manager else None
        return getattr(info, "implementation", None)

    def port_names(self, *args, **kwargs):
        """``octoprint.comm.transport.serial.additional_port_names``."""
        if VirtualPrinter is None:
            return []
        return [PORT] if self._enabled() and self._virtual_plugin() is not None else []

    def factory(self, comm_instance, port, baudrate, read_timeout, *args, **kwargs):
        """``octoprint.comm.transport.serial.factory``: the paced printer for :data:`PORT`."""
        if port != PORT or not self._enabled() or VirtualPrinter is None:
            return None
        virtual = self._virtual_plugin()
        if virtual is None:
            if self._logger is not None:
                self._logger.error("Port %s needs OctoPrint's bundled Virtual Printer plugin, which is "
                                   "not loaded: enable it in the Plugin Manager", PORT)
            return None
        printer = PacedPrinter(virtual._settings, virtual._printer_profile_manager,
                               data_folder=virtual.get_plugin_data_folder(),
                               read_timeout=float(read_timeout), faked_baudrate=baudrate)
        self.printer = printer
        return printer

    def head(self) -> Optional[Dict[str, float]]:
        """Where the paced printer's head is now; None while none is connected."""
        printer = self.printer
        if printer is None or not printer.connected:
            return None
        return printer.position_at()
