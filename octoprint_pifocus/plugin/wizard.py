"""The set-up wizard's rules: when OctoPrint shows it, and what Detect offers to pick.

Plain Python (no OctoPrint imports), so the plugin class only wires it to OctoPrint's
``WizardPlugin`` mixin and the rules can be tested without a server.

* **When**: OctoPrint shows a plugin's wizard once per wizard version, while the plugin says
  it is required. PiFocus needs it while no lens driver is configured (a fresh install from
  the Plugin Manager); after it was finished or skipped once, OctoPrint remembers
  :data:`WIZARD_VERSION` as seen and the set-up stays reachable from the sidebar and the
  settings page.
* **What to pick**: :func:`choices` turns the ``probe`` entries (``lenses.base.probe_entry``)
  into what the wizard lists: a label a user recognises, whether it can be used, why not, and
  the settings that select it (saved through the normal settings path, so they are checked).
* **Printer Z needs a window the user saw**: Test and the first autofocus move Z inside
  ``printer_z.min..max``. A printer-Z choice carries that window (:func:`z_window`, the stored
  one, with the Z the printer reported) and ``confirm``: the wizard shows the window, lets
  the user change it, and saves it with the driver only after the user confirms it is safe.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional

from flask_babel import gettext

from ..redact import mask_url
from .device import SIMULATED_WEBCAM

#: Raise it when the set-up asks for something new that existing installs must be shown.
WIZARD_VERSION = 1

#: The order the wizard lists drivers in: real hardware first, the demo last.
ORDER = ("i2c", "v4l2", "camera-streamer", "printer-z", "simulated")


def is_required(driver: Optional[str]) -> bool:
    """The wizard is needed while no lens driver is configured."""
    return not driver


def details(driver: str, simulation_on: bool, printer_connected: bool) -> Dict[str, Any]:
    """PiFocus's part of OctoPrint's wizard API (``GET /api/setup/wizard``): what a client
    needs to know about the set-up's starting point."""
    return {
        "driver": driver or "",
        "simulation": bool(simulation_on),
        "printer_connected": bool(printer_connected),
        "version": WIZARD_VERSION,
    }


def label(entry: Dict[str, Any]) -> str:
    """A user's name for what a probe entry found."""
    driver = entry.get("driver")
    device = str(entry.get("device") or "")
    if driver == "i2c" and not isinstance(entry.get("bus"), int):  # no bus to try at all
        return gettext("Arducam motorized-focus lens on an I2C bus")
    if driver == "v4l2" and "*" in device:  # no video device at all
        return gettext("USB webcam with a focus control (focus_absolute)")
    if driver == "i2c":
        address = entry.get("address")
        return gettext("Arducam motorized-focus lens (%(chip)s) on I2C bus %(bus)s at %(address)s",
                       chip=str(entry.get("chip") or "VCM").upper(),
                       bus=entry["bus"],
                       address=f"0x{address:02X}" if isinstance(address, int) else "?")
    if driver == "v4l2":
        return gettext("USB webcam %(device)s with a focus control (focus_absolute)%(name)s",
                       device=device, name=f": {entry['chip']}" if entry.get("chip") else "")
    if driver == "camera-streamer":
        return gettext("Camera lens through camera-streamer at %(url)s", url=mask_url(device))
    if driver == "printer-z":
        return gettext("The connected printer's Z axis (a camera or microscope on the gantry)")
    if driver == "simulated":
        return gettext("The simulated lens and camera (demo)")
    return device or str(driver)


def settings_for(entry: Dict[str, Any]) -> Dict[str, Any]:
    """The PiFocus settings that select what ``entry`` found (a partial settings dict)."""
    driver = entry.get("driver")
    patch: Dict[str, Any] = {"driver": driver}
    if driver == "i2c":
        i2c: Dict[str, Any] = {}
        if isinstance(entry.get("bus"), int):
            i2c["bus"] = entry["bus"]
        if isinstance(entry.get("address"), int):
            i2c["address"] = entry["address"]
        if entry.get("chip"):
            i2c["chip"] = str(entry["chip"]).lower()
        patch["i2c"] = i2c
    elif driver == "v4l2":
        patch["v4l2"] = {"device": str(entry.get("device") or "")}
    # camera-streamer and printer-z were probed with the settings in force; simulated has none.
    return patch


def z_window(entry: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """The Z window a printer-Z probe entry was made with (the stored one), in mm, and the Z
    the printer reported (None if it did not): what the wizard shows for confirmation."""
    limits = entry.get("limits")
    if not (isinstance(limits, (list, tuple)) and len(limits) == 2):
        return None
    position = entry.get("position")
    return {"min": limits[0], "max": limits[1], "units": "mm",
            "current": position if isinstance(position, (int, float)) and not isinstance(position, bool) else None}


def choices(entries: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """What the wizard lists after Detect: usable devices first, then why others are not.

    The simulated lens is listed only when it can be used (the simulation is on): on a real
    installation, "the simulation is off" is no news. A printer counts when OctoPrint's
    printer is operational and answered with its Z.
    """
    out: List[Dict[str, Any]] = []
    for entry in entries:
        driver = entry.get("driver")
        found = bool(entry.get("found"))
        if driver == "simulated" and not found:
            continue
        choice: Dict[str, Any] = {
            "driver": driver,
            "found": found,
            "label": label(entry),
            "message": entry.get("message") or "",
            "settings": settings_for(entry) if found else None,
            "webcam": SIMULATED_WEBCAM if driver == "simulated" else None,
        }
        if driver == "printer-z" and found:
            choice["z_window"] = z_window(entry)
            choice["confirm"] = True  # the wizard saves it only with the window confirmed
        if driver == "printer-z" and not found:
            choice["message"] = gettext("No printer connected: connect it in OctoPrint to focus with its Z axis.")
        elif driver == "printer-z" and entry.get("homed") is False:
            choice["message"] = gettext("Connected, not homed yet: home the printer (G28) before focusing with Z.")
        out.append(choice)
    rank = {name: i for i, name in enumerate(ORDER)}
    out.sort(key=lambda c: (not c["found"], rank.get(c["driver"], len(ORDER))))
    return out
