"""The focus device: one lens, one camera, one job at a time, its memory, and what the UI sees.

:class:`FocusDevice` is one focus device (settings ``devices[]``); the registry of devices
(:mod:`..devices`) holds one per device and is what the plugin class delegates to. This module
is the device's behaviour (autofocus, move, nudge, restore, presets, test, status) composed of
its parts, each in a module of its own:

* :mod:`.lens_slot`: the lens, built from the settings, opened, reopened, probed;
* :mod:`.camera_slot`: the camera, a webcam, its stream or a URL;
* :mod:`.jobs`: one job at a time, printer Z shared across devices, stop and resume;
* :mod:`.memory`: presets and last positions per driver, the last run's result and curve.

It knows nothing of Flask or of OctoPrint's plugin mixins: OctoPrint's pieces come in as plain
objects and callables (the G-code port over the printer, the simulation, the webcams adapter,
``publish`` for plugin messages, ``fire`` for events, ``persist`` for settings it manages), so
every rule here can be driven by a test or a script. Every push and event carries the device's
``id`` and ``name`` (``device``, ``device_name``).
"""
from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from flask_babel import gettext

from ...errors import LensError, PiFocusError
from ...focus.search import AutofocusResult
from ...lenses.base import describe, format_number, nudge_target
from ...messages import Message, remember, text_of
from .. import settings as settings_rules
from ..toolhead import Toolhead
from .calibration import Calibration
from .camera_slot import CameraSlot, close_camera
from .follow import DeviceFollow
from .conflicts import Busy, Conflict, Unavailable
from .drift_state import DriftState
from .jobs import HOLD_WAIT, SHUTDOWN_WAIT, Job, JobSlot, job_name
from .lens_slot import LensSlot, driver_label, driver_units
from . import timing
from .memory import DeviceMemory

_logger = logging.getLogger(__name__)


