"""Follow focus for one device: the lens kept at the focus map's value as the toolhead moves.

Settings section ``follow``: ``enabled`` (off by default), ``interval`` (the least time between
two follow moves, s), ``threshold`` (the share of the depth of field worth a move) and
``dof_width`` (the depth of field in lens units; None: :func:`default_dof`). The map is the
device's ``focus_map`` (written by the calibration). A timer (:class:`~..follow_loop.FollowLoop`)
calls :meth:`DeviceFollow.tick`; the engine's :class:`~octoprint_pifocus.followfocus.Follower`
decides, this module applies its decision under the device's rules:

- never while the device has a job (an autofocus, a calibration, a held print's action, a
  move by hand), never with the lens unknown, never after the device stopped;
- a lens (VCM, V4L2, camera-streamer) follows the toolhead's estimated position half an
  interval ahead (:meth:`~..toolhead.Toolhead.position_at`), during prints too: it moves no
  axis of the printer;
- a **printer-Z** device (a microscope whose lens is the printer's Z) only corrects Z after
  the user's XY jogs: never during a print, only once the XY motion has ended, only inside
  the Z window and under every rule of printer-Z moves (connected, homed, Z not held by
  another device). A Z jogged by hand stays until the next XY move;
- outside the calibrated range the lens stays at the nearest calibrated value, said once per
  excursion (a push and a log line, message ``follow.outside``).

:meth:`DeviceFollow.target_now` is the on-demand half (``@PIFOCUS MAP``, API ``map_apply``).
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Dict, Optional, Tuple

from ...errors import PiFocusError
from ...followfocus import FocusMap, FocusMapError, Follower
from ...followfocus.follower import MOVE, UNKNOWN, WAIT
from ...messages import Message, remember, say
from ..settings import device_defaults
from .conflicts import Busy, Conflict, Unavailable

#: The depth of field (the whole sharp band, lens units) when ``follow.dof_width`` is None:
#: - VCM codes (``simulated``, ``i2c``): 30. The simulation blurs 0.05 px per code and a
#:   picture looks sharp up to ~0.75 px of blur (the search benchmark's line), ±15 codes; a
#:   Pi camera module's VCM behaves alike at webcam distances (its 1024 codes span ~10 cm to
#:   infinity);
#: - ``camera-streamer`` dioptres: 0.25 (a small-sensor lens at f/1.8 is sharp over about a
#:   quarter dioptre at 20-50 cm);
#: - ``printer-z`` mm: 0.2 (a USB microscope at 50-200x; the simulated one blurs 8 px/mm);
#: - ``v4l2``: 3 % of the lens's range (focus_absolute ranges differ from camera to camera).
DEFAULT_DOF = {"simulated": 30.0, "i2c": 30.0, "camera-streamer": 0.25, "printer-z": 0.2}
V4L2_DOF_SHARE = 0.03

#: States of :meth:`DeviceFollow.status` (``state``).
OFF, NO_MAP, FOLLOWING, OUTSIDE, PRINTING_BLOCKED, BUSY, WAITING, ERROR = (
    "off", "no_map", "following", "outside", "printing_blocked", "busy", "waiting", "error")
#: How long to wait before looking again when nothing can be done now (s).
IDLE = 1.0
#: XY differences below this (mm) are no jog.
XY_EPSILON = 1e-3


def default_dof(driver: str, limits: Tuple[float, float]) -> float:
    """The depth of field (lens units) a driver gets when ``follow.dof_width`` is None."""
    if driver in DEFAULT_DOF:
        return DEFAULT_DOF[driver]
    return max(1e-6, (float(limits[1]) - float(limits[0])) * V4L2_DOF_SHARE)


class DeviceFollow:
    """Follow focus of ``device`` (a :class:`~.device.FocusDevice`) from ``toolhead``
    (the plugin's :class:`~..toolhead.Toolhead`). ``publish`` pushes a message to the browsers."""

    def __init__(self, device: Any, toolhead: Any, publish: Callable[[Dict[str, Any]], None],
                 logger: logging.Logger) -> None:
        self._device = device
        self._toolhead = toolhead
        self._publish = publish
        self._logger = logger
        self._lock = threading.RLock()
        self._follower: Optional[Follower] = None
        self._follower_key: Optional[tuple] = None
        self.state = OFF
        self.moves = 0
        self.timelapse_moves = 0
        self.target: Optional[float] = None
        self.clamped = False
        self.notice: Optional[str] = None
        #: Printer-Z devices: the XY the last correction was made for.
        self._corrected_xy: Optional[Dict[str, float]] = None

    # ~~ settings and map

    def settings(self) -> Dict[str, Any]:
        return self._device.config.get("follow") or device_defaults()["follow"]

    @property
    def enabled(self) -> bool:
        return bool(self.settings()["enabled"])

    def focus_map(self) -> Optional[FocusMap]:
        """The device's map (None when it has none); :class:`FocusMapError` for one that cannot
        be used. Fitted once per stored map (the calibration's fit), not on every tick."""
        fmap, error = self._device.calibration.stored_map()
        if error is not None:
            raise FocusMapError(error)
        return fmap

    def dof_width(self, lens) -> float:
        configured = self.settings().get("dof_width")
        if configured:
            return float(configured)
        return default_dof(self._device.driver, lens.limits)

    def _follower_for(self, focus_map: FocusMap, lens) -> Follower:
        settings = self.settings()
        limits = tuple(float(v) for v in lens.limits)
        resolution = float(getattr(lens, "resolution", 0) or 0) or 1e-6
        key = (id(focus_map), limits, resolution, self.dof_width(lens), float(settings["threshold"]),
               float(settings["interval"]))
        if self._follower is None or self._follower_key != key:
            self._follower = Follower(focus_map, limits, resolution, key[3], threshold=key[4], min_interval=key[5])
            self._follower_key = key
        return self._follower

    # ~~ the timer's tick

    def tick(self) -> float:
        """Look once and move the lens if the map says so; returns when to look again (s)."""
        with self._lock:
            try:
                return self._tick()
            except Conflict as exc:  # busy, blocked, unavailable: look again later
                self._set(BUSY if isinstance(exc, Busy) else ERROR, str(exc))
            except (PiFocusError, ValueError, OSError) as exc:
                self._logger.warning("Follow focus on %s: %s", self._device.name, exc)
                self._set(ERROR, str(exc))
            return IDLE

    def _tick(self) -> float:
        settings = self.settings()
        interval = float(settings["interval"])
        device = self._device
        if not settings["enabled"] or device.stopped:
            self._set(OFF)
            self._corrected_xy = None
            return IDLE
        try:
            focus_map = self.focus_map()
        except FocusMapError as exc:
            self._set(ERROR, str(exc))
            return IDLE
        if focus_map is None:
            self._set(NO_MAP, say("follow.no_map", device=device.name))
            return IDLE
        if device.job is not None:
            self._set(BUSY)
            return interval
        if device.driver == "printer-z":
            return self._tick_printer_z(focus_map, interval)
        lens = device.lens()
        position = device.lens_slot.position(lens)
        if position is None:
            self._set(WAITING, say("follow.lens_unknown"))
            return IDLE
        where = self._toolhead.position_at(self._toolhead.now() + interval / 2)
        if where is None or any(where.get(axis) is None for axis in focus_map.axes):
            self._set(WAITING, self._position_unknown(focus_map))
            return IDLE
        decision = self._follower_for(focus_map, lens).decide(where, position)
        return self._apply(decision, lens, focus_map, where, interval)

    def _tick_printer_z(self, focus_map: FocusMap, interval: float) -> float:
        device = self._device
        if "z" in focus_map.axes:
            self._set(ERROR, say("follow.map_uses_z"))
            return IDLE
        if device.port.is_printing():
            self._set(PRINTING_BLOCKED, say("follow.printing_blocked"))
            # The print's own XY travel is no jog: after the print, Z stays where it left it
            # (above the part) until the user moves X or Y.
            self._corrected_xy = self._xy(focus_map)
            return IDLE
        if not self._toolhead.known(focus_map.axes):
            self._set(WAITING, self._position_unknown(focus_map))
            return IDLE
        busy_until = self._toolhead.busy_until()
        if busy_until is not None and busy_until > self._toolhead.now():
            self._set(FOLLOWING)  # the XY motion has not ended: correct after it
            return min(interval, max(0.05, busy_until - self._toolhead.now()))
        xy = self._xy(focus_map)
        if self._corrected_xy is not None and all(abs(xy[a] - self._corrected_xy[a]) < XY_EPSILON for a in xy):
            if self.state not in (FOLLOWING, OUTSIDE):
                self._set(FOLLOWING)
            return interval
        blocked = device.z_blocked()
        if blocked:
            self._set(ERROR, blocked)
            return IDLE
        lens = device.lens()
        z = device.lens_slot.position(lens)
        if z is None:
            self._set(WAITING, say("follow.lens_unknown"))
            return IDLE
        decision = self._follower_for(focus_map, lens).decide(xy, z)
        wait = self._apply(decision, lens, focus_map, xy, interval)
        if decision.action != WAIT:
            self._corrected_xy = xy
        return wait

    def _xy(self, focus_map: FocusMap) -> Optional[Dict[str, float]]:
        """The commanded position on the map's axes, None while one is unknown."""
        here = self._toolhead.position()
        if any(here.get(axis) is None for axis in focus_map.axes):
            return None
        return {axis: float(here[axis]) for axis in focus_map.axes}

    def _apply(self, decision, lens, focus_map: FocusMap, where, interval: float) -> float:
        if decision.action == UNKNOWN:
            self._set(WAITING, self._position_unknown(focus_map))
            return IDLE
        self.target, self.clamped = decision.target, decision.clamped
        if decision.notice:
            self._say_outside(focus_map, where)
        self._set(OUTSIDE if decision.clamped else FOLLOWING, self.notice if decision.clamped else None)
        if decision.action == WAIT:
            return max(0.02, decision.due_in)
        if decision.action == MOVE:
            self._move(lens, decision.target)
        return interval

    def _move(self, lens, target: float) -> None:
        device = self._device
        started = time.monotonic()
        try:
            with device.jobs.scope("follow"):
                if device.driver == "printer-z":
                    device.do_move(target, cause="follow focus")
                else:
                    value = device.lens_slot.check_range(lens, target)
                    lens.move_to(value)
                    device.remember(lens.position)
        except Busy:
            self._set(BUSY)
            return
        self.moves += 1
        self._logger.debug("Follow focus on %s: lens to %s (%.0f ms)", device.name, target,
                           (time.monotonic() - started) * 1000)
        device.publish_status()

    # ~~ timelapse frames

    def before_timelapse_frame(self, wait: float) -> Optional[float]:
        """OctoPrint is about to take a timelapse frame: with follow on, put the lens at the map's
        value for where the toolhead is now, at once (no interval), waiting at most ``wait`` s
        for the device. Printer-Z devices never move in a print. Returns the target moved to,
        or None (nothing to do, or not possible now: the frame is taken anyway)."""
        device = self._device
        if not self.enabled or device.stopped or device.driver in ("", "printer-z"):
            return None
        try:
            focus_map = self.focus_map()
            if focus_map is None:
                return None
            where = self._toolhead.position_at(self._toolhead.now())
            if where is None or any(where.get(axis) is None for axis in focus_map.axes):
                return None
            with device.jobs.scope("follow", wait=wait):
                lens = device.lens()
                position = device.lens_slot.position(lens)
                decision = self._follower_for(focus_map, lens).target(where)
                if decision.action != MOVE:
                    return None
                if position is None or abs(decision.target - position) >= float(lens.resolution or 0) / 2:
                    lens.move_to(device.lens_slot.check_range(lens, decision.target))
                    device.remember(lens.position)
                    self.timelapse_moves += 1
            self._logger.info("Timelapse frame (device %s): lens at %s for the toolhead at %s", device.name,
                              decision.target, {a: round(v, 3) for a, v in where.items() if v is not None})
            return decision.target
        except (PiFocusError, ValueError, OSError) as exc:
            self._logger.info("Timelapse frame (device %s): lens not moved: %s", device.name, exc)
            return None

    # ~~ on demand

    def target_now(self, lens) -> Tuple[float, bool]:
        """The map's lens position for where the toolhead is now (after the moves sent):
        ``(target, clamped)``; the clamp is said every time (push and log).
        :class:`Unavailable` without a map or a known position."""
        device = self._device
        try:
            focus_map = self.focus_map()
        except FocusMapError as exc:
            raise Unavailable(str(exc)) from None
        if focus_map is None:
            raise Unavailable(say("follow.no_map", device=device.name))
        if device.driver == "printer-z" and "z" in focus_map.axes:
            raise Unavailable(say("follow.map_uses_z"))
        where = self._toolhead.position()
        if any(where.get(axis) is None for axis in focus_map.axes):
            raise Unavailable(self._position_unknown(focus_map))
        limits = tuple(float(v) for v in lens.limits)
        resolution = float(getattr(lens, "resolution", 0) or 0) or 1e-6
        decision = Follower(focus_map, limits, resolution, self.dof_width(lens)).target(where)
        if decision.action != MOVE:
            raise Unavailable(self._position_unknown(focus_map))
        if decision.clamped:
            self._say_outside(focus_map, where)
        return decision.target, decision.clamped

    # ~~ status and messages

    def _position_unknown(self, focus_map: FocusMap) -> str:
        return say("follow.position_unknown", axes=" ".join(a.upper() for a in focus_map.axes))

    def _say_outside(self, focus_map: FocusMap, where) -> None:
        try:
            axes = focus_map.evaluate(where).clamped_axes
        except FocusMapError:
            axes = focus_map.axes
        message = Message("follow.outside", device=self._device.name,
                          axes=" ".join(a.upper() for a in axes))
        self.notice = remember(message)
        self._logger.info("%s", self.notice)
        self._publish({"type": "follow", "state": OUTSIDE, "message": self.notice})

    def _set(self, state: str, notice: Optional[str] = None) -> None:
        changed = state != self.state or (notice is not None and notice != self.notice)
        self.state = state
        if state not in (OUTSIDE,):
            self.notice = notice
        if changed:
            self._device.publish_status()

    def status(self) -> Dict[str, Any]:
        """The ``follow`` part of the device's status (names the settings page reads)."""
        settings = self.settings()
        enabled = bool(settings["enabled"])
        return {
            "enabled": enabled,
            "active": enabled and self.state in (FOLLOWING, OUTSIDE),
            "state": self.state if enabled else OFF,
            "moves": self.moves,
            "timelapse_moves": self.timelapse_moves,
            "target": self.target,
            "clamped": self.clamped,
            "notice": self.notice,
            "interval": float(settings["interval"]),
            "threshold": float(settings["threshold"]),
            "dof_width": settings.get("dof_width"),
        }
