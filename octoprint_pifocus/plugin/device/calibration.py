"""A focus device's focus map: calibrating it, keeping it, and what the UI sees of it.

Calibrating is ONE job of the device (``calibrate``: every other job is refused while it
runs, as during an autofocus). For each point of the checked plan
(:mod:`.calibration_plan`) the printer moves there (``G90``, ``G0``, ``M400`` and its ``ok``),
then the device's own autofocus runs (:meth:`~.device.FocusDevice.autofocus_now`, with its
Z rules and its progress pushes), and the point is pushed to the browsers. At the end the map
is fitted (:meth:`~...followfocus.FocusMap.fit`) and stored in the device's settings
(``focus_map``, written only here). A failed autofocus is kept as a flagged point; dropping
or redoing a point fits the map again.

It never starts while the printer is disconnected, printing or (when the device requires it)
not homed, and it stops when a print starts. Cancelled, it brings the printer back to where
the calibration found it (the autofocus brings the lens back to where its search started),
and the stored map stays as it was.
"""
from __future__ import annotations

import copy
import json
import logging
import threading
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from ...errors import PiFocusError
from ...followfocus import CalibrationPoint, FocusMap, FocusMapError, calibrate, parse_position_report
from ...messages import Message, remember, text_of
from .calibration_plan import Plan, PlanError, parse_plan, profile_bounds
from .conflicts import Busy, Conflict
from .follow import default_dof
from .jobs import job_name
from .lens_slot import driver_units
from .map_summary import summarize

_logger = logging.getLogger(__name__)

#: Seconds to wait for M114's answer.
POSITION_TIMEOUT = 10.0
#: Seconds a move may take beyond its distance at the profile's speed (queue, acceleration).
MOVE_SLACK = 30.0
#: How far (mm) the printer's reported position may be from the point it was sent to.
REACHED_TOLERANCE = 0.05
#: Feed rates (mm/min) when the printer profile gives none.
DEFAULT_SPEEDS = {"x": 6000.0, "y": 6000.0, "z": 200.0}


def _content_key(stored: Optional[Dict[str, Any]]) -> Optional[str]:
    """A stored map as a string that changes whenever its content does (None: no map)."""
    return None if stored is None else json.dumps(stored, sort_keys=True, default=str)


class CalibrationRefused(Conflict):
    """The printer cannot be moved for a calibration now (HTTP 409); nothing moved."""


