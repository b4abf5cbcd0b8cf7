"""One simulated lens and camera per focus device, while ``simulation.enabled`` is on.

The first device always has one (its webcam is ``pifocus_simulated``, as before devices); every
other device has one while its driver is ``simulated`` or ``printer-z`` (webcam
``pifocus_simulated_<id>``). Each renders its own scene (another seed) with its own focus, so
two devices focusing at once cannot pass for each other: the second device's VCM focus is
:data:`FOCUS_STEP` codes further, its Z focus :data:`Z_FOCUS_STEP` mm higher. A device on
printer Z sees the printer's Z (the microscope on the gantry). The settings (``simulation``)
are global (``focus_field`` lets a VCM device's sharp position follow the bed and a
printer-Z device's the tilted board under the toolhead); :meth:`Simulations.reset` rebuilds them after a save, each lens where it was.
"""
from __future__ import annotations

import dataclasses
import logging
import threading
from typing import Any, Callable, Dict, List, Optional, Tuple

from .device import SIMULATED_WEBCAM
from .simulation import Simulation, SimulationSettings, ToolheadSource

_logger = logging.getLogger(__name__)

#: How far apart the devices' simulated foci are (VCM codes, printer-Z mm), per device index.
FOCUS_STEP = 250.0
Z_FOCUS_STEP = 1.0


def webcam_name(device_id: str, first: bool) -> str:
    """The simulated webcam of a device: ``pifocus_simulated`` for the first."""
    return SIMULATED_WEBCAM if first else f"{SIMULATED_WEBCAM}_{device_id}"


class Simulations:
    """The simulations of the devices, built on first use.

    ``devices()`` lists ``(id, driver)`` in order; ``settings()`` reads the global section
    (None when refused: the error is the caller's to log); ``z_source()`` is the printer's Z.
    """

    def __init__(self, devices: Callable[[], List[Tuple[str, str]]],
                 settings: Callable[[], Optional[SimulationSettings]], z_source: Callable[[], Any],
                 logger: Optional[logging.Logger] = None, toolhead: Optional[ToolheadSource] = None) -> None:
        self._devices = devices
        #: The toolhead position the ``focus_field`` follows (None: the focus stays fixed).
        self._toolhead = toolhead
        self._settings = settings
        self._z_source = z_source
        self._logger = logger or _logger
        self._lock = threading.Lock()
        self._running: Dict[str, Simulation] = {}

    def simulated(self) -> List[Tuple[int, str, str]]:
        """``(index, id, driver)`` of the devices that have a simulation (the simulation on)."""
        return [(index, device_id, driver) for index, (device_id, driver) in enumerate(self._devices())
                if index == 0 or driver in ("simulated", "printer-z")]

    def device_for_webcam(self, name: str) -> Optional[str]:
        """The id of the device whose simulated webcam is ``name``, or None."""
        for index, device_id, _ in self.simulated():
            if webcam_name(device_id, index == 0) == name:
                return device_id
        return None

    def settings_for(self, index: int, driver: str) -> Optional[SimulationSettings]:
        settings = self._settings()
        if settings is None:
            return None
        if driver == "printer-z" and settings.lens != "printer_z":
            # Focusing with printer Z: the simulated camera is the microscope on the gantry.
            settings = dataclasses.replace(settings, lens="printer_z")
        if index:
            focus = settings.focus + FOCUS_STEP * index
            if focus > 1023:  # the other way, inside the VCM's 0..1023
                focus = max(0.0, settings.focus - FOCUS_STEP * index)
            settings = dataclasses.replace(settings, focus=focus, z_focus=settings.z_focus + Z_FOCUS_STEP * index)
        return settings

    def get(self, device_id: Optional[str] = None) -> Optional[Simulation]:
        """The simulation of device ``device_id`` (the first for None); None when it has none."""
        for index, candidate, driver in self.simulated():
            if device_id is None and index == 0 or candidate == device_id:
                return self._get(index, candidate, driver)
        return None

    def _get(self, index: int, device_id: str, driver: str) -> Optional[Simulation]:
        with self._lock:
            return self._build(index, device_id, driver)

    def _build(self, index: int, device_id: str, driver: str,
               lens_position: Optional[float] = None) -> Optional[Simulation]:
        """The running simulation of a device, built if it has none; under the lock."""
        simulation = self._running.get(device_id)
        if simulation is None:
            settings = self.settings_for(index, driver)
            if settings is None:
                return None
            source = self._z_source() if settings.lens == "printer_z" else None
            simulation = Simulation(settings, position_source=source, lens_position=lens_position,
                                    scene_seed=7 + index, toolhead=self._toolhead)
            self._running[device_id] = simulation
            self._logger.info("Simulated camera %s ready: %s", webcam_name(device_id, index == 0),
                              simulation.status())
        return simulation

    def reset(self, enabled: bool) -> None:
        """Rebuild from the settings, each simulated VCM where it is.

        All under the lock: a frame asked for meanwhile (a browser's stream, the drift watch)
        would otherwise build the device's simulation afresh, its VCM back at ``start``.
        """
        devices = self.simulated() if enabled else []
        with self._lock:
            old, self._running = self._running, {}
            for index, device_id, driver in devices:
                if device_id in old:
                    self._build(index, device_id, driver, lens_position=old[device_id].lens.position)

    def fps(self) -> float:
        running = list(self._running.values())
        return running[0].settings.fps if running else SimulationSettings.fps

    def streamed(self) -> bool:
        """Whether the devices read their simulated webcams as streams (``simulation.stream``)."""
        settings = self._settings()
        return bool(settings is not None and settings.stream)
