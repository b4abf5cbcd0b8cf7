"""A focus device's lens: built from its settings, opened once or made fresh, probed and tested.

The drivers differ in what opening means, and this module is the one place that knows it:

* ``simulated`` is the simulation's VCM (the device's own simulation, see :mod:`..simulations`);
* ``printer-z`` is a :class:`~octoprint_pifocus.lenses.printer_z.PrinterZLens` over the plugin's
  G-code port, made afresh for every operation: it holds no hardware, and a fresh one asks the
  printer where Z is instead of trusting a position someone may have jogged away from;
* the hardware drivers (``i2c``, ``v4l2``, ``camera-streamer``) are opened once, kept, and
  reopened when their options change; an error opening them is kept for the status.

It also holds the lens arithmetic the device needs before moving (a position inside the range,
snapped to the lens's steps), so the rules of a lens stay with the lens.
"""
from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Dict, List, Optional, Tuple

from flask_babel import gettext

from ...errors import PiFocusError
from ...lenses import open_lens
from ...lenses.base import describe, format_number, probe_entry, snap
from ...lenses.printer_z import PrinterZLens
from .conflicts import Conflict, Unavailable

#: Drivers whose lens is hardware PiFocus opens once and keeps open.
HARDWARE_DRIVERS = ("i2c", "v4l2", "camera-streamer")


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


def driver_units(driver: str) -> Optional[str]:
    """The units of a driver's positions, known before its lens is open."""
    return {"simulated": "code", "i2c": "code", "v4l2": "code", "camera-streamer": "dioptre",
            "printer-z": "mm"}.get(driver)


