"""A focus device's jobs: one lens operation at a time, and printer Z shared across devices.

Every lens operation (a move, an autofocus, a restore, a held print's action) is a
:class:`Job`; a device runs one at a time and refuses a second (:class:`~.conflicts.Busy`, HTTP
409), or waits for the running one when a held print asks. Devices run in parallel, except on
what they share: a printer-Z job also takes the registry's Z gate, so the second device is
refused with the name of the one that holds Z. This module also knows when printer-Z moves are
allowed at all (connected, homed, no print running unless it is held for PiFocus), and keeps the
device's stop (disabled, uninstalled, OctoPrint shutting down): once stopped nothing new starts.
"""
from __future__ import annotations

import contextlib
import threading
import time
from typing import Any, Callable, Dict, Iterator, Optional

from flask_babel import gettext

from ...lenses.printer_z import PrinterZLens
from ...messages import CATALOGUE, Message, remember
from .conflicts import Busy, Unavailable, ZBlocked

#: How long a held print waits for a running job (e.g. a manual autofocus) to end.
HOLD_WAIT = 300.0
#: How long :meth:`FocusDevice.shutdown <.device.FocusDevice.shutdown>` waits for the running job
#: (an autofocus going back to its start) before it closes the lens under it.
SHUTDOWN_WAIT = 10.0
#: How long a held print waits for the printer to finish its moves before focusing.
IDLE_TIMEOUT = 120.0


