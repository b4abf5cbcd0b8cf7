"""The focus device: one lens, one camera, one job at a time, and what the UI sees.

:class:`FocusController` is one focus device (settings ``devices[]``); the registry of devices
(:mod:`.devices`) holds one per device and is what the plugin class delegates to. It knows nothing of Flask
or of OctoPrint's plugin mixins: OctoPrint's pieces come in as plain objects and callables
(the G-code port over the printer, the simulation, the webcams adapter, ``publish`` for plugin
messages, ``fire`` for events, ``persist`` for settings it manages), so every rule here can
be driven by a test or a script.

* **Lens**: built from the settings. ``simulated`` is the simulation's VCM; ``printer-z`` a
  :class:`~octoprint_pifocus.lenses.printer_z.PrinterZLens` over the plugin's G-code port,
  made afresh for every operation (it holds no hardware, and a fresh one asks the printer
  where Z is instead of trusting a position someone may have jogged away from); the
  hardware drivers (``i2c``, ``v4l2``, ``camera-streamer``) are opened once and reopened
  when their settings change.
* **Camera**: an OctoPrint webcam through its provider (PiFocus's simulated webcam is
  always read in-process), the webcam's MJPEG stream, or a camera URL, with the settle
  time and discard count from the settings.
* **Jobs**: one lens operation at a time (move, autofocus, restore, a held print's
  action). An autofocus runs in a background thread; a second one is refused
  (:class:`Busy`, HTTP 409). Progress, results and status go to every browser.
* **Memory**: presets (per driver, since positions are in the driver's units) and the
  last position per driver, saved to the settings so they survive restarts.
* **Identity**: ``id`` and ``name`` from the settings; every push and event carries them
  (``device``, ``device_name``). A printer-Z job also takes the registry's Z gate: one
  printer-Z job at a time across devices.
"""
from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from flask_babel import gettext

from ..errors import CameraError, LensError, MoveRefused, PiFocusError
from ..focus import autofocus
from ..focus.search import AutofocusResult
from ..lenses import open_lens
from ..lenses.base import describe, format_number, nudge_target, probe_entry, snap
from ..lenses.printer_z import PrinterZLens
from ..redact import mask_url
from ..sources import open_source
from .webcams import first_stream
from . import settings as settings_rules

_logger = logging.getLogger(__name__)

#: The name of PiFocus's simulated webcam in OctoPrint's webcam list.
SIMULATED_WEBCAM = "pifocus_simulated"

#: How long a held print waits for a running job (e.g. a manual autofocus) to end.
HOLD_WAIT = 300.0
#: Seconds without moves before the last position is written to the settings.
PERSIST_DELAY = 2.0
#: How long :meth:`FocusController.shutdown` waits for the running job (an autofocus going back
#: to its start) before it closes the lens under it.
SHUTDOWN_WAIT = 10.0
#: How long a held print waits for the printer to finish its moves before focusing.
IDLE_TIMEOUT = 120.0


def driver_label(driver: str) -> str:
    """The human name of a driver, for the UI."""
    labels = {
        "simulated": gettext("simulated VCM"),
        "i2c": gettext("I2C VCM"),
        "v4l2": gettext("V4L2 focus control"),
        "camera-streamer": gettext("camera-streamer"),
        "printer-z": gettext("printer Z"),
    }
    return labels.get(driver, gettext("none"))


class Conflict(PiFocusError):
    """The request is fine but cannot be done now (HTTP 409)."""


class Busy(Conflict):
    """Another lens operation (an autofocus, a held print's action) is running."""


class Unavailable(Conflict):
    """No usable lens: none configured, the simulation off, the hardware not found..."""


class ZBlocked(Conflict):
    """Printer-Z moves are not allowed now (printing, not homed, not connected)."""


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
        #: Set when a print started while this job ran (it then moves only under that print's hold).
        self.print_started = False

    def stop(self, reason: str) -> None:
        if not self.cancel.is_set():
            self.cancel_reason = reason
        self.cancel.set()


