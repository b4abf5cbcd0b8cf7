"""Property-based fuzzing of PiFocus's HTTP API and settings saves, against a real OctoPrint.

Hypothesis mixes well-formed values with hostile ones (integers far beyond a float such as
10**400, "NaN", "Infinity", "1e400", negative numbers, text, lists, nested objects, nesting
thousands of levels deep, unicode, empty values) into every API command's fields (the
contract's, docs/plugin-contract.md) and into settings saves of the ``plugins.pifocus``
section, and checks after every example:

- no answer is a 5xx, whatever the body and whoever sends it;
- the simulated lens is inside its limits (the API's position and the simulation's own);
- a settings save the plugin refused (it logs "Settings not saved") changed no setting, and
  ``/api/settings`` still answers with a PiFocus section;
- a save that was accepted stored only finite numbers and a section that passes the
  settings check again.

Bounded and reproducible: ``derandomize=True`` and no example database, so CI runs the same
examples every time (200 API requests, 60 settings saves: about a minute in all on a 2-core
machine). Shrinking is off: every example costs HTTP round trips, and the failing example is
printed as it was found.
Explicit ``@example``s pin the hostile cases that once broke the server, so they are tried
on every run whatever the generator draws.
"""
from __future__ import annotations

import json
import math
import time
from typing import Any, Dict, List, Optional, Tuple

import pytest
import requests
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from octoprint_pifocus.plugin import settings as settings_rules
from octoprint_pifocus.plugin.api import COMMANDS
from octoprint_server import OctoPrintServer, demo_config

API = "/api/plugin/pifocus"

FUZZ = settings(derandomize=True, database=None, deadline=None, print_blob=False,
                phases=[Phase.explicit, Phase.generate], report_multiple_bugs=False,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.large_base_example, HealthCheck.filter_too_much])

#: The body fields each command reads (docs/plugin-contract.md).
FIELDS: Dict[str, List[str]] = {
    "move": ["position"], "nudge": ["delta"], "autofocus": ["refine"], "cancel": [],
    "preset_save": ["name", "position"], "preset_apply": ["name"], "preset_delete": ["name"],
    "probe": ["driver"], "test": [], "validate_settings": ["settings"], "measure_delay": [],
    "calibrate": ["axes", "points", "surface"], "calibration_cancel": [], "map_point": ["index", "action"],
    "map_clear": [], "map_here": [], "map_apply": [], "warm_camera": [],
}
assert set(FIELDS) == set(COMMANDS), "a command was added: give the fuzzer its fields"


# ~~ values


class Deep:
    """A JSON value nested ``depth`` levels deep, written out as text (``json.dumps`` itself
    refuses such depths); see :func:`to_json`."""

    def __init__(self, depth: int, kind: str) -> None:
        self.depth, self.kind = depth, kind

    def text(self) -> str:
        if self.kind == "list":
            return "[" * self.depth + "1" + "]" * self.depth
        return '{"a": ' * self.depth + "1" + "}" * self.depth

    def __repr__(self) -> str:
        return f"Deep({self.depth}, {self.kind!r})"


def to_json(value: Any) -> str:
    """``value`` as JSON text, NaN and Infinity included (JavaScript clients send them),
    :class:`Deep` values spliced in as text."""
    deep: List[Deep] = []

    def mark(v: Any) -> Any:
        if isinstance(v, Deep):
            deep.append(v)
            return f"\x00deep{len(deep) - 1}\x00"
        if isinstance(v, dict):
            return {k: mark(x) for k, x in v.items()}
        if isinstance(v, list):
            return [mark(x) for x in v]
        return v

    text = json.dumps(mark(value), allow_nan=True)
    for i, d in enumerate(deep):
        text = text.replace(json.dumps(f"\x00deep{i}\x00"), d.text())
    return text


