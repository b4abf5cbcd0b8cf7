"""PiFocus's settings (``plugins.pifocus``): defaults, version 4, migration and validation.

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
import json
import math
import re
import secrets
import threading
import unicodedata
from dataclasses import asdict
from typing import Any, Dict, List, Optional, Tuple

from flask_babel import gettext

from ..focus.decode import validate_roi
from ..focus.measures import MEASURES
from ..followfocus import FocusMap, FocusMapError
from ..lenses.i2c_vcm import BUS_MAX, CHIPS
from ..lenses.v4l2 import check_device
from ..redact import mask_url, redact
from ..sources.keeper import KEEP_MAX
from ..sources.web import split_url
from .simulation import SimulationSettingError, SimulationSettings

#: Settings layout version; :func:`migrate` upgrades older ones. Version 4: focus devices.
VERSION = 4

#: The sections each focus device has its own of (top-level in versions 1 to 3). Everything
#: else (``simulation``) is global.
DEVICE_KEYS = ("driver", "i2c", "v4l2", "camera_streamer", "printer_z", "camera", "roi", "measure",
               "search", "automation", "presets", "last_position",
               # The camera chain's measured delay, written by the plugin only.
               "pipeline",
               # The drift watch's section (plugin/drift_watch.py).
               "drift")
#: The calibrated focus map (issue 11): None or ``FocusMap.to_dict()``, written by the API only.
DEVICE_KEYS += ("focus_map",)
#: Follow focus (issue 11): the lens kept at the focus map's value as the toolhead moves.
DEVICE_KEYS += ("follow",)
#: At most this many devices (one per webcam is the use; more is a mistake).
DEVICES_MAX = 16
#: Device names: 1 to this many characters; ids: 1 to DEVICE_ID_MAX of [a-z0-9_-].
DEVICE_NAME_MAX = 32
DEVICE_ID_MAX = 32
_DEVICE_ID = re.compile(r"^[a-z0-9_-]{1,%d}$" % DEVICE_ID_MAX)
#: The id and name of the device a fresh install or a migrated single-device config has.
FIRST_DEVICE_ID = "camera"
FIRST_DEVICE_NAME = "Camera"

#: Lens drivers the settings can name ("" = none configured).
DRIVERS = ("", "simulated", "i2c", "v4l2", "camera-streamer", "printer-z")
CAMERA_MODES = ("auto", "snapshot", "stream")
SETTLE_MODES = ("auto", "manual")
SEARCH_RANGES = ("full", "window")
BEFORE_PRINT_MODES = ("refine", "full")
FAILURE_POLICIES = ("continue", "pause", "cancel")
#: drift.watch: when the drift watch looks; drift.action: what it does on a drift.
DRIFT_WATCH_MODES = ("printing", "always", "off")
DRIFT_ACTIONS = ("notify", "refocus", "both")

#: Keys the plugin manages itself through its API; a settings save never overwrites them
#: (the settings dialog holds a copy from when it was opened, which may be stale).
MANAGED_KEYS = ("presets", "last_position",
                # The measured camera delay: written by autofocus runs and the delay test.
                "pipeline")
MANAGED_KEYS += ("focus_map",)

#: search.window (half-width in lens units): a search must be able to move (a finer window than
#: the lens can step is refused when the search starts), and no lens range is larger.
SEARCH_WINDOW_MIN = 0.001
SEARCH_WINDOW_MAX = 100000

#: Preset names: 1 to this many characters.
PRESET_NAME_MAX = 32
#: Presets kept at most per driver.
PRESETS_MAX = 50


def defaults() -> Dict[str, Any]:
    """The version 4 defaults (a fresh copy): one device with no lens driver until the user
    sets one up (the set-up wizard), and the global simulation."""
    return {
        "devices": [new_device(FIRST_DEVICE_ID, FIRST_DEVICE_NAME)],
        "simulation": asdict(SimulationSettings()),
    }


def new_device(device_id: Optional[str] = None, name: str = FIRST_DEVICE_NAME) -> Dict[str, Any]:
    """A device with the default sections; a fresh random id unless one is given."""
    return dict({"id": device_id or generate_id(), "name": name}, **device_defaults())


def generate_id(taken: Any = ()) -> str:
    """A new device id: 8 hex characters, not one of ``taken``. It never changes afterwards."""
    while True:
        candidate = secrets.token_hex(4)
        if candidate not in taken:
            return candidate


def device_defaults() -> Dict[str, Any]:
    """The sections of one focus device, at their defaults (a fresh copy)."""
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
            # "auto": the MJPEG stream where the camera has one (a webcam's stream that answers,
            # a URL that is a stream), else snapshots; "snapshot": single pictures; "stream":
            # the MJPEG stream (a webcam without one answering: its snapshots).
            "mode": "auto",
            # Seconds to wait after a move, and frames to drop, before a frame counts.
            "settle": 0.25,
            "discard": 0,
            # "auto": wait the measured delay of the camera chain plus one frame (streams;
            # "settle" until measured); "manual": always wait "settle".
            "settle_mode": "auto",
            # Seconds a stream stays open after an autofocus or a drift-watch look, so the next
            # one starts on frames it already has; 0: closed after each use.
            "keep_open": 30.0,
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
        "drift": {
            # Look while a print runs: the drift that costs a print happens then, and an idle
            # printer's camera need not be polled. "always" also watches an idle printer.
            "watch": "printing",
            # Seconds between looks: a step (the lens back at rest) is reported about a minute
            # after it happened; each look is one snapshot and a few ms of scoring.
            "interval": 10.0,
            # Tell the user; a refocus holds the print at a layer change, so the user opts in.
            "action": "notify",
            # The share of the baseline sharpness a sustained drop must reach (about one depth
            # of field out on the simulated scene and the real PCB photograph, see the README).
            "drop": 0.2,
        },
        # The camera chain's delay as last measured (focus/pipeline.py's Timing.to_dict()), or None.
        "pipeline": None,
        "focus_map": None,
        # Follow focus: off by default. interval: least seconds between follow moves;
        # threshold: share of the depth of field worth a move; dof_width: depth of field in lens
        # units, None for the driver's default (plugin/device/follow.py: DEFAULT_DOF).
        "follow": {"enabled": False, "interval": 0.5, "threshold": 0.25, "dof_width": None},
    }


class SettingsError(ValueError):
    """A setting that cannot be used; ``path`` names it ("devices.camera.printer_z.min").

    The message is redacted when made: it is logged and pushed to every browser, and a
    refused camera URL must not show its password there.
    """

    def __init__(self, path: str, message: str, device: Optional[str] = None, field: Optional[str] = None) -> None:
        message = redact(message)
        super().__init__(message)
        self.path = path
        self.message = message
        #: The device the setting belongs to (its id), and the path inside that device.
        self.device = device
        self.field = path if field is None else field


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
    """The changes that make ``stored`` (layout ``current``) read as version 4: key -> value
    to write, key -> ``None`` for a key to remove.

    Version 1 (also what ``None``/0 means: settings written before versioning) had
    ``measure``, ``roi``, ``camera`` and ``simulation`` with the same meaning as now. It had no
    lens drivers: the only lens was the simulated one, in use while ``simulation.enabled``.
    Version 2 added the drivers with ``simulated`` as the default; version 3 defaults to none
    ("": a fresh install is set up by the wizard). So for both, a config that never stored
    ``driver`` but had the simulation on was using the simulated lens: it gets ``driver:
    simulated``. A driver already set stays.

    Version 4 holds the device sections (:data:`DEVICE_KEYS`) in ``devices``, a list: the
    top-level ones of versions 1 to 3 move, as stored, into the first device (id
    :data:`FIRST_DEVICE_ID`, named after its webcam or "Camera") and are removed from the top
    level. A fresh install (nothing stored) and a config with no device section stored get
    nothing written: the defaults apply (one device, no driver).
    """
    stored = {k: v for k, v in (stored or {}).items() if not k.startswith("_")}
    if current is not None and current >= VERSION:
        return {}
    if not stored:
        return {}
    old = {k: copy.deepcopy(stored[k]) for k in DEVICE_KEYS if k in stored}
    if (current is None or current < 3) and "driver" not in old:
        simulation = stored.get("simulation") or {}
        enabled = simulation.get("enabled", False) if isinstance(simulation, dict) else False
        if _truthy(enabled):
            old["driver"] = "simulated"
    if not old:
        return {}
    devices = stored.get("devices")
    if isinstance(devices, list) and devices and isinstance(devices[0], dict):
        # Devices already there (written by a later release) and top-level sections too:
        # the top-level ones are the newer, written by the older release.
        first = merge(devices[0], old)
        rest = copy.deepcopy(devices[1:])
    else:
        first = dict({"id": FIRST_DEVICE_ID, "name": _first_name(old)}, **old)
        rest = []
    changes: Dict[str, Any] = {key: None for key in DEVICE_KEYS if key in stored}
    changes["devices"] = [first] + rest
    return changes


def _first_name(old: Dict[str, Any]) -> str:
    """The migrated device's name: its OctoPrint webcam's, if that makes a usable name."""
    camera = old.get("camera")
    webcam = camera.get("webcam") if isinstance(camera, dict) else None
    try:
        return check_device_name(webcam) if webcam else FIRST_DEVICE_NAME
    except ValueError:
        return FIRST_DEVICE_NAME


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


def check_device_sections(data: Dict[str, Any]) -> Dict[str, Any]:
    """One device's sections (:data:`DEVICE_KEYS`, defaults merged in), checked and normalised.

    Returns a new dict with proper types (numbers from numeric strings, canonical driver
    names); raises :class:`SettingsError` naming the first bad setting by its path inside
    the device ("camera.settle"), and nothing else:
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
    merged = merge(device_defaults(), {k: v for k, v in (data or {}).items() if k in DEVICE_KEYS})
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
        "settle_mode": _choice(camera.get("settle_mode"), "camera.settle_mode", SETTLE_MODES),
        "keep_open": _number(camera.get("keep_open"), "camera.keep_open", 0, KEEP_MAX),
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

    drift = _section(merged, "drift")
    out["drift"] = {
        "watch": _choice(drift.get("watch"), "drift.watch", DRIFT_WATCH_MODES),
        "interval": _number(drift.get("interval"), "drift.interval", 2, 3600),
        "action": _choice(drift.get("action"), "drift.action", DRIFT_ACTIONS),
        "drop": _number(drift.get("drop"), "drift.drop", 0.05, 0.9),
    }
    out["pipeline"] = check_pipeline(merged.get("pipeline"))
    out["focus_map"] = check_focus_map(merged.get("focus_map"))
    out["follow"] = _check_follow(_section(merged, "follow"))
    return out


