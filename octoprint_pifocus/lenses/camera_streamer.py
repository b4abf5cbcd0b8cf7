"""Focus a Pi Camera Module 3 through camera-streamer's HTTP ``/option`` (current OctoPi).

On Bookworm the kernel's lens driver owns the VCM and libcamera runs the camera, so the
supported way to move the lens is to ask camera-streamer: set ``AfMode`` to manual, then
``LensPosition`` in dioptres (0 = infinity, 2 = 50 cm). Two URL forms exist:

* since 0.2.2: ``/option?device=CAMERA&key=LensPosition&value=2.5``;
* before: ``/option?LensPosition=2.5``.

The form is detected once from the reply to a bare ``GET /option``, which changes
nothing: the new server answers 400 "No key or value passed.", the old one 404 "No options
passed.". Anything else is not camera-streamer, which is better said than guessed.

camera-streamer compares the ``device`` name exactly, and names the camera ``CAMERA``.
HTTP as the frame sources do it (:mod:`..sources.web`: ``http.client`` with a timeout, basic
auth from ``user:password@`` in the URL); messages show the URL with its password masked.
"""
from __future__ import annotations

import http.client
import socket
import threading
import urllib.parse
from typing import Any, Dict, Optional, Tuple

from ..errors import LensError
from ..messages import Message
from ..redact import mask_url
from ..sources.web import split_url
from .base import LensBase, Number, check_limits, format_number, probe_entry, snap

DEFAULT_URL = "http://127.0.0.1:8080"
DEFAULT_DEVICE = "CAMERA"
#: IMX708 (Camera Module 3) in its normal range; macro reaches about 15.
DEFAULT_LIMITS = (0.0, 12.0)
FORMS = ("auto", "new", "old")

NEW_SIGNATURE = "no key or value"
OLD_SIGNATURE = "no options passed"


class Reply:
    """Status and body of one HTTP reply (an error status is a reply too)."""

    def __init__(self, status: int, body: str, with_credentials: bool = False) -> None:
        self.status = status
        self.body = body.strip()
        #: The request carried a user name and password (HTTP basic auth).
        self.with_credentials = with_credentials

    @property
    def first_line(self) -> str:
        return self.body.splitlines()[0].strip() if self.body else ""


def http_get(url: str, timeout: float) -> Reply:
    """GET ``url``; connection problems become a :class:`LensError` naming the URL (masked).

    The URL is split as the frame sources split theirs (:func:`..sources.web.split_url`), so
    ``http://user:password@host:8080`` sends HTTP basic auth, as for the camera URL.
    """
    try:
        endpoint = split_url(url)
    except ValueError as exc:
        raise LensError("streamer.bad_url", error=str(exc)) from None
    conn = endpoint.connection(timeout)
    try:
        conn.request("GET", endpoint.target, headers=endpoint.headers)
        response = conn.getresponse()
        body = response.read(65536).decode("utf-8", "replace")
        return Reply(response.status, body, endpoint.has_credentials)
    except (socket.timeout, TimeoutError):
        raise _unreachable(endpoint.url, Message("streamer.why.timeout", seconds=f"{timeout:g}")) from None
    except ConnectionRefusedError:
        raise _unreachable(endpoint.url, Message("streamer.why.refused")) from None
    except socket.gaierror as exc:
        raise _unreachable(endpoint.url, Message("streamer.why.unknown_host", host=repr(endpoint.host),
                                                 reason=exc.strerror or exc)) from None
    except OSError as exc:
        raise _unreachable(endpoint.url, exc.strerror or str(exc)) from None
    except http.client.HTTPException as exc:
        raise _unreachable(endpoint.url, Message("streamer.why.bad_http", error=type(exc).__name__)) from None
    finally:
        conn.close()


def _unreachable(url: str, why: Any) -> LensError:
    return LensError("streamer.unreachable", url=url.split("/option")[0], why=why)


def _refused(base_url: str, reply: Reply) -> LensError:
    """The error for a 401 or 403: what to change in the URL's user name and password."""
    if reply.with_credentials:
        return LensError("streamer.credentials_refused", url=mask_url(base_url))
    return LensError("streamer.credentials_needed", url=mask_url(base_url), status=reply.status)


def detect_form(base_url: str, timeout: float) -> str:
    """``"new"`` or ``"old"`` from a bare ``GET /option``; :class:`LensError` if neither."""
    reply = http_get(f"{base_url}/option", timeout)
    text = reply.body.lower()
    if reply.status in (401, 403):
        raise _refused(base_url, reply)
    if reply.status == 400 and NEW_SIGNATURE in text:
        return "new"
    if reply.status == 404 and OLD_SIGNATURE in text:
        return "old"
    raise LensError("streamer.not_streamer", url=mask_url(base_url), status=reply.status,
                    said=": " + reply.first_line if reply.first_line else "")


