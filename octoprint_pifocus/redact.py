"""Passwords in URLs never leave PiFocus: masked where messages are born and where they leave.

Camera URLs may carry credentials (``http://user:password@camera/...``, or a query like
``?user=admin&pwd=...`` on IP cameras), and PiFocus quotes URLs in its messages because the
person reading them has to find the setting to fix. Those messages reach every logged-in
browser (status pushes, events), the API and the logs, so a password must never be in them.

One mechanism, in this module (plain Python, no OctoPrint):

* :func:`mask_url` shows one URL safely: ``http://cam:***@host:8080/x``. The user name stays
  (it helps to recognise the URL), the password becomes ``***``; user information without a
  password is masked whole (``http://***@host``: it may be a token). Query parameters whose
  name says password (pas, pwd), token, secret, API key or auth get ``***`` as their value.
* :func:`redact` does the same to every URL inside any text. It takes the user information
  up to the *last* ``@`` before the next whitespace, so a password with an unencoded ``@``,
  ``/`` or ``?`` is masked too (a URL with an ``@`` in its path or query then shows less of
  itself than it could; it never shows more). Applying it twice changes nothing.
* :func:`redact_data` redacts every string in a JSON-like structure (a push, an event
  payload, an API reply); :class:`RedactingFilter` is a ``logging.Filter`` that redacts a
  record's message, its traceback and its stack.

Where it is applied:

1. **At birth.** Code that puts a URL it knows into a message shows it with
   :func:`mask_url` (the frame sources' ``Endpoint.url``, the camera-streamer driver, the
   settings checks), and :class:`~octoprint_pifocus.errors.PiFocusError` runs :func:`redact`
   over its own message, so every expected failure of every driver and frame source is safe
   whatever it quotes (a URL, a server's reply, an OS error).
2. **At the plugin's boundary**, as defence in depth: everything the plugin sends out goes
   through :func:`redact_data` (plugin messages, events, API replies, the snapshot route's
   errors), and :func:`protect_loggers` puts :class:`RedactingFilter` on the plugin's logger
   and on every ``octoprint_pifocus`` logger, so log lines and tracebacks are masked too.

Limits: text is split at whitespace, so in free text a password containing a space would
be masked only where the URL is shown with :func:`mask_url` (which takes the whole string);
the settings refuse URLs with whitespace. A logger filter sees only records logged to that
very logger: OctoPrint's own loggers are not filtered, which is why nothing PiFocus hands
to OctoPrint (exception messages included) may hold a password in the first place.
"""
from __future__ import annotations

import logging
import re
from typing import Any, Iterable

MASK = "***"

_SCHEME = r"[A-Za-z][A-Za-z0-9+.\-]*://"
#: A URL's user information in free text: up to the last "@" before whitespace.
_USERINFO_IN_TEXT = re.compile(rf"(?P<scheme>{_SCHEME})(?P<userinfo>\S*)@")
#: The same for one whole URL, whitespace included.
_USERINFO_IN_URL = re.compile(rf"^(?P<lead>\s*)(?P<scheme>{_SCHEME})(?P<userinfo>.*)@", re.S)
#: Query parameters that hold credentials (pwd=, password=, loginpas=, token=, api_key=...).
_SECRET_PARAM = re.compile(
    r"(?P<name>(?<=[?&;])[^=&;\s#]*(?:pas|pwd|token|secret|apikey|api_key|api-key|auth)[^=&;\s#]*)"
    r"=(?P<value>[^&;\s#]*)", re.I)


def _userinfo(match: "re.Match[str]") -> str:
    userinfo = match.group("userinfo")
    user, sep, _ = userinfo.partition(":")
    if sep and user and not any(c in user for c in "/?#"):
        shown = f"{user}:{MASK}"
    else:
        shown = MASK
    return f"{match.groupdict().get('lead') or ''}{match.group('scheme')}{shown}@"


def _params(text: str) -> str:
    return _SECRET_PARAM.sub(lambda m: f"{m.group('name')}={MASK}" if m.group("value") else m.group(0), text)


def mask_url(url: str) -> str:
    """``url`` for showing: its password (and secret query parameters) replaced by ``***``."""
    text = str(url)
    if not _USERINFO_IN_URL.match(text):
        return redact(text)
    return _params(_USERINFO_IN_URL.sub(_userinfo, text, count=1))


def redact(text: str) -> str:
    """``text`` with the credentials of every URL in it masked, as :func:`mask_url` does."""
    text = str(text)
    if "://" not in text and "=" not in text:
        return text
    return _params(_USERINFO_IN_TEXT.sub(_userinfo, text))


def redact_data(value: Any) -> Any:
    """A copy of a JSON-like ``value`` with every string (keys included) redacted."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact_data(k): redact_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_data(v) for v in value]
    return value


class RedactingFilter(logging.Filter):
    """Masks URL credentials in a log record: the message, the traceback and the stack."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string is the logging module's to report
            return True
        masked = redact(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


_FILTER = RedactingFilter()

#: The engine's loggers all live below this name.
ENGINE_LOGGER = "octoprint_pifocus"


def protect_loggers(*loggers: Any) -> None:
    """Put the redacting filter on ``loggers`` (names or loggers) and on every logger of
    PiFocus's engine (``octoprint_pifocus.*``) created so far. Idempotent.

    A filter on a logger sees only the records logged to that logger, not the ones its
    children pass up, so each logger gets it; the engine's modules create theirs when
    imported, which the plugin has done before it calls this.
    """
    names = [ENGINE_LOGGER] + [name for name in logging.root.manager.loggerDict
                               if name.startswith(ENGINE_LOGGER + ".")]
    targets: Iterable[Any] = list(loggers) + names
    for target in targets:
        logger = logging.getLogger(target) if isinstance(target, str) else target
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
