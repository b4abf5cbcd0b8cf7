"""HTTP routes of the simulated webcam: an MJPEG stream and single snapshots.

The stream is a Tornado handler registered through the ``octoprint.server.http.routes`` hook,
not a ``BlueprintPlugin`` route: OctoPrint runs Flask inside Tornado through a WSGI container
that collects a view's whole response before sending any of it (``WsgiInputContainer`` in
``octoprint/server/util/tornado.py``), so an endless multipart response from Flask would never
reach the browser. OctoPrint serves its own long downloads the same way, with Tornado handlers.
The snapshot is a normal blueprint route.

Protection: both routes need a logged-in user (session cookie or API key) with OctoPrint's
``WEBCAM`` permission, the permission OctoPrint itself checks for its webcam snapshot download
(``/downloads/camera/current``) and for showing the webcam in the Control tab. A browser's
``<img>`` sends the session cookie, so the Control tab shows the stream. Server-side consumers
(timelapse, PiFocus's autofocus) do not use HTTP: they call ``take_webcam_snapshot``.
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import ipaddress
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, List, Optional

import tornado.iostream
import tornado.web

#: Routes under the plugin's prefix ``/plugin/pifocus/``.
STREAM_ROUTE = "simcam/stream"
SNAPSHOT_ROUTE = "simcam/snapshot"
#: As the browser sees them: relative to OctoPrint's root, so they also work behind a reverse
#: proxy that serves OctoPrint under a path prefix.
STREAM_URL = "plugin/pifocus/" + STREAM_ROUTE
SNAPSHOT_URL = "plugin/pifocus/" + SNAPSHOT_ROUTE

BOUNDARY = "pifocusframe"

NO_CACHE = "no-store, no-cache, must-revalidate, max-age=0"

#: Rendering runs here, off Tornado's event loop; two threads at most on a 2-core Pi.
_RENDER_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="pifocus-simcam")


def mjpeg_part(jpeg: bytes) -> bytes:
    """One part of a ``multipart/x-mixed-replace`` stream, as mjpg-streamer sends it."""
    head = (f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
            f"Content-Length: {len(jpeg)}\r\n\r\n").encode("ascii")
    return head + jpeg + b"\r\n"


class SimcamStreamHandler(tornado.web.RequestHandler):
    """An endless MJPEG stream of the simulated camera at ``fps()`` frames per second.

    ``frame()`` returns a JPEG, or ``None`` when the simulation is off (404, or the stream
    ends). ``access_validation(request)`` raises ``tornado.web.HTTPError`` to refuse.
    """

    def initialize(self, frame: Callable[[Optional[str]], Optional[bytes]], fps: Callable[[], float],
                   access_validation: Optional[Callable] = None) -> None:
        self._frame = frame
        self._fps = fps
        self._access_validation = access_validation
        self._closed = False

    def on_connection_close(self) -> None:
        self._closed = True

    async def _next_frame(self) -> Optional[bytes]:
        # ?device=<id>: that focus device's simulated camera (none: the first device's).
        device = self.get_query_argument("device", None)
        return await asyncio.get_running_loop().run_in_executor(_RENDER_POOL, self._frame, device)

    async def get(self, *args, **kwargs) -> None:
        if self._access_validation is not None:
            self._access_validation(self.request)
        frame = await self._next_frame()
        if frame is None:
            raise tornado.web.HTTPError(404, "PiFocus simulation is off")
        self.set_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        self.set_header("Cache-Control", NO_CACHE)
        self.set_header("Pragma", "no-cache")
        due = time.monotonic()
        while frame is not None and not self._closed:
            self.write(mjpeg_part(frame))
            try:
                await self.flush()
            except tornado.iostream.StreamClosedError:
                return
            due += 1.0 / max(0.1, float(self._fps()))
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            due = max(due, time.monotonic() - 1.0)  # after a stall, do not burst to catch up
            frame = await self._next_frame()
        if not self._closed:
            self.finish()


#: The user name in the URL at which PiFocus reads its own simulated stream (see :func:`own_access`).
OWN_USER = "pifocus"


def own_access(token: str, validation: Callable) -> Callable:
    """``validation``, except for PiFocus reading its own stream: a request from this machine
    with HTTP basic auth ``OWN_USER``:``token`` (a secret made at each start, never shown: the
    URL's password is masked wherever a URL is logged or said)."""
    import tornado.web

    expected = "Basic " + base64.b64encode(f"{OWN_USER}:{token}".encode()).decode("ascii")

    def check(request) -> None:
        given = request.headers.get("Authorization", "")
        if is_loopback(request.remote_ip) and hmac.compare_digest(given.encode(), expected.encode()):
            return
        if given.startswith("Basic ") and given[6:].strip():
            try:
                user = base64.b64decode(given[6:], validate=True).decode("utf-8", "replace").partition(":")[0]
            except (ValueError, binascii.Error):
                user = ""
            if user == OWN_USER:  # a wrong or stale token: no falling through to the session
                raise tornado.web.HTTPError(403)
        validation(request)

    return check


def is_loopback(address: Optional[str]) -> bool:
    """Whether ``address`` is this machine's loopback (an IPv4 one mapped into IPv6, as a
    dual-stack socket reports it, included)."""
    try:
        ip = ipaddress.ip_address((address or "").split("%")[0])
    except ValueError:
        return False
    return (getattr(ip, "ipv4_mapped", None) or ip).is_loopback


def camera_access_validation(plugin_manager) -> Callable:
    """A Tornado access check: a logged-in user with the WEBCAM permission.

    Built like OctoPrint's own webcam download check (``camera_validators`` in
    ``octoprint/server/__init__.py``), including the access validators other plugins add
    through the ``octoprint.server.http.access_validator`` hook.
    """
    import tornado.web
    from octoprint.access.permissions import Permissions
    from octoprint.server import app
    from octoprint.server.util.flask import get_flask_user_from_request
    from octoprint.server.util.tornado import access_validation_factory, validation_chain

    def webcam_user(request) -> None:
        user = get_flask_user_from_request(request)
        if user is None or user.is_anonymous or not user.has_permission(Permissions.WEBCAM):
            raise tornado.web.HTTPError(403)

    validators: List[Callable] = [access_validation_factory(app, webcam_user)]
    for hook in plugin_manager.get_hooks("octoprint.server.http.access_validator").values():
        validators.append(access_validation_factory(app, hook))
    return validation_chain(*validators)