class FocusController:
    """See the module docstring. ``config`` is a checked settings dict (:func:`settings.check`)."""

    def __init__(self, config: Dict[str, Any], *, port, simulation: Callable[[], Any],
                 simulation_problem: Callable[[], str], webcams: Callable[[], Any],
                 publish: Callable[[Dict[str, Any]], None], fire: Callable[[str, Dict[str, Any]], None],
                 persist: Callable[[str, Any], None], logger: Optional[logging.Logger] = None,
                 z_gate=None) -> None:
        self.config = config
        self.port = port
        self._simulation = simulation
        self._simulation_problem = simulation_problem
        self._webcams = webcams
        self._publish = lambda message: publish(dict(message, device=self.id, device_name=self.name))
        self._fire = lambda name, payload: fire(name, dict(payload, device=self.id, device_name=self.name))
        #: Shared by the devices of a registry (:class:`.devices.ZGate`); None: this device alone.
        self._z_gate = z_gate
        self._persist = persist
        self._logger = logger or _logger

        self._state_lock = threading.RLock()
        self._job: Optional[Job] = None
        #: True while a print is held for PiFocus: printer-Z moves are allowed then.
        self._print_held = False

        self._lens = None
        self._lens_key: Optional[str] = None
        self._lens_error: Optional[str] = None
        self._open_lock = threading.Lock()

        self._presets: List[Dict[str, Any]] = list(config.get("presets") or [])
        self._last: Dict[str, Any] = dict(config.get("last_position") or {})
        self._persist_timer: Optional[threading.Timer] = None
        #: Why PiFocus stopped (disabled, uninstalled, OctoPrint shutting down), as users read it;
        #: None while it runs. Once stopped, nothing opens the lens or starts a thread or timer.
        self._stopped: Optional[str] = None

        self._curve: List[List[float]] = []
        self._phase: Optional[str] = None
        self._progress = 0.0
        self._last_result: Optional[Dict[str, Any]] = None

    # ~~ configuration

    @property
    def driver(self) -> str:
        return self.config["driver"]

    @property
    def id(self) -> str:
        return self.config.get("id") or settings_rules.FIRST_DEVICE_ID

    @property
    def name(self) -> str:
        return self.config.get("name") or settings_rules.FIRST_DEVICE_NAME

    def configure(self, config: Dict[str, Any]) -> None:
        """New checked settings; the lens is reopened on next use if its options changed.

        After :meth:`shutdown` the settings are only noted: opening hardware waits for
        :meth:`resume`."""
        with self._state_lock:
            previous = getattr(self, "config", None)
            self.config = config
            if previous is not None and previous.get("driver") != config.get("driver"):
                # A curve in another driver's units would only mislead.
                self._curve, self._last_result = [], None
            if self._stopped is not None:
                return
        if self._lens is not None and self._lens_key != self._hardware_key():
            self._drop_lens()
        self._lens_error = None
        self.publish_status()
        if self._hardware_key() is not None and self._lens is None:
            # Open the new hardware lens now, so the status soon says whether it works.
            threading.Thread(target=self._open_and_publish, name="pifocus-open-lens", daemon=True).start()

    def _open_and_publish(self) -> None:
        self.open_lens()
        self.publish_status()

    def _hardware_key(self) -> Optional[str]:
        driver = self.driver
        section = {"i2c": "i2c", "v4l2": "v4l2", "camera-streamer": "camera_streamer"}.get(driver)
        return None if section is None else f"{driver}:{sorted(self.config[section].items())!r}"

    def _drop_lens(self) -> None:
        with self._open_lock:
            lens, self._lens, self._lens_key = self._lens, None, None
        if lens is not None:
            try:
                lens.close()
            except Exception:  # closing a lens that already failed must not stop a reconfigure
                self._logger.exception("Closing the lens failed")

    def open_lens(self) -> None:
        """Open the hardware lens now (in the background at start-up), noting any error."""
        try:
            self.lens()
        except Conflict:
            pass

    # ~~ the lens

    def lens(self):
        """The lens for the next operation; :class:`Unavailable` with the reason otherwise."""
        stopped = self._stopped
        if stopped is not None:
            raise Unavailable(stopped)
        driver = self.driver
        if driver == "":
            raise Unavailable(gettext("No lens driver is configured: run the set-up (the button in the PiFocus "
                                      "sidebar, or Run set-up in Settings > PiFocus)."))
        if driver == "simulated":
            simulation = self._simulation()
            if simulation is None:
                raise Unavailable(self._simulation_problem())
            if simulation.mode != "vcm":
                raise Unavailable(gettext(
                    "The simulated camera follows the printer's Z (simulation lens 'printer_z'): "
                    "choose the printer-Z driver to focus it, or set the simulation lens to 'vcm'."))
            return simulation.lens
        if driver == "printer-z":
            z = self.config["printer_z"]
            lens = PrinterZLens(self.port, window=(z["min"], z["max"]), feedrate=z["feedrate"],
                                resolution=z["resolution"], backlash=z["backlash"],
                                require_homed=z["require_homed"])
            lens.print_held = self._print_held
            return lens
        key = self._hardware_key()
        with self._open_lock:
            if self._lens is not None and self._lens_key == key:
                return self._lens
            try:
                lens = self._open_hardware(driver)
            except (PiFocusError, ValueError, OSError) as exc:
                self._lens_error = str(exc)
                self._logger.warning("Opening the %s lens failed: %s", driver, exc)
                raise Unavailable(str(exc)) from None
            self._lens, self._lens_key, self._lens_error = lens, key, None
            self._logger.info("Lens opened: %s", describe(lens, with_range=True))
            return lens

    def _open_hardware(self, driver: str):
        if driver == "i2c":
            o = self.config["i2c"]
            return open_lens("i2c", bus=o["bus"], address=o["address"], chip=o["chip"], force=o["force"])
        if driver == "v4l2":
            return open_lens("v4l2", device=self.config["v4l2"]["device"] or None)
        o = self.config["camera_streamer"]
        return open_lens("camera-streamer", url=o["url"], device=o["device"] or None,
                         limits=(o["min"], o["max"]))

    def _peek(self) -> Tuple[Any, Optional[str]]:
        """The lens and the reason it is unusable, without opening hardware (for the status)."""
        if self.driver in ("i2c", "v4l2", "camera-streamer"):
            if self._lens is not None and self._lens_key == self._hardware_key():
                return self._lens, None
            return None, self._lens_error or gettext("Opening the lens...")
        try:
            return self.lens(), None
        except Conflict as exc:
            return None, str(exc)

    def z_blocked(self) -> Optional[str]:
        """Why printer-Z moves are not allowed now, or None."""
        if self.driver != "printer-z":
            return None
        if not self.port.is_connected():
            return gettext("The printer is not connected: connect it in OctoPrint to focus with Z.")
        if self.port.is_printing() and not self._print_held:
            return gettext("A print is running: Z focus is only available while the print holds for "
                           "PiFocus (@PIFOCUS commands, autofocus before the print).")
        if self.config["printer_z"]["require_homed"] and self.port.is_homed() is not True:
            return gettext("The printer is not homed: home it (G28) first, or turn off "
                           "'require homed' in PiFocus's printer Z settings.")
        holder = self._z_gate.holder if self._z_gate is not None else None
        if holder is not None and holder is not self:
            return self._z_held_message(holder)
        return None

    @staticmethod
    def _z_held_message(holder: "FocusController") -> str:
        return gettext("Printer Z is in use by the focus device %(name)s (%(id)s); try again when it is done.",
                       name=repr(holder.name), id=holder.id)

    def _check_z(self) -> None:
        blocked = self.z_blocked()
        if blocked:
            raise ZBlocked(blocked)

    def _position(self, lens) -> Optional[float]:
        """The lens position as the UI shows it (no printer round trip), None if unknown."""
        if isinstance(lens, PrinterZLens):
            return self.port.current_z()
        if lens is None or not getattr(lens, "position_known", True):
            return None
        return lens.position

    @staticmethod
    def _check_range(lens, value: float) -> float:
        low, high = lens.limits
        if not low <= value <= high:
            units = getattr(lens, "units", "")
            raise ValueError(gettext(
                "Position %(position)s is outside the lens range %(low)s..%(high)s %(units)s; nothing was moved.",
                position=format_number(value), low=format_number(low), high=format_number(high), units=units))
        resolution = float(getattr(lens, "resolution", 0) or 0)
        if resolution > 0:
            value = min(high, max(low, snap(value, resolution, origin=low)))
        if isinstance(low, int) and isinstance(high, int) and float(value).is_integer():
            return int(value)
        return value

    # ~~ jobs

    @property
    def busy(self) -> bool:
        return self._job is not None

    def _claim(self, kind: str, wait: float = 0.0) -> Job:
        """The device's one job; with printer Z also the Z shared by all devices."""
        deadline = time.monotonic() + wait
        while True:
            holder = None
            with self._state_lock:
                if self._stopped is not None:
                    raise Unavailable(self._stopped)
                current = self._job
                if current is None:
                    holder = self._z_gate.acquire(self) if self._uses_z() else None
                    if holder is None:
                        job = Job(kind)
                        job.z = self._uses_z()
                        self._job = job
                        return job
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                if holder is not None:
                    raise Busy(self._z_held_message(holder))
                raise Busy(gettext("PiFocus is busy (%(what)s); try again when it is done.",
                                   what=_job_name(current.kind)))
            if current is not None:
                current.done.wait(min(0.5, remaining))
            else:
                time.sleep(min(0.2, remaining))

    def _uses_z(self) -> bool:
        return self._z_gate is not None and self.driver == "printer-z"

    def _release(self, job: Job) -> None:
        with self._state_lock:
            if self._job is job:
                self._job = None
        if getattr(job, "z", False):
            self._z_gate.release(self)
        job.done.set()

    @contextlib.contextmanager
    def _job_scope(self, kind: str, wait: float = 0.0) -> Iterator[Job]:
        job = self._claim(kind, wait)
        try:
            yield job
        finally:
            self._release(job)

    def cancel(self, reason: str = "user") -> bool:
        """Ask the running job to stop; False when nothing runs. ``reason``: who asks ("user"
        for the API's cancel; a held print's action cancelled by a user is not a failure)."""
        job = self._job
        if job is None:
            return False
        job.stop(reason)
        return True

    def _note_start(self, lens, job: Optional[Job] = None) -> None:
        """Before a printer-Z job's first move: note its lens and the Z it started from."""
        if not isinstance(lens, PrinterZLens):
            return
        job = job or self._job
        if job is None or job.lens is not None:
            return
        start = lens.position  # asks the printer (M114) on a fresh lens
        with self._state_lock:
            if job.lens is None:
                job.lens, job.start = lens, start

    def print_starting(self) -> Optional[Job]:
        """A print is starting and holds before its first line; the job it interrupts, or None.

        Called by :class:`~.automation.PrintAutomation` with the print already on hold: a
        printer-Z job that is not a held print's own (an API autofocus or move, a @PIFOCUS
        line from the terminal) is cancelled, and its lens may move under that hold, so an
        autofocus goes back to its start. :meth:`return_after_print_start` then puts Z where
        the job found it before the hold is released.
        """
        if self.driver != "printer-z":
            return None
        with self._state_lock:
            job = self._job
            if job is None or job.kind == "print":
                return None
            job.print_started = True
            if job.lens is not None:
                job.lens.print_held = True
        job.stop("print started")
        return job

    def return_after_print_start(self, job: Job, wait: float = HOLD_WAIT) -> Optional[float]:
        """Inside the hold a starting print took: wait for ``job`` to end, then move Z back to
        where it started. Returns the Z restored, or None when nothing had to move."""
        with self.print_hold(held=True, wait=wait):
            return self.return_z(job.start, "print started: back to the Z before PiFocus moved")

    def return_z(self, start: Optional[float], cause: str) -> Optional[float]:
        """Inside a held print's job: printer Z back to ``start`` (a Z the printer reported before
        PiFocus moved it, maybe outside the window). None when it is there already."""
        if start is None or self.driver != "printer-z":
            return None
        lens = self.lens()
        if abs(lens.position - start) <= lens.resolution / 2:
            return None
        started = time.monotonic()
        lens.restore_z(start)
        self._logger.info("Printer Z back at %s (%s)", start, cause)
        self._moved(lens, cause, time.monotonic() - started)
        return start

    @contextlib.contextmanager
    def print_hold(self, held: bool = True, wait: float = HOLD_WAIT) -> Iterator[Job]:
        """The scope of a ``@PIFOCUS`` action: one job (waiting for a running one to end) and,
        while ``held`` (the print is on hold for it), printer-Z moves allowed in it."""
        with self._job_scope("print" if held else "gcode", wait) as job:
            self._print_held = held
            self.publish_status()
            try:
                yield job
            finally:
                self._print_held = False

    # ~~ moves

    def move(self, position: float, cause: str = "move") -> Dict[str, Any]:
        return self._by_hand(self.do_move, position, cause)

    def nudge(self, delta: float, cause: str = "nudge") -> Dict[str, Any]:
        return self._by_hand(self.do_nudge, delta, cause)

    def _by_hand(self, action: Callable[[float, str], None], value: float, cause: str) -> Dict[str, Any]:
        """A move asked for through the API: its own job (409 while another runs), then the status."""
        with self._job_scope("move"):
            action(value, cause)
        self.publish_status()
        return self.status()

    def do_move(self, position: float, cause: str) -> None:
        """Move inside a job already claimed (API move, preset, held print)."""
        lens = self.lens()
        value = self._check_range(lens, position)
        self._check_z()
        self._move(lens, value, cause)

    def do_nudge(self, delta: float, cause: str) -> None:
        lens = self.lens()
        low, high = lens.limits
        if abs(delta) > high - low:
            raise ValueError(gettext("A nudge of %(delta)s is larger than the whole lens range %(low)s..%(high)s.",
                                     delta=format_number(delta), low=format_number(low), high=format_number(high)))
        self._check_z()
        target, _clamped = nudge_target(lens, delta)
        self._move(lens, target, cause)

    def _move(self, lens, target, cause: str) -> None:
        self._note_start(lens)
        started = time.monotonic()
        lens.move_to(target)
        self._moved(lens, cause, time.monotonic() - started)

    def _moved(self, lens, cause: str, duration: float, score: Optional[float] = None, frames: int = 0) -> None:
        position = lens.position
        self.remember(position)
        self._event("focus_changed", position, score, frames, duration, cause)

    def remember(self, position: Any) -> None:
        """Note ``position`` as the driver's last one; written to the settings shortly after."""
        if position is None:
            return
        with self._state_lock:
            self._last[self.driver] = settings_rules.tidy(float(position))
            stopped = self._stopped is not None
        if stopped:
            # A job ending after shutdown() stopped waiting for it: no timer may outlive PiFocus.
            self.flush()
            return
        with self._state_lock:
            if self._persist_timer is not None:
                self._persist_timer.cancel()
            self._persist_timer = threading.Timer(PERSIST_DELAY, self.flush)
            self._persist_timer.daemon = True
            self._persist_timer.start()

    def flush(self) -> None:
        """Write the last positions to the settings now."""
        with self._state_lock:
            if self._persist_timer is not None:
                self._persist_timer.cancel()
                self._persist_timer = None
            last = dict(self._last)
        self._persist("last_position", last)

    def last_position(self, driver: Optional[str] = None) -> Optional[float]:
        return self._last.get(driver or self.driver)

    # ~~ autofocus

    def start_autofocus(self, refine: bool = False, cause: str = "autofocus") -> Dict[str, Any]:
        """Start an autofocus in the background; :class:`Busy` while a job runs."""
        job = self._claim("autofocus")
        try:
            lens = self.lens()
            self._check_z()
            self._search_window(lens, refine)
            camera = self.camera()
        except BaseException:
            self._release(job)
            raise
        self._begin_run()
        thread = threading.Thread(target=self._autofocus_thread, args=(job, lens, camera, refine, cause),
                                  name="pifocus-autofocus", daemon=True)
        thread.start()
        self.publish_status()
        return self.status()

    def _autofocus_thread(self, job: Job, lens, camera, refine: bool, cause: str) -> None:
        try:
            self.run_autofocus(job, lens, camera, refine, cause)
        except Exception:
            self._logger.exception("Autofocus crashed")
        finally:
            _close(camera)
            self._release(job)
            self.publish_status()

    def autofocus_now(self, job: Job, refine: bool, cause: str) -> AutofocusResult:
        """An autofocus inside a job already claimed (a held print), waiting for the result."""
        lens = self.lens()
        self._check_z()
        camera = self.camera()
        self._begin_run()
        try:
            return self.run_autofocus(job, lens, camera, refine, cause)
        finally:
            _close(camera)

    def _begin_run(self) -> None:
        with self._state_lock:
            self._curve = []
            self._phase = "coarse"
            self._progress = 0.0

    def _search_window(self, lens, refine: bool) -> Optional[float]:
        """The refine window (half-width) for ``lens``, None for a full search; :class:`Conflict`
        when ``search.window`` is below three lens steps (a search that cannot move)."""
        search = self.config["search"]
        if not (refine or search["range"] == "window"):
            return None
        window = float(search["window"])
        resolution = float(getattr(lens, "resolution", 0) or 0)
        if resolution > 0 and window < 3 * resolution:
            raise Conflict(gettext(
                "The search window (search.window) is %(window)s %(units)s, less than three steps of this "
                "lens (%(smallest)s %(units)s): set a larger window in Settings > PiFocus.",
                window=format_number(window), smallest=format_number(3 * resolution),
                units=getattr(lens, "units", "")))
        low, high = lens.limits
        return min(window, float(high - low))

    def run_autofocus(self, job: Job, lens, camera, refine: bool, cause: str) -> AutofocusResult:
        windowed = refine or self.config["search"]["range"] == "window"
        window = float(self.config["search"]["window"]) if windowed else None
        self._logger.info("Autofocus started (%s, %s) on %r with %s", cause,
                          "window %g" % window if windowed else "full range", describe(lens),
                          getattr(camera, "name", camera))

        def progress(fraction: float, sample) -> None:
            point = [sample.position, float(sample.score)]
            with self._state_lock:
                self._curve.append(point)
                self._phase = sample.phase
                self._progress = float(fraction)
            self._publish({"type": "progress", "fraction": round(float(fraction), 4),
                           "phase": sample.phase, "sample": point})

        started = time.monotonic()
        try:
            window = self._search_window(lens, refine)
            self._note_start(lens, job)
            self._into_limits(lens)
            result = autofocus(lens, camera, roi=self.config["roi"], measure=self.config["measure"],
                               progress=progress, should_cancel=job.cancel.is_set,
                               refine=windowed, window=window)
        except (PiFocusError, ValueError) as exc:
            # The search reports failures in its result; this is the lens failing before it
            # started (e.g. the printer does not answer M114).
            result = AutofocusResult(position=self._position(lens), score=0.0, found=False,
                                     message=gettext("Autofocus could not start: %(error)s", error=str(exc)),
                                     duration=time.monotonic() - started,
                                     mode="refine" if windowed else "full")
        data = result.to_dict()
        with self._state_lock:
            self._last_result = data
            self._curve = [[p, float(s)] for p, s in result.samples]
            self._phase = None
            self._progress = 1.0
        self._publish({"type": "result", "result": data})
        if result.found:
            self._logger.info("Autofocus done (%s): position %s, score %.4g, %d frames, %.1f s",
                              cause, result.position, result.score, result.captures, result.duration)
            self._event("autofocus_done", result.position, result.score, result.captures, result.duration, "")
        else:
            self._logger.warning("Autofocus failed (%s): %s", cause, result.message)
            self._event("autofocus_failed", result.position, result.score, result.captures,
                        result.duration, result.message)
        if result.position is not None and result.position != result.start_position:
            self._moved(lens, cause, result.duration, result.score, result.captures)
        elif result.found:
            self.remember(result.position)
        return result

    def _into_limits(self, lens) -> None:
        """A lens outside its limits (Z below the window after homing) first goes to the nearest
        end: the search starts from where the lens is and returns there when it fails."""
        low, high = lens.limits
        position = lens.position
        if not low <= position <= high:
            target = low if position < low else high
            self._logger.info("The lens is at %s, outside %s..%s: moving to %s first", position, low, high, target)
            lens.move_to(target)

    # ~~ camera

    def camera(self, fresh: bool = False):
        """A frame source as the settings say; ``fresh``: no settle wait (one snapshot)."""
        cam = self.config["camera"]
        settle = 0.0 if fresh else float(cam["settle"])
        discard = 0 if fresh else int(cam["discard"])
        if cam["url"]:
            return open_source(cam["url"], cam["mode"], settle, discard)
        webcams = self._webcams()
        if webcams is None:
            raise CameraError(gettext("OctoPrint's webcams are not ready yet; try again in a moment."))
        name = cam["webcam"] or None
        if cam["mode"] == "stream":
            webcam = webcams.find(name)
            # PiFocus's own simulated webcam is rendered in-process: its snapshots are always fresh.
            if webcam.providerIdentifier != "pifocus":
                candidates = webcams.stream_urls(webcam)
                url = first_stream(candidates)
                if url:
                    return open_source(url, "stream", settle, discard)
                self._logger.info("Webcam %s: no stream answered at %s; using its snapshots",
                                  webcam.config.name, ", ".join(map(mask_url, candidates)) or "(no stream URL)")
        return webcams.source(name, settle=settle, discard=discard)

    def webcam_name(self) -> Optional[str]:
        """The OctoPrint webcam this device focuses (its ``camera.webcam``; none set: OctoPrint's
        snapshot webcam), so the browser can put the device's focus strip on that webcam's
        picture; None with a camera URL, or while OctoPrint has no webcam to take."""
        cam = self.config["camera"]
        if cam["url"]:
            return None
        if cam["webcam"]:
            return str(cam["webcam"])
        webcams = self._webcams()
        try:
            return str(webcams.find(None).config.name) if webcams is not None else None
        except (PiFocusError, AttributeError, LookupError, ValueError):
            return None

    def snapshot(self) -> bytes:
        """One JPEG from the configured camera (for drawing the region of interest)."""
        camera = self.camera(fresh=True)
        try:
            return camera.capture()
        finally:
            _close(camera)

    def camera_alive(self) -> bool:
        try:
            self.snapshot()
            return True
        except (PiFocusError, ValueError, OSError):
            return False

    # ~~ restore

    def restore(self, cause: str) -> Optional[float]:
        """Move the lens back to its last position (start-up, webcam restart).

        Not for printer Z: moving an axis on its own at start-up is not safe. Skipped while
        another job runs. Returns the position restored, or None.
        """
        driver = self.driver
        last = self._last.get(driver)
        if driver in ("", "printer-z") or last is None:
            return None
        try:
            job = self._claim("restore")
        except Busy:
            return None
        try:
            lens = self.lens()
            value = self._check_range(lens, last)
            started = time.monotonic()
            try:
                self._apply(lens, value)
            except LensError:
                if self._lens is None:
                    raise
                # A restarted camera can leave a stale device handle: open the lens again.
                self._drop_lens()
                lens = self.lens()
                lens.move_to(value)
            self._logger.info("Lens position %s restored (%s)", value, cause)
            self._event("focus_changed", lens.position, None, 0, time.monotonic() - started, cause)
            return value
        except (PiFocusError, ValueError) as exc:
            self._logger.warning("Restoring the lens position %s (%s) failed: %s", last, cause, exc)
            return None
        finally:
            self._release(job)
            self.publish_status()

    @staticmethod
    def _apply(lens, value) -> None:
        reapply = getattr(lens, "reapply", None)
        if callable(reapply) and getattr(lens, "position_known", True) and lens.position == value:
            if reapply() is not False:
                return
        lens.move_to(value)

    # ~~ presets

    def presets(self) -> List[Dict[str, Any]]:
        driver = self.driver
        return [{"name": p["name"], "position": p["position"]} for p in self._presets if p["driver"] == driver]

    def _find_preset(self, name: str) -> Dict[str, Any]:
        key = settings_rules.check_preset_name(name).casefold()
        for preset in self._presets:
            if preset["driver"] == self.driver and preset["name"].casefold() == key:
                return preset
        raise ValueError(gettext("There is no preset called %(name)s for the %(driver)s.",
                                 name=repr(name.strip()), driver=driver_label(self.driver)))

    def preset_save(self, name: Any, position: Optional[float] = None) -> Dict[str, Any]:
        name = settings_rules.check_preset_name(name)
        lens = self.lens()
        if position is None:
            job = self._job
            if job is not None:
                # Mid-search (or mid-move) the lens is anywhere: that is no position to keep.
                raise Busy(gettext("PiFocus is busy (%(what)s), so the lens is not at a position worth "
                                   "saving: save the preset when it is done, or give a position.",
                                   what=_job_name(job.kind)))
            position = self._position(lens)
            if position is None:
                raise Unavailable(gettext("The lens position is unknown: move the lens, then save the preset."))
        value = self._check_range(lens, position)
        driver = self.driver
        with self._state_lock:
            others = [p for p in self._presets
                      if not (p["driver"] == driver and p["name"].casefold() == name.casefold())]
            if len([p for p in others if p["driver"] == driver]) >= settings_rules.PRESETS_MAX:
                raise ValueError(gettext("At most %(count)d presets per driver; delete one first.",
                                         count=settings_rules.PRESETS_MAX))
            self._presets = others + [{"name": name, "position": settings_rules.tidy(float(value)),
                                       "driver": driver}]
            presets = list(self._presets)
        self._persist("presets", presets)
        self.publish_status()
        return self.status()

    def preset_apply(self, name: Any) -> Dict[str, Any]:
        preset = self._find_preset(name)
        return self.move(preset["position"], cause=f"preset {preset['name']}")

    def do_preset_apply(self, name: Any, cause: Optional[str] = None) -> None:
        preset = self._find_preset(name)
        self.do_move(preset["position"], cause=cause or f"preset {preset['name']}")

    def preset_delete(self, name: Any) -> Dict[str, Any]:
        preset = self._find_preset(name)
        with self._state_lock:
            self._presets = [p for p in self._presets if p is not preset]
            presets = list(self._presets)
        self._persist("presets", presets)
        self.publish_status()
        return self.status()

    # ~~ probe and test

    def probe(self, driver: Optional[str] = None) -> List[Dict[str, Any]]:
        """Probe entries (see ``lenses.base.probe_entry``) for one driver or all of them."""
        from ..lenses import i2c_vcm, v4l2
        from ..lenses.camera_streamer import CameraStreamerLens

        drivers = [driver] if driver else ["i2c", "v4l2", "camera-streamer", "printer-z", "simulated"]
        entries: List[Dict[str, Any]] = []
        for name in drivers:
            try:
                if name == "i2c":
                    o = self.config["i2c"]
                    found = i2c_vcm.scan(o["address"], "/dev", None, o["force"], o["chip"])
                    entries += found or [probe_entry("i2c", "/dev/i2c-*", found=False, message=gettext(
                        "No I2C buses (/dev/i2c-N) on this machine: enable the camera's I2C bus."))]
                elif name == "v4l2":
                    found = v4l2.scan("/dev")
                    entries += found or [probe_entry("v4l2", "/dev/video*", found=False, message=gettext(
                        "No V4L2 device with a focus_absolute control found."))]
                elif name == "camera-streamer":
                    o = self.config["camera_streamer"]
                    entries.append(CameraStreamerLens(url=o["url"], device=o["device"] or None,
                                                      limits=(o["min"], o["max"]), timeout=1.0).probe())
                elif name == "printer-z":
                    z = self.config["printer_z"]
                    entries.append(PrinterZLens(self.port, window=(z["min"], z["max"]), feedrate=z["feedrate"],
                                                resolution=z["resolution"], backlash=z["backlash"]).probe())
                elif name == "simulated":
                    entries.append(self._probe_simulation())
            except (PiFocusError, ValueError, OSError) as exc:
                entries.append(probe_entry(name, "", found=False, message=str(exc)))
        return entries

    def _probe_simulation(self) -> Dict[str, Any]:
        simulation = self._simulation()
        if simulation is None:
            usable, message = False, self._simulation_problem()
        elif simulation.mode != "vcm":
            usable, message = False, gettext("the simulated camera follows the printer's Z")
        else:
            usable, message = True, gettext("simulated lens and camera")
        return probe_entry("simulated", "PiFocus simulation", found=usable, chip="simulated VCM",
                           limits=(0, 1023), resolution=1, units="code",
                           position=simulation.lens.position if usable else None, message=message)

    def test(self) -> Dict[str, Any]:
        """Nudge the lens one small step and back; ``{"ok", "message"}``."""
        with self._job_scope("test"):
            try:
                lens = self.lens()
                self._check_z()
                self._note_start(lens)
                start = lens.position
                low, high = lens.limits
                step = max(float(getattr(lens, "resolution", 0) or 0), (high - low) * 0.02)
                if isinstance(low, int) and isinstance(high, int):
                    step = max(1, int(round(step)))
                target = start + step if start + step <= high else start - step
                lens.move_to(target)
                lens.move_to(start)
            except (PiFocusError, ValueError) as exc:
                return {"ok": False, "message": str(exc)}
        self.publish_status()
        return {"ok": True, "message": gettext(
            "%(lens)s moved from %(start)s to %(target)s and back.",
            lens=describe(lens), start=format_number(start), target=format_number(target))}

    # ~~ status, messages, events

    def status(self, permissions: Optional[Dict[str, bool]] = None) -> Dict[str, Any]:
        """The contract's status (GET /api/plugin/pifocus); never touches hardware."""
        lens, error = self._peek()
        driver = self.driver
        with self._state_lock:
            job = self._job
            body: Dict[str, Any] = {
                "driver": driver,
                "driver_name": driver_label(driver),
                "units": getattr(lens, "units", None) if lens is not None else _units(driver),
                "limits": list(lens.limits) if lens is not None else None,
                "resolution": getattr(lens, "resolution", None) if lens is not None else None,
                "position": self._position(lens) if lens is not None else None,
                "lens_ok": lens is not None,
                "lens_error": error,
                "busy": job is not None and job.kind in ("autofocus", "print", "gcode"),
                "activity": job.kind if job is not None else None,
                "phase": self._phase if job is not None else None,
                "progress": round(self._progress, 4),
                "curve": [list(p) for p in self._curve],
                "last_result": self._last_result,
                "presets": self.presets(),
                "z_blocked": self.z_blocked(),
                "permissions": permissions,
                "device": self.id,
                "device_name": self.name,
            }
        simulation = self._simulation()
        body["simulation"] = simulation.status() if simulation is not None else None
        body["webcam"] = self.webcam_name()
        return body

    def publish_status(self) -> None:
        try:
            self._publish({"type": "status", "status": self.status()})
        except Exception:  # a browser push must never break a lens operation
            self._logger.exception("Publishing the status failed")

    def _event(self, name: str, position, score, frames: int, duration: float, message: str) -> None:
        payload = {
            "position": position,
            "score": None if score is None or not math.isfinite(score) else round(float(score), 6),
            "frames": int(frames),
            "duration": round(float(duration), 3),
            "message": message,
            "driver": self.driver,
        }
        self._logger.info("Event %s: %s", name, payload)
        try:
            self._fire(name, payload)
        except Exception:
            self._logger.exception("Firing %s failed", name)

    # ~~ shutdown

    def shutdown(self, message: str = "", wait: float = SHUTDOWN_WAIT) -> None:
        """Stop for good (until :meth:`resume`): cancel the running job and wait up to ``wait``
        s for it to end, so that an autofocus's return move still has its lens, then save the
        last position and close the lens. ``message`` is what refused operations say."""
        with self._state_lock:
            self._stopped = message or gettext("PiFocus has stopped.")
            job = self._job
        self.cancel("shutdown")
        if job is not None and not job.done.wait(wait):
            self._logger.warning("The running %s did not end within %.0f s of the stop; closing the lens anyway",
                                 job.kind, wait)
        self.flush()
        self._drop_lens()

    def resume(self) -> None:
        """Run again after :meth:`shutdown` (PiFocus enabled again before OctoPrint restarted)."""
        with self._state_lock:
            self._stopped = None

    @property
    def stopped(self) -> bool:
        return self._stopped is not None


def _units(driver: str) -> Optional[str]:
    return {"simulated": "code", "i2c": "code", "v4l2": "code", "camera-streamer": "dioptre",
            "printer-z": "mm"}.get(driver)


def _job_name(kind: str) -> str:
    return {"autofocus": gettext("an autofocus is running"), "print": gettext("a print is held for focusing"),
            "gcode": gettext("a @PIFOCUS command is running"), "move": gettext("the lens is moving"), "restore": gettext("restoring the lens position"),
            "test": gettext("testing the lens")}.get(kind, kind)


def _close(camera) -> None:
    close = getattr(camera, "close", None)
    if callable(close):
        try:
            close()
        except Exception:
            _logger.exception("Closing the camera failed")


__all__ = ["FocusController", "Busy", "Conflict", "Unavailable", "ZBlocked", "Job", "SIMULATED_WEBCAM",
           "MoveRefused"]
