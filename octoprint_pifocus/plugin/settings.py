"""PiFocus's settings (``plugins.pifocus``): defaults, version 3, migration and validation.

Plain Python (no OctoPrint imports) so the rules are testable and the plugin class stays
thin. The layout is the one in ``docs/plugin-contract.md``.

Validation: OctoPrint's settings API calls ``on_settings_save`` and answers 200 whatever a
plugin does with the data (an exception is only logged), so a bad value cannot become an
HTTP error there. The plugin therefore checks the *whole merged result* with :func:`check`
before anything is written: a bad value refuses the save of PiFocus's section as a whole
(nothing already saved is lost), the reason is logged and pushed to every browser as a
``settings_error`` plugin message, and the settings API's reply shows the values still in
force. The same :func:`check` answers the API command ``validate_settings``, which the
settings dialog can call before saving to show the message next to the form.
"""
from __future__ import annotations

import copy
import math
import unicodedata
from dataclasses import asdict
from typing import Any, Dict, List, Optional, Tuple

from flask_babel import gettext

from ..focus.decode import validate_roi
from ..focus.measures import MEASURES
from ..lenses.i2c_vcm import BUS_MAX, CHIPS
from ..lenses.v4l2 import check_device
from ..redact import mask_url, redact
from ..sources.web import split_url
from .simulation import SimulationSettingError, SimulationSettings

#: Settings layout version; :func:`migrate` upgrades older ones.
VERSION = 3

#: Lens drivers the settings can name ("" = none configured).
DRIVERS = ("", "simulated", "i2c", "v4l2", "camera-streamer", "printer-z")
CAMERA_MODES = ("snapshot", "stream")
SEARCH_RANGES = ("full", "window")
BEFORE_PRINT_MODES = ("refine", "full")
FAILURE_POLICIES = ("continue", "pause", "cancel")

#: Keys the plugin manages itself through its API; a settings save never overwrites them
#: (the settings dialog holds a copy from when it was opened, which may be stale).
MANAGED_KEYS = ("presets", "last_position")

#: search.window (half-width in lens units): a search must be able to move (a finer window than
#: the lens can step is refused when the search starts), and no lens range is larger.
SEARCH_WINDOW_MIN = 0.001
SEARCH_WINDOW_MAX = 100000

#: Preset names: 1 to this many characters.
PRESET_NAME_MAX = 32
#: Presets kept at most per driver.
PRESETS_MAX = 50


def defaults() -> Dict[str, Any]:
    """The version 3 defaults (a fresh copy): no lens driver until the user sets one up."""
    return {
        "driver": "",
        "i2c": {"bus": None, "address": 12, "chip": "dw9714", "force": False},
        "v4l2": {"device": ""},
        "camera_streamer": {"url": "http://127.0.0.1:8080", "device": "CAMERA", "min": 0.0, "max": 12.0},
        "printer_z": {"min": 0.0, "max": 10.0, "feedrate": 300, "backlash": 0.1, "resolution": 0.01,
                      "require_homed": True,
                      # After a held print's @PIFOCUS action, Z goes back to the print's Z: the
                      # microscope's Z is the tool's Z.
                      "restore_after_print_action": True},
        "camera": {
            # An OctoPrint webcam by name; empty: OctoPrint's snapshot webcam.
            "webcam": "",
            # A camera URL instead of an OctoPrint webcam (snapshot or stream).
            "url": "",
            # "snapshot": single pictures; "stream": the MJPEG stream.
            "mode": "snapshot",
            # Seconds to wait after a move, and frames to drop, before a frame counts.
            "settle": 0.25,
            "discard": 0,
        },
        "roi": [0.25, 0.25, 0.5, 0.5],
        "measure": "tenengrad",
        "search": {"range": "full", "window": 80},
        "automation": {
            "restore_on_startup": True,
            "restore_on_webcam_restart": True,
            "autofocus_before_print": False,
            "before_print_mode": "refine",
            "failure_policy": "continue",
            # Seconds between the webcam watchdog's snapshots (restore after a webcam restart).
            "watchdog_interval": 10.0,
        },
        "presets": [],
        "last_position": {},
        "simulation": asdict(SimulationSettings()),
    }


