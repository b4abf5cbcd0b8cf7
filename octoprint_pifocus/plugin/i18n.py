"""The engine's messages in the user's language, where the plugin hands them out.

The engine says a message in English with a code and parameters
(:mod:`octoprint_pifocus.messages`); its text travels through the plugin as a plain string
(a status's ``lens_error``, a result's ``message``, an API error). At the plugin's boundary
such a string is recognised by its English text (:func:`~octoprint_pifocus.messages.known`)
and:

* :func:`annotate` (pushes, events, API replies) puts ``<key>_code``, ``<key>_template`` and
  ``<key>_params`` next to it, so a browser translates it into its own language
  (``PiFocusShared.translate``): a push goes to every browser, each in its own language;
* :func:`localize` (API replies) translates it into the request's language with
  flask_babel, so a script or a browser that shows ``error`` as it is reads German.

The English text stays where it was: logs, events and the command line keep it. Only the
fields of :data:`MESSAGE_KEYS` are looked at, whatever they are nested in.
"""
from __future__ import annotations

from typing import Any, Callable, Dict

from ..messages import CATALOGUE, LABELS, Message, known, known_in

#: The fields that carry a message for a person.
MESSAGE_KEYS = ("message", "error", "lens_error", "z_blocked")
#: Follow focus's status says its notice (outside the map, no map) in ``notice``.
MESSAGE_KEYS += ("notice",)

#: Fields that may hold one of the engine's names for a thing (a probe's "PiFocus simulation"
#: with its chip "simulated VCM", a driver's label), and those names.
LABEL_KEYS = ("device", "chip", "driver_name", "label")
ENGINE_LABELS = frozenset(list(LABELS.values()) + [CATALOGUE["sim.lens_name"], CATALOGUE["sim.name"]])


def _fields(key: str, message: Message) -> Dict[str, Any]:
    described = message.to_dict()
    return {f"{key}_code": described["code"], f"{key}_template": described["template"],
            f"{key}_params": described["params"]}


def annotate(data: Any) -> Any:
    """A copy of the JSON-like ``data`` where every known engine message in a
    :data:`MESSAGE_KEYS` field has its code, template and parameters next to it."""
    if isinstance(data, list):
        return [annotate(item) for item in data]
    if not isinstance(data, dict):
        return data
    result = {key: annotate(value) for key, value in data.items()}
    for key in MESSAGE_KEYS:
        message = known(data.get(key))
        if message is not None:
            result.update(_fields(key, message))
    return result


def localize(data: Any, gettext: Callable[[str], str]) -> Any:
    """A copy of the JSON-like ``data`` with every known engine message in a
    :data:`MESSAGE_KEYS` field, and every engine name in a :data:`LABEL_KEYS` field, in the
    language of ``gettext``."""
    if isinstance(data, list):
        return [localize(item, gettext) for item in data]
    if not isinstance(data, dict):
        return data
    result = {key: localize(value, gettext) for key, value in data.items()}
    for key in LABEL_KEYS:
        if isinstance(data.get(key), str) and data[key] in ENGINE_LABELS:
            result[key] = gettext(data[key])
    for key in MESSAGE_KEYS:
        if isinstance(data.get(key), str):
            result[key] = text(data[key], gettext)
    return result


def translated(message: Message, gettext: Callable[[str], str]) -> str:
    """``message`` in the language of ``gettext``; English if a translation does not fit its
    parameters (a broken msgstr must not turn an error into a crash)."""
    try:
        return message.render(gettext)
    except (KeyError, TypeError, ValueError):
        return str(message)


def text(value: str, gettext: Callable[[str], str]) -> str:
    """One message text in the language of ``gettext``: a known engine message, or the
    known engine messages quoted in it (a settings check's "camera.url is not usable: <the
    engine's reason>", already in the request's language around it)."""
    message = known(value)
    if message is not None:
        return translated(message, gettext)
    for quoted, inner in known_in(value):
        value = value.replace(quoted, translated(inner, gettext))
    return value
