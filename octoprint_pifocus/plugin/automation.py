"""Automation: ``@PIFOCUS`` commands, autofocus before a print, restore after a webcam restart.

**Holding a print.** ``@PIFOCUS`` lines reach the ``octoprint.comm.protocol.atcommand.queuing``
hook while OctoPrint's comm layer takes the line from the file (the *queuing* phase, inside
``_send_from_job``). During a print the hook puts the job on hold right there
(``printer.set_job_on_hold(True)``): OctoPrint then takes no further line from the file, so
nothing after the ``@PIFOCUS`` line is sent until the hold ends. The focusing itself runs in a
thread and the hook returns at once: it runs on OctoPrint's serial threads, and a printer-Z
autofocus needs those threads to send its moves and read the ``M114`` replies (a synchronous
``with printer.job_on_hold():`` inside the hook, as BedReady does for a quick snapshot
check, would deadlock here). The thread first waits for the printer to finish the moves
queued before the ``@PIFOCUS`` line (``M400``), so the camera sees the scene the G-code set
up, then focuses, applies the failure policy if needed (pausing or cancelling *while still
held*, so not one more line of the file is sent), and finally releases the hold.
Printer-Z moves are allowed only inside that scope (``FocusDevice.print_hold``).

**Z is the tool's Z.** With the printer-Z driver the microscope rides on the print head, so a
held print must not resume at the focus Z: before the hold is released, Z goes back to the Z
the printer reported before PiFocus's first move (``printer_z.restore_after_print_action``,
on by default; outside the Z window too, with no backlash overshoot below it).

**A print starting while PiFocus moves Z.** An API autofocus or move (or a ``@PIFOCUS`` line
from the terminal) may still run when a print starts. OctoPrint calls the scripts hook for
``beforePrintStarted`` inside ``startPrint`` with its job lock held, before it sends any line
of the job, so :meth:`PrintAutomation.before_print_script` puts the job on hold right there,
cancels the PiFocus run (an autofocus goes back to its start under that hold), then moves Z
back to where the run found it and releases the hold. Z lines PiFocus had queued just before
the print started are sent ahead of the file's lines and undone by that move.

**Cancelled by a user.** A ``cancel`` from the API during a held action is no failure: it is
reported as cancelled (``"cancelled": true``), Z goes back as above, and the print goes on;
``automation.failure_policy`` applies only to real failures.

**Autofocus before every print** reuses this: the ``octoprint.comm.protocol.scripts`` hook
puts ``@PIFOCUS AUTOFOCUS [REFINE]`` in front of the ``beforePrintStarted`` script, which
OctoPrint sends as part of the job before the file's first line, so the print is held at its
start until focus is done, and failures follow the same policy.

**Several devices.** Every ``@PIFOCUS`` action takes an optional ``DEVICE=<name or id>``
parameter anywhere after the action (``@PIFOCUS AUTOFOCUS REFINE DEVICE=nozzle``; a name with
spaces in double quotes: ``DEVICE="nozzle cam"``); without one it acts on the first device.
The hold is the print's, so a print waits for that device alone. Autofocus before a print
puts one line per device whose ``automation.autofocus_before_print`` is on, in the order of
the devices; the failure policy is the device's own.

**Webcam restarts.** :class:`WebcamWatchdog` takes a snapshot from each device's camera every
``automation.watchdog_interval`` seconds (10 by default) while a position can be restored.
When the camera fails and later answers again, it was restarted (a Pi camera stack restart
also powers the VCM down, camera-streamer comes back in its own focus mode), and the last
position is re-applied (``reapply()`` where the driver has it, else a move).
"""
from __future__ import annotations

import logging
import math
import re
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

from flask_babel import gettext

from .background import BackgroundThread
from ..errors import PiFocusError
from ..messages import say, text_of
from . import settings as settings_rules
from .device import IDLE_TIMEOUT, FocusDevice
from .devices import DeviceRegistry

_logger = logging.getLogger(__name__)

#: The @-command's name: ``@PIFOCUS ...`` in G-code.
ATCOMMAND = "PIFOCUS"
#: Tags of what PiFocus asks OctoPrint to do (pause, cancel), for OctoPrint's logs.
TAGS = {"source:plugin", "plugin:pifocus"}

USAGE = ("@PIFOCUS AUTOFOCUS [REFINE] | SET <position> | NUDGE <delta> | PRESET <name> | MAP, "
         "each with an optional DEVICE=<name>")

#: ``DEVICE=name`` or ``DEVICE="name with spaces"`` anywhere in the parameters.
_DEVICE_PARAMETER = re.compile(r'(?:^|\s)DEVICE=(?:"([^"]*)"|(\S*))(?=\s|$)', re.IGNORECASE)


