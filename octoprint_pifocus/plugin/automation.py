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
Printer-Z moves are allowed only inside that scope (``FocusController.print_hold``).

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

**Webcam restarts.** :class:`WebcamWatchdog` takes a snapshot from the configured camera every
``automation.watchdog_interval`` seconds (10 by default) while a position can be restored.
When the camera fails and later answers again, it was restarted (a Pi camera stack restart
also powers the VCM down, camera-streamer comes back in its own focus mode), and the last
position is re-applied (``reapply()`` where the driver has it, else a move).
"""
from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

from flask_babel import gettext

from ..errors import PiFocusError
from . import settings as settings_rules
from .controller import IDLE_TIMEOUT, FocusController

_logger = logging.getLogger(__name__)

#: The @-command's name: ``@PIFOCUS ...`` in G-code.
ATCOMMAND = "PIFOCUS"
#: Tags of what PiFocus asks OctoPrint to do (pause, cancel), for OctoPrint's logs.
TAGS = {"source:plugin", "plugin:pifocus"}

USAGE = "@PIFOCUS AUTOFOCUS [REFINE] | SET <position> | NUDGE <delta> | PRESET <name>"


@dataclass(frozen=True)
class AtCommand:
    """One parsed ``@PIFOCUS`` line."""

    action: str  # autofocus | set | nudge | preset
    refine: bool = False
    value: Optional[float] = None
    name: str = ""


def parse_atcommand(parameters: str) -> AtCommand:
    """The part after ``@PIFOCUS``; ``ValueError`` saying what is wrong and the usage."""
    words = (parameters or "").split()
    if not words:
        raise ValueError(gettext("@PIFOCUS needs an action: %(usage)s", usage=USAGE))
    verb = words[0].upper()
    rest = words[1:]
    if verb == "AUTOFOCUS":
        modes = [w.upper() for w in rest]
        if modes not in ([], ["REFINE"], ["FULL"]):
            raise ValueError(gettext("@PIFOCUS AUTOFOCUS takes REFINE or nothing, not %(words)s",
                                     words=" ".join(rest)))
        return AtCommand("autofocus", refine=modes == ["REFINE"])
    if verb in ("SET", "NUDGE"):
        if len(rest) != 1:
            raise ValueError(gettext("@PIFOCUS %(verb)s takes one number, e.g. @PIFOCUS %(verb)s 400",
                                     verb=verb))
        try:
            value = float(rest[0])
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise ValueError(gettext("@PIFOCUS %(verb)s takes one number, not %(value)s",
                                     verb=verb, value=repr(rest[0])))
        return AtCommand(verb.lower(), value=value)
    if verb == "PRESET":
        name = parameters.strip()[len(words[0]):].strip()
        return AtCommand("preset", name=settings_rules.check_preset_name(name))
    raise ValueError(gettext("Unknown @PIFOCUS action %(verb)s: use %(usage)s", verb=repr(words[0]), usage=USAGE))


class PrintAutomation:
    """``@PIFOCUS`` commands and the failure policy, over a controller and OctoPrint's printer."""

    def __init__(self, controller: FocusController, printer, port, publish: Callable[[Dict[str, Any]], None],
                 logger: Optional[logging.Logger] = None) -> None:
        self.controller = controller
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
        try:
            command: Optional[AtCommand] = parse_atcommand(parameters)
            error = None
        except ValueError as exc:
            command, error = None, str(exc)
        printing = bool(self.printer.is_printing()) and not self.printer.is_cancelling()
        held = False
        if printing:
            held = bool(self.printer.set_job_on_hold(True))
            self._logger.info("%s: print on hold%s", line, "" if held else " FAILED (job keeps running)")
        thread = threading.Thread(target=self._run, args=(line, command, error, printing, held),
                                  name="pifocus-atcommand", daemon=True)
        self.threads = [t for t in self.threads if t.is_alive()] + [thread]
        thread.start()

    def before_print_script(self, script_type: str, script_name: str) -> Optional[Tuple[List[str], None]]:
        """The ``octoprint.comm.protocol.scripts`` answer: autofocus before every print.

        ``beforePrintStarted`` is asked for inside OctoPrint's ``startPrint`` before the job's
        first line: the moment to hold the print for a printer-Z run it interrupts."""
        if script_type != "gcode" or script_name != "beforePrintStarted":
            return None
        self.on_print_starting()
        automation = self.controller.config["automation"]
        if not automation["autofocus_before_print"]:
            return None
        refine = automation["before_print_mode"] == "refine"
        return [f"@{ATCOMMAND} AUTOFOCUS" + (" REFINE" if refine else "")], None

    def on_print_stopping(self) -> None:
        """The print is being cancelled, failed or the printer went away: stop a held action."""
        job = self.controller._job
        if job is not None and job.kind in ("print", "gcode"):
            job.stop("print stopping")

    def on_print_starting(self) -> None:
        """A print starts (no line of it sent yet): hold it while a printer-Z run it interrupts
        goes back, see the module docstring."""
        job = self.controller.print_starting()
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
        thread = threading.Thread(target=self._return_after_print_start, args=(job,),
                                  name="pifocus-print-start", daemon=True)
        self.threads = [t for t in self.threads if t.is_alive()] + [thread]
        thread.start()

    def _return_after_print_start(self, job) -> None:
        line = "print start"
        try:
            self.controller.return_after_print_start(job)
            self._logger.info("Z is back where PiFocus's %s found it: releasing the print", job.kind)
        except Exception as exc:  # whatever happens, the hold is released below
            self._logger.exception("Moving Z back before the print failed")
            self._report(line, False, gettext("A print started while PiFocus moved Z, and moving Z back "
                                              "failed: %(error)s", error=str(exc)), True)
        finally:
            if job.lens is not None:
                job.lens.print_held = False
            self.printer.set_job_on_hold(False)
            self.controller.publish_status()

    # ~~ running one command

    def _run(self, line: str, command: Optional[AtCommand], error: Optional[str], printing: bool,
             held: bool) -> None:
        ok, message, cancelled = False, error or "", False
        try:
            if printing and not held:
                # Never move while the job runs: without the hold, Z moves would land in the
                # middle of the print's own moves.
                message = gettext("OctoPrint did not put the print on hold, so PiFocus did not move "
                                  "anything. Try again, or focus before the print starts.")
            elif command is not None:
                ok, message, cancelled = self._execute(line, command, held)
        except Exception as exc:  # whatever happens, the hold is released below
            self._logger.exception("%s crashed", line)
            ok, message = False, str(exc)
        finally:
            try:
                self._report(line, ok, message, printing, cancelled)
            finally:
                if held:
                    self.printer.set_job_on_hold(False)
                    self._logger.info("%s: print hold released", line)

    def _execute(self, line: str, command: AtCommand, held: bool) -> Tuple[bool, str, bool]:
        """Run one action; ``(ok, message, cancelled by a user)``."""
        controller = self.controller
        try:
            with controller.print_hold(held=held) as job:
                try:
                    ok, message = self._action(line, command, job)
                except (PiFocusError, ValueError, OSError) as exc:
                    ok, message = False, str(exc)
                cancelled = not ok and job.cancel_reason == "user"
                if held and controller.config["printer_z"]["restore_after_print_action"]:
                    try:
                        controller.return_z(job.start, f"{line}: back to the print's Z")
                    except (PiFocusError, ValueError, OSError) as exc:
                        failed = gettext("Moving Z back to the print's Z %(z)s failed: %(error)s",
                                         z=job.start, error=str(exc))
                        return False, f"{message} {failed}".strip(), False
                return ok, message, cancelled
        except (PiFocusError, ValueError, OSError) as exc:
            return False, str(exc), False
        finally:
            controller.publish_status()

    def _action(self, line: str, command: AtCommand, job) -> Tuple[bool, str]:
        controller = self.controller
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
        else:
            controller.do_preset_apply(command.name, cause=line)
        return True, ""

    def _report(self, line: str, ok: bool, message: str, printing: bool, cancelled: bool = False) -> None:
        policy = self.controller.config["automation"]["failure_policy"]
        if ok:
            self._logger.info("%s done", line)
            self._publish({"type": "automation", "ok": True, "command": line, "message": "", "policy": None,
                           "cancelled": False})
            return
        if cancelled:
            # A user's cancel is no failure: the print goes on, whatever the failure policy.
            self._logger.info("%s cancelled by a user: %s (failure policy not applied)", line, message)
            self._publish({"type": "automation", "ok": False, "command": line, "message": message,
                           "policy": None, "cancelled": True})
            return
        self._logger.warning("%s failed: %s (failure policy: %s%s)", line, message, policy,
                             "" if printing else ", not printing")
        if printing and policy == "pause":
            self.printer.pause_print(tags=set(TAGS))
        elif printing and policy == "cancel":
            self.printer.cancel_print(tags=set(TAGS))
        self._publish({"type": "automation", "ok": False, "command": line, "message": message,
                       "policy": policy if printing else None, "cancelled": False})


