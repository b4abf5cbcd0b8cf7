"""What a focus device remembers: presets, last positions, the last run's result and curve.

Positions are in a driver's units (codes, dioptres, millimetres), so presets and last
positions are kept per driver: switching a device from one driver to another and back finds
the first driver's presets and position again. Presets are saved at once; the last position
is written a moment after the moves stop (``PERSIST_DELAY``), so a burst of nudges is one
settings write. The last autofocus's result and curve are kept for the status (the sidebar
draws them), and forgotten when the driver changes: a curve in another driver's units would
only mislead.
"""
from __future__ import annotations

import threading
from typing import Any, Callable, Dict, List, Optional

from flask_babel import gettext

from .. import settings as settings_rules
from .lens_slot import driver_label

#: Seconds without moves before the last position is written to the settings.
PERSIST_DELAY = 2.0


class DeviceMemory:
    """Presets and last positions from the device's settings (``presets``, ``last_position``),
    written back through ``persist(key, value)``; the running or last autofocus run."""

    def __init__(self, config: Dict[str, Any], persist: Callable[[str, Any], None]) -> None:
        self._persist = persist
        self._lock = threading.RLock()
        self._presets: List[Dict[str, Any]] = list(config.get("presets") or [])
        self._last: Dict[str, Any] = dict(config.get("last_position") or {})
        self._persist_timer: Optional[threading.Timer] = None
        self._curve: List[List[float]] = []
        #: [low, high] the current or last run searches (the curve's x axis from its first frame).
        self._search_range: Optional[List[float]] = None
        self._phase: Optional[str] = None
        self._progress = 0.0
        self._last_result: Optional[Dict[str, Any]] = None

    # ~~ presets

    def presets(self, driver: str) -> List[Dict[str, Any]]:
        """The presets of ``driver``, as the status shows them."""
        return [{"name": p["name"], "position": p["position"]} for p in self._presets if p["driver"] == driver]

    def find_preset(self, driver: str, name: str) -> Dict[str, Any]:
        """The preset of ``driver`` called ``name`` (without case); ValueError if there is none."""
        key = settings_rules.check_preset_name(name).casefold()
        for preset in self._presets:
            if preset["driver"] == driver and preset["name"].casefold() == key:
                return preset
        raise ValueError(gettext("There is no preset called %(name)s for the %(driver)s.",
                                 name=repr(name.strip()), driver=driver_label(driver)))

    def save_preset(self, driver: str, name: str, position: float) -> None:
        """Save (or replace) the preset ``name`` of ``driver``; ValueError when the driver has
        the most presets allowed already."""
        with self._lock:
            others = [p for p in self._presets
                      if not (p["driver"] == driver and p["name"].casefold() == name.casefold())]
            if len([p for p in others if p["driver"] == driver]) >= settings_rules.PRESETS_MAX:
                raise ValueError(gettext("At most %(count)d presets per driver; delete one first.",
                                         count=settings_rules.PRESETS_MAX))
            self._presets = others + [{"name": name, "position": settings_rules.tidy(float(position)),
                                       "driver": driver}]
            presets = list(self._presets)
        self._persist("presets", presets)

    def delete_preset(self, preset: Dict[str, Any]) -> None:
        """Delete ``preset`` (as :meth:`find_preset` gave it)."""
        with self._lock:
            self._presets = [p for p in self._presets if p is not preset]
            presets = list(self._presets)
        self._persist("presets", presets)

    # ~~ last positions

    def remember(self, driver: str, position: Any, stopped: bool = False) -> None:
        """Note ``position`` as ``driver``'s last one; written to the settings shortly after,
        at once when the device has ``stopped`` (no timer may outlive PiFocus)."""
        if position is None:
            return
        with self._lock:
            self._last[driver] = settings_rules.tidy(float(position))
        if stopped:
            self.flush()
            return
        with self._lock:
            if self._persist_timer is not None:
                self._persist_timer.cancel()
            self._persist_timer = threading.Timer(PERSIST_DELAY, self.flush)
            self._persist_timer.daemon = True
            self._persist_timer.start()

    def flush(self) -> None:
        """Write the last positions to the settings now."""
        with self._lock:
            if self._persist_timer is not None:
                self._persist_timer.cancel()
                self._persist_timer = None
            last = dict(self._last)
        self._persist("last_position", last)

    def last_position(self, driver: str) -> Optional[float]:
        return self._last.get(driver)

    # ~~ the autofocus run: live progress, then the result

    def begin_run(self) -> None:
        with self._lock:
            self._curve = []
            self._search_range = None
            self._phase = "coarse"
            self._progress = 0.0

    def set_search_range(self, search_range: Optional[List[float]]) -> None:
        with self._lock:
            self._search_range = search_range

    def add_sample(self, point: List[float], phase: Optional[str], fraction: float) -> None:
        with self._lock:
            self._curve.append(point)
            self._phase = phase
            self._progress = float(fraction)

    def end_run(self, result: Dict[str, Any], samples) -> None:
        """The run ended with ``result`` (``AutofocusResult.to_dict()``) and its ``samples``."""
        with self._lock:
            self._last_result = result
            self._curve = [[p, float(s)] for p, s in samples]
            self._phase = None
            self._progress = 1.0

    def forget_run(self) -> None:
        """The driver changed: the last curve and result are in other units."""
        with self._lock:
            self._curve, self._last_result, self._search_range = [], None, None

    def run_status(self) -> Dict[str, Any]:
        """``phase``, ``progress``, ``curve``, ``search_range`` and ``last_result`` for the status."""
        with self._lock:
            return {"phase": self._phase, "progress": round(self._progress, 4),
                    "curve": [list(p) for p in self._curve], "search_range": self._search_range,
                    "last_result": self._last_result}
