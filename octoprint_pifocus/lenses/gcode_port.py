"""The G-code port the printer-Z driver talks through, and the parsing it needs.

The driver knows nothing of OctoPrint: the plugin backs a :class:`GcodePort` with
OctoPrint's printer (send through ``printer.commands``, read replies through the received
hook), tests back it with OctoPrint's virtual printer, a script could back it with a serial
port. The contract:

* ``send(lines)`` queues the lines in order and returns; it does not wait for them.
* ``query(line, timeout)`` sends one line and returns the firmware's reply text to it (the
  lines up to its ``ok``); it raises ``TimeoutError`` (or ``OSError``) if none comes. The
  reply comes after everything sent before it has been processed, so ``M400`` followed by
  ``query("M114")`` returns once the move is done.
* ``is_connected()``, ``is_printing()`` and ``is_homed()`` report the printer state.
  ``is_printing()`` must be True for a paused job too: resuming would continue from the
  wrong Z. ``is_homed()`` returns None when unknown.
* Optional ``positioning()``: the current :class:`Positioning`, or None when unknown.
  Marlin cannot be asked for it, so the plugin tracks G90/G91/M82/M83 as they are sent
  (:func:`track_positioning` does the bookkeeping).
"""
from __future__ import annotations

import re
from typing import Dict, List, NamedTuple, Optional

try:  # Python >= 3.8
    from typing import Protocol, runtime_checkable
except ImportError:  # pragma: no cover
    from typing_extensions import Protocol, runtime_checkable  # type: ignore


class Positioning(NamedTuple):
    """The printer's positioning modes: XYZ relative (G91) or absolute (G90), and E.

    ``extruder_relative`` is None when unknown. In Marlin ``G90``/``G91`` set the extruder
    mode too, so a driver that sends ``G90`` must restore ``M83`` afterwards.
    """

    relative: bool = False
    extruder_relative: Optional[bool] = None


ABSOLUTE = Positioning(False, None)


@runtime_checkable
class GcodePort(Protocol):
    """How the printer-Z driver reaches the printer (see the module docstring)."""

    def send(self, lines: List[str]) -> None: ...

    def query(self, line: str, timeout: float) -> str: ...

    def is_connected(self) -> bool: ...

    def is_printing(self) -> bool: ...

    def is_homed(self) -> Optional[bool]: ...


_COMMAND = re.compile(r"^\s*(?:N\d+\s+)?([GM])0*(\d+)\b", re.IGNORECASE)


def track_positioning(line: str, current: Optional[Positioning]) -> Optional[Positioning]:
    """The positioning after ``line`` is sent, given the one before (None: unknown).

    G90/G91 set XYZ and, as Marlin does, the extruder too; M82/M83 set only the extruder.
    Other lines change nothing.
    """
    match = _COMMAND.match(line.split(";", 1)[0])
    if not match:
        return current
    code = match.group(1).upper() + match.group(2)
    if code in ("G90", "G91"):
        relative = code == "G91"
        return Positioning(relative, relative)
    if code in ("M82", "M83"):
        base = current if current is not None else Positioning(False, None)
        return Positioning(base.relative, code == "M83")
    return current


def restore_lines(before: Positioning) -> List[str]:
    """What to send after a move made in ``G90`` to give back the modes of ``before``."""
    lines = ["G91"] if before.relative else []
    if before.extruder_relative is not None and before.extruder_relative != before.relative:
        lines.append("M83" if before.extruder_relative else "M82")
    return lines


# Marlin: "X:0.00 Y:127.00 Z:145.00 E:0.00 Count X: 0 Y:10160 Z:116000"
# Klipper: "X:0.000 Y:0.000 Z:5.000 E:0.000"; OctoPrint's virtual printer puts "ok " first.
_AXIS = re.compile(r"(?<![A-Za-z])([XYZE])\s*:\s*(-?\d+(?:\.\d*)?|-?\.\d+)")


def parse_m114(reply: str) -> Dict[str, float]:
    """The axis positions in an ``M114`` reply, from the first line that has a Z.

    Only the part before ``Count`` counts: after it Marlin lists stepper counts, not mm.
    Returns ``{}`` when no line has a position.
    """
    for line in reply.splitlines():
        head = re.split(r"\bCount\b", line, maxsplit=1)[0]
        axes = {axis: float(value) for axis, value in _AXIS.findall(head)}
        if "Z" in axes:
            return axes
    return {}
