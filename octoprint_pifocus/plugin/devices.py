"""The registry of focus devices: one :class:`~.controller.FocusController` per device.

A focus device is a lens, a camera and what belongs to them (settings ``devices[]``, see
:mod:`.settings`). Each device runs one job at a time; devices run in parallel, except for
what they share: the printer. Two devices that both move printer Z would move the same axis,
so :class:`ZGate` lets one printer-Z job run at a time across devices; the second is refused
(409) with the name of the device that holds Z.

The registry builds a controller for each device from the checked settings, keeps it while the
device exists (its id never changes, a rename keeps the running job and the curve), finds a
device by id or by name (without case), and says which devices there are when one is unknown.
"""
from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Dict, Iterator, List, Optional

from flask_babel import gettext

from . import settings as settings_rules
from .controller import FocusController

_logger = logging.getLogger(__name__)


class UnknownDevice(ValueError):
    """A request named a device that does not exist (HTTP 400): the message lists the known ones."""


class ZGate:
    """At most one printer-Z job at a time, across all devices."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holder: Optional[FocusController] = None

    def acquire(self, device: FocusController) -> Optional[FocusController]:
        """Take Z for ``device``; returns the other device that holds it (nothing taken), or None."""
        with self._lock:
            if self._holder is None or self._holder is device:
                self._holder = device
                return None
            return self._holder

    def release(self, device: FocusController) -> None:
        with self._lock:
            if self._holder is device:
                self._holder = None

    @property
    def holder(self) -> Optional[FocusController]:
        return self._holder


class DeviceRegistry:
    """The devices in the order of the settings; the first is the one a request naming none means.

    ``make(config, gate)`` builds the controller of a device from its flat settings
    (:func:`settings.flat`); the plugin passes its wiring (port, simulation, publish...) in it.
    """

    def __init__(self, make: Callable[[Dict[str, Any], ZGate], FocusController],
                 logger: Optional[logging.Logger] = None) -> None:
        self._make = make
        self._logger = logger or _logger
        self._lock = threading.RLock()
        self._devices: List[FocusController] = []
        self.z_gate = ZGate()

    def configure(self, checked: Dict[str, Any]) -> List[FocusController]:
        """Devices as ``checked`` settings say: new ones built, known ones (by id) reconfigured,
        removed ones shut down. Returns the removed controllers."""
        with self._lock:
            known = {device.id: device for device in self._devices}
            devices: List[FocusController] = []
            for entry in checked["devices"]:
                config = settings_rules.flat(checked, entry["id"])
                device = known.pop(entry["id"], None)
                if device is None:
                    device = self._make(config, self.z_gate)
                else:
                    device.configure(config)
                devices.append(device)
            self._devices = devices
            removed = list(known.values())
        for device in removed:
            self._logger.info("Focus device %s (%s) removed", device.name, device.id)
            device.shutdown()
        return removed

    def __iter__(self) -> Iterator[FocusController]:
        with self._lock:
            return iter(list(self._devices))

    def __len__(self) -> int:
        return len(self._devices)

    @property
    def first(self) -> FocusController:
        with self._lock:
            return self._devices[0]

    def find(self, key: Any = None) -> FocusController:
        """The device with id ``key``, else the one named ``key`` (without case); the first
        for None or ""; :class:`UnknownDevice` otherwise."""
        with self._lock:
            devices = list(self._devices)
        if key is None or key == "":
            return devices[0]
        if isinstance(key, str):
            for device in devices:
                if device.id == key:
                    return device
            wanted = key.strip().casefold()
            for device in devices:
                if device.name.casefold() == wanted:
                    return device
        raise UnknownDevice(gettext("Unknown focus device %(device)s: use one of %(known)s (name or id)",
                                    device=settings_rules.shown(key),
                                    known=", ".join(f"{d.name!r} ({d.id})" for d in devices)))

    def status(self, permissions: Optional[Dict[str, bool]] = None) -> Dict[str, Any]:
        """The first device's status (today's fields) with ``devices``: every device's status."""
        statuses = [device.status(permissions=permissions) for device in self]
        body = dict(statuses[0])
        body["devices"] = statuses
        return body

    def publish_status(self) -> None:
        for device in self:
            device.publish_status()

    def shutdown(self, message: str = "") -> None:
        """Stop every device (see :meth:`FocusController.shutdown`); ``message`` is what their
        refused operations say."""
        for device in self:
            device.shutdown(message)

    def resume(self) -> None:
        for device in self:
            device.resume()
