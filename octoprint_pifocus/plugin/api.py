"""The plugin's HTTP API (``/api/plugin/pifocus``), as ``docs/plugin-contract.md`` defines it.

Flask-free: :func:`handle_command` takes the command, its JSON body and what the user may
do, and returns ``(HTTP status, JSON body)``; the plugin class turns that into a response.
Every command checks its permission first (403). Bad input is a 400 with a message; a
request that is fine but cannot be done now (an autofocus running, Z blocked by a print, no
usable lens) a 409. No input leads to a 500: expected failures are
:class:`~octoprint_pifocus.errors.PiFocusError` or ``ValueError`` and are answered with
their message.
"""
from __future__ import annotations

import logging
import math
import re
from typing import Any, Dict, Optional, Tuple

from flask_babel import gettext

from ..errors import PiFocusError
from . import settings as settings_rules
from . import wizard
from .device import Conflict, FocusDevice
from .devices import DeviceRegistry

_logger = logging.getLogger(__name__)

CONTROL = "control"
ADMIN = "admin"

#: Command -> the permission it needs.
COMMANDS: Dict[str, str] = {
    "move": CONTROL,
    "nudge": CONTROL,
    "autofocus": CONTROL,
    "cancel": CONTROL,
    "preset_save": CONTROL,
    "preset_apply": CONTROL,
    "preset_delete": CONTROL,
    # The lens to the focus map's value for the toolhead's position (follow focus on demand).
    "map_apply": CONTROL,
    # A hint from the browser: an autofocus is likely soon, open the camera's stream now.
    "warm_camera": CONTROL,
    "probe": ADMIN,
    "test": ADMIN,
    "measure_delay": ADMIN,
    "validate_settings": ADMIN,
}
#: The focus map (issue 11): calibrating moves the printer, like an autofocus with printer Z.
COMMANDS.update({
    "calibrate": CONTROL,
    "calibration_cancel": CONTROL,
    "map_point": CONTROL,
    "map_clear": CONTROL,
    "map_here": CONTROL,
})

#: Commands that move the printer's axes (a calibration visits its points; a redo visits one
#: again): they need OctoPrint's own printer-control permission as well as PiFocus control,
#: or a user allowed to focus could drive the toolhead where OctoPrint would not let them.
MOVES_PRINTER = ("calibrate", "map_point")

Reply = Tuple[int, Dict[str, Any]]


class BadRequest(ValueError):
    """Bad input: a 400 with the message."""


#: How deep a command's JSON body may nest: validate_settings needs 5 levels (the body, its
#: settings, a section, a list of presets, a preset).
BODY_NESTING_MAX = 16

