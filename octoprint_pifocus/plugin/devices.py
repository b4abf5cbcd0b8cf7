"""The registry of focus devices: one :class:`~.device.FocusDevice` per device.

A focus device is a lens, a camera and what belongs to them (settings ``devices[]``, see
:mod:`.settings`). Each device runs one job at a time; devices run in parallel, except for
what they share: the printer. Two devices that both move printer Z would move the same axis,
so :class:`ZGate` lets one printer-Z job run at a time across devices; the second is refused
(409) with the name of the device that holds Z.

The registry builds a device from its checked settings, keeps it while the device exists (its
id never changes, a rename keeps the running job and the curve), finds a device by id or by
name (without case), says which devices there are when one is unknown, and does for all devices
at once what the plugin asks of them: start up, report their status, stop and resume.
"""
from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Dict, Iterable, Iterator, List, NamedTuple, Optional

from flask_babel import gettext

from . import settings as settings_rules
from .device import FocusDevice

_logger = logging.getLogger(__name__)


class UnknownDevice(ValueError):
    """A request named a device that does not exist (HTTP 400): the message lists the known ones."""


class Change(NamedTuple):
    """What :meth:`DeviceRegistry.configure` did to the list of devices."""

    added: List[FocusDevice]
    removed: List[FocusDevice]


class ZGate:
    """At most one printer-Z job at a time, across all devices."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holder: Optional[FocusDevice] = None

    def acquire(self, device: FocusDevice) -> Optional[FocusDevice]:
        """Take Z for ``device``; returns the other device that holds it (nothing taken), or None."""
        with self._lock:
            if self._holder is None or self._holder is device:
                self._holder = device
                return None
            return self._holder

    def release(self, device: FocusDevice) -> None:
        with self._lock:
            if self._holder is device:
                self._holder = None

    @property
    def holder(self) -> Optional[FocusDevice]:
        return self._holder


class DeviceRegistry:
    """The devices in the order of the settings; the first is the one a request naming none means.

    ``make(config, gate)`` builds a device from its flat settings
    (:func:`settings.flat`); the plugin passes its wiring (port, simulation, publish...) in it.
    """

    def __init__(self, make: Callable[[Dict[str, Any], ZGate], FocusDevice],
                 logger: Optional[logging.Logger] = None) -> None:
        self._make = make
        self._logger = logger or _logger
        self._lock = threading.RLock()
        self._devices: List[FocusDevice] = []
        self.z_gate = ZGate()

    def configure(self, checked: Dict[str, Any]) -> Change:
        """Devices as ``checked`` settings say: new ones built, known ones (by id) reconfigured,
        removed ones shut down. Returns the devices added and removed."""
        with self._lock:
            known = {device.id: device for device in self._devices}
            devices: List[FocusDevice] = []
            added: List[FocusDevice] = []
            for entry in checked["devices"]:
                config = settings_rules.flat(checked, entry["id"])
                device = known.pop(entry["id"], None)
                if device is None:
                    device = self._make(config, self.z_gate)
                    added.append(device)
                else:
                    device.configure(config)
                devices.append(device)
            self._devices = devices
            removed = list(known.values())
        for device in removed:
            self._logger.info("Focus device %s (%s) removed", device.name, device.id)
            device.shutdown()
        return Change(added, removed)

    def start_up(self, should_stop: Callable[[], bool]) -> bool:
        """At start-up, device by device: open its lens and restore its position (see
        :meth:`FocusDevice.start_up`). False when ``should_stop()`` (PiFocus stopped meanwhile)."""
        for device in self:
            if should_stop():
                return False
            device.start_up(should_stop)
        return True

    def open_in_background(self, devices: Iterable[FocusDevice]) -> None:
        """Open the lenses of ``devices`` (just added) in the background, so that their status
        soon says whether they work."""
        for device in devices:
            threading.Thread(target=device.open_and_publish, name="pifocus-open-lens", daemon=True).start()

    def drivers(self) -> List[tuple]:
        """``(id, driver)`` of every device (the simulations need one per simulated device)."""
        return [(device.id, device.driver) for device in self]

    def names(self) -> Dict[str, str]:
        """Each device's name by its id."""
        return {device.id: device.name for device in self}

    def __iter__(self) -> Iterator[FocusDevice]:
        with self._lock:
            return iter(list(self._devices))

    def __len__(self) -> int:
        return len(self._devices)

    @property
    def first(self) -> FocusDevice:
        with self._lock:
            return self._devices[0]

    def find(self, key: Any = None) -> FocusDevice:
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

    def status(self, permissions: Optional[Dict[str, bool]] = None, key: Any = None) -> Dict[str, Any]:
        """The status of device ``key`` (the first for None or "", today's fields) with
        ``devices``: every device's status. :class:`UnknownDevice` for a key that names none."""
        chosen = self.find(key)
        devices = list(self)
        statuses = [device.status(permissions=permissions) for device in devices]
        body = dict(statuses[devices.index(chosen)] if chosen in devices else chosen.status(permissions=permissions))
        body["devices"] = statuses
        return body

    def publish_status(self) -> None:
        for device in self:
            device.publish_status()

    def shutdown(self, message: str = "") -> None:
        """Stop every device (see :meth:`FocusDevice.shutdown`); ``message`` is what their
        refused operations say."""
        for device in self:
            device.shutdown(message)

    def resume(self) -> None:
        for device in self:
            device.resume()