@dataclass(frozen=True)
class AtCommand:
    """One parsed ``@PIFOCUS`` line."""

    action: str  # autofocus | set | nudge | preset | map
    refine: bool = False
    value: Optional[float] = None
    name: str = ""
    #: The device's name or id as written (``DEVICE=``); None: the first device.
    device: Optional[str] = None


def parse_atcommand(parameters: str) -> AtCommand:
    """The part after ``@PIFOCUS``; ``ValueError`` saying what is wrong and the usage."""
    parameters = parameters or ""
    found = list(_DEVICE_PARAMETER.finditer(parameters))
    device = None
    if len(found) > 1:
        raise ValueError(say("gcode.one_device", count=len(found)))
    if found:
        match = found[0]
        device = (match.group(1) if match.group(1) is not None else match.group(2)).strip()
        if not device:
            raise ValueError(say("gcode.device_empty"))
        parameters = (parameters[:match.start()] + " " + parameters[match.end():]).strip()
    command = _parse_action(parameters)
    return AtCommand(command.action, refine=command.refine, value=command.value, name=command.name, device=device)


def _parse_action(parameters: str) -> AtCommand:
    words = (parameters or "").split()
    if not words:
        raise ValueError(say("gcode.no_action", usage=USAGE))
    verb = words[0].upper()
    rest = words[1:]
    if verb == "AUTOFOCUS":
        modes = [w.upper() for w in rest]
        if modes not in ([], ["REFINE"], ["FULL"]):
            raise ValueError(say("gcode.autofocus_mode", words=" ".join(rest)))
        return AtCommand("autofocus", refine=modes == ["REFINE"])
    if verb in ("SET", "NUDGE"):
        if len(rest) != 1:
            raise ValueError(say("gcode.one_number", verb=verb))
        try:
            value = float(rest[0])
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise ValueError(say("gcode.not_a_number", verb=verb, value=repr(rest[0])))
        return AtCommand(verb.lower(), value=value)
    if verb == "MAP":
        # The lens to the focus map's value for where the moves before this line left the toolhead.
        if rest:
            raise ValueError(say("gcode.map_usage", words=" ".join(rest)))
        return AtCommand("map")
    if verb == "PRESET":
        name = parameters.strip()[len(words[0]):].strip()
        return AtCommand("preset", name=settings_rules.check_preset_name(name))
    raise ValueError(say("gcode.unknown_action", verb=repr(words[0]), usage=USAGE))


