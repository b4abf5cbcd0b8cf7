"""The follow-focus timer: one thread for all devices, each looked at when its follow asks.

Each device's :class:`~.device.follow.DeviceFollow` says after every look when it wants the
next one (its ``follow.interval``, sooner when a move was held back by the interval, a second
when it is off); the loop sleeps until the earliest. Started with the plugin's other threads,
stopped with them (disabled, uninstalled, shutdown).
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Dict, Optional

from .background import BackgroundThread
from .devices import DeviceRegistry

_logger = logging.getLogger(__name__)


class FollowLoop(BackgroundThread):
    """Ticks every device's follow focus of ``devices`` in one background thread."""

    THREAD_NAME = "pifocus-follow"

    #: The longest sleep between looks at the devices (a device switched on is seen this soon).
    TICK = 0.5

    def __init__(self, devices: DeviceRegistry, logger: Optional[logging.Logger] = None) -> None:
        self.devices = devices
        self._logger = logger or _logger
        super().__init__()
        self._due: Dict[str, float] = {}

    def _loop(self, stop: threading.Event) -> None:
        while not stop.is_set():
            now = time.monotonic()
            for device in self.devices:
                if now < self._due.get(device.id, 0.0):
                    continue
                try:
                    wait = device.follow.tick()
                except Exception:
                    self._logger.exception("Follow focus failed (device %s)", device.name)
                    wait = self.TICK
                self._due[device.id] = time.monotonic() + wait
            soonest = min(self._due.values(), default=now + self.TICK)
            stop.wait(min(self.TICK, max(0.01, soonest - time.monotonic())))
