"""Frames from an MJPEG stream, fresh after every lens move.

A webcam pipeline lags: the frame arriving right after a move was exposed one to several
frames *before* it. Scoring it attributes the old position's sharpness to the new one, and
the search finds a wrong peak that looks plausible. So a background thread reads the stream
continuously and remembers, for the newest frame, when its first byte arrived; ``capture()``
notes the time it was called (the move has just completed) and returns the first frame that
started arriving at least ``settle`` seconds later, after skipping ``discard`` more. It never
returns an older frame: ``settle`` has to cover the pipeline's latency, and the default does
for the usual set-ups.
"""
from __future__ import annotations

import http.client
import socket
import threading
import time
from collections import deque
from typing import Deque, List, Optional

from ..errors import CameraError
from ..messages import Message, say, text_of
from .base import DEFAULT_SETTLE, DEFAULT_TIMEOUT, FrameSource
from .multipart import MAX_FRAME, Frame, MultipartParser
from .web import (network_error, not_jpeg_error, parse_url, read_text, short_text,
                  status_error)

#: Reconnect back-off: first retry after BACKOFF_MIN, doubling up to BACKOFF_MAX.
BACKOFF_MIN = 0.2
BACKOFF_MAX = 5.0
#: How long close() waits for the reader thread (a daemon, so it cannot block exit anyway).
JOIN_TIMEOUT = 2.0
_CHUNK = 64 * 1024


#: Frames kept for :meth:`MjpegStream.frame_after`: half a second at 30 fps.
RECENT_FRAMES = 16


class _Refused(Exception):
    """The server answered, but not with a stream: retrying soon will not help."""

    def __init__(self, error: CameraError) -> None:
        super().__init__(str(error))
        self.error = error


