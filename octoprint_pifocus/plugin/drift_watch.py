"""The drift watch: one frame per ``drift.interval`` from each device's camera, judged by the
drift detector (:mod:`octoprint_pifocus.drift`, whose docstring says how it decides).

Not the webcam watchdog (:class:`.automation.WebcamWatchdog`, which restores the lens after a
camera restart): this one notices a lens that is no longer in focus, whatever the cause.

* **When it looks:** ``drift.watch`` "printing" (default) while OctoPrint prints, "always"
  also while idle, "off" never; never while the device has a job (an autofocus or a move uses
  the camera and the lens), never without a lens driver.
* **Baseline:** after every autofocus that found focus, every move (a preset, a restore, a
  move by hand: the user's new focus) and at the start of every print, the next samples
  are the new baseline.
* **On a drift:** the event ``plugin_pifocus_focus_drift`` (device, name, drop, baseline,
  score) always; a notification in the browsers (``drift.action`` "notify" or "both"); a
  refocus at the next layer change (``ZChange`` while printing) inside a job hold, as a
  ``@PIFOCUS AUTOFOCUS REFINE`` line does ("refocus" or "both"). :func:`refocus_command` is
  the hook where a device that follows a focus map will use the map's value instead.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Dict, Optional

from .background import BackgroundThread
from ..errors import PiFocusError
from ..messages import Message, remember
from .automation import AtCommand, PrintAutomation
from .device import FocusDevice
from .device.camera_slot import close_camera
from .devices import DeviceRegistry

_logger = logging.getLogger(__name__)

#: The event's name (fired as plugin_pifocus_focus_drift).
EVENT = "focus_drift"
#: The cause a drift's refocus runs under (logs, the focus_changed event's message).
REFOCUS_CAUSE = "drift refocus"


def refocus_command(controller: FocusDevice) -> AtCommand:
    """What a drift's refocus runs on ``controller``: a refine around the lens's position, or,
    for a device that follows a focus map, the map's value for the toolhead (as ``@PIFOCUS MAP``:
    the map knows where focus is for this position; a refine would fight the follower)."""
    follow = getattr(controller, "follow", None)
    if follow is not None and follow.enabled:
        try:
            usable = follow.focus_map() is not None
        except Exception:  # a stored map that cannot be used: refine instead
            usable = False
        if usable:
            return AtCommand("map", device=controller.id)
    return AtCommand("autofocus", refine=True, device=controller.id)


class DriftWatch(BackgroundThread):
    """See the module docstring. One thread for all devices."""

    THREAD_NAME = "pifocus-drift-watch"

    #: The longest the thread sleeps between looking at the devices' due times.
    TICK = 0.5

    def __init__(self, devices: DeviceRegistry, printer, automation: PrintAutomation,
                 publish: Callable[[Dict[str, Any]], None], fire: Callable[[str, Dict[str, Any]], None],
                 logger: Optional[logging.Logger] = None) -> None:
        self.devices = devices
        self.printer = printer
        self.automation = automation
        self._publish = publish
        self._fire = fire
        self._logger = logger or _logger
        super().__init__()
        self._due: Dict[str, float] = {}

    # ~~ the thread

    def _loop(self, stop: threading.Event) -> None:
        while not stop.wait(self.TICK):
            now = time.monotonic()
            for controller in self.devices:
                interval = float(controller.config["drift"]["interval"])
                due = self._due.setdefault(controller.id, now + interval)
                if now < due:
                    continue
                self._due[controller.id] = now + interval
                try:
                    self.poll(controller)
                except Exception:
                    self._logger.exception("Drift watch failed (device %s)", controller.name)

    # ~~ one look

    def printing(self) -> bool:
        try:
            return bool(self.printer is not None and self.printer.is_printing())
        except Exception:
            return False

    def wanted(self, controller: FocusDevice) -> bool:
        watch = controller.config["drift"]["watch"]
        if watch == "off" or controller.driver == "":
            return False
        return watch == "always" or self.printing()

    def poll(self, controller: FocusDevice):
        """One look at ``controller``'s camera; the verdict, or None (not watching, busy, no frame)."""
        state = controller.drift
        if not self.wanted(controller):
            return None
        if controller.busy:
            return None  # its autofocus or move uses the camera and the lens
        config = controller.config
        state.rules_for(float(config["drift"]["drop"]))
        try:
            # Warm: during a print the stream stays open between looks, and a refocus at the
            # layer change starts on frames it already has.
            camera = controller.camera(fresh=True, warm=True)
            try:
                frame = camera.capture()
            finally:
                close_camera(camera)
            sample = state.sampler(config["roi"], config["measure"]).sample(frame, time.monotonic())
        except (PiFocusError, ValueError, OSError) as exc:
            self._logger.debug("Drift watch: no frame from %s: %s", controller.name, exc)
            return None
        verdict = state.feed(sample)
        if verdict.kind == "rebased":
            self._logger.info("Drift watch (%s): baseline %.4g (%s)", controller.name, verdict.baseline,
                              verdict.reason)
        if verdict.new:
            self._drifted(controller, verdict)
        self._publish({"type": "drift", "device": controller.id, "device_name": controller.name,
                       "drift": state.status(config["drift"])})
        return verdict

    def _drifted(self, controller: FocusDevice, verdict) -> None:
        action = controller.config["drift"]["action"]
        drop = round(100 * (verdict.drop or 0))
        message = Message("drift.detected", name=controller.name, drop=str(drop),
                          score=f"{verdict.score:.3g}", baseline=f"{verdict.baseline:.3g}")
        refocus = action in ("refocus", "both")
        if refocus:
            controller.drift.refocus_pending = True
        self._logger.warning("%s%s", message, " A refocus follows at the next layer change." if refocus else "")
        payload = {"device": controller.id, "device_name": controller.name, "name": controller.name,
                   "drop": round(float(verdict.drop or 0), 4), "baseline": round(float(verdict.baseline), 6),
                   "score": round(float(verdict.score), 6), "action": action}
        try:
            self._fire(EVENT, payload)
        except Exception:
            self._logger.exception("Firing %s failed", EVENT)
        if action in ("notify", "both"):
            self._publish({"type": "drift_alert", "device": controller.id, "device_name": controller.name,
                           "message": remember(message), "refocus": refocus,
                           "drop": payload["drop"]})

    # ~~ what happens around it

    def focused(self, device_id: Optional[str], cause: str = "focus") -> None:
        """A focus ended on ``device_id`` (autofocus found it, a preset, a restore, a move)."""
        controller = self._find(device_id)
        if controller is not None:
            controller.drift.rebase("refocus" if cause == REFOCUS_CAUSE else cause)

    def print_started(self) -> None:
        """A print starts: the scene on the bed is a new one, take the baseline again."""
        for controller in self.devices:
            if controller.config["drift"]["watch"] != "off":
                controller.drift.rebase("print")

    def on_z_change(self) -> None:
        """A layer change while printing: run the refocus a drift asked for, held."""
        if not self.printing():
            return
        for controller in self.devices:
            if not controller.drift.refocus_pending or controller.busy:
                continue
            controller.drift.refocus_pending = False
            command = refocus_command(controller)
            self._logger.info("Drift watch (%s): refocusing at the layer change", controller.name)
            self.automation.run_held(command, controller, REFOCUS_CAUSE)

    def _find(self, device_id: Optional[str]) -> Optional[FocusDevice]:
        for controller in self.devices:
            if controller.id == device_id:
                return controller
        return None
