"""Frames from a snapshot URL: wait for the lens to settle, then fetch a JPEG.

The connection is kept alive between captures: a search takes 10-20 frames, and a new TCP
(or TLS) handshake for each one would cost more than the picture. A server that closed the
idle connection is reconnected to once, transparently.
"""
from __future__ import annotations

import http.client
import time
from typing import Optional

from ..errors import CameraError
from ..messages import say
from .base import DEFAULT_SETTLE, DEFAULT_TIMEOUT, FrameSource
from .jpeg import END, jpeg_length
from .web import network_error, not_jpeg_error, parse_url, read_text, short_text, status_error

#: A snapshot larger than this is not a webcam picture (or the URL is a never-ending stream).
MAX_SNAPSHOT = 32 * 1024 * 1024
_CHUNK = 256 * 1024
#: Failures of a kept-alive connection the server may have closed while it was idle.
_STALE = (ConnectionResetError, BrokenPipeError, ConnectionAbortedError,
          http.client.RemoteDisconnected)


class SnapshotSource(FrameSource):
    """``capture()``: sleep ``settle``, fetch and drop ``discard`` snapshots, return the next.

    Discarding helps with servers that hand out the frame they already had when the request
    came in (mjpg-streamer does), whose age is up to a frame interval plus the pipeline.
    """

    def __init__(self, url: str, settle: float = DEFAULT_SETTLE, discard: int = 0,
                 timeout: float = DEFAULT_TIMEOUT) -> None:
        super().__init__(settle, discard, timeout)
        self.endpoint = parse_url(url)
        self.name = say("snapshot.name", url=self.endpoint.url)
        self._conn: Optional[http.client.HTTPConnection] = None
        self._used = 0  # requests answered on the current connection
        #: Requests sent and TCP connections opened, for diagnostics and tests.
        self.requests = 0
        self.connections = 0

    def capture(self) -> bytes:
        if self.settle:
            time.sleep(self.settle)
        for _ in range(self.discard):
            self.fetch()
        return self.fetch()

    def fetch(self) -> bytes:
        """One snapshot now, checked to be a complete JPEG; raises :class:`CameraError`."""
        deadline = time.monotonic() + self.timeout
        while True:
            reused = self._conn is not None and self._used > 0
            try:
                return self._fetch_once(deadline)
            except _STALE as exc:
                self._disconnect()
                if not reused:
                    raise network_error(exc, self.endpoint, self.timeout) from None
                # The server closed the kept-alive connection while it was idle: retry once
                # on a new one (``reused`` is False next time round).
            except (OSError, http.client.HTTPException) as exc:
                self._disconnect()
                raise network_error(exc, self.endpoint, self.timeout) from None
            except BaseException:  # CameraError, or interrupted: the response is half read
                self._disconnect()
                raise

    def close(self) -> None:
        self._disconnect()

    def _fetch_once(self, deadline: float) -> bytes:
        if self._conn is None:
            self._conn = self.endpoint.connection(self.timeout)
            self._conn.connect()
            self.connections += 1
            self._used = 0
        conn = self._conn
        self.requests += 1
        conn.request("GET", self.endpoint.target, headers=self.endpoint.headers)
        response = conn.getresponse()
        self._used += 1
        ctype = response.getheader("Content-Type", "")
        if response.status != 200:
            body = read_text(response)
            raise status_error(response.status, response.reason, self.endpoint,
                               response.getheader("Location"), short_text(body, ctype))
        if ctype.lower().startswith("multipart/"):
            raise not_jpeg_error(b"", ctype, self.endpoint)
        body = self._read_body(response, deadline)
        if response.will_close:
            self._disconnect()  # HTTP/1.0 servers (mjpg-streamer): a new connection each time
        status, _ = jpeg_length(body)
        if status != END:
            raise not_jpeg_error(body, ctype, self.endpoint)
        return body

    def _read_body(self, response: http.client.HTTPResponse, deadline: float) -> bytes:
        """The whole body, within the deadline: a server trickling bytes cannot hold us."""
        chunks = []
        size = 0
        while True:
            chunk = response.read1(_CHUNK)
            if not chunk:
                response.close()  # complete: frees the kept-alive connection for the next request
                return b"".join(chunks)
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_SNAPSHOT:
                raise CameraError("camera.too_big", url=self.endpoint.url, megabytes=MAX_SNAPSHOT // 2**20)
            if time.monotonic() > deadline:
                raise network_error(TimeoutError(), self.endpoint, self.timeout)

    def _disconnect(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