class PrintAutomation:
    """``@PIFOCUS`` commands and the failure policy, over the devices and OctoPrint's printer."""

    def __init__(self, devices: DeviceRegistry, printer, port, publish: Callable[[Dict[str, Any]], None],
                 logger: Optional[logging.Logger] = None) -> None:
        self.devices = devices
        self.printer = printer
        self.port = port
        self._publish = publish
        self._logger = logger or _logger
        #: Threads of the @-commands still running (tests and shutdown can join them).
        self.threads: List[threading.Thread] = []

    # ~~ hooks

    def on_atcommand(self, parameters: str, tags: Any = None) -> None:
        """``@PIFOCUS <parameters>`` was queued. Holds a running print and returns at once."""
        line = f"@{ATCOMMAND} {parameters or ''}".strip()
        controller = self.devices.first
        try:
            command: Optional[AtCommand] = parse_atcommand(parameters)
            controller = self.devices.find(command.device)
            error = None
        except ValueError as exc:  # UnknownDevice too
            command, error = None, str(exc)
        printing = bool(self.printer.is_printing()) and not self.printer.is_cancelling()
        held = False
        if printing:
            held = bool(self.printer.set_job_on_hold(True))
            self._logger.info("%s: print on hold%s", line, "" if held else " FAILED (job keeps running)")
        thread = threading.Thread(target=self._run, args=(line, command, error, printing, held, controller),
                                  name="pifocus-atcommand", daemon=True)
        self.threads = [t for t in self.threads if t.is_alive()] + [thread]
        thread.start()

    def run_held(self, command: AtCommand, controller: FocusDevice, line: str) -> Optional[threading.Thread]:
        """Hold the running print and run ``command`` on ``controller`` as a ``@PIFOCUS`` line
        would (the drift watch's refocus at a layer change); the thread, None when no print
        runs (nothing is moved then)."""
        if not (bool(self.printer.is_printing()) and not self.printer.is_cancelling()):
            return None
        held = bool(self.printer.set_job_on_hold(True))
        self._logger.info("%s: print on hold%s", line, "" if held else " FAILED (job keeps running)")
        thread = threading.Thread(target=self._run, args=(line, command, None, True, held, controller),
                                  name="pifocus-held", daemon=True)
        self.threads = [t for t in self.threads if t.is_alive()] + [thread]
        thread.start()
        return thread

    def before_print_script(self, script_type: str, script_name: str) -> Optional[Tuple[List[str], None]]:
        """The ``octoprint.comm.protocol.scripts`` answer: autofocus before every print.

        ``beforePrintStarted`` is asked for inside OctoPrint's ``startPrint`` before the job's
        first line: the moment to hold the print for a printer-Z run it interrupts."""
        if script_type != "gcode" or script_name != "beforePrintStarted":
            return None
        self.on_print_starting()
        lines = []
        for index, controller in enumerate(self.devices):
            automation = controller.config["automation"]
            if not automation["autofocus_before_print"]:
                continue
            refine = automation["before_print_mode"] == "refine"
            lines.append(f"@{ATCOMMAND} AUTOFOCUS" + (" REFINE" if refine else "")
                         + (f" DEVICE={controller.id}" if index else ""))
        return (lines, None) if lines else None

    def on_print_stopping(self) -> None:
        """The print is being cancelled, failed or the printer went away: stop held actions."""
        for controller in self.devices:
            job = controller.job
            if job is not None and job.kind in ("print", "gcode"):
                job.stop("print stopping")

    def on_print_starting(self) -> None:
        """A print starts (no line of it sent yet): hold it while a printer-Z run it interrupts
        goes back, see the module docstring."""
        for controller in self.devices:
            self._print_starting(controller)

    def _print_starting(self, controller: FocusDevice) -> None:
        job = controller.print_starting()
        if job is None:
            return
        held = bool(self.printer.set_job_on_hold(True))
        if not held:
            # Without the hold the run's lens must not move again: its moves would land in the print.
            if job.lens is not None:
                job.lens.print_held = False
            self._logger.warning("A print started during PiFocus's %s and OctoPrint did not hold it: "
                                 "the run is cancelled, Z stays where it is", job.kind)
            return
        self._logger.info("A print started during PiFocus's %s: print on hold, moving Z back first", job.kind)
        thread = threading.Thread(target=self._return_after_print_start, args=(job, controller),
                                  name="pifocus-print-start", daemon=True)
        self.threads = [t for t in self.threads if t.is_alive()] + [thread]
        thread.start()

    def _return_after_print_start(self, job, controller: FocusDevice) -> None:
        line = "print start"
        try:
            controller.return_after_print_start(job)
            self._logger.info("Z is back where PiFocus's %s found it: releasing the print", job.kind)
        except Exception as exc:  # whatever happens, the hold is released below
            self._logger.exception("Moving Z back before the print failed")
            self._report(line, False, say("gcode.z_back_failed", error=text_of(exc)), True, controller=controller)
        finally:
            if job.lens is not None:
                job.lens.print_held = False
            self.printer.set_job_on_hold(False)
            controller.publish_status()

    # ~~ running one command

    def _run(self, line: str, command: Optional[AtCommand], error: Optional[str], printing: bool,
             held: bool, controller: FocusDevice) -> None:
        ok, message, cancelled = False, error or "", False
        try:
            if printing and not held:
                # Never move while the job runs: without the hold, Z moves would land in the
                # middle of the print's own moves.
                message = gettext("OctoPrint did not put the print on hold, so PiFocus did not move "
                                  "anything. Try again, or focus before the print starts.")
            elif command is not None:
                ok, message, cancelled = self._execute(line, command, held, controller)
        except Exception as exc:  # whatever happens, the hold is released below
            self._logger.exception("%s crashed", line)
            ok, message = False, str(exc)
        finally:
            try:
                self._report(line, ok, message, printing, cancelled, controller=controller)
            finally:
                if held:
                    self.printer.set_job_on_hold(False)
                    self._logger.info("%s: print hold released", line)

    def _execute(self, line: str, command: AtCommand, held: bool,
                 controller: FocusDevice) -> Tuple[bool, str, bool]:
        """Run one action on ``controller``; ``(ok, message, cancelled by a user)``."""
        try:
            with controller.print_hold(held=held) as job:
                try:
                    ok, message = self._action(line, command, job, controller)
                except (PiFocusError, ValueError, OSError) as exc:
                    ok, message = False, str(exc)
                cancelled = not ok and job.cancel_reason == "user"
                if held and controller.config["printer_z"]["restore_after_print_action"]:
                    try:
                        controller.return_z(job.start, f"{line}: back to the print's Z")
                    except (PiFocusError, ValueError, OSError) as exc:
                        failed = say("gcode.z_return_failed", z=job.start, error=text_of(exc))
                        return False, f"{message} {failed}".strip(), False
                return ok, message, cancelled
        except (PiFocusError, ValueError, OSError) as exc:
            return False, str(exc), False
        finally:
            controller.publish_status()

    def _action(self, line: str, command: AtCommand, job, controller: FocusDevice) -> Tuple[bool, str]:
        if self.port.is_connected():
            # The moves queued before this line first, so the camera sees what they set up.
            self.port.wait_idle(IDLE_TIMEOUT)
        if command.action == "autofocus":
            result = controller.autofocus_now(job, command.refine, cause=line)
            return result.found, result.message
        if command.action == "set":
            controller.do_move(command.value, cause=line)
        elif command.action == "nudge":
            controller.do_nudge(command.value, cause=line)
        elif command.action == "map":
            controller.do_map_apply(cause=line)
        else:
            controller.do_preset_apply(command.name, cause=line)
        return True, ""

    def _report(self, line: str, ok: bool, message: str, printing: bool, cancelled: bool = False,
                controller: Optional[FocusDevice] = None) -> None:
        controller = controller or self.devices.first
        policy = controller.config["automation"]["failure_policy"]
        device = {"device": controller.id, "device_name": controller.name}
        if ok:
            self._logger.info("%s done", line)
            self._publish(dict({"type": "automation", "ok": True, "command": line, "message": "", "policy": None,
                                "cancelled": False}, **device))
            return
        if cancelled:
            # A user's cancel is no failure: the print goes on, whatever the failure policy.
            self._logger.info("%s cancelled by a user: %s (failure policy not applied)", line, message)
            self._publish(dict({"type": "automation", "ok": False, "command": line, "message": message,
                                "policy": None, "cancelled": True}, **device))
            return
        self._logger.warning("%s failed: %s (failure policy: %s%s)", line, message, policy,
                             "" if printing else ", not printing")
        if printing and policy == "pause":
            self.printer.pause_print(tags=set(TAGS))
        elif printing and policy == "cancel":
            self.printer.cancel_print(tags=set(TAGS))
        self._publish(dict({"type": "automation", "ok": False, "command": line, "message": message,
                            "policy": policy if printing else None, "cancelled": False}, **device))