#: follow.interval (s) and follow.threshold (depth-of-field widths) ranges: a lens moved more
#: than 20 times a second gains nothing; a threshold of 0 moves at every step of the map.
FOLLOW_INTERVAL = (0.05, 600.0)
FOLLOW_THRESHOLD = (0.0, 10.0)


def _check_follow(follow: Dict[str, Any]) -> Dict[str, Any]:
    dof = follow.get("dof_width")
    return {
        "enabled": _bool(follow.get("enabled"), "follow.enabled"),
        "interval": _number(follow.get("interval"), "follow.interval", *FOLLOW_INTERVAL),
        "threshold": _number(follow.get("threshold"), "follow.threshold", *FOLLOW_THRESHOLD),
        "dof_width": None if dof in (None, "") else _number(dof, "follow.dof_width", maximum=1_000_000, above=0),
    }


def check(data: Dict[str, Any]) -> Dict[str, Any]:
    """The complete settings ``data`` (defaults merged in), checked and normalised.

    Each device is checked by :func:`check_device_sections`; a refusal names the setting as
    ``devices.<id>.camera.settle`` (``field`` keeps "camera.settle", ``device`` the id).
    Returns ``{"devices": [...], "simulation": {...}}``.
    """
    check_nesting(data)
    data = data or {}
    devices = data.get("devices")
    if devices is None:
        devices = defaults()["devices"]
    if not isinstance(devices, list) or not devices:
        raise SettingsError("devices", gettext("devices must be a list of at least one focus device, not %(value)s",
                                               value=shown(devices, 80)))
    if len(devices) > DEVICES_MAX:
        raise SettingsError("devices", gettext("At most %(count)d focus devices, not %(value)d",
                                               count=DEVICES_MAX, value=len(devices)))
    out_devices: List[Dict[str, Any]] = []
    ids: Dict[str, int] = {}
    names: Dict[str, str] = {}
    for index, entry in enumerate(devices):
        if not isinstance(entry, dict):
            raise SettingsError(f"devices.{index}", gettext(
                "Each focus device must be a group of settings, not %(value)s", value=shown(entry, 80)))
        device_id = entry.get("id")
        if not isinstance(device_id, str) or not _DEVICE_ID.match(device_id):
            raise SettingsError(f"devices.{index}.id", gettext(
                "A device id is 1 to %(count)d characters a-z, 0-9, _ and -, not %(value)s",
                count=DEVICE_ID_MAX, value=shown(device_id)))
        if device_id in ids:
            raise SettingsError(f"devices.{device_id}.id", gettext(
                "Two focus devices have the id %(value)s", value=repr(device_id)))
        ids[device_id] = index
        try:
            name = check_device_name(entry.get("name"))
        except ValueError as exc:
            raise SettingsError(f"devices.{device_id}.name", str(exc), device=device_id, field="name") from None
        if name.casefold() in names:
            raise SettingsError(f"devices.{device_id}.name", gettext(
                "Two focus devices are named %(name)s (names differ in more than upper and lower case)",
                name=repr(name)), device=device_id, field="name")
        names[name.casefold()] = device_id
        try:
            sections = check_device_sections(entry)
        except SettingsError as exc:
            message = exc.message if len(devices) == 1 else f"{name}: {exc.message}"
            raise SettingsError(f"devices.{device_id}.{exc.path}" if exc.path else f"devices.{device_id}",
                                message, device=device_id, field=exc.path) from None
        out_devices.append(dict({"id": device_id, "name": name}, **sections))
    merged = merge({"simulation": defaults()["simulation"]}, {"simulation": data.get("simulation") or {}})
    try:
        simulation = asdict(SimulationSettings.from_dict(_section(merged, "simulation")))
    except SimulationSettingError as exc:
        raise SettingsError(f"simulation.{exc.field}" if exc.field else "simulation", str(exc)) from None
    return {"devices": out_devices, "simulation": simulation}


