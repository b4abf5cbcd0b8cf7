"""Focus by moving the printer's Z axis: a microscope or camera on a printer or CNC gantry.

The "lens" position is Z in mm, and its limits are a **Z window the user sets**: a
microscope sits millimetres above the work, so the driver itself refuses (before sending
anything) every position outside the window, any move while a print runs unless the
caller holds the print, and (configurably) any move before the printer is homed.

A move is ``G90``, ``G1 Z… F…`` (preceded by an overshoot below the target when moving
down, see ``backlash``), ``M400``, the lines restoring the positioning modes, then a
``query("M114")``: its reply comes only after ``M400`` finished, so ``move_to`` returns
with the axis settled, and it confirms the Z the firmware reached.

Positioning modes: Marlin cannot report G90/G91, so the driver asks the port's optional
``positioning()`` (the plugin tracks the modes as lines are sent); when that is unknown it
assumes ``positioning`` (default: absolute). After a move it restores those modes,
including ``M83`` (Marlin's ``G90`` also makes the extruder absolute). While a print is
held, an unknown extruder mode is refused: resuming with the wrong one would wreck it.
The move also leaves the feed rate at ``feedrate`` (G-code has no way to read it back).

Backlash: with ``backlash`` b > 0, a move *down* first goes to target - b (never below the
window) and then up to the target, so every move ends moving up and the leadscrew's play
is always taken up on the same side. The search reads the same ``backlash`` as its own
final-approach overshoot.
"""
from __future__ import annotations

import math
import threading
from collections import deque
from contextlib import contextmanager
from typing import Any, Deque, Dict, Iterator, List, Optional, Tuple

from ..errors import LensError, MoveRefused
from ..messages import text_of
from .base import LensBase, Number, check_limits, format_number, probe_entry, snap
from .gcode_port import ABSOLUTE, GcodePort, Positioning, parse_m114, restore_lines

#: Seconds added to the travel time when waiting for a move to finish.
SETTLE_MARGIN = 10.0