class WebcamWatchdog(BackgroundThread):
    """Re-applies a device's last lens position when its camera comes back after failing.

    One thread for all devices; each device is checked every ``automation.watchdog_interval``
    of its own."""

    THREAD_NAME = "pifocus-webcam-watchdog"

    #: The longest the thread sleeps between looking at the devices' due times.
    TICK = 0.5

    def __init__(self, devices: DeviceRegistry, logger: Optional[logging.Logger] = None) -> None:
        self.devices = devices
        self._logger = logger or _logger
        super().__init__()
        #: Device ids whose camera failed, until a snapshot succeeds again.
        self._down: set = set()
        self._due: Dict[str, float] = {}

    @property
    def down(self) -> bool:
        """Whether the first device's camera is down (what the one-device tests watch)."""
        return self.devices.first.id in self._down

    def _loop(self, stop: threading.Event) -> None:
        while not stop.wait(self.TICK):
            now = time.monotonic()
            for controller in self.devices:
                interval = float(controller.config["automation"]["watchdog_interval"])
                due = self._due.setdefault(controller.id, now + interval)
                if now < due:
                    continue
                self._due[controller.id] = now + interval
                try:
                    self.poll(controller)
                except Exception:
                    self._logger.exception("Webcam watchdog failed (device %s)", controller.name)

    @staticmethod
    def wanted(controller: FocusDevice) -> bool:
        return (bool(controller.config["automation"]["restore_on_webcam_restart"])
                and controller.driver not in ("", "printer-z")
                and controller.last_position() is not None)

    def poll(self, controller: Optional[FocusDevice] = None) -> Optional[bool]:
        """One check of ``controller`` (the first device by default); returns whether its
        camera answered (None: not watching or busy)."""
        controller = controller or self.devices.first
        if not self.wanted(controller):
            self._down.discard(controller.id)
            return None
        if controller.busy:
            return None  # an autofocus or a move is using the camera and the lens
        alive = controller.camera_alive()
        down = controller.id in self._down
        prefix = f"{controller.name}: " if len(self.devices) > 1 else ""
        if not alive and not down:
            self._logger.info("%sThe webcam does not answer; the lens position will be restored when it is back",
                              prefix)
        if alive and down:
            self._logger.info("%sThe webcam answers again: restoring the lens position", prefix)
            controller.restore("webcam restart")
        if alive:
            self._down.discard(controller.id)
        else:
            self._down.add(controller.id)
        return alive
