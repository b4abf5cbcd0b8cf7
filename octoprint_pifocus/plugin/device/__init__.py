"""One focus device: a lens, a camera, one job at a time, and what it remembers.

The device is :class:`~.device.FocusDevice`; its parts are modules of their own so that each
reads as one job: :mod:`.lens_slot` (the lens from the settings), :mod:`.camera_slot` (the camera),
:mod:`.jobs` (one job at a time, printer Z shared across devices), :mod:`.memory` (presets, last
positions, the last run) and :mod:`.conflicts` (the 409 refusals). The registry of devices is
:mod:`..devices`; the plugin class (:mod:`..core`) only wires them to OctoPrint.
"""
from .camera_slot import SIMULATED_WEBCAM
from .conflicts import Busy, Conflict, Unavailable, ZBlocked
from .device import FocusDevice
from .jobs import HOLD_WAIT, IDLE_TIMEOUT, SHUTDOWN_WAIT, Job
from .memory import PERSIST_DELAY

__all__ = ["FocusDevice", "Busy", "Conflict", "Unavailable", "ZBlocked", "Job", "SIMULATED_WEBCAM",
           "HOLD_WAIT", "IDLE_TIMEOUT", "SHUTDOWN_WAIT", "PERSIST_DELAY"]
