"""Lens drivers: the hardware that moves focus, without OctoPrint.

Every driver has ``limits``, ``resolution``, ``position``, ``move_to()`` (the engine's
:class:`~octoprint_pifocus.focus.protocols.Lens`), plus ``probe()``, ``close()``, ``name``,
``units``, an optional ``backlash`` and, where the hardware forgets, ``reapply()``.

* ``i2c``: a voice-coil driver chip on I2C (:mod:`.i2c_vcm`);
* ``v4l2``: the ``focus_absolute`` control of a webcam or kernel lens driver (:mod:`.v4l2`);
* ``camera-streamer``: ``LensPosition`` over camera-streamer's HTTP API (:mod:`.camera_streamer`);
* ``printer-z``: the printer's Z axis through a G-code port (:mod:`.printer_z`);
* ``simulated``: :class:`~octoprint_pifocus.sim.SimulatedLens`, for trying things out.
"""
from __future__ import annotations

import importlib
import inspect
from typing import Any, Dict, List, Optional

from .base import LensBase, nudge_target, probe_entry
from .camera_streamer import DEFAULT_URL, CameraStreamerLens
from .gcode_port import GcodePort, Positioning, parse_m114, track_positioning
from .i2c_vcm import CHIPS, DEFAULT_ADDRESS, I2CVCMLens
from .printer_z import PrinterZLens
from .v4l2 import V4L2Lens


#: Driver name -> its class, as "module:Class" so the simulator loads only when asked for.
DRIVERS: Dict[str, str] = {
    "i2c": ".i2c_vcm:I2CVCMLens",
    "v4l2": ".v4l2:V4L2Lens",
    "camera-streamer": ".camera_streamer:CameraStreamerLens",
    "printer-z": ".printer_z:PrinterZLens",
    "simulated": "..sim.lens:SimulatedLens",
}
_ALIASES = {"camera_streamer": "camera-streamer", "camerastreamer": "camera-streamer",
            "printer_z": "printer-z", "z": "printer-z", "sim": "simulated"}


def driver_name(driver: str) -> str:
    """The canonical name of ``driver``, or ``ValueError`` listing the choices."""
    key = str(driver).strip().lower()
    key = _ALIASES.get(key, key)
    if key not in DRIVERS:
        raise ValueError(f"Unknown lens driver {driver!r}: choose one of {', '.join(DRIVERS)}")
    return key


def driver_class(driver: str) -> type:
    module, _, cls = DRIVERS[driver_name(driver)].partition(":")
    return getattr(importlib.import_module(module, __name__), cls)


def open_lens(driver: str, **options: Any):
    """Open a lens by driver name, e.g. ``open_lens("i2c", bus=10, chip="dw9714")``.

    An option the driver does not have is a ``ValueError`` naming the ones it has, so a
    typo in a setting is reported, not silently ignored.
    """
    cls = driver_class(driver)
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(f"The {driver_name(driver)} driver has no option {', '.join(unknown)}; "
                         f"its options are: {', '.join(accepted)}")
    return cls(**options)


def probe_all(dev_dir: str = "/dev", url: Optional[str] = DEFAULT_URL, timeout: float = 0.5,
              address: int = DEFAULT_ADDRESS, chip: str = "dw9714", i2c_bus_factory: Any = None,
              v4l2_opener: Any = None, sys_dir: Optional[str] = None) -> List[Dict[str, Any]]:
    """Every focus device on this machine, as probe entries (see :func:`.base.probe_entry`).

    I2C: every ``/dev/i2c-*``, answered at ``address`` or not; V4L2: every node with
    ``focus_absolute`` (and nodes that could not be opened); camera-streamer at ``url``
    (``None`` skips it) with a short timeout. Entries with ``found`` False say why.
    """
    from . import i2c_vcm, v4l2

    entries = i2c_vcm.scan(address, dev_dir, i2c_bus_factory, False, chip)
    entries += v4l2.scan(dev_dir, v4l2_opener, sys_dir or v4l2.SYS_DIR)
    if url:
        entries.append(CameraStreamerLens(url=url, timeout=timeout).probe())
    return entries


__all__ = [
    "CHIPS", "DEFAULT_ADDRESS", "DEFAULT_URL", "DRIVERS", "CameraStreamerLens", "GcodePort",
    "I2CVCMLens", "LensBase", "Positioning", "PrinterZLens", "V4L2Lens", "driver_class", "driver_name",
    "nudge_target", "open_lens", "parse_m114", "probe_all", "probe_entry", "track_positioning",
]