class MjpegStream(FrameSource):
    """Reads ``url`` in a daemon thread, started by :meth:`start` or the first capture."""

    def __init__(self, url: str, settle: float = DEFAULT_SETTLE, discard: int = 0,
                 timeout: float = DEFAULT_TIMEOUT, max_frame: int = MAX_FRAME) -> None:
        super().__init__(settle, discard, timeout)
        self.endpoint = parse_url(url)
        self.name = say("stream.name", url=self.endpoint.url)
        self.max_frame = max_frame
        self._cond = threading.Condition()
        self._latest: Optional[Frame] = None
        self._seq = 0  # frames received since start
        #: The last frames received, oldest first: :meth:`frame_after` finds the one that came
        #: right after a given frame even when newer ones have arrived since.
        self._recent: Deque[Frame] = deque(maxlen=RECENT_FRAMES)
        self._error: Optional[CameraError] = None
        self._error_at = 0.0
        self._fatal = False
        self._skipped = 0  # bytes received that were not part of any JPEG
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._backing_off = False
        self._thread: Optional[threading.Thread] = None
        self._sock: Optional[socket.socket] = None
        #: Connections opened, for diagnostics and tests.
        self.connections = 0

    @property
    def frames_received(self) -> int:
        return self._seq

    @property
    def last_frame_at(self) -> Optional[float]:
        """When the newest frame's first byte arrived (``time.monotonic()``), None before any."""
        latest = self._latest
        return latest.started if latest is not None else None

    def start(self) -> None:
        """Start reading (idempotent); capture() calls it, but starting early saves a wait."""
        with self._cond:
            if self._stop.is_set():
                raise CameraError("stream.closed", name=text_of(self.name))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name=f"pifocus-mjpeg {self.endpoint.url}")
                self._thread.start()

    def capture(self) -> bytes:
        moved = time.monotonic()
        return self.wait_frame(moved + self.settle, self.discard).data

    def wait_frame(self, not_before: float, skip: int = 0, timeout: Optional[float] = None) -> Frame:
        """The first frame whose first byte arrived at ``not_before`` (``time.monotonic()``) or
        later, after ``skip`` further frames. Waits at most ``timeout`` (default: the source's)
        beyond ``not_before``; raises :class:`CameraError` naming the URL if none comes."""
        called = time.monotonic()
        self.start()
        limit = self.timeout if timeout is None else timeout
        deadline = max(called, not_before) + limit
        first = None
        with self._cond:
            if self._backing_off:
                self._wake.set()  # a reader waiting to reconnect tries now
            while True:
                frame = self._latest
                if frame is not None and frame.started >= not_before:
                    first = self._seq if first is None else first
                    if self._seq - first >= skip:
                        return frame
                if self._stop.is_set():
                    raise CameraError("stream.closed_waiting", name=text_of(self.name))
                if self._error is not None and self._error_at >= called and (
                        self._fatal or self._seq == 0):
                    raise CameraError(text_of(self._error))  # a fresh failure waiting won't cure
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise self._stalled(limit)
                self._cond.wait(remaining)

    def frame_after(self, frame: Frame, timeout: Optional[float] = None) -> Optional[Frame]:
        """The frame received right after ``frame``, waiting for it if it has not come yet;
        None when ``frame`` is no longer among the last :data:`RECENT_FRAMES` (or none came
        within ``timeout``, default the source's)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        with self._cond:
            while True:
                recent = list(self._recent)
                index = next((i for i, f in enumerate(recent) if f is frame), None)
                if index is None:
                    return None
                if index + 1 < len(recent):
                    return recent[index + 1]
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._stop.is_set():
                    return None
                self._cond.wait(remaining)

    def frames_before(self, frame: Frame, count: int) -> List[Frame]:
        """Up to ``count`` frames received right before ``frame``, oldest first, one after the
        other as they came (none when ``frame`` is no longer among the last
        :data:`RECENT_FRAMES`): an autofocus times the stream and its noise on frames it
        already has instead of waiting for new ones."""
        with self._cond:
            recent = list(self._recent)
        index = next((i for i, f in enumerate(recent) if f is frame), None)
        if index is None or count <= 0:
            return []
        return recent[max(0, index - count):index]

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        with self._cond:
            sock = self._sock
            self._cond.notify_all()
        if sock is not None:
            try:
                # Unblocks the reader's recv() at once. The plain socket method, because an
                # SSL socket's own shutdown() would pull its TLS state from under the reader.
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except OSError:
                pass
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(JOIN_TIMEOUT)

    # ~~ the reader thread

    def _run(self) -> None:
        delay = BACKOFF_MIN
        while not self._stop.is_set():
            try:
                if self._read_stream():
                    delay = BACKOFF_MIN
            except Exception as exc:  # a bug must not leave the reader dead without a word
                self._fail(CameraError("stream.failed", url=self.endpoint.url, error=repr(exc)))
            with self._cond:
                if self._stop.is_set():
                    break
                self._backing_off = True
                self._wake.clear()
            self._wake.wait(delay)  # cut short by close() or by a capture that is waiting
            with self._cond:
                self._backing_off = False
            delay = min(BACKOFF_MAX, delay * 2)

    def _read_stream(self) -> bool:
        """One connection, read until it fails; True if it delivered any frame."""
        parser = MultipartParser(self.max_frame)
        conn = self.endpoint.connection(self.timeout)
        try:
            conn.connect()
            with self._cond:
                if self._stop.is_set():
                    return False
                self._sock = conn.sock
                self.connections += 1
                # Frames of an earlier connection are not "right before" or "right after" the
                # new ones: a gap of unknown length lies between.
                self._recent.clear()
            conn.request("GET", self.endpoint.target, headers=self.endpoint.headers)
            response = conn.getresponse()
            self._check(response)
            with self._cond:
                self._error = None  # a stream again: an earlier failure no longer applies
            while not self._stop.is_set():
                data = response.read1(_CHUNK)
                now = time.monotonic()
                if not data:
                    raise CameraError("stream.ended", url=self.endpoint.url)
                frames = parser.feed(data, now)
                with self._cond:
                    self._skipped = parser.skipped
                    if frames:
                        self._latest = frames[-1]
                        self._recent.extend(frames)
                        self._seq += len(frames)
                        self._error = None
                        self._cond.notify_all()
        except _Refused as exc:
            self._fail(exc.error, fatal=True)
        except CameraError as exc:
            self._fail(exc)
        except (OSError, http.client.HTTPException) as exc:
            self._fail(network_error(exc, self.endpoint, self.timeout))
        finally:
            with self._cond:
                self._sock = None
            conn.close()
        return parser.frames > 0

    def _check(self, response: http.client.HTTPResponse) -> None:
        """Raise :class:`_Refused` unless the answer can be a stream of JPEGs."""
        ctype = response.getheader("Content-Type", "")
        if response.status != 200:
            body = read_text(response)
            raise _Refused(status_error(response.status, response.reason, self.endpoint,
                                        response.getheader("Location"), short_text(body, ctype)))
        kind = ctype.split(";")[0].strip().lower()
        if kind.startswith("image/"):
            raise _Refused(CameraError("stream.single_pictures", url=self.endpoint.url, kind=kind))
        if "html" in kind:
            raise _Refused(not_jpeg_error(read_text(response, 65536), ctype, self.endpoint))
        # Anything else is read as a stream: JPEGs are found by their markers, so even a
        # server that labels its stream wrongly works.

    def _fail(self, error: CameraError, fatal: bool = False) -> None:
        if self._stop.is_set():
            return  # closing: the "error" is our own shutdown of the socket
        with self._cond:
            self._error = error
            self._error_at = time.monotonic()
            self._fatal = fatal
            self._cond.notify_all()

    def _stalled(self, waited: float) -> CameraError:
        url = self.endpoint.url
        error = self._error
        seconds = f"{waited:g}"
        if self._seq:
            if error is not None:
                return CameraError("stream.stopped", url=url, seconds=seconds, error=text_of(error))
            return CameraError("stream.stopped_hint", url=url, seconds=seconds)
        if error is not None:
            return CameraError(text_of(error))
        if self._skipped:
            return CameraError("stream.no_jpeg", url=url, seconds=seconds, size=self._skipped,
                               hint=Message("camera.hint.path"))
        return CameraError("stream.no_frame", url=url, seconds=seconds)