class Calibration:
    """The focus map of ``device`` (a :class:`~.device.FocusDevice`) and its calibration job.

    ``profile()`` gives OctoPrint's current printer profile (its volume and axis speeds);
    ``persist(key, value)`` writes a device setting; ``simulation()`` the device's simulation
    or None (its blur rate gives the depth of field).
    """

    def __init__(self, device, port, profile: Callable[[], Optional[Mapping[str, Any]]],
                 persist: Callable[[str, Any], None], simulation: Callable[[], Any],
                 logger: Optional[logging.Logger] = None) -> None:
        self._device = device
        self._port = port
        self._profile = profile
        self._persist = persist
        self._simulation = simulation
        self._logger = logger or _logger
        self._lock = threading.RLock()
        self._map_key: Optional[str] = None  # the stored map the cache was fitted from, as JSON
        self._map: Optional[FocusMap] = None
        self._map_error: Optional[str] = None
        self._summary: Optional[tuple] = None
        #: The running or last calibration: what the status shows under "calibration".
        self._state: Optional[Dict[str, Any]] = None

    # ~~ the stored map

    def stored_map(self) -> Tuple[Optional[FocusMap], Optional[str]]:
        """``(map, error)``: the device's stored map fitted once per stored version (None
        without one), or why it cannot be used. The one fit that calibration, follow focus and
        the drift watch share; keyed on the map's content, so a map changed in place is refitted."""
        with self._lock:
            stored = self._device.config.get("focus_map")
            key = _content_key(stored)
            if key != self._map_key:
                self._map_key, self._map, self._map_error = key, None, None
                if stored is not None:
                    try:
                        self._map = FocusMap.from_dict(stored)
                    except FocusMapError as exc:
                        self._map_error = str(exc)
                        self._logger.error("The focus map of %s is not usable: %s", self._device.name, exc)
            return self._map, self._map_error

    def focus_map(self) -> Optional[FocusMap]:
        """The device's map; None without one, or with one that cannot be used (logged)."""
        return self.stored_map()[0]

    def _store(self, fmap: Optional[FocusMap]) -> None:
        data = fmap.to_dict() if fmap is not None else None
        with self._lock:
            # The device reads its settings from this dict (follow mode too): in force at once.
            self._device.config["focus_map"] = data
            self._map_key = _content_key(data)
            self._map, self._map_error = fmap, None
        self._persist("focus_map", data)

    def dof_width(self) -> float:
        """The depth of field in lens units, as follow mode counts it (``follow.dof_width``,
        else the driver's default): the map's errors are in the units the follower moves by."""
        follow = self._device.config.get("follow")
        if isinstance(follow, Mapping) and follow.get("dof_width"):
            return float(follow["dof_width"])
        lens = self._device.lens()
        return default_dof(self._device.driver, lens.limits)

    # ~~ the status

    def summary(self) -> Optional[Dict[str, Any]]:
        """The map for the status (see :func:`.map_summary.summarize`), or None; made once
        per map and units (the status is asked for often)."""
        fmap = self.focus_map()
        if fmap is None:
            return None
        units = self._units()
        with self._lock:
            if self._summary is None or self._summary[0] is not fmap or self._summary[1] != units:
                self._summary = (fmap, units, summarize(fmap, units=units))
            return copy.deepcopy(self._summary[2])

    def state(self) -> Optional[Dict[str, Any]]:
        """The running or last calibration: ``{"running", "index", "count", "points",
        "message", "outcome"}``, None before the first."""
        with self._lock:
            return None if self._state is None else dict(self._state, points=list(self._state["points"]))

    def _units(self) -> Optional[str]:
        lens, _error = self._device.lens_slot.peek()
        return getattr(lens, "units", None) if lens is not None else driver_units(self._device.driver)

    # ~~ refusals

    def refusal(self) -> Optional[Message]:
        """Why the printer may not be moved for a calibration now, or None."""
        port = self._port
        if port is None or not port.is_connected():
            return Message("calibration.not_connected")
        if port.is_printing():
            return Message("calibration.printing")
        config = self._device.config
        require_homed = config["printer_z"]["require_homed"] if self._device.driver == "printer-z" else True
        if require_homed and port.is_homed() is not True:
            return Message("calibration.not_homed")
        return None

    def _check_can_move(self) -> None:
        refused = self.refusal()
        if refused is not None:
            raise CalibrationRefused(refused)

    # ~~ here: the toolhead's position

    def here(self) -> Dict[str, float]:
        """The toolhead position in mm (``M114``): what the "here" button fills in."""
        port = self._port
        if port is None or not port.is_connected():
            raise CalibrationRefused(Message("calibration.not_connected"))
        try:
            reply = port.query("M114", POSITION_TIMEOUT)
        except (OSError, TimeoutError) as exc:
            raise CalibrationRefused(Message("calibration.position_unknown", error=str(exc))) from None
        for line in reply.splitlines():
            found = parse_position_report(line)
            if found is not None:
                return found
        raise CalibrationRefused(Message("calibration.position_unknown", error=repr(reply[:80])))

    # ~~ calibrating

    def start(self, data: Mapping[str, Any]) -> None:
        """Check the request, claim the device's job and calibrate in the background.

        Raises ``ValueError`` (400) for a bad plan, :class:`~.conflicts.Conflict` (409) while
        the printer cannot move or another job runs; nothing has moved then."""
        plan = self._plan(data)
        self._begin(plan, replace=None)

    def redo(self, index: int) -> None:
        """Visit point ``index`` of the map again, replace it and fit again (in the background)."""
        fmap = self._need_map()
        point = self._point(fmap, index)
        plan = Plan(fmap.axes, [{a: float(point.position[a]) for a in fmap.axes}], fmap.surface)
        self._check_plan_bounds(plan)
        self._begin(plan, replace=index)

    def drop(self, index: int) -> None:
        """Leave point ``index`` out and fit again; refused when the rest cannot carry a map."""
        self._refuse_while_busy()
        fmap = self._need_map()
        self._point(fmap, index)
        points = [p for i, p in enumerate(fmap.points) if i != index]
        try:
            fitted = FocusMap.fit(points, fmap.axes, fmap.surface, self.dof_width())
        except FocusMapError as exc:
            raise PlanError(Message("calibration.fit_failed", error=str(exc))) from None
        self._store(fitted)
        self._logger.info("Focus map of %s: point %d dropped, %d left", self._device.name, index + 1, len(points))

    def clear(self) -> None:
        self._refuse_while_busy()
        self._store(None)
        with self._lock:
            self._state = None
        self._logger.info("Focus map of %s cleared", self._device.name)

    def _refuse_while_busy(self) -> None:
        job = self._device.job
        if job is not None:
            raise Busy(Message("device.busy", what=job_name(job.kind)))

    def _need_map(self) -> FocusMap:
        fmap = self.focus_map()
        if fmap is None:
            raise PlanError(Message("calibration.no_map"))
        return fmap

    @staticmethod
    def _point(fmap: FocusMap, index: Any) -> CalibrationPoint:
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(fmap.points):
            raise PlanError(Message("calibration.no_point", index=str(index + 1 if isinstance(index, int) else index)))
        return fmap.points[index]

    def _plan(self, data: Mapping[str, Any]) -> Plan:
        return parse_plan(data, printer_z=self._device.driver == "printer-z", bounds=profile_bounds(self._profile()))

    def _check_plan_bounds(self, plan: Plan) -> None:
        parse_plan({"axes": list(plan.axes), "points": plan.positions * 2, "surface": plan.surface},
                   printer_z=self._device.driver == "printer-z", bounds=profile_bounds(self._profile()))

    def _begin(self, plan: Plan, replace: Optional[int]) -> None:
        self._check_can_move()
        job = self._device.jobs.claim("calibrate")
        try:
            # The printer moves: no other device's printer-Z job may move it meanwhile.
            self._device.jobs.take_z(job)
            self._check_can_move()
            self._device.lens()  # a usable lens, or Unavailable now rather than at the first point
        except BaseException:
            self._device.jobs.release(job)
            raise
        with self._lock:
            self._state = {"running": True, "index": 0, "count": len(plan.positions), "points": [],
                           "message": None, "outcome": None, "redo": replace}
        thread = threading.Thread(target=self._run, args=(job, plan, replace), name="pifocus-calibrate", daemon=True)
        thread.start()
        self._device.publish_status()

    def _run(self, job, plan: Plan, replace: Optional[int]) -> None:
        outcome, message = "failed", None
        start: Optional[Dict[str, float]] = None
        try:
            start = self.here()
            visits = iter(range(1, len(plan.positions) + 1))
            points = calibrate(plan.positions, go_to=lambda p: self._go_to(job, p, next(visits)),
                               focus=lambda: self._device.autofocus_now(job, False, "calibration"),
                               progress=lambda i, point: self._progress(i, point),
                               should_cancel=job.cancel.is_set)
            if job.cancel.is_set() or len(points) < len(plan.positions):
                outcome = "cancelled"
                message = Message("calibration.print_started") if job.print_started else None
            else:
                fitted = self._fit(points, plan, replace)
                self._store(fitted)
                outcome = "done"
                self._logger.info("Focus map of %s calibrated: %s over %s, %d points, expected error %s",
                                  self._device.name, fitted.kind, "".join(fitted.axes), len(fitted.points),
                                  fitted.expected_error)
        except FocusMapError as exc:
            message = Message("calibration.fit_failed", error=str(exc))
        except _MoveFailed as exc:
            message = exc.msg
        except (PiFocusError, ValueError, OSError, TimeoutError) as exc:
            message = Message("calibration.move_failed", index="-", error=text_of(exc))
        except Exception:
            self._logger.exception("Calibration crashed")
            message = Message("calibration.move_failed", index="-", error="internal error")
        if outcome != "done" and start is not None and not job.print_started and not self._port.is_printing():
            self._return(start, plan)
        if message is not None:
            self._logger.warning("Calibration of %s: %s", self._device.name, message)
        with self._lock:
            if self._state is not None:
                self._state.update(running=False, outcome=outcome,
                                   message=remember(message) if message is not None else None)
        self._device.jobs.release(job)
        self._device.publish({"type": "calibration", "calibration": self.state()})
        self._device.publish_status()

    def _fit(self, points: List[CalibrationPoint], plan: Plan, replace: Optional[int]) -> FocusMap:
        if replace is not None:
            old = self._need_map()
            merged = list(old.points)
            merged[replace] = points[0]
            return FocusMap.fit(merged, old.axes, old.surface, self.dof_width())
        return FocusMap.fit(points, plan.axes, plan.surface, self.dof_width())

    def _progress(self, index: int, point: CalibrationPoint) -> None:
        entry = dict(point.to_dict(), index=index)
        with self._lock:
            if self._state is not None:
                self._state["points"].append(entry)
                self._state["index"] = index + 1
        self._device.publish({"type": "calibration", "calibration": self.state()})

    # ~~ moving the printer

    def _go_to(self, job, position: Mapping[str, float], index: int) -> None:
        """Move the toolhead to ``position`` and wait until it is there.

        Checked again before each move: a print that started, a disconnect, a cancel stop it.
        Z up first, then X/Y, then Z down, so the nozzle never sweeps low across the bed."""
        with self._lock:
            if self._state is not None:
                self._state["index"] = index - 1
        if job.cancel.is_set():
            return
        refused = self.refusal()
        if refused is not None:
            if self._port.is_connected() and self._port.is_printing():
                job.print_started = True
            raise _MoveFailed(Message("calibration.move_failed", index=str(index), error=refused))
        try:
            self._move(position)
        except (OSError, TimeoutError) as exc:
            raise _MoveFailed(Message("calibration.move_failed", index=str(index), error=str(exc))) from None

    def _move(self, position: Mapping[str, float]) -> None:
        speeds = self._speeds()
        current = self.here()
        lines = ["G90"]
        xy = {a: position[a] for a in ("x", "y") if a in position}
        z = position.get("z")
        distance = sum(abs(position[a] - current.get(a, 0.0)) for a in position)
        if z is not None and z > current["z"]:
            lines.append(f"G0 Z{z:.3f} F{speeds['z']:.0f}")
        if xy:
            feed = min(speeds[a] for a in xy)
            lines.append("G0 " + " ".join(f"{a.upper()}{v:.3f}" for a, v in xy.items()) + f" F{feed:.0f}")
        if z is not None and z <= current["z"]:
            lines.append(f"G0 Z{z:.3f} F{speeds['z']:.0f}")
        self._port.send(lines)
        slowest = min(speeds[a] for a in position) / 60.0
        self._port.wait_idle(MOVE_SLACK + distance / max(slowest, 0.1))
        # The printer's own word that it is there: also corrects the toolhead PiFocus follows
        # from the G-code sent (its timing of a move is an estimate).
        reached = self.here()
        off = [a for a in position if abs(reached.get(a, position[a]) - position[a]) > REACHED_TOLERANCE]
        if off:
            raise OSError(f"the printer reports {', '.join(f'{a.upper()} {reached[a]:g}' for a in off)} "
                          f"after the move to {', '.join(f'{a.upper()} {position[a]:g}' for a in off)}")

    def _return(self, start: Mapping[str, float], plan: Plan) -> None:
        """Back to where the calibration found the printer (on the axes it moved)."""
        axes = [a for a in plan.axes if not (a == "z" and self._device.driver == "printer-z")]
        try:
            if self._port.is_connected():
                self._move({a: float(start[a]) for a in axes})
                self._logger.info("Calibration stopped: printer back at %s", {a: start[a] for a in axes})
        except (PiFocusError, OSError, TimeoutError) as exc:
            self._logger.warning("Moving the printer back after the calibration failed: %s", exc)

    def _speeds(self) -> Dict[str, float]:
        profile = self._profile() or {}
        axes = profile.get("axes") if isinstance(profile, Mapping) else None
        speeds = dict(DEFAULT_SPEEDS)
        for axis in speeds:
            try:
                value = float(axes[axis]["speed"])
            except (KeyError, TypeError, ValueError):
                continue
            if value > 0:
                speeds[axis] = value
        return speeds


class _MoveFailed(PiFocusError):
    """A move of the calibration was refused or failed; the message says which point."""