#: A JSON string, or what is left of an unterminated one: up to its closing quote, or to the
#: end of the body (a lone trailing backslash included). Every match that starts at a quote
#: succeeds in one forward pass, so stripping strings is linear in the body whatever it holds.
#: (Requiring the closing quote made the engine retry from every quote of an unterminated run
#: of \\" pairs: quadratic, 25 s for 64 KB, during which OctoPrint answered nothing.)
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*(?:"|\\?\Z)', re.S)
_NOT_A_BRACKET = re.compile(rb"[^\[\]{}]+")


def body_too_deep(raw: bytes, limit: int = BODY_NESTING_MAX) -> bool:
    """Whether the JSON text ``raw`` nests arrays and objects more than ``limit`` deep.

    Counted without parsing: Python's JSON parser recurses once per level, so a body nested
    thousands deep (which anyone can send, before any permission check) would end in a
    ``RecursionError`` and a 500. Brackets inside strings do not count.
    """
    brackets = _NOT_A_BRACKET.sub(b"", _JSON_STRING.sub(b"", raw))
    depth = 0
    for char in brackets:
        if char in b"[{":
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def parse_number(data: Dict[str, Any], key: str, required: bool = True) -> Optional[float]:
    """``data[key]`` as a finite number (numeric strings accepted); ``BadRequest`` otherwise."""
    if key not in data or data[key] is None and not required:
        if required:
            raise BadRequest(gettext("missing '%(key)s'", key=key))
        return None
    value = data[key]
    if isinstance(value, bool):
        raise BadRequest(gettext("'%(key)s' must be a number, not %(value)s", key=key, value=repr(value)))
    try:
        number = float(value)
    except OverflowError:  # an integer too large for a float
        number = math.inf
    except (TypeError, ValueError):
        raise BadRequest(gettext("'%(key)s' must be a number, not %(value)s",
                                 key=key, value=settings_rules.shown(value))) from None
    if not math.isfinite(number):
        raise BadRequest(gettext("'%(key)s' must be a finite number, not %(value)s",
                                 key=key, value=settings_rules.shown(value)))
    return number


def parse_position(data: Dict[str, Any]) -> float:
    """The ``position`` of an API command as a number; ``ValueError`` with the reason."""
    return parse_number(data, "position")


def parse_bool(data: Dict[str, Any], key: str, default: bool = False) -> bool:
    value = data.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise BadRequest(gettext("'%(key)s' must be true or false, not %(value)s", key=key, value=repr(value)[:40]))


def _name(data: Dict[str, Any]) -> str:
    if "name" not in data:
        raise BadRequest(gettext("missing 'name'"))
    return settings_rules.check_preset_name(data["name"])


def handle_command(devices: DeviceRegistry, command: str, data: Dict[str, Any], can_control: bool,
                   can_admin: bool, current_settings: Optional[Dict[str, Any]] = None,
                   logger: Optional[logging.Logger] = None, can_move_printer: bool = True) -> Reply:
    """Answer one API command; see the module docstring. ``data["device"]`` (a device's id or
    name, optional: the first device) says which device; an unknown one is a 400."""
    needed = COMMANDS.get(command)
    if needed is None:
        return 400, {"error": gettext("Unknown command: %(command)s", command=str(command)[:40])}
    if not (can_admin if needed == ADMIN else can_control):
        what = gettext("PiFocus administration") if needed == ADMIN else gettext("PiFocus control")
        return 403, {"error": gettext("You need the %(permission)s permission for this.", permission=what)}
    if command in MOVES_PRINTER and not can_move_printer:
        return 403, {"error": gettext("This moves the printer: you need OctoPrint's printer control permission "
                                      "as well.")}
    if not isinstance(data, dict):
        return 400, {"error": gettext("The request body must be a JSON object.")}
    try:
        if command == "validate_settings":
            return _validate_settings(data, current_settings)
        return _dispatch(devices.find(data.get("device")), command, data)
    except Conflict as exc:
        return 409, {"error": str(exc)}
    except ValueError as exc:  # BadRequest, SettingsError, range checks
        return 400, {"error": str(exc)}
    except PiFocusError as exc:  # the lens or camera failed: the request itself was fine
        return 409, {"error": str(exc)}
    except Exception as exc:
        (logger or _logger).exception("API command %s failed", command)
        return 500, {"error": gettext("Internal error in PiFocus: %(error)s", error=str(exc))}


def _dispatch(controller: FocusDevice, command: str, data: Dict[str, Any]) -> Reply:
    if command == "move":
        return 200, controller.move(parse_position(data))
    if command == "nudge":
        return 200, controller.nudge(parse_number(data, "delta"))
    if command == "autofocus":
        return 202, controller.start_autofocus(parse_bool(data, "refine"))
    if command == "cancel":
        controller.cancel()
        return 200, controller.status()
    if command == "preset_save":
        name = _name(data)
        position = parse_number(data, "position", required=False)
        return 200, controller.preset_save(name, position)
    if command == "preset_apply":
        return 200, controller.preset_apply(_name(data))
    if command == "preset_delete":
        return 200, controller.preset_delete(_name(data))
    if command == "map_apply":
        return 200, controller.map_apply()
    if command == "warm_camera":
        return 200, controller.warm_camera()
    if command == "probe":
        driver = data.get("driver") or None
        if driver is not None and driver not in settings_rules.DRIVERS:
            raise BadRequest(gettext("Unknown driver %(driver)s: choose one of %(drivers)s",
                                     driver=repr(driver)[:40], drivers=", ".join(settings_rules.DRIVERS[1:])))
        devices = controller.probe(driver)
        return 200, {"devices": devices, "choices": wizard.choices(devices)}
    if command == "test":
        return 200, controller.test()
    if command == "measure_delay":
        return 200, controller.measure_delay()
    if command in ("calibrate", "calibration_cancel", "map_point", "map_clear", "map_here"):
        return _map_command(controller, command, data)
    raise BadRequest(gettext("Unknown command: %(command)s", command=str(command)[:40]))


def _map_command(controller: FocusDevice, command: str, data: Dict[str, Any]) -> Reply:
    """The focus map's commands (plugin/device/calibration.py)."""
    calibration = controller.calibration
    if command == "calibrate":
        calibration.start(data)
        return 202, controller.status()
    if command == "calibration_cancel":
        job = controller.job
        if job is not None and job.kind == "calibrate":
            controller.cancel()
        return 200, controller.status()
    if command == "map_here":
        return 200, {"position": calibration.here()}
    if command == "map_clear":
        calibration.clear()
        return 200, controller.status()
    index = data.get("index")
    if isinstance(index, bool) or not isinstance(index, int):
        raise BadRequest(gettext("'index' must be the number of a map point (0 for the first), not %(value)s",
                                 value=settings_rules.shown(index)))
    action = data.get("action")
    if action == "drop":
        calibration.drop(index)
        return 200, controller.status()
    if action == "redo":
        calibration.redo(index)
        return 202, controller.status()
    raise BadRequest(gettext("'action' must be \"drop\" or \"redo\", not %(value)s",
                             value=settings_rules.shown(action)))


def _validate_settings(data: Dict[str, Any], current_settings: Optional[Dict[str, Any]]) -> Reply:
    """Check ``data["settings"]`` as a save would, saving nothing."""
    submitted = data.get("settings")
    if not isinstance(submitted, dict):
        raise BadRequest(gettext("'settings' must be an object with PiFocus settings"))
    try:
        merged = settings_rules.apply_submission(current_settings or {}, settings_rules.submitted_sections(submitted))
        checked = settings_rules.check(merged)
    except settings_rules.SettingsError as exc:
        # field: the path inside the device (what the one-device form knows), path: the full one.
        return 400, {"error": exc.message, "field": exc.field, "path": exc.path, "device": exc.device}
    shown = settings_rules.view(checked, admin=True)
    for device in [shown] + shown["devices"]:
        for key in settings_rules.MANAGED_KEYS:
            device.pop(key, None)
    return 200, {"ok": True, "settings": shown}
