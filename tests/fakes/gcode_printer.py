"""OctoPrint's own virtual printer, in-process, behind a G-code port.

:class:`VirtualPrinterPort` plays the part the plugin will play with OctoPrint's printer:
it writes lines to the real ``VirtualPrinter`` (the serial stand-in behind OctoPrint's
``VIRTUAL`` port), reads replies up to ``ok``, and tracks the state OctoPrint would know
(connected, printing, homed after G28, the positioning modes as lines are sent).

``received`` is the printer's own log of what arrived on its serial line, taken from the
virtual printer's serial logger: a test asserts on what really reached the printer.

No global OctoPrint state is touched: the settings are a private ``Settings`` in a temp
folder, and the plugin-manager lookup the constructor makes (for custom-action hooks) is
answered with "no hooks" while it is built.
"""
from __future__ import annotations

import logging
import threading
import time
import types
from typing import List, Optional

from octoprint_pifocus.lenses.gcode_port import Positioning, track_positioning

SERIAL_LOGGER = "octoprint.plugins.virtual_printer.VirtualPrinter.serial"


class _Received(logging.Handler):
    """Collects the lines the virtual printer logs as received (``<<< line``)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: List[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("<<< "):
            self.lines.extend(line.strip() for line in message[4:].splitlines() if line.strip())


def start_virtual_printer(basedir: str):
    """A running ``VirtualPrinter`` and the handler that logs what it receives."""
    from octoprint.plugin import PluginSettings
    from octoprint.plugins.virtual_printer import VirtualPrinterPlugin, virtual
    from octoprint.settings import Settings

    settings = PluginSettings(Settings(basedir=basedir), "virtual_printer",
                              defaults=VirtualPrinterPlugin().get_settings_defaults())
    received = _Received()
    lookup = virtual.plugin_manager
    virtual.plugin_manager = lambda: types.SimpleNamespace(get_hooks=lambda name: {})
    try:
        printer = virtual.VirtualPrinter(settings, None, data_folder=basedir, seriallog_handler=received,
                                         read_timeout=0.2)
    finally:
        virtual.plugin_manager = lookup
    return printer, received


class VirtualPrinterPort:
    """A :class:`~octoprint_pifocus.lenses.gcode_port.GcodePort` over a ``VirtualPrinter``."""

    name = "VIRTUAL"

    def __init__(self, printer) -> None:
        self.printer = printer
        self.connected = True
        self.printing = False
        self.homed: Optional[bool] = None
        self.modes: Optional[Positioning] = None
        self.track_modes = True
        self._lock = threading.Lock()
        self._read_handshake()

    def _read_handshake(self) -> None:
        """The virtual printer greets with "start"; drain it so replies line up."""
        self._exchange("M110 N0", timeout=5.0)

    def _exchange(self, line: str, timeout: float) -> str:
        with self._lock:
            self.printer.write((line + "\n").encode())
            if line.upper().startswith("G28"):
                self.homed = True
            if self.track_modes:
                self.modes = track_positioning(line, self.modes)
            reply: List[str] = []
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                text = self.printer.readline().decode("utf-8", "replace").strip()
                if not text or text == "wait" or text.startswith("echo:busy"):
                    continue
                reply.append(text)
                if text.startswith("ok"):
                    return "\n".join(reply)
            raise TimeoutError(f"no 'ok' for {line!r} within {timeout} s")

    # ~~ GcodePort
    def send(self, lines: List[str]) -> None:
        for line in lines:
            self._exchange(line, timeout=30.0)

    def query(self, line: str, timeout: float) -> str:
        return self._exchange(line, timeout)

    def is_connected(self) -> bool:
        return self.connected

    def is_printing(self) -> bool:
        return self.printing

    def is_homed(self) -> Optional[bool]:
        return self.homed

    def positioning(self) -> Optional[Positioning]:
        return self.modes

    def current_z(self) -> float:
        """Where Z is (the plugin's port answers from OctoPrint's last report; this one asks)."""
        return self.z()

    # ~~ for tests
    def z(self) -> float:
        from octoprint_pifocus.lenses.gcode_port import parse_m114

        return parse_m114(self.query("M114", 5.0))["Z"]

    def close(self) -> None:
        try:
            self._exchange("M400", timeout=5.0)  # let the move buffer drain before it goes away
        finally:
            self.printer.close()


def homed_port(basedir: str, port_class=VirtualPrinterPort) -> VirtualPrinterPort:
    """A port over a fresh virtual printer, homed (G28) in absolute mode; ``received`` lists
    what reaches the printer from here on."""
    virtual, received = start_virtual_printer(basedir)
    port = port_class(virtual)
    port.send(["G28", "G90"])
    received.lines.clear()
    port.received = received.lines
    return port