class CameraStreamerLens(LensBase):
    """``LensPosition`` in dioptres through camera-streamer; ``form`` is "auto", "new" or "old"."""

    driver = "camera-streamer"
    units = "dioptre"

    def __init__(self, url: str = DEFAULT_URL, device: Optional[str] = DEFAULT_DEVICE,
                 limits: Tuple[float, float] = DEFAULT_LIMITS, resolution: float = 0.01,
                 form: str = "auto", timeout: float = 2.0, position: Optional[Number] = None,
                 backlash: Optional[Number] = None) -> None:
        self.url = _check_url(url)
        #: The URL for messages: its password masked.
        self.shown_url = mask_url(self.url)
        self.device = device or None
        low, high = check_limits(limits, "lens limits (dioptres)")
        if low < 0:
            raise ValueError(f"LensPosition is in dioptres and cannot be negative; got limits {limits!r}")
        self.limits = (float(low), float(high))
        if not resolution > 0:
            raise ValueError(f"The resolution must be greater than 0; got {resolution!r}")
        self.resolution = float(resolution)
        if form not in FORMS:
            raise ValueError(f"The URL form must be one of {', '.join(FORMS)}; got {form!r}")
        self.form = form
        self.timeout = float(timeout)
        self.backlash = backlash
        self.name = "camera-streamer"
        self._lock = threading.Lock()
        # camera-streamer cannot report LensPosition: known only once given or set.
        self.position_known = position is not None
        #: Whether PiFocus has put libcamera's autofocus to manual (AfMode) with a move: from
        #: then on libcamera does not hunt, the lens stays where PiFocus focused it (the sidebar
        #: says so). A camera-streamer restart brings back its configured mode, until the
        #: webcam watchdog restores the lens (``reapply``), which sends manual again.
        self.manual_mode = False
        self._position = self.checked(position) if position is not None else self.limits[0]

    @property
    def where(self) -> str:
        return f"LensPosition of camera-streamer at {self.shown_url}"

    # ~~ requests

    def _form(self) -> str:
        if self.form == "auto":
            self.form = detect_form(self.url, self.timeout)
        return self.form

    def option_url(self, key: str, value: str) -> str:
        if self._form() == "old":
            query = urllib.parse.urlencode({key: value})
        else:
            params = {"device": self.device} if self.device else {}
            params.update(key=key, value=value)
            query = urllib.parse.urlencode(params)
        return f"{self.url}/option?{query}"

    def set_option(self, key: str, value: str) -> None:
        """Set one camera option; every reply but 200 becomes a message about this camera."""
        reply = http_get(self.option_url(key, value), self.timeout)
        said = Message("streamer.said", text=reply.first_line) if reply.first_line else ""
        if reply.status == 200:
            return
        if reply.status in (401, 403):
            raise _refused(self.url, reply)
        if reply.status == 404:
            on = Message("streamer.on_device", device=self.device) if self.device and self.form == "new" else ""
            raise LensError("streamer.no_control", key=key, on=on, said=said)
        if reply.status == 400:
            raise LensError("streamer.rejected", url=self.shown_url, key=key, said=said)
        if reply.status == 500:
            raise LensError("streamer.could_not_set", url=self.shown_url, key=key, value=value, said=said)
        raise LensError("streamer.answered", url=self.shown_url, status=reply.status, key=key, said=said)

    # ~~ moves

    def move_to(self, position: Number) -> None:
        value = min(self.limits[1], max(self.limits[0], snap(self.checked(position), self.resolution)))
        with self._lock:
            self._apply(value)

    def _apply(self, value: float) -> None:
        # AfMode every time: a restarted camera-streamer comes back in its configured mode.
        self.set_option("AfMode", "manual" if self._form() == "new" else "0")
        self.manual_mode = True
        self.set_option("LensPosition", format_number(value))
        self._position = value
        self.position_known = True
        self._moved()

    def reapply(self) -> bool:
        """Send manual mode and the last position again; False if no position is known yet."""
        if not self.position_known:
            return False
        with self._lock:
            self._apply(self._position)
        return True

    # ~~ reporting

    def probe(self) -> Dict[str, Any]:
        try:
            form = self._form()
        except LensError as exc:
            return probe_entry(self.driver, self.shown_url, found=False, message=str(exc))
        return probe_entry(self.driver, self.shown_url, found=True, chip="libcamera LensPosition",
                           limits=self.limits, resolution=self.resolution, units=self.units,
                           position=self._position if self.position_known else None, form=form,
                           message=f"camera-streamer {'0.2.2 or newer' if form == 'new' else 'before 0.2.2'}"
                                   + ("" if self.position_known else "; it cannot report the lens position"))

    def close(self) -> None:
        """Nothing held between requests."""


def _check_url(url: str) -> str:
    try:
        split_url(str(url))
    except ValueError as exc:
        raise ValueError(f"The camera-streamer {exc} It must look like http://127.0.0.1:8080.") from None
    return str(url).strip().rstrip("/")