class SettingsError(ValueError):
    """A setting that cannot be used; ``path`` names it ("printer_z.min").

    The message is redacted when made: it is logged and pushed to every browser, and a
    refused camera URL must not show its password there.
    """

    def __init__(self, path: str, message: str) -> None:
        message = redact(message)
        super().__init__(message)
        self.path = path
        self.message = message


#: How deep a settings save may nest (PiFocus's own layout needs 3 levels: presets, a list of
#: objects). Deeper data is refused before anything recurses over it.
NESTING_MAX = 10


def check_nesting(data: Any, limit: int = NESTING_MAX) -> None:
    """``SettingsError`` when ``data`` nests lists and objects more than ``limit`` deep.

    Without a recursion of its own, so data nested thousands deep (which the merge and the
    deep copies would overflow the stack on) is refused with a message instead of an error.
    """
    stack = [(data, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = list(item.values())
        elif isinstance(item, (list, tuple)):
            children = list(item)
        else:
            continue
        if depth > limit:
            raise SettingsError("", gettext("The settings are nested more than %(count)d levels deep; "
                                            "PiFocus's settings are not.", count=limit))
        stack.extend((child, depth + 1) for child in children)


def shown(value: Any, limit: int = 40) -> str:
    """``value`` for a message: its repr, cut to ``limit`` characters (a huge int has no repr)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        return gettext("a number with about %(count)d digits", count=int(value.bit_length() * 0.30103) + 1)
    try:
        text = repr(value)
    except ValueError:
        return type(value).__name__
    return text if len(text) <= limit else text[:limit] + "..."


# ~~ migration


def migrate(stored: Optional[Dict[str, Any]], current: Optional[int]) -> Dict[str, Any]:
    """The values to write so that ``stored`` (layout ``current``) reads as version 3.

    Version 1 (also what ``None``/0 means: settings written before versioning) had
    ``measure``, ``roi``, ``camera`` and ``simulation`` with the same meaning as now; they
    stay. It had no lens drivers: the only lens was the simulated one, in use while
    ``simulation.enabled``. Version 2 added the drivers with ``simulated`` as the default;
    version 3 defaults to none ("": a fresh install is set up by the wizard). So for both, a
    config that never stored ``driver`` but had the simulation on was using the simulated
    lens: it gets ``driver: simulated`` written. With the simulation off it gets nothing
    written (the new default, none, is what it could use). A driver already set stays, and a
    fresh install (nothing stored) gets nothing written: the defaults apply.
    """
    stored = {k: v for k, v in (stored or {}).items() if not k.startswith("_")}
    if current is not None and current >= VERSION:
        return {}
    if not stored:
        return {}
    changes: Dict[str, Any] = {}
    if "driver" not in stored:
        simulation = stored.get("simulation") or {}
        enabled = simulation.get("enabled", False) if isinstance(simulation, dict) else False
        if _truthy(enabled):
            changes["driver"] = "simulated"
    return changes


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes", "on")
    return bool(value)


# ~~ validation


def _number(value: Any, path: str, minimum: Optional[float] = None, maximum: Optional[float] = None,
            integer: bool = False, above: Optional[float] = None) -> float:
    """``value`` as a finite number (numeric strings from form fields accepted).

    NaN, infinities ("Infinity", "1e400") and numbers too large for a float (a 400-digit
    integer) are refused: YAML would store them as .nan/.inf, which JSON cannot carry.
    """
    if isinstance(value, bool) or value is None or (isinstance(value, str) and not value.strip()):
        raise SettingsError(path, gettext("%(path)s must be a number, not %(value)s", path=path, value=shown(value)))
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    except (TypeError, ValueError):
        raise SettingsError(path, gettext("%(path)s must be a number, not %(value)s",
                                          path=path, value=shown(value))) from None
    if not math.isfinite(number):
        raise SettingsError(path, gettext("%(path)s must be a finite number, not %(value)s",
                                          path=path, value=shown(value)))
    if integer and not number.is_integer():
        raise SettingsError(path, gettext("%(path)s must be a whole number, not %(value)s",
                                          path=path, value=shown(value)))
    if minimum is not None and number < minimum:
        raise SettingsError(path, gettext("%(path)s must be at least %(minimum)s, not %(value)s",
                                          path=path, minimum=_fmt(minimum), value=_fmt(number)))
    if above is not None and not number > above:
        raise SettingsError(path, gettext("%(path)s must be greater than %(minimum)s, not %(value)s",
                                          path=path, minimum=_fmt(above), value=_fmt(number)))
    if maximum is not None and number > maximum:
        raise SettingsError(path, gettext("%(path)s must be at most %(maximum)s, not %(value)s",
                                          path=path, maximum=_fmt(maximum), value=_fmt(number)))
    return int(number) if integer else number


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else f"{value:g}"


def _bool(value: Any, path: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise SettingsError(path, gettext("%(path)s must be true or false, not %(value)s", path=path, value=shown(value)))


def _choice(value: Any, path: str, choices: Tuple[str, ...]) -> str:
    if isinstance(value, str) and value in choices:
        return value
    names = ", ".join(repr(c) for c in choices)
    raise SettingsError(path, gettext("%(path)s must be one of %(choices)s, not %(value)s",
                                      path=path, choices=names, value=shown(value)))


def _string(value: Any, path: str, max_length: int = 500) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise SettingsError(path, gettext("%(path)s must be text, not %(value)s", path=path, value=shown(value)))
    value = value.strip()
    if len(value) > max_length or any(ord(c) < 32 for c in value):
        raise SettingsError(path, gettext("%(path)s is not a usable value: %(value)s", path=path, value=shown(value, 80)))
    return value


def _url(value: Any, path: str, required: bool) -> str:
    url = _string(value, path, 2000)
    if not url and not required:
        return ""
    scheme, sep, _ = url.partition("://")
    if not sep or scheme.lower() not in ("http", "https"):
        raise SettingsError(path, gettext("%(path)s must be an http:// or https:// URL, not %(value)s",
                                          path=path, value=repr(mask_url(url))))
    try:
        split_url(url)  # what the frame sources and the camera-streamer driver will do with it
    except ValueError as exc:
        raise SettingsError(path, gettext("%(path)s is not usable: %(error)s", path=path, error=str(exc))) from None
    return url


def _section(data: Dict[str, Any], key: str) -> Dict[str, Any]:
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise SettingsError(key, gettext("%(path)s must be a group of settings, not %(value)s",
                                         path=key, value=shown(value, 80)))
    return value


def check(data: Dict[str, Any]) -> Dict[str, Any]:
    """The complete settings ``data`` (defaults merged in), checked and normalised.

    Returns a new dict with proper types (numbers from numeric strings, canonical driver
    names); raises :class:`SettingsError` naming the first bad setting, and nothing else:
    every caller (a save, ``validate_settings``, the start-up repair) handles that one, so a
    value some check below did not foresee must not escape as a bare exception (it stopped
    the plugin at start-up). Its text is not shown either: a library's reason may quote the
    value, password included.
    """
    try:
        return _check(data)
    except SettingsError:
        raise
    except (ValueError, TypeError, ArithmeticError, RecursionError) as exc:
        raise SettingsError("", gettext("These PiFocus settings cannot be used (%(kind)s in a value no check "
                                        "foresaw); nothing was saved.", kind=type(exc).__name__)) from None


def _check(data: Dict[str, Any]) -> Dict[str, Any]:
    check_nesting(data)
    base = defaults()
    merged = merge(base, data or {})
    out: Dict[str, Any] = {}

    driver = merged.get("driver")
    driver = "" if driver is None else driver
    out["driver"] = _choice(driver, "driver", DRIVERS)

    i2c = _section(merged, "i2c")
    bus = i2c.get("bus")
    out["i2c"] = {
        "bus": None if bus in (None, "") else _number(bus, "i2c.bus", 0, BUS_MAX, integer=True),
        "address": _address(i2c.get("address")),
        "chip": _choice(str(i2c.get("chip", "")).strip().lower(), "i2c.chip", tuple(sorted(CHIPS))),
        "force": _bool(i2c.get("force"), "i2c.force"),
    }

    v4l2 = _section(merged, "v4l2")
    device = _string(v4l2.get("device"), "v4l2.device", 200)
    if device:
        try:
            check_device(device)
        except ValueError:
            raise SettingsError("v4l2.device", gettext(
                "v4l2.device must be a V4L2 node (/dev/videoN or /dev/v4l-subdevN) or a link to one "
                "(such as /dev/v4l/by-id/...), or empty to use the first camera with a focus "
                "control; %(value)s is not", value=shown(device, 80))) from None
    out["v4l2"] = {"device": device}

    cs = _section(merged, "camera_streamer")
    cs_min = _number(cs.get("min"), "camera_streamer.min", 0)
    cs_max = _number(cs.get("max"), "camera_streamer.max", 0)
    if not cs_min < cs_max:
        raise SettingsError("camera_streamer.max", gettext(
            "The camera-streamer lens range needs min < max; got %(low)s..%(high)s",
            low=_fmt(cs_min), high=_fmt(cs_max)))
    out["camera_streamer"] = {"url": _url(cs.get("url"), "camera_streamer.url", True),
                              "device": _string(cs.get("device"), "camera_streamer.device", 100),
                              "min": cs_min, "max": cs_max}

    pz = _section(merged, "printer_z")
    z_min = _number(pz.get("min"), "printer_z.min", -1000, 10000)
    z_max = _number(pz.get("max"), "printer_z.max", -1000, 10000)
    if not z_min < z_max:
        raise SettingsError("printer_z.max", gettext(
            "The Z window needs min < max; got %(low)s..%(high)s mm", low=_fmt(z_min), high=_fmt(z_max)))
    out["printer_z"] = {
        "min": z_min, "max": z_max,
        "feedrate": _number(pz.get("feedrate"), "printer_z.feedrate", maximum=100000, above=0),
        "backlash": _number(pz.get("backlash"), "printer_z.backlash", 0, 10),
        "resolution": _number(pz.get("resolution"), "printer_z.resolution", maximum=1, above=0),
        "require_homed": _bool(pz.get("require_homed"), "printer_z.require_homed"),
        "restore_after_print_action": _bool(pz.get("restore_after_print_action"),
                                            "printer_z.restore_after_print_action"),
    }

    camera = _section(merged, "camera")
    out["camera"] = {
        "webcam": _string(camera.get("webcam"), "camera.webcam", 200),
        "url": _url(camera.get("url"), "camera.url", False),
        "mode": _choice(camera.get("mode"), "camera.mode", CAMERA_MODES),
        "settle": _number(camera.get("settle"), "camera.settle", 0, 10),
        "discard": _number(camera.get("discard"), "camera.discard", 0, 20, integer=True),
    }

    try:
        out["roi"] = [float(v) for v in validate_roi(merged.get("roi"))]
    except ValueError as exc:
        raise SettingsError("roi", str(exc)) from None
    out["measure"] = _choice(merged.get("measure"), "measure", tuple(sorted(MEASURES)))

    search = _section(merged, "search")
    window = _number(search.get("window"), "search.window", SEARCH_WINDOW_MIN, SEARCH_WINDOW_MAX)
    if out["driver"] == "printer-z" and window < 3 * out["printer_z"]["resolution"]:
        raise SettingsError("search.window", gettext(
            "search.window must be at least three Z steps (%(minimum)s mm with printer_z.resolution "
            "%(resolution)s), not %(value)s", minimum=_fmt(3 * out["printer_z"]["resolution"]),
            resolution=_fmt(out["printer_z"]["resolution"]), value=_fmt(window)))
    out["search"] = {"range": _choice(search.get("range"), "search.range", SEARCH_RANGES), "window": window}

    auto = _section(merged, "automation")
    out["automation"] = {
        "restore_on_startup": _bool(auto.get("restore_on_startup"), "automation.restore_on_startup"),
        "restore_on_webcam_restart": _bool(auto.get("restore_on_webcam_restart"),
                                           "automation.restore_on_webcam_restart"),
        "autofocus_before_print": _bool(auto.get("autofocus_before_print"), "automation.autofocus_before_print"),
        "before_print_mode": _choice(auto.get("before_print_mode"), "automation.before_print_mode",
                                     BEFORE_PRINT_MODES),
        "failure_policy": _choice(auto.get("failure_policy"), "automation.failure_policy", FAILURE_POLICIES),
        "watchdog_interval": _number(auto.get("watchdog_interval"), "automation.watchdog_interval", 0.5, 3600),
    }

    out["presets"] = check_presets(merged.get("presets"))
    out["last_position"] = check_last_positions(merged.get("last_position"))

    try:
        out["simulation"] = asdict(SimulationSettings.from_dict(_section(merged, "simulation")))
    except SimulationSettingError as exc:
        raise SettingsError(f"simulation.{exc.field}" if exc.field else "simulation", str(exc)) from None
    return out


def _address(value: Any) -> int:
    if isinstance(value, str):
        try:
            value = int(value.strip(), 0)
        except ValueError:
            raise SettingsError("i2c.address", gettext(
                "i2c.address must be a number like 0x0C, not %(value)s", value=shown(value))) from None
    return int(_number(value, "i2c.address", 0x03, 0x77, integer=True))


def merge(base: Dict[str, Any], extra: Dict[str, Any]) -> Dict[str, Any]:
    """``extra`` merged into a copy of ``base``; nested dicts merge, anything else replaces."""
    result = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merge(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def check_preset_name(value: Any) -> str:
    """A preset name: text of 1 to 32 printable characters, NFC-normalised and trimmed;
    ``ValueError`` otherwise.

    Refused: control characters (Unicode category Cc, C0 and C1), format characters (Cf:
    zero-width spaces and joiners, bidi overrides, soft hyphens) and line and paragraph
    separators (Zl, Zp): names that look alike but differ, or reorder what is shown around them.
    """
    if not isinstance(value, str):
        raise ValueError(gettext("The preset name must be text, not %(value)s", value=shown(value)))
    name = unicodedata.normalize("NFC", value).strip()
    for char in name:
        if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp"):
            raise ValueError(gettext("The preset name must not contain control characters or invisible "
                                     "formatting characters (found U+%(code)s)", code=f"{ord(char):04X}"))
    if not name:
        raise ValueError(gettext("The preset name must not be empty"))
    if len(name) > PRESET_NAME_MAX:
        raise ValueError(gettext("The preset name must be at most %(count)d characters, not %(length)d",
                                 count=PRESET_NAME_MAX, length=len(name)))
    return name


def check_presets(value: Any) -> List[Dict[str, Any]]:
    """Stored presets: dropped silently when unusable (they are written by the plugin only)."""
    presets: List[Dict[str, Any]] = []
    for entry in value or []:
        if not isinstance(entry, dict):
            continue
        try:
            name = check_preset_name(entry.get("name"))
            position = float(entry.get("position"))
        except (TypeError, ValueError, OverflowError):
            continue
        if not math.isfinite(position):
            continue
        driver = entry.get("driver") or "simulated"
        presets.append({"name": name, "position": tidy(position), "driver": str(driver)})
    return presets


def check_last_positions(value: Any) -> Dict[str, float]:
    if not isinstance(value, dict):
        return {}
    out: Dict[str, float] = {}
    for driver, position in value.items():
        try:
            number = float(position)
        except (TypeError, ValueError, OverflowError):
            continue
        if math.isfinite(number):
            out[str(driver)] = tidy(number)
    return out


def tidy(value: float):
    """Whole numbers as ints (VCM codes), others as floats rounded to 1/10000."""
    return int(value) if float(value).is_integer() else round(float(value), 4)


#: Settings that may hold credentials: only PiFocus administrators see them on the API.
SECRET_PATHS = (("camera", "url"), ("camera_streamer", "url"))


def changes(current: Dict[str, Any], submitted: Dict[str, Any]) -> bool:
    """Whether saving ``submitted`` would change anything, once both are checked.

    The secret paths are left out of the comparison: a user who may not see them gets them
    blanked in the dialog and sends the blanks back unchanged. Something that does not even
    pass the checks counts as a change (an attempt).
    """
    visible = copy.deepcopy(submitted)
    for section, key in SECRET_PATHS:
        if isinstance(visible.get(section), dict):
            visible[section].pop(key, None)
    try:
        before = check(current)
        after = check(merge(current, visible))
    except SettingsError:
        return True
    return any(after.get(key) != before.get(key) for key in visible)


def submitted_sections(data: Dict[str, Any]) -> Dict[str, Any]:
    """What the settings dialog sent, without the keys the plugin manages itself;
    :class:`SettingsError` for data nested deeper than any setting (see :func:`check_nesting`)."""
    check_nesting(data)
    if data is not None and not isinstance(data, dict):
        raise SettingsError("", gettext("PiFocus's settings must be a group of settings, not %(value)s",
                                        value=shown(data, 80)))
    return {k: v for k, v in (data or {}).items()
            if isinstance(k, str) and k not in MANAGED_KEYS and not k.startswith("_")}