HOSTILE_NUMBERS = st.sampled_from([
    10 ** 400, -10 ** 400, 10 ** 309, -10 ** 309, 2 ** 63, 2 ** 64 + 1, -1, -0.0, 0, 1e308, -1e308,
    5e-324, float("nan"), float("inf"), float("-inf"), 1023.5, 1024, 99999999,
])
HOSTILE_STRINGS = st.sampled_from([
    "NaN", "nan", "Infinity", "-Infinity", "inf", "1e400", "-1e400", "1" * 400, "9" * 309,
    "0x10", "", " ", "   12  ", "-5", "1_000", "１２", "١٢", "\u0000", "\u202e", "é" * 40,
    "x" * 5000, "true", "null", "[]", "{}",
    # URLs urllib cannot read, or reads wrong (a password with delimiters, [ without ], fullwidth)
    "http://cam:Top#secret@127.0.0.1:9/s", "http://cam:To/p?w@127.0.0.1/s", "http://cam:pw@[::1/x",
    "http://cam:Sekr\uff20t@host/x", "http://h:99999/x", "http://:@/", "http://[]/", "https://\u3000/",
    # escaped quotes and backslashes (the body check strips JSON strings)
    '\\"' * 300, "\\" * 300,
])
#: What a number field of a form can be sent instead of a number.
NUMERIC_STRINGS = st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1" * 400, "9" * 309,
                                   "-5", "", "0x10", "12abc"])
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40), HOSTILE_NUMBERS, HOSTILE_STRINGS,
)
#: Nesting depths. The API's own body parser must cope with any depth; OctoPrint's settings
#: API parses its body itself (``request.get_json`` in OctoPrint's core, which fails on more
#: than about 990 levels for every plugin alike), so settings values nest less deeply.
API_DEPTHS = [2, 50, 999, 1001, 5000]
SETTINGS_DEPTHS = [2, 50, 300, 700]


def deep(depths: List[int]) -> st.SearchStrategy:
    return st.builds(Deep, st.sampled_from(depths), st.sampled_from(["list", "dict"]))


def hostile(depths: List[int]) -> st.SearchStrategy:
    """Any JSON value, hostile ones (see the module docstring) often."""
    return st.one_of(
        SCALARS, HOSTILE_NUMBERS, HOSTILE_STRINGS, deep(depths),
        st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                     max_leaves=8),
    )


HOSTILE = hostile(API_DEPTHS)
SETTINGS_HOSTILE = hostile(SETTINGS_DEPTHS)

#: Well-formed values per command field.
GOOD: Dict[str, st.SearchStrategy] = {
    "position": st.one_of(st.integers(-20, 1050), st.floats(-20, 1050), st.integers(0, 1023).map(str)),
    "delta": st.one_of(st.integers(-1100, 1100), st.floats(-50, 50), st.sampled_from(["2.5", "-3"])),
    "refine": st.one_of(st.booleans(), st.sampled_from(["true", "false", "TRUE"])),
    "name": st.one_of(st.sampled_from(["bed", "nozzle", "Café", "fuzz"]), st.text(min_size=1, max_size=34)),
    "driver": st.sampled_from(list(settings_rules.DRIVERS)),
    # The focus map's commands (plugin/device/calibration.py).
    "axes": st.sampled_from([["y"], ["z"], ["x", "y"], ["x", "y", "z"], "xy", ["q"]]),
    "points": st.lists(st.fixed_dictionaries({"x": st.integers(-10, 210), "y": st.integers(-10, 210),
                                              "z": st.integers(-1, 20)}), min_size=0, max_size=4),
    "surface": st.sampled_from(["auto", "plane", "quadratic", "spline"]),
    "index": st.integers(-2, 5),
    "action": st.sampled_from(["drop", "redo", "keep"]),
}


# ~~ settings values


def _leaves(data: Dict[str, Any], prefix: Tuple[str, ...] = ()) -> List[Tuple[str, ...]]:
    paths: List[Tuple[str, ...]] = []
    for key, value in data.items():
        if key in settings_rules.MANAGED_KEYS:
            continue
        if isinstance(value, dict):
            paths += _leaves(value, prefix + (key,))
        else:
            paths.append(prefix + (key,))
    return paths


DEFAULTS = settings_rules.defaults()
LEAVES = _leaves(DEFAULTS)
SECTIONS = [key for key, value in DEFAULTS.items() if isinstance(value, dict) and key not in settings_rules.MANAGED_KEYS]


def _default(path: Tuple[str, ...]) -> Any:
    value = DEFAULTS
    for key in path:
        value = value[key]
    return value


def good_value(path: Tuple[str, ...]) -> st.SearchStrategy:
    """A plausible value for a setting: near its default, of its type, as the form would send it."""
    default = _default(path)
    name = ".".join(path)
    choices = {"driver": ["simulated", "simulated", "", "i2c", "printer-z"], "camera.mode": list(settings_rules.CAMERA_MODES),
               "search.range": list(settings_rules.SEARCH_RANGES), "measure": ["tenengrad", "brenner"],
               "automation.failure_policy": list(settings_rules.FAILURE_POLICIES),
               "automation.before_print_mode": list(settings_rules.BEFORE_PRINT_MODES),
               "simulation.lens": ["vcm", "printer_z"], "i2c.chip": ["dw9714", "ak7375"]}
    if name in choices:
        return st.sampled_from(choices[name])
    if name == "simulation.enabled":
        return st.just(True)  # the fuzzed lens must stay a lens
    if name == "roi":
        return st.lists(st.one_of(st.floats(0, 1), HOSTILE_NUMBERS), min_size=4, max_size=4)
    if isinstance(default, bool):
        return st.one_of(st.booleans(), st.sampled_from(["true", "false"]))
    if isinstance(default, (int, float)):
        scale = max(abs(float(default)) * 2, 1.0)
        numbers = st.one_of(st.integers(0, int(scale)), st.floats(0, scale))
        return st.one_of(numbers, numbers.map(str))
    if default is None:
        return st.one_of(st.none(), st.integers(0, 30))
    return st.one_of(st.just(default), st.text(max_size=20))