def check_device_name(value: Any) -> str:
    """A device name: the character rules of preset names (:func:`check_preset_name`), 1 to
    32 characters, and no double quote (G-code names a device as ``DEVICE="nozzle cam"``);
    ``ValueError`` otherwise."""
    problem, name = _name_problem(value, DEVICE_NAME_MAX)
    if problem == "type":
        raise ValueError(gettext("The device name must be text, not %(value)s", value=shown(value)))
    if problem == "char":
        raise ValueError(gettext("The device name must not contain control characters or invisible "
                                 "formatting characters (found U+%(code)s)", code=name))
    if problem == "empty":
        raise ValueError(gettext("The device name must not be empty"))
    if problem == "long":
        raise ValueError(gettext("The device name must be at most %(count)d characters, not %(length)d",
                                 count=DEVICE_NAME_MAX, length=len(name)))
    if '"' in name:
        raise ValueError(gettext('The device name must not contain a double quote (")'))
    return name


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
    problem, name = _name_problem(value, PRESET_NAME_MAX)
    if problem == "type":
        raise ValueError(gettext("The preset name must be text, not %(value)s", value=shown(value)))
    if problem == "char":
        raise ValueError(gettext("The preset name must not contain control characters or invisible "
                                 "formatting characters (found U+%(code)s)", code=name))
    if problem == "empty":
        raise ValueError(gettext("The preset name must not be empty"))
    if problem == "long":
        raise ValueError(gettext("The preset name must be at most %(count)d characters, not %(length)d",
                                 count=PRESET_NAME_MAX, length=len(name)))
    return name


