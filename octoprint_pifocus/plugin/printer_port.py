"""The printer-Z driver's G-code port, backed by OctoPrint's printer.

:class:`~octoprint_pifocus.lenses.printer_z.PrinterZLens` talks through a
:class:`~octoprint_pifocus.lenses.gcode_port.GcodePort`; here OctoPrint provides one:

* ``send(lines)`` goes through ``printer.commands`` (OctoPrint queues and sends in order);
* ``query(line, timeout)`` sends one line tagged with a unique tag and collects what the
  firmware answers to it from the ``octoprint.comm.protocol.gcode.received`` hook. The line
  is marked when it reaches the *sending* phase (``octoprint.comm.protocol.gcode.sending``):
  OctoPrint sends the next line only after the previous one's ``ok`` was read, and read
  lines pass the received hook before that, so everything read after the mark up to the
  next ``ok`` is the reply (Marlin: ``X:.. Y:.. Z:..`` then ``ok``; the virtual printer
  puts both on one ``ok`` line);
* homing and positioning modes are tracked from the ``octoprint.comm.protocol.gcode.sent``
  hook: ``G28`` (all axes, or with Z) since the printer connected means homed; ``G90``,
  ``G91``, ``M82``, ``M83`` update :meth:`positioning`. Both are forgotten when the printer
  disconnects and when lines come from a new connection (OctoPrint makes a new comm object
  for each; the Connected event itself arrives asynchronously, possibly after a ``G28``).

Hooks run on OctoPrint's serial threads for every line, so they only compare and set.
"""
from __future__ import annotations

import itertools
import re
import threading
from typing import List, Optional

from ..lenses.gcode_port import Positioning, track_positioning

#: Tags on every line PiFocus sends, so logs and other plugins can tell them apart.
TAGS = frozenset({"source:plugin", "plugin:pifocus"})

_AXES = re.compile(r"\b([XYZ])", re.IGNORECASE)


class _Waiter:
    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.sent = False
        self.sending = threading.Event()
        self.lines: List[str] = []
        self.done = threading.Event()
        self.error: Optional[str] = None


class OctoPrintGcodePort:
    """A :class:`~octoprint_pifocus.lenses.gcode_port.GcodePort` over OctoPrint's printer."""

    name = "OctoPrint's printer"

    def __init__(self, printer) -> None:
        self._printer = printer
        self._query_lock = threading.Lock()
        self._waiter: Optional[_Waiter] = None
        self._ids = itertools.count(1)
        self._homed = False
        self._positioning: Optional[Positioning] = None
        self._comm = None
        #: After homing, OctoPrint's currentZ is stale until an absolute Z move.
        self._z_stale = False

    # ~~ GcodePort

    def send(self, lines: List[str]) -> None:
        if not self.is_connected():
            raise OSError("the printer is not connected")
        self._printer.commands(list(lines), tags=set(TAGS))

    def query(self, line: str, timeout: float, queue_timeout: Optional[float] = None) -> str:
        """Send ``line`` and return the firmware's reply, up to and including its ``ok``.

        ``timeout`` counts from when OctoPrint sends the line; ``queue_timeout`` (default: the
        same) is how long it may wait in OctoPrint's queue first, e.g. behind an ``M190``.
        """
        with self._query_lock:
            if not self.is_connected():
                raise OSError("the printer is not connected")
            waiter = _Waiter(f"plugin:pifocus:query:{next(self._ids)}")
            self._waiter = waiter
            try:
                self._printer.commands([line], tags=set(TAGS) | {waiter.tag})
                waited = queue_timeout if queue_timeout is not None else timeout
                if not waiter.sending.wait(waited) and not waiter.done.is_set():
                    raise TimeoutError(f"{line} still waits in OctoPrint's queue after {waited:g} s")
                if not waiter.done.wait(timeout):
                    raise TimeoutError(f"no reply to {line} within {timeout:g} s")
                if waiter.error:
                    raise OSError(waiter.error)
                return "\n".join(waiter.lines)
            finally:
                self._waiter = None

    def is_connected(self) -> bool:
        return self._printer is not None and bool(self._printer.is_operational())

    def is_printing(self) -> bool:
        """A job is running or paused (resuming a paused job would continue from a moved Z)."""
        printer = self._printer
        return printer is not None and bool(printer.is_printing() or printer.is_paused() or printer.is_pausing()
                    or printer.is_cancelling())

    def is_homed(self) -> Optional[bool]:
        return self._homed

    def positioning(self) -> Optional[Positioning]:
        return self._positioning

    # ~~ beyond the protocol

    def wait_idle(self, timeout: float, queue_timeout: float = 1800.0) -> None:
        """Return once the printer finished every move sent so far (``M400``'s ``ok``).

        The ``M400`` may first wait behind a long command (a heat-up): ``queue_timeout``.
        """
        self.query("M400", timeout, queue_timeout)

    def current_z(self) -> Optional[float]:
        """The Z OctoPrint last sent (no printer round trip), None while unknown."""
        if self._z_stale:
            return None
        try:
            value = self._printer.get_current_data().get("currentZ")
        except Exception:  # no printer, or no data yet
            return None
        return None if value is None else float(value)

    def reset(self, reason: str = "the printer disconnected") -> None:
        """Forget homing and modes (the printer disconnected); fail a pending query."""
        self._homed = False
        self._positioning = None
        waiter = self._waiter
        if waiter is not None:
            waiter.error = reason
            waiter.done.set()
            waiter.sending.set()

    # ~~ hooks

    def on_gcode_sending(self, comm, phase, cmd, cmd_type, gcode, subcode=None, tags=None, *args, **kwargs):
        waiter = self._waiter
        if waiter is not None and tags and waiter.tag in tags:
            waiter.sent = True
            waiter.sending.set()
        return None

    def on_gcode_sent(self, comm, phase, cmd, cmd_type, gcode, subcode=None, tags=None, *args, **kwargs):
        if comm is not self._comm:
            # OctoPrint makes a new comm object per connection: a new connection knows nothing.
            self._comm = comm
            self._homed = False
            self._positioning = None
            self._z_stale = True
        if gcode == "G28":
            axes = {a.upper() for a in _AXES.findall(cmd.split(";", 1)[0][3:])}
            if not axes or "Z" in axes:
                self._homed = True
                self._z_stale = True  # OctoPrint's currentZ does not follow homing
        elif gcode in ("G0", "G1") and self._z_stale and "Z" in cmd.split(";", 1)[0].upper():
            if self._positioning is None or not self._positioning.relative:
                self._z_stale = False
        elif gcode in ("G90", "G91", "M82", "M83"):
            self._positioning = track_positioning(cmd, self._positioning)
        return None

    def on_gcode_received(self, comm, line, *args, **kwargs):
        waiter = self._waiter
        if waiter is not None and waiter.sent and not waiter.done.is_set():
            waiter.lines.append(line)
            if line.lstrip().lower().startswith("ok"):
                waiter.done.set()
        return line