def _set(data: Dict[str, Any], path: Tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        data = data.setdefault(key, {})
        if not isinstance(data, dict):
            return
    data[path[-1]] = value


@st.composite
def pifocus_section(draw) -> Any:
    """A partial ``plugins.pifocus`` section: a few settings, each well-formed or hostile;
    sometimes a whole section, or the whole of it, replaced by a hostile value."""
    shape = draw(st.sampled_from(["leaves"] * 6 + ["section", "whole"]))
    if shape == "whole":
        return draw(SETTINGS_HOSTILE)
    data: Dict[str, Any] = {}
    if shape == "section":
        data[draw(st.sampled_from(SECTIONS + ["roi", "presets", "last_position", "unknown"]))] = draw(SETTINGS_HOSTILE)
    for path in draw(st.lists(st.sampled_from(LEAVES), min_size=1, max_size=3, unique=True)):
        numeric = isinstance(_default(path), (int, float)) and not isinstance(_default(path), bool)
        odd = st.one_of(HOSTILE_NUMBERS, NUMERIC_STRINGS) if numeric else HOSTILE_STRINGS
        _set(data, path, draw(st.one_of(good_value(path), odd, SETTINGS_HOSTILE)))
    return data


# ~~ the server


@pytest.fixture(scope="module")
def server():
    with OctoPrintServer(extra_config=demo_config()) as s:
        s.admin = s.session("admin")
        s.baseline = {k: v for k, v in s.plugin_settings("pifocus").items()
                      if k not in settings_rules.MANAGED_KEYS and not k.startswith("_")}
        yield s


def post_body(server: OctoPrintServer, path: str, body: Any, user: Optional[str] = "admin") -> requests.Response:
    session = server.admin if user == "admin" else server.session(user)
    return session.post(server.url + path, data=to_json(body).encode("utf-8"), timeout=60,
                        headers={"Content-Type": "application/json"})


def status(server: OctoPrintServer) -> Dict[str, Any]:
    r = server.admin.get(server.url + API, timeout=30)
    assert r.status_code == 200, r.text[:500]
    return r.json()


def settle(server: OctoPrintServer) -> Dict[str, Any]:
    """Cancel any run an example started and wait for the lens to be free; the status."""
    body = status(server)
    if body["activity"] is not None:
        post_body(server, API, {"command": "cancel"})
        deadline = time.monotonic() + 60
        while body["activity"] is not None:
            assert time.monotonic() < deadline, body
            time.sleep(0.1)
            body = status(server)
    return body


def assert_lens_inside_its_limits(body: Dict[str, Any]) -> None:
    if body["lens_ok"] and body["position"] is not None:
        low, high = body["limits"]
        assert low <= body["position"] <= high, body
    if body["simulation"] is not None and body["simulation"]["lens"] == "vcm":
        assert 0 <= body["simulation"]["position"] <= 1023, body["simulation"]


def assert_no_server_error(r: requests.Response, what: Any) -> None:
    assert r.status_code < 500, f"HTTP {r.status_code} for {what!r}: {r.text[:300]}"


# ~~ the API


@st.composite
def command_request(draw) -> Tuple[Optional[str], Any]:
    """(user, body) of a POST to the API: a command with its fields well-formed or hostile,
    extra fields, or a body that is not a command object at all."""
    user = draw(st.sampled_from(["admin"] * 6 + ["user", None]))
    if draw(st.integers(0, 9)) == 0:
        return user, draw(st.one_of(HOSTILE, deep(API_DEPTHS)))
    command = draw(st.sampled_from(sorted(COMMANDS))) if draw(st.integers(0, 9)) else draw(st.text(max_size=12))
    body: Dict[str, Any] = {"command": command}
    for field in FIELDS.get(command, []):
        if field == "settings":
            body[field] = draw(st.one_of(pifocus_section(), HOSTILE))
        elif draw(st.booleans()):
            body[field] = draw(st.one_of(GOOD[field], HOSTILE_NUMBERS, HOSTILE_STRINGS, HOSTILE))
    if draw(st.integers(0, 4)) == 0:
        body[draw(st.text(max_size=10))] = draw(HOSTILE)
    return user, body


@settings(FUZZ, max_examples=200)
@given(request=command_request())
@example(request=("admin", {"command": "move", "position": Deep(5000, "list")}))
@example(request=(None, Deep(5000, "list")))
@example(request=("admin", {"command": "validate_settings", "settings": {"search": {"window": 10 ** 309}}}))
@example(request=("admin", {"command": "validate_settings", "settings": {"simulation": {"width": 1e400}}}))
@example(request=("admin", {"command": "validate_settings", "settings": {"roi": [0, 10 ** 400, 0.5, 0.5]}}))
@example(request=("admin", {"command": "move", "position": 10 ** 400}))
@example(request=("admin", {"command": "nudge", "delta": "1e400"}))
def test_no_api_request_makes_a_5xx_or_moves_the_lens_outside_its_limits(server, request):
    user, body = request
    r = post_body(server, API, body, user)
    assert_no_server_error(r, (user, body))
    assert r.headers["Content-Type"].startswith("application/json"), r.headers
    if r.status_code >= 400:
        assert r.json().get("error"), r.text[:300]
    assert_lens_inside_its_limits(settle(server))


# ~~ settings saves

REFUSED = "Settings not saved"


def pifocus_settings(server: OctoPrintServer) -> Dict[str, Any]:
    """The PiFocus section of ``/api/settings``, but ``last_position``: the plugin writes that
    itself a moment after a move (an earlier example's), whatever a save does."""
    r = server.admin.get(server.url + "/api/settings", timeout=30)
    assert r.status_code == 200, f"/api/settings answers {r.status_code}: {r.text[:300]}"
    body = r.json()
    assert "pifocus" in body.get("plugins", {}), "/api/settings lost the PiFocus section"
    data = {k: v for k, v in body["plugins"]["pifocus"].items()
            if not k.startswith("_") and k != "last_position"}
    if isinstance(data.get("devices"), list):  # each device's last position too
        data["devices"] = [{k: v for k, v in d.items() if k != "last_position"} for d in data["devices"]]
    return data


def non_finite(value: Any, path: str = "") -> List[str]:
    """Paths of the numbers in ``value`` that are not finite floats (NaN, infinities, ints no
    float can hold)."""
    if isinstance(value, bool):
        return []
    if isinstance(value, int):
        return [path] if abs(value) > 2 ** 1023 else []
    if isinstance(value, float):
        return [] if math.isfinite(value) else [path]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in non_finite(v, f"{path}.{k}" if path else str(k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in non_finite(v, f"{path}[{i}]")]
    return []


def refusals(server: OctoPrintServer) -> int:
    return server.log_text().count(REFUSED)


#: What OctoPrint logs when a plugin's settings hook raised: the settings API still says 200.
BROKEN = ("Could not save settings for plugin PiFocus", "Could not load settings for plugin PiFocus")


@settings(FUZZ, max_examples=60)
@given(section=pifocus_section())
@example(section={"simulation": {"width": 1e400}})
@example(section={"simulation": {"noise": "NaN"}})
@example(section={"simulation": {"blur_rate": "Infinity"}})
@example(section={"simulation": {"hysteresis": int("9" * 400)}})
@example(section={"search": {"window": 10 ** 309}})
@example(section={"roi": [10 ** 400, 0, 0.5, 0.5]})
@example(section="not a section")
@example(section={"camera": {"url": "http://cam:pw@[::1/x"}})
@example(section={"camera_streamer": {"url": "http://cam:Sekr\uff20t@host/x"}})
def test_settings_saves_store_valid_values_or_nothing(server, section):
    before = pifocus_settings(server)
    refused_before = refusals(server)
    log_before = len(server.log_text())
    r = post_body(server, "/api/settings", {"plugins": {"pifocus": section}})
    after: Optional[Dict[str, Any]] = None
    try:
        assert_no_server_error(r, section)
        new_log = server.log_text()[log_before:]
        assert not any(line in new_log for line in BROKEN), f"PiFocus's settings hook raised on {section!r}"
        after = pifocus_settings(server)
        refused = refusals(server) > refused_before
        if refused or r.status_code >= 400:
            assert after == before, f"a refused save of {section!r} changed settings"
        else:
            assert not non_finite(after), f"saved non-finite values {non_finite(after)} from {section!r}"
            settings_rules.check(after)  # what was stored passes the check again
        assert_lens_inside_its_limits(status(server))
    finally:
        if after != before:  # back to the baseline, so every example starts from the same settings
            reset = post_body(server, "/api/settings", {"plugins": {"pifocus": server.baseline}})
            assert reset.status_code == 200, reset.text[:300]