class Job:
    """One lens operation; ``cancel`` asks it to stop, ``done`` is set when it ended.

    A printer-Z job notes its lens and the Z before its first move (``lens``, ``start``):
    a print starting meanwhile, or a held print's action, puts Z back there.
    ``cancel_reason`` says who asked it to stop ("user", "print started", ...).
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.cancel = threading.Event()
        self.cancel_reason: Optional[str] = None
        self.done = threading.Event()
        self.started = time.monotonic()
        self.lens: Optional[PrinterZLens] = None
        self.start: Optional[float] = None
        #: True when the job holds the printer Z shared by the devices (the registry's Z gate).
        self.z = False
        #: Set when a print started while this job ran (it then moves only under that print's hold).
        self.print_started = False

    def stop(self, reason: str) -> None:
        if not self.cancel.is_set():
            self.cancel_reason = reason
        self.cancel.set()


def job_name(kind: str) -> Any:
    """What a job of ``kind`` is doing, as a refusal tells the user (a message, translated
    where it is read)."""
    code = "job." + kind
    return Message(code) if code in CATALOGUE else kind


def z_held_message(holder) -> str:
    """The refusal while ``holder`` (another device) holds printer Z."""
    return remember(Message("device.z_held", name=repr(holder.name), id=holder.id))


class JobSlot:
    """The one job of ``owner`` (its device). ``z_gate`` is the registry's
    (:class:`..devices.ZGate`), None for a device on its own; ``config()`` gives the device's
    checked flat settings, ``port`` is the printer's G-code port."""

    def __init__(self, owner: Any, config: Callable[[], Dict[str, Any]], port, z_gate=None) -> None:
        self._owner = owner
        self._config = config
        self._port = port
        self._z_gate = z_gate
        self._lock = threading.RLock()
        self._job: Optional[Job] = None
        #: True while a print is held for PiFocus: printer-Z moves are allowed then.
        self._print_held = False
        #: Why the device stopped (disabled, uninstalled, OctoPrint shutting down), as users read
        #: it; None while it runs. Once stopped, nothing opens the lens or starts a job.
        self._stopped: Optional[str] = None

    @property
    def current(self) -> Optional[Job]:
        """The running job, or None."""
        return self._job

    @property
    def print_held(self) -> bool:
        return self._print_held

    @property
    def stopped(self) -> Optional[str]:
        """Why the device stopped, or None while it runs."""
        return self._stopped

    def _uses_z(self) -> bool:
        return self._z_gate is not None and self._config()["driver"] == "printer-z"

    # ~~ one job at a time

    def claim(self, kind: str, wait: float = 0.0) -> Job:
        """The device's one job; with printer Z also the Z shared by all devices. Waits up to
        ``wait`` s for a running job (or another device's Z job) to end, then :class:`Busy`."""
        deadline = time.monotonic() + wait
        while True:
            holder = None
            with self._lock:
                if self._stopped is not None:
                    raise Unavailable(self._stopped)
                current = self._job
                if current is None:
                    holder = self._z_gate.acquire(self._owner) if self._uses_z() else None
                    if holder is None:
                        job = Job(kind)
                        job.z = self._uses_z()
                        self._job = job
                        return job
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                if holder is not None:
                    raise Busy(z_held_message(holder))
                raise Busy(Message("device.busy", what=job_name(current.kind)))
            if current is not None:
                current.done.wait(min(0.5, remaining))
            else:
                time.sleep(min(0.2, remaining))

    def take_z(self, job: Job) -> None:
        """Hold the printer shared by the devices for ``job`` too, whatever the lens (a focus
        map calibration moves the printer): :class:`Busy` while another device holds it."""
        if job.z or self._z_gate is None:
            return
        holder = self._z_gate.acquire(self._owner)
        if holder is not None:
            raise Busy(z_held_message(holder))
        job.z = True

    def release(self, job: Job) -> None:
        """``job`` ended: the device (and Z, if it held it) is free."""
        with self._lock:
            if self._job is job:
                self._job = None
        if job.z:
            self._z_gate.release(self._owner)
        job.done.set()

    @contextlib.contextmanager
    def scope(self, kind: str, wait: float = 0.0) -> Iterator[Job]:
        """A job claimed for the ``with`` block and released after it."""
        job = self.claim(kind, wait)
        try:
            yield job
        finally:
            self.release(job)

    @contextlib.contextmanager
    def held(self, held: bool) -> Iterator[None]:
        """While ``held``, a print is on hold for this device: printer-Z moves are allowed."""
        self._print_held = held
        try:
            yield
        finally:
            self._print_held = False

    def cancel(self, reason: str = "user") -> bool:
        """Ask the running job to stop; False when nothing runs."""
        job = self._job
        if job is None:
            return False
        job.stop(reason)
        return True

    # ~~ printer Z

    def note_start(self, lens, job: Optional[Job] = None) -> None:
        """Before a printer-Z job's first move: note its lens and the Z it started from."""
        if not isinstance(lens, PrinterZLens):
            return
        job = job or self._job
        if job is None or job.lens is not None:
            return
        start = lens.position  # asks the printer (M114) on a fresh lens
        with self._lock:
            if job.lens is None:
                job.lens, job.start = lens, start

    def interrupt_for_print(self) -> Optional[Job]:
        """A print is starting (already on hold): cancel a printer-Z job that is not a held
        print's own, letting its lens move under that hold. The job interrupted, or None."""
        if self._config()["driver"] != "printer-z":
            return None
        with self._lock:
            job = self._job
            if job is None or job.kind == "print":
                return None
            job.print_started = True
            if job.lens is not None:
                job.lens.print_held = True
        job.stop("print started")
        return job

    def z_blocked(self) -> Optional[str]:
        """Why printer-Z moves are not allowed now, or None."""
        config = self._config()
        if config["driver"] != "printer-z":
            return None
        if not self._port.is_connected():
            return gettext("The printer is not connected: connect it in OctoPrint to focus with Z.")
        if self._port.is_printing() and not self._print_held:
            return gettext("A print is running: Z focus is only available while the print holds for "
                           "PiFocus (@PIFOCUS commands, autofocus before the print).")
        if config["printer_z"]["require_homed"] and self._port.is_homed() is not True:
            return gettext("The printer is not homed: home it (G28) first, or turn off "
                           "'require homed' in PiFocus's printer Z settings.")
        holder = self._z_gate.holder if self._z_gate is not None else None
        if holder is not None and holder is not self._owner:
            return z_held_message(holder)
        return None

    def check_z(self) -> None:
        """:class:`ZBlocked` with the reason when printer-Z moves are not allowed now."""
        blocked = self.z_blocked()
        if blocked:
            raise ZBlocked(blocked)

    # ~~ stop and resume

    def stop(self, message: str) -> Optional[Job]:
        """Refuse every new job with ``message`` from now on; returns the running job."""
        with self._lock:
            self._stopped = message
            return self._job

    def resume(self) -> None:
        with self._lock:
            self._stopped = None