class PrinterZLens(LensBase):
    """Z in mm through a :class:`~.gcode_port.GcodePort`, confined to ``window``."""

    driver = "printer-z"
    units = "mm"

    def __init__(self, port: GcodePort, window: Tuple[float, float], feedrate: float = 300.0,
                 resolution: float = 0.01, backlash: float = 0.0, require_homed: bool = True,
                 positioning: Positioning = ABSOLUTE, query_timeout: float = 5.0) -> None:
        for method in ("send", "query", "is_connected", "is_printing", "is_homed"):
            if not callable(getattr(port, method, None)):
                raise TypeError(f"The G-code port needs a {method}() method; {port!r} has none")
        self.port = port
        low, high = check_limits(window, "Z window")
        self.limits = (float(low), float(high))
        if not feedrate > 0:
            raise ValueError(f"The feed rate must be greater than 0 mm/min; got {feedrate!r}")
        if not resolution > 0:
            raise ValueError(f"The resolution must be greater than 0 mm; got {resolution!r}")
        if not backlash >= 0:
            raise ValueError(f"The backlash overshoot must be 0 or more mm; got {backlash!r}")
        self.feedrate = float(feedrate)
        self.resolution = float(resolution)
        self.backlash = float(backlash)
        self.require_homed = bool(require_homed)
        self.assumed_positioning = positioning
        self.query_timeout = float(query_timeout)
        #: Set (or use :meth:`hold`) when the caller has put the running print on hold.
        self.print_held = False
        self.name = "printer Z"
        self._lock = threading.RLock()
        self._position: Optional[float] = None
        # Made per operation, and the printer moves Z on its own (a print, a jog): Z may have
        # just moved, as far as this driver knows.
        self._moved()
        #: The last lines this driver sent, in order: for logs.
        self.sent: Deque[str] = deque(maxlen=500)

    @property
    def where(self) -> str:
        return "the printer's Z window"

    @property
    def position(self) -> float:
        """The last commanded Z; before the first move, the Z the printer reports."""
        if self._position is None:
            self._position = self.read_z()
        return self._position

    @contextmanager
    def hold(self) -> Iterator["PrinterZLens"]:
        """Allow moves during a print for the ``with`` block: the caller has paused the job."""
        with self._lock:
            before, self.print_held = self.print_held, True
        try:
            yield self
        finally:
            with self._lock:
                self.print_held = before

    # ~~ checks

    def _check_allowed(self) -> None:
        if not self.port.is_connected():
            raise MoveRefused("printer.not_connected")
        if self.port.is_printing() and not self.print_held:
            raise MoveRefused("printer.printing")
        if self.require_homed and self.port.is_homed() is not True:
            unknown = self.port.is_homed() is None
            raise MoveRefused("printer.homed_unknown" if unknown else "printer.not_homed")

    def _positioning(self) -> Positioning:
        reader = getattr(self.port, "positioning", None)
        current = reader() if callable(reader) else None
        mode = current if current is not None else self.assumed_positioning
        if self.port.is_printing() and mode.extruder_relative is None:
            raise MoveRefused("printer.extruder_mode")
        return mode

    # ~~ moves

    def move_to(self, position: Number) -> None:
        target = self.checked(position)
        target = min(self.limits[1], max(self.limits[0], snap(target, self.resolution)))
        with self._lock:
            self._check_allowed()
            before = self._positioning()
            # Where Z is now decides the overshoot: ask the printer, someone may have jogged it.
            current = self.read_z() if self.backlash > 0 else self.position
            path = [target]
            if self.backlash > 0 and target < current:
                below = max(self.limits[0], snap(target - self.backlash, self.resolution))
                if below < target:
                    path.insert(0, below)
            for z in path:  # the invariant, checked on what is about to be sent
                if not self.limits[0] <= z <= self.limits[1]:
                    raise AssertionError(f"Z {z} outside the window {self.limits}")
            lines = ["G90"] + [self._g1(z) for z in path] + ["M400"] + restore_lines(before)
            self._send(lines)
            travel = abs(current - path[0]) + sum(abs(b - a) for a, b in zip(path, path[1:]))
            reached = self.read_z(timeout=travel / self.feedrate * 60.0 + SETTLE_MARGIN)
            self._moved()
            if abs(reached - target) > max(self.resolution, 0.01) + 1e-9:
                self._position = reached
                raise LensError("printer.z_stopped", reached=format_number(reached), target=format_number(target))
            self._position = target

    def restore_z(self, z: Number) -> None:
        """Move back to ``z``, a Z the printer reported before PiFocus moved it (a held print's Z).

        Not confined to the window: the print itself was at ``z`` (a first layer sits far
        below a microscope's window). Otherwise a move like :meth:`move_to` (same checks, modes
        restored, confirmed with ``M114``), but with no backlash overshoot: going below the
        print's Z, even briefly, could push the nozzle into the part.
        """
        target = float(z)
        if not math.isfinite(target):
            raise ValueError(f"Z to go back to must be a finite number; got {z!r}")
        with self._lock:
            self._check_allowed()
            before = self._positioning()
            current = self.position
            self._send(["G90", self._g1(target), "M400"] + restore_lines(before))
            reached = self.read_z(timeout=abs(current - target) / self.feedrate * 60.0 + SETTLE_MARGIN)
            self._position = reached
            self._moved()
            if abs(reached - target) > max(self.resolution, 0.01) + 1e-9:
                raise LensError("printer.z_back_stopped", reached=format_number(reached),
                                target=format_number(target))

    def _g1(self, z: float) -> str:
        return f"G1 Z{format_number(z)} F{format_number(self.feedrate)}"

    def _send(self, lines: List[str]) -> None:
        try:
            self.port.send(lines)
        except (OSError, TimeoutError) as exc:
            raise LensError("printer.send_failed", error=text_of(exc)) from None
        self.sent.extend(lines)

    def read_z(self, timeout: Optional[float] = None) -> float:
        """The Z the printer reports (``M114``), after every move sent before has finished."""
        wait = self.query_timeout if timeout is None else timeout
        if not self.port.is_connected():
            raise LensError("printer.z_unknown")
        try:
            reply = self.port.query("M114", wait)
        except (OSError, TimeoutError) as exc:
            raise LensError("printer.no_m114", seconds=f"{wait:g}", error=text_of(exc or "timeout")) from None
        self.sent.append("M114")
        axes = parse_m114(reply)
        if "Z" not in axes:
            raise LensError("printer.m114_no_z", reply=repr(reply.strip()[:120]))
        return axes["Z"]

    # ~~ reporting

    def probe(self) -> Dict[str, Any]:
        state: Dict[str, Any] = {"connected": bool(self.port.is_connected())}
        z: Optional[float] = None
        message = "connected"
        if state["connected"]:
            state.update(printing=bool(self.port.is_printing()), homed=self.port.is_homed())
            try:
                z = self.read_z()
            except LensError as exc:
                message = str(exc)
        else:
            message = "not connected"
        return probe_entry(self.driver, getattr(self.port, "name", "printer"), found=z is not None,
                           chip="G-code Z axis", limits=self.limits, resolution=self.resolution,
                           units=self.units, position=z, message=message, feedrate=self.feedrate,
                           backlash=self.backlash, **state)

    def close(self) -> None:
        """The port belongs to whoever made it; nothing to release here."""