class FocusDevice:
    """See the module docstring. ``config`` is a device's checked flat settings
    (:func:`..settings.flat`); ``z_gate`` the registry's (:class:`..devices.ZGate`), None for a
    device on its own."""

    def __init__(self, config: Dict[str, Any], *, port, simulation: Callable[[], Any],
                 simulation_problem: Callable[[], str], webcams: Callable[[], Any],
                 publish: Callable[[Dict[str, Any]], None], fire: Callable[[str, Dict[str, Any]], None],
                 persist: Callable[[str, Any], None], logger: Optional[logging.Logger] = None,
                 z_gate=None, toolhead=None, profile: Callable[[], Any] = lambda: None) -> None:
        self.config = config
        self.port = port
        self._simulation = simulation
        self._publish = lambda message: publish(dict(message, device=self.id, device_name=self.name))
        self._fire = lambda name, payload: fire(name, dict(payload, device=self.id, device_name=self.name))
        self._logger = logger or _logger
        self._config_lock = threading.RLock()
        settings = lambda: self.config  # the parts read the settings in force, never a copy
        self.jobs = JobSlot(self, settings, port, z_gate)
        self.lens_slot = LensSlot(settings, port=port, simulation=simulation,
                                  simulation_problem=simulation_problem, stopped=lambda: self.jobs.stopped,
                                  print_held=lambda: self.jobs.print_held, logger=self._logger)
        self.camera_slot = CameraSlot(settings, webcams, self._logger)
        self.memory = DeviceMemory(config, persist)
        #: The drift watch's detector and trace (plugin/drift_watch.py feeds it).
        self.drift = DriftState()
        self._persist = persist
        # The focus map and its calibration job; ``profile()``: OctoPrint's printer profile.
        self.calibration = Calibration(self, port, profile=profile, persist=persist, simulation=simulation,
                                       logger=self._logger)
        # Follow focus: the lens at the focus map's value for where the toolhead is.
        self.follow = DeviceFollow(self, toolhead if toolhead is not None else Toolhead(), publish=self._publish,
                                   logger=self._logger)

    # ~~ identity and settings

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
        with self._config_lock:
            previous = self.config
            self.config = config
            if previous.get("driver") != config.get("driver"):
                self.memory.forget_run()
            if previous.get("camera") != config.get("camera"):
                self.camera_slot.keeper.retire()  # another camera, or other timing: a new stream
            if self.stopped:
                return
        open_now = self.lens_slot.reconfigured()
        self.publish_status()
        if open_now:
            # Open the new hardware lens now, so the status soon says whether it works.
            threading.Thread(target=self.open_and_publish, name="pifocus-open-lens", daemon=True).start()

    def open_lens(self) -> None:
        """Open the hardware lens now (in the background at start-up), noting any error."""
        self.lens_slot.open()

    def open_and_publish(self) -> None:
        """Open the lens and tell the browsers whether it works (a device just added or changed)."""
        self.open_lens()
        self.publish_status()

    def start_up(self, should_stop: Callable[[], bool] = lambda: False) -> None:
        """At start-up: open the lens, then move it back to its last position if the settings
        ask for that (see :meth:`restore`), unless ``should_stop()`` (PiFocus stopped meanwhile)."""
        self.open_lens()
        if not should_stop() and self.config["automation"]["restore_on_startup"]:
            self.restore("start-up")

    def lens(self):
        """The lens for the next operation; :class:`Unavailable` with the reason otherwise."""
        return self.lens_slot.lens()

    def z_blocked(self) -> Optional[str]:
        """Why printer-Z moves are not allowed now, or None."""
        return self.jobs.z_blocked()

    # ~~ jobs

    @property
    def busy(self) -> bool:
        return self.jobs.current is not None

    @property
    def job(self) -> Optional[Job]:
        """The running job, or None."""
        return self.jobs.current

    def cancel(self, reason: str = "user") -> bool:
        """Ask the running job to stop; False when nothing runs. ``reason``: who asks ("user"
        for the API's cancel; a held print's action cancelled by a user is not a failure)."""
        return self.jobs.cancel(reason)

    def print_starting(self) -> Optional[Job]:
        """A print is starting and holds before its first line; the job it interrupts, or None.

        Called by :class:`~..automation.PrintAutomation` with the print already on hold: a
        printer-Z job that is not a held print's own (an API autofocus or move, a @PIFOCUS
        line from the terminal) is cancelled, and its lens may move under that hold, so an
        autofocus goes back to its start. :meth:`return_after_print_start` then puts Z where
        the job found it before the hold is released.
        """
        return self.jobs.interrupt_for_print()

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
        with self.jobs.scope("print" if held else "gcode", wait) as job, self.jobs.held(held):
            self.publish_status()
            yield job

    # ~~ moves

    def move(self, position: float, cause: str = "move") -> Dict[str, Any]:
        return self._by_hand(self.do_move, position, cause)

    def nudge(self, delta: float, cause: str = "nudge") -> Dict[str, Any]:
        return self._by_hand(self.do_nudge, delta, cause)

    def _by_hand(self, action: Callable[[float, str], None], value: float, cause: str) -> Dict[str, Any]:
        """A move asked for through the API: its own job (409 while another runs), then the status."""
        with self.jobs.scope("move"):
            action(value, cause)
        self.publish_status()
        return self.status()

    def do_move(self, position: float, cause: str) -> None:
        """Move inside a job already claimed (API move, preset, held print)."""
        lens = self.lens()
        value = self.lens_slot.check_range(lens, position)
        self.jobs.check_z()
        self._move(lens, value, cause)

    def do_nudge(self, delta: float, cause: str) -> None:
        lens = self.lens()
        low, high = lens.limits
        if abs(delta) > high - low:
            raise ValueError(gettext("A nudge of %(delta)s is larger than the whole lens range %(low)s..%(high)s.",
                                     delta=format_number(delta), low=format_number(low), high=format_number(high)))
        self.jobs.check_z()
        target, _clamped = nudge_target(lens, delta)
        self._move(lens, target, cause)

    def _move(self, lens, target, cause: str) -> None:
        self.jobs.note_start(lens)
        started = time.monotonic()
        lens.move_to(target)
        self._moved(lens, cause, time.monotonic() - started)

    def _moved(self, lens, cause: str, duration: float, score: Optional[float] = None, frames: int = 0) -> None:
        position = lens.position
        self.remember(position)
        self._event("focus_changed", position, score, frames, duration, cause)

    def remember(self, position: Any) -> None:
        """Note ``position`` as the driver's last one; written to the settings shortly after."""
        # A job ending after shutdown() stopped waiting for it writes at once: no timer may outlive PiFocus.
        self.memory.remember(self.driver, position, stopped=self.stopped)

    def flush(self) -> None:
        """Write the last positions to the settings now."""
        self.memory.flush()

    def last_position(self, driver: Optional[str] = None) -> Optional[float]:
        return self.memory.last_position(driver or self.driver)

    # ~~ autofocus

    def start_autofocus(self, refine: bool = False, cause: str = "autofocus") -> Dict[str, Any]:
        """Start an autofocus in the background; :class:`Busy` while a job runs."""
        job = self.jobs.claim("autofocus")
        try:
            lens = self.lens()
            self.jobs.check_z()
            self._search_window(lens, refine)
            camera = self.camera(warm=True)
        except BaseException:
            self.jobs.release(job)
            raise
        self.memory.begin_run()
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
            close_camera(camera)
            self.jobs.release(job)
            self.publish_status()

    def autofocus_now(self, job: Job, refine: bool, cause: str) -> AutofocusResult:
        """An autofocus inside a job already claimed (a held print), waiting for the result."""
        lens = self.lens()
        self.jobs.check_z()
        camera = self.camera(warm=True)
        self.memory.begin_run()
        try:
            return self.run_autofocus(job, lens, camera, refine, cause)
        finally:
            close_camera(camera)

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

        search_range: Optional[List[float]] = None

        def progress(fraction: float, sample) -> None:
            point = [sample.position, float(sample.score)]
            self.memory.add_sample(point, sample.phase, fraction)
            self._publish({"type": "progress", "fraction": round(float(fraction), 4),
                           "phase": sample.phase, "sample": point, "range": search_range})

        started = time.monotonic()
        try:
            window = self._search_window(lens, refine)
            self.jobs.note_start(lens, job)
            self._into_limits(lens)
            search_range = _search_range(lens, window)
            self.memory.set_search_range(search_range)
            result = timing.autofocus(lens, camera, self.config, self._store_timing,
                                      progress=progress, should_cancel=job.cancel.is_set,
                                      refine=windowed, window=window)
        except (PiFocusError, ValueError) as exc:
            # The search reports failures in its result; this is the lens failing before it
            # started (e.g. the printer does not answer M114).
            result = AutofocusResult(position=self.lens_slot.position(lens), score=0.0, found=False,
                                     message=remember(Message("device.autofocus_not_started", error=text_of(exc))),
                                     duration=time.monotonic() - started,
                                     mode="refine" if windowed else "full")
        data = dict(result.to_dict(), search_range=search_range)
        self.memory.end_run(data, result.samples)
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

    def _store_timing(self, measured: Dict[str, Any]) -> None:
        """Keep the camera delay a run or the delay test measured (camera.settle_mode "auto")."""
        self.config["pipeline"] = measured
        self._persist("pipeline", measured)

    def measure_delay(self) -> Dict[str, Any]:
        """Measure the camera chain's delay now (the lens moves and comes back); ``{"ok",
        "message", "pipeline"}``."""
        with self.jobs.scope("test"):
            try:
                lens = self.lens()
                self.jobs.check_z()
                self.jobs.note_start(lens)
                measured = self._measure(lens)
            except (PiFocusError, ValueError) as exc:
                return {"ok": False, "message": str(exc), "pipeline": self.config.get("pipeline")}
        self.publish_status()
        return {"ok": True, "message": timing.describe(measured), "pipeline": measured}

    def _measure(self, lens, streams_only: bool = False) -> Optional[Dict[str, Any]]:
        """Measure and store the delay; ``streams_only``: None, measuring nothing, when the
        camera turns out not to be a stream (camera mode "auto" on snapshots)."""
        camera = self.camera(warm=True)
        try:
            if streams_only and not timing.follows_moves(camera):
                return None
            measured = timing.measure(lens, camera, self.config).to_dict()
        finally:
            close_camera(camera)
        self._store_timing(measured)
        return measured

    def _into_limits(self, lens) -> None:
        """A lens outside its limits (Z below the window after homing) first goes to the nearest
        end: the search starts from where the lens is and returns there when it fails. The
        lens notes the move (``moved_at``): the run waits for the picture to show it."""
        low, high = lens.limits
        position = lens.position
        if low <= position <= high:
            return
        target = low if position < low else high
        self._logger.info("The lens is at %s, outside %s..%s: moving to %s first", position, low, high, target)
        lens.move_to(target)

    # ~~ camera

    def camera(self, fresh: bool = False, warm: bool = False):
        """A frame source as the settings say; ``fresh``: no settle wait (one snapshot);
        ``warm``: a stream stays open a while after (``camera.keep_open``)."""
        return self.camera_slot.open(fresh, warm)

    def snapshot(self) -> bytes:
        """One JPEG from the configured camera (for drawing the region of interest)."""
        return self.camera_slot.snapshot()

    def warm_camera(self) -> Dict[str, Any]:
        """Open the camera's stream for an autofocus likely to come (the pointer is on its
        button): ``{"warm": bool}``, whether a stream is now kept open. A stopped device opens
        nothing."""
        return {"warm": not self.stopped and self.camera_slot.warm()}

    def camera_alive(self) -> bool:
        return self.camera_slot.alive()

    # ~~ restore

    def restore(self, cause: str) -> Optional[float]:
        """Move the lens back to its last position (start-up, webcam restart).

        Not for printer Z: moving an axis on its own at start-up is not safe. Skipped while
        another job runs. Returns the position restored, or None.
        """
        driver = self.driver
        last = self.memory.last_position(driver)
        if driver in ("", "printer-z") or last is None:
            return None
        try:
            job = self.jobs.claim("restore")
        except Busy:
            return None
        try:
            lens = self.lens()
            value = self.lens_slot.check_range(lens, last)
            started = time.monotonic()
            try:
                self.lens_slot.apply(lens, value)
            except LensError:
                if self.lens_slot.opened is None:
                    raise
                # A restarted camera can leave a stale device handle: open the lens again.
                self.lens_slot.drop()
                lens = self.lens()
                lens.move_to(value)
            self._logger.info("Lens position %s restored (%s)", value, cause)
            self._event("focus_changed", lens.position, None, 0, time.monotonic() - started, cause)
            return value
        except (PiFocusError, ValueError) as exc:
            self._logger.warning("Restoring the lens position %s (%s) failed: %s", last, cause, exc)
            return None
        finally:
            self.jobs.release(job)
            self.publish_status()

    # ~~ presets

    def presets(self) -> List[Dict[str, Any]]:
        return self.memory.presets(self.driver)

    def preset_save(self, name: Any, position: Optional[float] = None) -> Dict[str, Any]:
        name = settings_rules.check_preset_name(name)
        lens = self.lens()
        if position is None:
            job = self.jobs.current
            if job is not None:
                # Mid-search (or mid-move) the lens is anywhere: that is no position to keep.
                raise Busy(Message("device.busy_preset", what=job_name(job.kind)))
            position = self.lens_slot.position(lens)
            if position is None:
                raise Unavailable(gettext("The lens position is unknown: move the lens, then save the preset."))
        value = self.lens_slot.check_range(lens, position)
        self.memory.save_preset(self.driver, name, value)
        self.publish_status()
        return self.status()

    def preset_apply(self, name: Any) -> Dict[str, Any]:
        preset = self.memory.find_preset(self.driver, name)
        return self.move(preset["position"], cause=f"preset {preset['name']}")

    def do_preset_apply(self, name: Any, cause: Optional[str] = None) -> None:
        preset = self.memory.find_preset(self.driver, name)
        self.do_move(preset["position"], cause=cause or f"preset {preset['name']}")

    def preset_delete(self, name: Any) -> Dict[str, Any]:
        self.memory.delete_preset(self.memory.find_preset(self.driver, name))
        self.publish_status()
        return self.status()

    # ~~ the focus map on demand (@PIFOCUS MAP, API map_apply)

    def map_apply(self, cause: str = "focus map") -> Dict[str, Any]:
        """The lens to the focus map's value for where the toolhead is, as its own job."""
        return self._by_hand(lambda _value, why: self.do_map_apply(why), 0.0, cause)

    def do_map_apply(self, cause: str) -> Tuple[float, bool]:
        """Inside a job already claimed (a held print's ``@PIFOCUS MAP``): ``(target, clamped)``."""
        lens = self.lens()
        target, clamped = self.follow.target_now(lens)
        self.do_move(target, cause=cause)
        return target, clamped

    # ~~ probe and test

    def probe(self, driver: Optional[str] = None) -> List[Dict[str, Any]]:
        """Probe entries (see ``lenses.base.probe_entry``) for one driver or all of them."""
        return self.lens_slot.probe(driver)

    def test(self) -> Dict[str, Any]:
        """Nudge the lens one small step and back; ``{"ok", "message"}``."""
        with self.jobs.scope("test"):
            try:
                lens = self.lens()
                self.jobs.check_z()
                self.jobs.note_start(lens)
                start, target = self.lens_slot.test_step(lens)
            except (PiFocusError, ValueError) as exc:
                return {"ok": False, "message": str(exc)}
            delay = ""
            if self.config["camera"]["mode"] != "snapshot":
                # The set-up wizard's test: on a stream, measure the camera chain's delay too.
                try:
                    measured = self._measure(lens, streams_only=True)
                    delay = " " + timing.describe(measured) if measured else ""
                except (PiFocusError, ValueError) as exc:
                    delay = " " + str(exc)
        self.publish_status()
        return {"ok": True, "message": gettext(
            "%(lens)s moved from %(start)s to %(target)s and back.",
            lens=describe(lens), start=format_number(start), target=format_number(target)) + delay}

    # ~~ status, messages, events

    def status(self, permissions: Optional[Dict[str, bool]] = None) -> Dict[str, Any]:
        """The contract's status (GET /api/plugin/pifocus); never touches hardware."""
        lens, error = self.lens_slot.peek()
        driver = self.driver
        job = self.jobs.current
        run = self.memory.run_status()
        body: Dict[str, Any] = {
            "driver": driver,
            "driver_name": driver_label(driver),
            "units": getattr(lens, "units", None) if lens is not None else driver_units(driver),
            "limits": list(lens.limits) if lens is not None else None,
            "resolution": getattr(lens, "resolution", None) if lens is not None else None,
            "position": self.lens_slot.position(lens) if lens is not None else None,
            "lens_ok": lens is not None,
            "lens_error": error,
            "busy": job is not None and job.kind in ("autofocus", "print", "gcode", "calibrate"),
            "activity": job.kind if job is not None else None,
            "phase": run["phase"] if job is not None else None,
            "progress": run["progress"],
            "curve": run["curve"],
            "search_range": run["search_range"],
            "roi": list(self.config["roi"]),
            "last_result": run["last_result"],
            "presets": self.presets(),
            "z_blocked": self.z_blocked(),
            "permissions": permissions,
            "device": self.id,
            "device_name": self.name,
        }
        body["camera_missing"] = self.camera_slot.missing_webcam()
        simulation = self._simulation()
        body["simulation"] = simulation.status() if simulation is not None else None
        body["webcam"] = self.camera_slot.webcam_name()
        body["drift"] = self.drift.status(self.config["drift"])
        # camera-streamer (Camera Module 3): whether PiFocus holds libcamera's autofocus in manual.
        body["af_manual"] = bool(getattr(lens, "manual_mode", False)) if driver == "camera-streamer" else None
        # The camera chain's measured delay (None until measured) and the settle mode.
        body["pipeline"] = self.config.get("pipeline")
        body["settle_mode"] = self.config["camera"].get("settle_mode", "auto")
        body["focus_map"] = self.calibration.summary()
        body["calibration"] = self.calibration.state()
        body["follow"] = self.follow.status()
        return body

    def publish(self, message: Dict[str, Any]) -> None:
        """Push ``message`` to the browsers, with this device's id and name."""
        try:
            self._publish(message)
        except Exception:  # a browser push must never break a lens operation
            self._logger.exception("Publishing %s failed", message.get("type"))

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
        job = self.jobs.stop(message or gettext("PiFocus has stopped."))
        self.cancel("shutdown")
        if job is not None and not job.done.wait(wait):
            self._logger.warning("The running %s did not end within %.0f s of the stop; closing the lens anyway",
                                 job.kind, wait)
        self.flush()
        self.lens_slot.drop()
        self.camera_slot.close()

    def resume(self) -> None:
        """Run again after :meth:`shutdown` (PiFocus enabled again before OctoPrint restarted)."""
        self.jobs.resume()

    @property
    def stopped(self) -> bool:
        return self.jobs.stopped is not None


def _search_range(lens, window: Optional[float]) -> List[float]:
    """What a run searches, in lens units: the whole range, or the refine window around the
    start clipped to it. The browser fixes the curve's x axis to it from the first frame."""
    low, high = lens.limits
    if window is None:
        return [low, high]
    start = lens.position
    span = [max(low, start - window), min(high, start + window)]
    # A lens of whole steps (a VCM's codes) searches whole steps: [261, 421], not [261.0, 421.0].
    return [int(round(v)) for v in span] if isinstance(low, int) and isinstance(high, int) else span
