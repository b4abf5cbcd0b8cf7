"""An incremental parser for MJPEG streams (multipart/x-mixed-replace of JPEGs). No I/O.

Frames are cut out by the JPEG's own markers (see :mod:`.jpeg`), not by the multipart
framing, because that framing is where servers differ: the boundary comes with or without
``--``, quoted, declared with its dashes or not declared at all; Content-Length is missing
(Flask examples, ustreamer's ``advance_headers``), space-padded (motion) or zero; stray CRLFs
sit between parts; part headers come before or after the frame they describe. Anything
between two JPEGs is skipped, whatever it is. A frame cut short, or that is not a JPEG, is
dropped, never returned.

Each frame carries the time its *first byte* (the SOI) arrived, not the time its part
headers did: some servers send the next part's headers right after a frame, long before the
next picture exists. That time is what :mod:`.mjpeg` compares with the end of a lens move.
"""
from __future__ import annotations

from bisect import bisect_right
from typing import List, NamedTuple, Optional

from .jpeg import BAD, END, FRAME_START, JpegScanner

#: A frame larger than this is garbage (a 4K JPEG is ~2 MB): drop it and resync.
MAX_FRAME = 8 * 1024 * 1024


class Frame(NamedTuple):
    """One complete JPEG and the ``time.monotonic()`` at which its first byte arrived."""

    data: bytes
    started: float


class MultipartParser:
    """Feed it bytes as they arrive with their arrival time; it returns the complete frames.

    Memory stays bounded: between frames only the last two bytes are kept (an SOI may be
    split across chunks), and a frame in progress is dropped once it passes ``max_frame``.
    """

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        self.max_frame = max_frame
        self._buf = bytearray()
        # Arrival times: chunk k starts at buffer index _starts[k] and arrived at _times[k].
        self._starts: List[int] = []
        self._times: List[float] = []
        self._scanner: Optional[JpegScanner] = None  # a frame in progress starts at _buf[0]
        #: Counters for diagnostics: frames returned, frames dropped, bytes skipped between.
        self.frames = 0
        self.dropped = 0
        self.skipped = 0

    def feed(self, data: bytes, now: float) -> List[Frame]:
        """Add ``data`` that arrived at ``now``; return the frames it completed, oldest first."""
        if data:
            self._starts.append(len(self._buf))
            self._times.append(now)
            self._buf += data
        frames: List[Frame] = []
        while True:
            if self._scanner is None:
                start = self._buf.find(FRAME_START)
                if start < 0:
                    self._consume(max(0, len(self._buf) - 2), skipped=True)
                    return frames
                self._consume(start, skipped=True)
                self._scanner = JpegScanner()
            status, pos = self._scanner.scan(self._buf, self.max_frame)
            if status == END:
                frames.append(Frame(bytes(self._buf[:pos]), self._time_at(0)))
                self.frames += 1
            elif status == BAD:
                self.dropped += 1
            else:
                return frames
            self._scanner = None
            self._consume(pos)

    @property
    def buffered(self) -> int:
        """Bytes held right now (for tests of the memory bound)."""
        return len(self._buf)

    def _time_at(self, index: int) -> float:
        return self._times[bisect_right(self._starts, index) - 1]

    def _consume(self, count: int, skipped: bool = False) -> None:
        if count <= 0:
            return
        if skipped:
            self.skipped += count
        del self._buf[:count]
        first = max(0, bisect_right(self._starts, count) - 1)
        self._starts = [max(0, s - count) for s in self._starts[first:]]
        self._times = self._times[first:]
        if not self._buf:
            self._starts, self._times = [], []
