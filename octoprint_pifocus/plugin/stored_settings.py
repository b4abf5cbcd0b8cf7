"""PiFocus's stored settings as OctoPrint keeps them: read checked, repaired, edited per device.

The plugin class hands OctoPrint's settings object to this and asks it for the settings in
force. Kept apart from :mod:`.settings` (the rules, no OctoPrint) because this is the part that
reads and writes OctoPrint's config.yaml: a hand-edited bad value falls back to its default
instead of taking PiFocus's whole section down, and presets and last positions, which the
devices write while they run, are written inside their device's entry under one lock, so that a
settings save never undoes one made meanwhile.
"""
from __future__ import annotations

import copy
import logging
import threading
from typing import Any, Callable, Dict, List

from . import settings as settings_rules


class StoredSettings:
    """``settings`` is the plugin's OctoPrint ``PluginSettings``."""

    def __init__(self, settings, logger: logging.Logger) -> None:
        self._settings = settings
        self._logger = logger
        #: Serialises the read-modify-write of the stored device list (presets, positions, saves).
        self.lock = threading.Lock()

    def checked(self) -> Dict[str, Any]:
        """The stored settings, checked. A hand-edited bad section falls back to its defaults
        (a bad device list to the default device)."""
        data = self._settings.get_all_data(merged=True) or {}
        for _ in range(settings_rules.DEVICES_MAX * len(settings_rules.DEVICE_KEYS) + 4):
            try:
                return settings_rules.check(data)
            except settings_rules.SettingsError as exc:
                self._logger.error("Stored setting %s is not usable (%s); using the defaults of its section",
                                   exc.path, exc.message)
                data = _without_section(data, exc)
        return settings_rules.check({})

    def repair(self) -> None:
        """Remove stored values the checks refuse, so that their defaults apply, and say so.

        A config.yaml may hold what no save accepts today: ``.nan`` or ``.inf`` written by an
        older PiFocus, a hand edit, an absurd number. OctoPrint's settings API cannot send NaN
        in JSON and would drop PiFocus's whole section, so the bad value goes (its default
        applies) rather than everything it shares a section with. A value that still fails
        after its removal (min > max with one of them removed) takes its section with it.
        A device's value is removed inside that device; a device list that is not usable at
        all is left to :meth:`checked`, which then uses the default device.
        """
        removed: List[tuple] = []
        for _ in range(4 * settings_rules.DEVICES_MAX * len(settings_rules.DEVICE_KEYS)):
            data = self._settings.get_all_data(merged=True) or {}
            try:
                checked = settings_rules.check(data)
            except settings_rules.SettingsError as exc:
                path = [part for part in exc.field.split(".") if part]
                if exc.device is None and path[:1] == ["devices"]:
                    self._logger.error("Stored settings are not usable (%s)", exc.message)
                    return
                if not path or (exc.device, tuple(path[:1])) in removed:
                    self._logger.error("Stored settings are not usable (%s)", exc.message)
                    return
                if (exc.device, tuple(path)) in removed or path == ["name"]:
                    path = path[:1]
                removed.append((exc.device, tuple(path)))
                self._logger.error("Stored setting %s is not usable (%s): removed, so its default applies",
                                   exc.path, exc.message)
                if exc.device is None:
                    self._settings.remove(path)
                else:
                    self.edit_device(exc.device, lambda device: _remove_path(device, path))
                self._settings.save()
                continue
            # Presets and last positions drop their unusable entries instead of failing.
            stored_devices = data.get("devices") if isinstance(data.get("devices"), list) else []
            for stored, device in zip(stored_devices, checked["devices"]):
                for key in settings_rules.MANAGED_KEYS:
                    value = stored.get(key) if isinstance(stored, dict) else None
                    if isinstance(value, (list, dict)) and len(value) != len(device[key]):
                        self._logger.error("Stored %s of device %s: %d unusable entries removed", key,
                                           device["id"], len(value) - len(device[key]))
                        self.edit_device(device["id"], lambda d, k=key, v=device[key]: d.__setitem__(k, v))
                        self._settings.save()
            return

    def edit_device(self, device_id: str, edit: Callable[[Dict[str, Any]], None]) -> None:
        """Apply ``edit`` to the stored entry of device ``device_id`` (not saved yet)."""
        with self.lock:
            devices = copy.deepcopy(self._settings.get(["devices"], merged=True) or [])
            for device in devices:
                if isinstance(device, dict) and device.get("id") == device_id:
                    edit(device)
            self._settings.set(["devices"], devices)

    def persister(self, device_id: str) -> Callable[[str, Any], None]:
        """``persist(key, value)`` for a device: its presets and last positions, saved at once."""
        def persist(key: str, value: Any) -> None:
            self.edit_device(device_id, lambda device: device.__setitem__(key, value))
            self._settings.save()
        return persist


def _without_section(data: Dict[str, Any], exc: "settings_rules.SettingsError") -> Dict[str, Any]:
    """``data`` without the section ``exc`` refuses (inside its device), or without the
    device list when the list itself is not usable."""
    data = copy.deepcopy(data)
    section = exc.field.split(".")[0]
    if exc.device is None:
        data.pop("devices" if section == "devices" else section, None)
        return data
    for device in data.get("devices") or []:
        if isinstance(device, dict) and device.get("id") == exc.device:
            if section in ("name", "id"):
                data.pop("devices", None)
            else:
                device.pop(section, None)
    return data


def _remove_path(target: Dict[str, Any], path: List[str]) -> None:
    """Remove ``path`` (keys) from the nested dict ``target``, if there."""
    for key in path[:-1]:
        target = target.get(key) if isinstance(target, dict) else None
    if isinstance(target, dict):
        target.pop(path[-1], None)
