"""URLs, connections and the error messages the HTTP frame sources share.

Stdlib only (``http.client``), so the engine needs no HTTP dependency and every network
operation gets an explicit timeout. Each failure becomes a :class:`CameraError` that names
the URL (password hidden) and says what to check, because the person reading it is looking
at a settings page, not at a traceback. (Named ``web``, not ``http``: a submodule called
``http`` would shadow the standard library's inside this package's ``__init__``.)
"""
from __future__ import annotations

import base64
import http.client
import re
import socket
import ssl
from dataclasses import dataclass, field
from typing import Dict, Optional
from urllib.parse import quote, unquote, urlsplit

from ..errors import CameraError
from ..messages import Message, say
from ..redact import mask_url

#: Where the usual webcam servers keep their pictures, for "wrong path" messages.
PATH_HINT = str(Message("camera.hint.path"))


@dataclass(frozen=True)
class Endpoint:
    """A parsed camera URL: where to connect, what to request, and how to name it."""

    url: str  # for messages: the URL with its password hidden
    scheme: str
    host: str
    port: Optional[int]
    target: str  # path and query, as sent in the request line
    headers: Dict[str, str] = field(default_factory=dict)

    @property
    def has_credentials(self) -> bool:
        return "Authorization" in self.headers

    def connection(self, timeout: float) -> http.client.HTTPConnection:
        """A new, not yet connected, connection whose every socket operation times out."""
        if self.scheme == "https":
            return http.client.HTTPSConnection(self.host, self.port, timeout=timeout,
                                               context=ssl.create_default_context())
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)


#: What may follow the "@" that ends a URL's user information: a host (or [IPv6]), a port,
#: then the path, query, fragment or the end.
_HOST_AFTER_USERINFO = re.compile(r"(?:\[[^\]/?#@]*\]|[^/?#@:\[\]\s]+)(?::\d*)?(?=[/?#]|$)")


def _parse(text: str):
    """``(parts, port)`` of ``text`` by urllib, or None when urllib cannot read its host and
    port or missed the user information an "@" shows it has."""
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return None
    # An "@" in the fragment (never sent to a camera) means a "#" in the password cut it off.
    if parts.username is None and "@" in parts.fragment:
        return None
    return parts, port


def _encode_userinfo(text: str) -> str:
    """``text`` with its user information percent-encoded, taken up to the last "@" that a host
    follows: a password holding # ? / or @ (or characters urllib refuses) then parses, and
    :func:`~urllib.parse.unquote` gives it back for basic auth."""
    scheme, sep, rest = text.partition("://")
    if not sep:
        return text
    for at in reversed([i for i, c in enumerate(rest) if c == "@"]):
        if _HOST_AFTER_USERINFO.match(rest, at + 1):
            user, colon, password = rest[:at].partition(":")
            safe = "%!$&'()*+,;="  # what RFC 3986 allows in user information, besides ":"
            return f"{scheme}://{quote(user, safe=safe)}{colon}{quote(password, safe=safe)}@{rest[at + 1:]}"
    return text


def split_url(url: str) -> Endpoint:
    """Check and split ``url``; ``user:password@`` in it becomes HTTP basic auth.

    ``ValueError`` (its message shows the URL masked) for anything that is not a full http://
    or https:// URL with a host. Shared by the frame sources and the camera-streamer driver.
    """
    text = (url or "").strip()
    shown = mask_url(text)
    parsed = _parse(text) or _parse(_encode_userinfo(text))
    if parsed is None:
        # Not urllib's reason: it may quote the host part, which holds the password when the
        # password has a delimiter in it.
        raise ValueError(say("url.unreadable", url=repr(shown)))
    parts, port = parsed
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(say("url.not_http", url=repr(shown)))
    if any(c.isspace() for c in text):
        raise ValueError(say("url.space", url=repr(shown)))
    headers = {"User-Agent": "PiFocus", "Accept": "image/jpeg, multipart/x-mixed-replace, */*"}
    netloc = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    if port is not None:
        netloc = f"{netloc}:{port}"
    userinfo = ""
    if parts.username is not None:
        user, password = unquote(parts.username), unquote(parts.password or "")
        token = base64.b64encode(f"{user}:{password}".encode("utf-8")).decode("ascii")
        headers["Authorization"] = f"Basic {token}"
        userinfo = parts.netloc.rpartition("@")[0] + "@"
    target = parts.path or "/"
    if parts.query:
        target = f"{target}?{parts.query}"
    return Endpoint(mask_url(f"{parts.scheme}://{userinfo}{netloc}{target}"), parts.scheme, parts.hostname,
                    port, target, headers)


def parse_url(url: str) -> Endpoint:
    """:func:`split_url` for a camera: a bad URL is a :class:`CameraError` saying what to give."""
    try:
        return split_url(url)
    except ValueError as exc:
        raise CameraError("camera.bad_url", error=str(exc)) from None