def _name_problem(value: Any, limit: int) -> Tuple[Optional[str], str]:
    """(problem or None, the normalised name, or the code point found for "char")."""
    if not isinstance(value, str):
        return "type", ""
    name = unicodedata.normalize("NFC", value).strip()
    for char in name:
        if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp"):
            return "char", f"{ord(char):04X}"
    if not name:
        return "empty", name
    if len(name) > limit:
        return "long", name
    return None, name


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


def check_pipeline(value: Any) -> Optional[Dict[str, Any]]:
    """The stored camera delay: None when missing or unusable (the plugin writes it, and the
    next run measures again), else its numbers."""
    if not isinstance(value, dict):
        return None
    try:
        delay = float(value["delay"])
        settle = float(value["settle"])
    except (KeyError, TypeError, ValueError):
        return None
    if not (math.isfinite(delay) and math.isfinite(settle) and 0 <= delay <= 10 and 0 < settle <= 10):
        return None
    out: Dict[str, Any] = {"delay": round(delay, 3), "settle": round(settle, 3), "interval": None, "frames": None}
    for key in ("interval", "frames"):
        try:
            number = float(value.get(key))
        except (TypeError, ValueError):
            continue
        if math.isfinite(number) and number > 0:
            out[key] = round(number, 4)
    # The delays the settle came from (kept across runs, see device/timing.py): numbers only.
    samples = value.get("samples")
    if isinstance(samples, list):
        numbers = [round(float(v), 3) for v in samples[-32:]
                   if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and 0 <= v <= 10]
        if numbers:
            out["samples"] = numbers
    return out


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