class LensSlot:
    """The lens of one device. ``config()`` gives the device's checked flat settings,
    ``stopped()`` why the device stopped (None while it runs), ``print_held()`` whether a print
    is held for it (a printer-Z lens may move then)."""

    def __init__(self, config: Callable[[], Dict[str, Any]], *, port, simulation: Callable[[], Any],
                 simulation_problem: Callable[[], str], stopped: Callable[[], Optional[str]],
                 print_held: Callable[[], bool], logger: logging.Logger) -> None:
        self._config = config
        self.port = port
        self._simulation = simulation
        self._simulation_problem = simulation_problem
        self._stopped = stopped
        self._print_held = print_held
        self._logger = logger
        self._lens = None
        self._key: Optional[str] = None
        self._error: Optional[str] = None
        self._open_lock = threading.Lock()

    @property
    def driver(self) -> str:
        return self._config()["driver"]

    @property
    def opened(self):
        """The hardware lens held open, or None."""
        return self._lens

    # ~~ opening and closing

    def hardware_key(self) -> Optional[str]:
        """What identifies the open hardware lens (driver and options); None for other drivers."""
        driver = self.driver
        section = {"i2c": "i2c", "v4l2": "v4l2", "camera-streamer": "camera_streamer"}.get(driver)
        return None if section is None else f"{driver}:{sorted(self._config()[section].items())!r}"

    def reconfigured(self) -> bool:
        """After new settings: close a lens whose options changed, forget the last error.
        True when a hardware lens should be opened now (none is open)."""
        if self._lens is not None and self._key != self.hardware_key():
            self.drop()
        self._error = None
        return self.hardware_key() is not None and self._lens is None

    def drop(self) -> None:
        """Close the hardware lens; the next operation opens it again."""
        with self._open_lock:
            lens, self._lens, self._key = self._lens, None, None
        if lens is not None:
            try:
                lens.close()
            except Exception:  # closing a lens that already failed must not stop a reconfigure
                self._logger.exception("Closing the lens failed")

    def open(self) -> None:
        """Open the hardware lens now (in the background at start-up), noting any error."""
        try:
            self.lens()
        except Conflict:
            pass

    def lens(self):
        """The lens for the next operation; :class:`Unavailable` with the reason otherwise."""
        stopped = self._stopped()
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
            lens = self._printer_z(require_homed=self._config()["printer_z"]["require_homed"])
            lens.print_held = self._print_held()
            return lens
        key = self.hardware_key()
        with self._open_lock:
            if self._lens is not None and self._key == key:
                return self._lens
            try:
                lens = self._open_hardware(driver)
            except (PiFocusError, ValueError, OSError) as exc:
                self._error = str(exc)
                self._logger.warning("Opening the %s lens failed: %s", driver, exc)
                raise Unavailable(str(exc)) from None
            self._lens, self._key, self._error = lens, key, None
            self._logger.info("Lens opened: %s", describe(lens, with_range=True))
            return lens

    def _printer_z(self, **options: Any) -> PrinterZLens:
        """A fresh printer-Z lens with the device's window, feedrate, resolution and backlash."""
        z = self._config()["printer_z"]
        return PrinterZLens(self.port, window=(z["min"], z["max"]), feedrate=z["feedrate"],
                            resolution=z["resolution"], backlash=z["backlash"], **options)

    def _open_hardware(self, driver: str):
        config = self._config()
        if driver == "i2c":
            o = config["i2c"]
            return open_lens("i2c", bus=o["bus"], address=o["address"], chip=o["chip"], force=o["force"])
        if driver == "v4l2":
            return open_lens("v4l2", device=config["v4l2"]["device"] or None)
        o = config["camera_streamer"]
        return open_lens("camera-streamer", url=o["url"], device=o["device"] or None,
                         limits=(o["min"], o["max"]))

    def peek(self) -> Tuple[Any, Optional[str]]:
        """The lens and the reason it is unusable, without opening hardware (for the status)."""
        if self.driver in HARDWARE_DRIVERS:
            if self._lens is not None and self._key == self.hardware_key():
                return self._lens, None
            return None, self._error or gettext("Opening the lens...")
        try:
            return self.lens(), None
        except Conflict as exc:
            return None, str(exc)

    # ~~ positions

    def position(self, lens) -> Optional[float]:
        """The lens position as the UI shows it (no printer round trip), None if unknown."""
        if isinstance(lens, PrinterZLens):
            return self.port.current_z()
        if lens is None or not getattr(lens, "position_known", True):
            return None
        return lens.position

    @staticmethod
    def check_range(lens, value: float) -> float:
        """``value`` inside the lens's range (ValueError otherwise), snapped to its steps."""
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

    @staticmethod
    def apply(lens, value) -> None:
        """Put the lens at ``value``; one already there is only told again (a restarted camera
        may have lost the control's value) when the driver can do that."""
        reapply = getattr(lens, "reapply", None)
        if callable(reapply) and getattr(lens, "position_known", True) and lens.position == value:
            if reapply() is not False:
                return
        lens.move_to(value)

    @staticmethod
    def test_step(lens) -> Tuple[float, float]:
        """Nudge ``lens`` one small step and back; returns (start, target)."""
        start = lens.position
        low, high = lens.limits
        step = max(float(getattr(lens, "resolution", 0) or 0), (high - low) * 0.02)
        if isinstance(low, int) and isinstance(high, int):
            step = max(1, int(round(step)))
        target = start + step if start + step <= high else start - step
        lens.move_to(target)
        lens.move_to(start)
        return start, target

    # ~~ probe

    def probe(self, driver: Optional[str] = None) -> List[Dict[str, Any]]:
        """Probe entries (see ``lenses.base.probe_entry``) for one driver or all of them."""
        from ...lenses import i2c_vcm, v4l2
        from ...lenses.camera_streamer import CameraStreamerLens

        config = self._config()
        drivers = [driver] if driver else ["i2c", "v4l2", "camera-streamer", "printer-z", "simulated"]
        entries: List[Dict[str, Any]] = []
        for name in drivers:
            try:
                if name == "i2c":
                    o = config["i2c"]
                    found = i2c_vcm.scan(o["address"], "/dev", None, o["force"], o["chip"])
                    entries += found or [probe_entry("i2c", "/dev/i2c-*", found=False, message=gettext(
                        "No I2C buses (/dev/i2c-N) on this machine: enable the camera's I2C bus."))]
                elif name == "v4l2":
                    found = v4l2.scan("/dev")
                    entries += found or [probe_entry("v4l2", "/dev/video*", found=False, message=gettext(
                        "No V4L2 device with a focus_absolute control found."))]
                elif name == "camera-streamer":
                    o = config["camera_streamer"]
                    entries.append(CameraStreamerLens(url=o["url"], device=o["device"] or None,
                                                      limits=(o["min"], o["max"]), timeout=1.0).probe())
                elif name == "printer-z":
                    entries.append(self._printer_z().probe())
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
