"""Walk the marker segments at the head of a JPEG, up to its scan data, without decoding.

Two readers need this: the frame size (to choose libjpeg's reduction before decoding) and
the restart-marker band cutter (:mod:`.jpeg_band`).
"""
from __future__ import annotations

from typing import Iterator, Optional, Tuple

#: Start-of-frame markers (all coding processes); C4 (DHT), C8 (JPG), CC (DAC) are not frames.
SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
SOS = 0xDA


def header_segments(data: bytes) -> Iterator[Tuple[int, int, int]]:
    """``(marker, body offset, body length)`` of every segment before the scan data, the SOS
    segment last. Stops quietly at anything malformed or cut short."""
    n = len(data)
    if n < 4 or data[0] != 0xFF or data[1] != 0xD8:
        return
    i = 2
    while i + 4 <= n:
        if data[i] != 0xFF:
            return
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte before a marker
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # markers without a segment
            i += 2
            continue
        length = (data[i + 2] << 8) | data[i + 3]
        if length < 2 or i + 2 + length > n:
            return
        yield marker, i + 4, length - 2
        if marker == SOS:
            return
        i += 2 + length


def jpeg_size(data: bytes) -> Optional[Tuple[int, int]]:
    """Width and height from a JPEG's SOF header without decoding it; ``None`` if not found."""
    for marker, body, length in header_segments(data):
        if marker in SOF_MARKERS and length >= 5:
            height = (data[body + 1] << 8) | data[body + 2]
            width = (data[body + 3] << 8) | data[body + 4]
            return width, height
    return None