#: Stored maps already checked: their JSON text -> the normalised map. Checking fits the map
#: again (leave-one-out residuals), and the settings are checked on every read.
_FOCUS_MAPS: Dict[str, Dict[str, Any]] = {}
_FOCUS_MAPS_MAX = 32
_FOCUS_MAPS_LOCK = threading.Lock()


def check_focus_map(value: Any) -> Optional[Dict[str, Any]]:
    """A stored focus map (``FocusMap.to_dict()``) normalised, or None for no map.

    A map that cannot be used raises :class:`SettingsError` on ``focus_map``: at start-up the
    stored-settings repair then removes it with a log line, and the rest of the settings stay.
    """
    if value is None:
        return None
    try:
        key = json.dumps(value, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError):
        raise SettingsError("focus_map", gettext("The stored focus map is not plain data; calibrate again.")) from None
    with _FOCUS_MAPS_LOCK:
        normalised = _FOCUS_MAPS.get(key)
    if normalised is None:
        try:
            normalised = FocusMap.from_dict(value).to_dict()
        except FocusMapError as exc:
            raise SettingsError("focus_map", str(exc)) from None
        with _FOCUS_MAPS_LOCK:
            if len(_FOCUS_MAPS) >= _FOCUS_MAPS_MAX:
                _FOCUS_MAPS.pop(next(iter(_FOCUS_MAPS)))
            _FOCUS_MAPS[key] = normalised
    return copy.deepcopy(normalised)


def tidy(value: float):
    """Whole numbers as ints (VCM codes), others as floats rounded to 1/10000."""
    return int(value) if float(value).is_integer() else round(float(value), 4)


#: Settings that may hold credentials: only PiFocus administrators see them on the API.
SECRET_PATHS = (("camera", "url"), ("camera_streamer", "url"))


def first_device(checked: Dict[str, Any]) -> Dict[str, Any]:
    """The first device of checked settings: what a request naming no device means."""
    return checked["devices"][0]


def flat(checked: Dict[str, Any], device_id: Optional[str] = None) -> Dict[str, Any]:
    """One device's sections with the global ones, in the single-device layout of version 3
    (what a focus device reads): the first device unless ``device_id`` is given."""
    devices = checked["devices"]
    device = next((d for d in devices if d["id"] == device_id), devices[0])
    out = copy.deepcopy(device)
    out["simulation"] = copy.deepcopy(checked["simulation"])
    return out


def view(checked: Dict[str, Any], admin: bool) -> Dict[str, Any]:
    """What the settings API shows: ``devices`` and ``simulation``, and the first device's
    sections at the top level too (today's settings dialog and wizard edit those; a save of
    them changes the first device). Without PiFocus administration the secret paths are
    blank (``None``), as OctoPrint's restricted paths would show them."""
    out = copy.deepcopy(checked)
    first = out["devices"][0]
    for key in DEVICE_KEYS:
        out[key] = copy.deepcopy(first[key])
    if not admin:
        for target in [out] + out["devices"]:
            for section, key in SECRET_PATHS:
                if isinstance(target.get(section), dict):
                    target[section][key] = None
    return out