def network_error(exc: BaseException, endpoint: Endpoint, timeout: float) -> CameraError:
    """A :class:`CameraError` for a socket, TLS or HTTP protocol failure talking to ``endpoint``."""
    url = endpoint.url
    if isinstance(exc, CameraError):
        return exc
    if isinstance(exc, ConnectionRefusedError):
        return CameraError("camera.refused", url=url)
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return CameraError("camera.timeout", url=url, seconds=f"{timeout:g}")
    if isinstance(exc, socket.gaierror):
        return CameraError("camera.unknown_host", host=repr(endpoint.host), url=url)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return CameraError("camera.untrusted", url=url, reason=exc.verify_message)
    if isinstance(exc, ssl.SSLError):
        return CameraError("camera.https_failed", url=url, reason=exc.reason or exc)
    if isinstance(exc, (ConnectionError, http.client.IncompleteRead)):
        return CameraError("camera.closed_connection", url=url, reason=_detail(exc))
    if isinstance(exc, http.client.HTTPException):
        return CameraError("camera.bad_http", url=url, reason=_detail(exc))
    return CameraError("camera.unreachable", url=url, reason=_detail(exc))


def status_error(status: int, reason: str, endpoint: Endpoint, location: Optional[str] = None,
                 text: str = "") -> CameraError:
    """A :class:`CameraError` for an HTTP answer other than 200; ``text`` is a short plain-text
    body, which servers often use to say what is wrong ("No snapshot captured yet")."""
    said = Message("camera.answered_text" if text else "camera.answered", url=endpoint.url, status=status,
                   reason=reason or "", text=text)
    if not reason:  # no reason phrase: no space before the text
        said = f"{endpoint.url} answered HTTP {status}" + (f" ({text})" if text else "")
    hint = Message("camera.hint.path")
    if status in (401, 403):
        code = "camera.credentials_refused" if endpoint.has_credentials else "camera.credentials_needed"
        return CameraError(code, said=said)
    if status == 404:
        return CameraError("camera.wrong_path", said=said, hint=hint)
    if 300 <= status < 400:
        if location:
            return CameraError("camera.redirects_to", said=said, location=location)
        return CameraError("camera.redirects", said=said)
    if status >= 500:
        return CameraError("camera.server_error", said=said)
    return CameraError("camera.not_ok", said=said, hint=hint)


def not_jpeg_error(body: bytes, content_type: str, endpoint: Endpoint) -> CameraError:
    """A :class:`CameraError` for a body that should have been one JPEG and is not."""
    url = endpoint.url
    ctype = (content_type or "").split(";")[0].strip().lower()
    if ctype.startswith("multipart/"):
        return CameraError("camera.is_stream", url=url)
    if not body:
        return CameraError("camera.empty", url=url)
    if "html" in ctype or body.lstrip()[:1] == b"<":
        title = _html_title(body)
        if title:
            return CameraError("camera.html_titled", url=url, title=repr(title))
        return CameraError("camera.html", url=url)
    if body.startswith(b"\xff\xd8"):
        return CameraError("camera.jpeg_damaged", url=url, size=len(body))
    kind = ctype or Message("camera.unknown_type")
    return CameraError("camera.not_jpeg", url=url, size=len(body), kind=kind, start=repr(bytes(body[:12])))


def read_text(response: http.client.HTTPResponse, limit: int = 4096) -> bytes:
    """At most ``limit`` bytes of an error body, for the message; never fails."""
    try:
        return response.read(limit)
    except (OSError, http.client.HTTPException):
        return b""


def short_text(body: bytes, content_type: str) -> str:
    """A short plain-text body as one line, or "" if it is not plain text."""
    if not (content_type or "").lower().startswith("text/plain"):
        return ""
    text = " ".join(body.decode("utf-8", "replace").split())
    return text[:120]


def _html_title(body: bytes) -> str:
    match = re.search(rb"<title[^>]*>(.*?)</title>", body[:65536], re.I | re.S)
    if not match:
        return ""
    return " ".join(match.group(1).decode("utf-8", "replace").split())[:80]


def _detail(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def ask_kind(url: str, timeout: float) -> str:
    """"stream" if ``url`` answers with a multipart body, else "snapshot". Reads the headers
    only, so it works on a never-ending stream."""
    endpoint = parse_url(url)
    conn = endpoint.connection(timeout)
    try:
        conn.request("GET", endpoint.target, headers=endpoint.headers)
        response = conn.getresponse()
        if response.status != 200:
            raise status_error(response.status, response.reason, endpoint,
                               response.getheader("Location"))
        ctype = response.getheader("Content-Type", "").lower()
    except (OSError, http.client.HTTPException) as exc:
        raise network_error(exc, endpoint, timeout) from None
    finally:
        conn.close()
    return "stream" if ctype.startswith("multipart/") else "snapshot"
