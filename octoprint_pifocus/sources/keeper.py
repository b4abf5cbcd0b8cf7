"""One MJPEG stream kept open between a camera's uses, so a run starts on frames it already has.

Opening a stream for each autofocus costs the connection, and the run cannot time the
stream on frames from before it asked (it waits for four new ones): about 120 ms of a
one-second autofocus at 30 fps (``bench/stream_per_run.py``). A :class:`StreamKeeper` holds
one stream (one camera) and lends it out: every :meth:`StreamKeeper.lease` is a frame source
of its own (its own settle and discard) over the same connection, and closing a lease only
gives it back. A lease that asks for ``warm`` keeps the stream open ``keep`` seconds after it
is given back (an autofocus, the drift watch's samples during a print); the others (a
snapshot for the region editor, the webcam watchdog's "is it alive?") use an open stream but
never keep one open. Holding a stream reads it all the time (the reader parses, it does
not decode): ``keep`` 0 closes it as soon as the last lease is back.
"""
from __future__ import annotations

import threading
import time
from typing import Callable, List, Optional, Tuple

from .base import DEFAULT_SETTLE, DEFAULT_TIMEOUT, FrameSource
from .mjpeg import MjpegStream
from .multipart import Frame

#: Seconds a warm stream stays open after its last use, by default.
DEFAULT_KEEP = 30.0
#: The longest a stream may be kept open after its last use (settings refuse more).
KEEP_MAX = 3600.0


class StreamLease(FrameSource):
    """A frame source over the keeper's stream: ``capture()`` with this lease's settle and
    discard; ``wait_frame``, ``frame_after`` and ``frames_before`` are the stream's.
    :meth:`close` gives the stream back (it is closed only by its keeper)."""

    def __init__(self, keeper: "StreamKeeper", stream: MjpegStream, settle: float, discard: int,
                 warm: bool) -> None:
        super().__init__(settle, discard, stream.timeout)
        self.stream = stream
        self.name = stream.name
        self.warm = warm
        self._keeper = keeper
        self._returned = False

    def capture(self) -> bytes:
        moved = time.monotonic()
        return self.stream.wait_frame(moved + self.settle, self.discard).data

    def wait_frame(self, not_before: float, skip: int = 0, timeout: Optional[float] = None) -> Frame:
        return self.stream.wait_frame(not_before, skip, timeout)

    def frame_after(self, frame: Frame, timeout: Optional[float] = None) -> Optional[Frame]:
        return self.stream.frame_after(frame, timeout)

    def frames_before(self, frame: Frame, count: int) -> List[Frame]:
        return self.stream.frames_before(frame, count)

    def close(self) -> None:
        if not self._returned:
            self._returned = True
            self._keeper._give_back(self)


class StreamKeeper:
    """Lends one MJPEG stream; see the module docstring. ``keep`` is read at each give-back
    (a callable, so a settings change applies at once); ``opener`` makes a stream for a URL
    and timeout (tests and benchmarks count connections through it)."""

    def __init__(self, keep: Callable[[], float] = lambda: DEFAULT_KEEP,
                 opener: Callable[[str, float], MjpegStream] = None) -> None:
        self._keep = keep
        self._opener = opener or (lambda url, timeout: MjpegStream(url, settle=0.0, timeout=timeout))
        self._lock = threading.Lock()
        self._stream: Optional[MjpegStream] = None
        self._key: Optional[Tuple[str, float]] = None
        self._leases = 0
        #: ``time.monotonic()`` until which a stream no lease holds stays open.
        self._warm_until = 0.0
        self._timer: Optional[threading.Timer] = None
        #: Retired (see :meth:`retire`): closed when the last lease is given back.
        self._retiring = False

    @property
    def url(self) -> Optional[str]:
        """The URL of the stream held open, None when none is."""
        with self._lock:
            return self._key[0] if self._key else None

    def delivering(self, url: str, within: float = 2.0) -> bool:
        """Whether the stream held open is ``url``'s and received a frame in the last ``within``
        seconds: a caller that would first check the URL answers can skip that."""
        with self._lock:
            stream = self._stream if self._key and self._key[0] == url else None
        last = stream.last_frame_at if stream is not None else None
        return last is not None and time.monotonic() - last <= within

    def lease(self, url: str, settle: float = DEFAULT_SETTLE, discard: int = 0,
              timeout: float = DEFAULT_TIMEOUT, warm: bool = True) -> StreamLease:
        """A frame source on ``url``'s stream, opening it unless it is the one held open (a
        stream of another URL is closed first). ``ValueError`` for bad timing or a bad URL."""
        key = (url, float(timeout))
        stale: Optional[MjpegStream] = None
        try:
            with self._lock:
                self._cancel_timer()
                if self._stream is not None and (self._key != key or self._retiring):
                    if self._leases:
                        # Another operation still reads the old camera: it keeps its stream,
                        # this one gets its own (closed when given back).
                        lease: StreamLease = _Solo(self, self._opener(url, timeout), settle, discard, warm)
                        lease.stream.start()
                        return lease
                    fresh = self._opener(url, timeout)  # a bad URL raises here, the held stream stays
                    stale, self._stream, self._key = self._stream, fresh, key
                    self._retiring = False
                if self._stream is None:
                    self._stream, self._key = self._opener(url, timeout), key
                    self._retiring = False
                lease = StreamLease(self, self._stream, settle, discard, warm)
                self._leases += 1
        finally:
            if stale is not None:
                stale.close()
        lease.stream.start()  # connecting while the caller prepares the run
        return lease

    def retire(self) -> None:
        """Lend the stream held open no more (the camera's settings changed): closed now if no
        lease is out, else when the last one is given back (a running autofocus keeps it)."""
        with self._lock:
            if self._stream is None:
                return
            if self._leases:
                self._retiring = True
                self._warm_until = 0.0
                return
        self.close()

    def close(self) -> None:
        """Close the stream now (the device stopping); leases still out
        fail their next capture with "closed"."""
        with self._lock:
            self._cancel_timer()
            stream, self._stream, self._key = self._stream, None, None
            self._leases = 0
            self._warm_until = 0.0
            self._retiring = False
        if stream is not None:
            stream.close()

    # ~~ giving back

    def _give_back(self, lease: StreamLease) -> None:
        with self._lock:
            if lease.stream is not self._stream:
                return  # closed (or replaced) while lent out
            self._leases = max(0, self._leases - 1)
            now = time.monotonic()
            if lease.warm and not self._retiring:
                self._warm_until = max(self._warm_until, now + max(0.0, float(self._keep())))
            if self._leases:
                return
            left = self._warm_until - now
            if left > 0:
                self._timer = threading.Timer(left, self._expire)
                self._timer.daemon = True
                self._timer.start()
                return
            stream, self._stream, self._key = self._stream, None, None
        stream.close()

    def _expire(self) -> None:
        with self._lock:
            if self._leases or self._stream is None or time.monotonic() < self._warm_until - 0.01:
                return
            self._timer = None
            stream, self._stream, self._key = self._stream, None, None
        stream.close()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class _Solo(StreamLease):
    """A lease on a stream of its own (the keeper's was lent out for another URL): closing
    it closes the stream."""

    def close(self) -> None:
        if not self._returned:
            self._returned = True
            self.stream.close()