def apply_submission(current: Dict[str, Any], submitted: Dict[str, Any]) -> Dict[str, Any]:
    """The settings (unchecked) a save of ``submitted`` onto ``current`` results in.

    ``submitted`` may hold ``devices`` (the list as it is to be: a device with a known id
    keeps what was not sent, and its presets and last positions, which only the plugin
    writes; a new id is a new device), the first device's sections at the top level (applied
    after the list: they are what the dialog of one device edits), and ``simulation``.

    With ``devices_known`` (the ids the sender's dialog loaded), a stored device the list
    leaves out is removed only if the sender knew it: one another browser added after the
    dialog opened stays, at the end, with its presets. Without it, the list is the whole truth.
    """
    current = current or {}
    devices = current.get("devices")
    devices = copy.deepcopy(devices) if isinstance(devices, list) and devices else defaults()["devices"]
    known = {d.get("id"): d for d in devices if isinstance(d, dict)}
    sent = submitted.get("devices")
    if sent is not None:
        if isinstance(sent, list):
            devices = []
            for entry in sent:
                if isinstance(entry, dict):
                    entry = {k: v for k, v in entry.items() if not k.startswith("_")}
                    old = known.get(entry.get("id")) if isinstance(entry.get("id"), str) else None
                    if old is not None:
                        for key in MANAGED_KEYS:
                            entry.pop(key, None)
                        entry = merge(old, entry)
                devices.append(entry)
            seen = submitted.get("devices_known")
            if isinstance(seen, list):
                sent_ids = {e.get("id") for e in devices if isinstance(e, dict)}
                devices.extend(copy.deepcopy(old) for key, old in known.items()
                               if key not in sent_ids and key not in seen)
        else:
            devices = sent  # refused by check()
    sections = {k: v for k, v in submitted.items() if k in DEVICE_KEYS and k not in MANAGED_KEYS}
    if sections and isinstance(devices, list) and devices and isinstance(devices[0], dict):
        devices[0] = merge(devices[0], sections)
    result: Dict[str, Any] = {"devices": devices, "simulation": copy.deepcopy(current.get("simulation") or {})}
    if "simulation" in submitted:
        simulation = submitted["simulation"]
        result["simulation"] = (merge(result["simulation"], simulation) if isinstance(simulation, dict)
                                else simulation)
    return result


def without_secrets(submitted: Dict[str, Any]) -> Dict[str, Any]:
    """``submitted`` without the secret paths, at the top level and in each device."""
    visible = copy.deepcopy(submitted)
    targets = [visible] + [d for d in visible.get("devices") or [] if isinstance(d, dict)] \
        if isinstance(visible.get("devices"), list) else [visible]
    for target in targets:
        for section, key in SECRET_PATHS:
            if isinstance(target.get(section), dict):
                target[section].pop(key, None)
    return visible


def changes(current: Dict[str, Any], submitted: Dict[str, Any]) -> bool:
    """Whether saving ``submitted`` would change anything, once both are checked.

    The secret paths are left out of the comparison: a user who may not see them gets them
    blanked in the dialog and sends the blanks back unchanged. Something that does not even
    pass the checks counts as a change (an attempt).
    """
    try:
        before = check(current)
        after = check(apply_submission(current, without_secrets(submitted)))
    except SettingsError:
        return True
    return after != before


def submitted_sections(data: Dict[str, Any]) -> Dict[str, Any]:
    """What the settings dialog sent, without the keys the plugin manages itself;
    :class:`SettingsError` for data nested deeper than any setting (see :func:`check_nesting`)."""
    check_nesting(data)
    if data is not None and not isinstance(data, dict):
        raise SettingsError("", gettext("PiFocus's settings must be a group of settings, not %(value)s",
                                        value=shown(data, 80)))
    return {k: v for k, v in (data or {}).items()
            if isinstance(k, str) and k not in MANAGED_KEYS and not k.startswith("_")}