class WebcamWatchdog:
    """Re-applies the last lens position when the camera comes back after failing."""

    def __init__(self, controller: FocusController, logger: Optional[logging.Logger] = None) -> None:
        self.controller = controller
        self._logger = logger or _logger
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        #: True after a failed snapshot, until one succeeds again.
        self.down = False

    def start(self) -> None:
        """Start watching; again after :meth:`stop` too (the plugin enabled again)."""
        if self._thread is None or not self._thread.is_alive():
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._loop, args=(self._stop,), name="pifocus-webcam-watchdog",
                                            daemon=True)
            self._thread.start()

    def stop(self, wait: float = 5.0) -> None:
        """Stop watching; waits up to ``wait`` s for a check under way to end."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(wait)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _loop(self, stop: threading.Event) -> None:
        while not stop.wait(float(self.controller.config["automation"]["watchdog_interval"])):
            try:
                self.poll()
            except Exception:
                self._logger.exception("Webcam watchdog failed")

    def wanted(self) -> bool:
        controller = self.controller
        return (bool(controller.config["automation"]["restore_on_webcam_restart"])
                and controller.driver not in ("", "printer-z")
                and controller.last_position() is not None)

    def poll(self) -> Optional[bool]:
        """One check; returns whether the camera answered (None: not watching or busy)."""
        controller = self.controller
        if not self.wanted():
            self.down = False
            return None
        if controller.busy:
            return None  # an autofocus or a move is using the camera and the lens
        alive = controller.camera_alive()
        if not alive and not self.down:
            self._logger.info("The webcam does not answer; the lens position will be restored when it is back")
        if alive and self.down:
            self._logger.info("The webcam answers again: restoring the lens position")
            controller.restore("webcam restart")
        self.down = not alive
        return alive
