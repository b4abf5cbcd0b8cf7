"""Where a JPEG ends, found from its own marker structure.

Webcam servers disagree on almost everything around a frame (boundaries, Content-Length,
where the part headers go), but every one of them sends a well-formed JPEG: SOI, marker
segments with their lengths, entropy-coded data, EOI. Walking that structure finds the true
end of a frame without trusting any header, skips EXIF thumbnails (their SOI/EOI pair sits
inside an APP1 segment), and notices a frame cut short: the next frame's SOI turns up where
only the current frame's data can be.
"""
from __future__ import annotations

from typing import Tuple

SOI = b"\xff\xd8"
#: What a frame starts with: SOI followed by the first marker's 0xFF.
FRAME_START = b"\xff\xd8\xff"

NEED, END, BAD = "need", "end", "bad"

_NO_LIMIT = 1 << 62


def _is_rst(marker: int) -> bool:
    return 0xD0 <= marker <= 0xD7


class JpegScanner:
    """Walks one JPEG that starts at index 0 of a growing buffer; resumable as bytes arrive.

    :meth:`scan` returns ``(END, end)`` once the EOI is in, ``(NEED, 0)`` while more bytes are
    needed, or ``(BAD, resync)`` for a frame that is cut short or not a JPEG, where ``resync``
    is the first index that may hold the start of the next frame (the walked structure before
    it cannot).
    """

    def __init__(self) -> None:
        self.pos = 2          # next index to look at; 0-1 is the SOI
        self.in_scan = False  # inside entropy-coded data, where only 0xFF needs a look
        self.resync = 2

    def scan(self, buf, limit: int) -> Tuple[str, int]:
        n = len(buf)
        i = self.pos
        while True:
            if i > limit:
                return BAD, self.resync
            if self.in_scan:
                j = buf.find(b"\xff", i)
                if j < 0 or j + 1 >= n:
                    self.pos = n if j < 0 else j
                    return NEED, 0
                marker = buf[j + 1]
                if marker == 0x00 or _is_rst(marker):
                    i = j + 2  # a stuffed 0xFF or a restart marker: still image data
                    continue
                if marker == 0xFF:
                    i = j + 1  # fill bytes before a marker
                    continue
                self.in_scan = False
                self.resync = i = j
                continue
            if i + 1 >= n:
                self.pos = i
                return NEED, 0
            if buf[i] != 0xFF:
                return BAD, self.resync
            marker = buf[i + 1]
            if marker == 0xFF:
                i += 1
            elif marker == 0xD9:
                return END, i + 2
            elif marker == 0xD8:
                return BAD, i  # the next image began: this one was cut short
            elif _is_rst(marker) or marker == 0x01:
                i += 2
            else:
                if i + 3 >= n:
                    self.pos = i
                    return NEED, 0
                length = (buf[i + 2] << 8) | buf[i + 3]
                if length < 2:
                    return BAD, self.resync
                # The payload is skipped unread, so the next frame may hide in it if this
                # one was cut inside it: resync from here.
                self.resync = i + 2
                self.in_scan = marker == 0xDA
                i += 2 + length


def jpeg_length(data: bytes) -> Tuple[str, int]:
    """``(END, length)`` for a complete JPEG at the start of ``data``; ``(NEED, 0)`` if it is
    cut short; ``(BAD, 0)`` if ``data`` does not start with a well-formed JPEG."""
    if not data.startswith(FRAME_START):
        return BAD, 0
    status, pos = JpegScanner().scan(data, _NO_LIMIT)
    if status == END:
        return END, pos
    return status, 0
