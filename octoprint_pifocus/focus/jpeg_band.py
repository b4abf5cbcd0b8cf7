"""Cut a JPEG down to the rows of the region of interest, without decoding it.

Decoding a webcam JPEG costs mostly Huffman (entropy) decoding, and libjpeg must do that for
every row, even at 1/8 scale. Many UVC webcams (the Logitech C920 among them) put restart
markers (DRI + RSTn) in their MJPEG frames: at each marker the DC predictors reset, so the
scan can be cut there. When the markers fall on MCU-row boundaries, the rows above and below
the ROI can be dropped before decoding, and the ROI's band decodes in a fraction of the time.

:func:`roi_band` returns ``None`` whenever that is not safe (no restart markers, progressive
JPEG, intervals not row-aligned, a marker count that does not add up); the caller then decodes
the whole frame as before. The band decodes to exactly the pixels of the same rows of the full
frame, because baseline JPEG blocks do not depend on blocks outside their restart interval.
"""
from __future__ import annotations

import re
import struct
from typing import NamedTuple, Optional

from .jpeg_header import SOF_MARKERS, SOS, header_segments

_RST = re.compile(rb"\xff[\xd0-\xd7]")
#: Baseline and extended sequential Huffman frames: the only kinds this can cut.
_SOF_SEQUENTIAL = (0xC0, 0xC1)
#: Do not bother when the band would keep more than this share of the rows.
MAX_BAND_SHARE = 0.85


class Band(NamedTuple):
    """A smaller JPEG holding rows ``first_row`` up to ``first_row + height`` of the original."""

    jpeg: bytes
    first_row: int
    height: int
    full_height: int


class _Header(NamedTuple):
    sof_offset: int  # where the SOF segment's height field is
    width: int
    height: int
    mcu_w: int
    mcu_h: int
    restart: int
    scan_start: int


def _parse(data: bytes) -> Optional[_Header]:
    sof = None
    restart = 0
    for marker, body, length in header_segments(data):
        if marker in SOF_MARKERS:
            if marker not in _SOF_SEQUENTIAL:
                return None  # progressive or arithmetic: not cuttable this way
            height, width, ncomp = struct.unpack_from(">HHB", data, body + 1)
            factors = [data[body + 6 + 3 * c + 1] for c in range(ncomp)]
            sof = (body + 1, width, height, ncomp, factors)
        elif marker == 0xDD:
            restart = struct.unpack_from(">H", data, body)[0]
        elif marker == SOS:
            if sof is None or restart == 0:
                return None
            offset, width, height, ncomp, factors = sof
            ns = data[body]
            if ns == 1:
                if ncomp != 1:
                    return None  # non-interleaved multi-scan: not worth it
                mcu_w = mcu_h = 8
            elif ns == ncomp:
                mcu_w = 8 * max(f >> 4 for f in factors)
                mcu_h = 8 * max(f & 0x0F for f in factors)
            else:
                return None
            return _Header(offset, width, height, mcu_w, mcu_h, restart, body + length)
    return None


def roi_band(data: bytes, top: float, bottom: float) -> Optional[Band]:
    """The part of JPEG ``data`` that covers rows ``top``..``bottom`` (fractions of the height).

    ``None`` when the frame cannot be cut safely, or cutting would save little.
    """
    header = _parse(data)
    if header is None:
        return None
    per_row = -(-header.width // header.mcu_w)
    rows = -(-header.height // header.mcu_h)
    total_mcus = per_row * rows
    intervals = -(-total_mcus // header.restart)

    # Row boundaries where an interval starts: the only places the scan can be cut.
    first = int(top * header.height) // header.mcu_h
    last = min(rows, -(-int(bottom * header.height + 0.999) // header.mcu_h))
    while first > 0 and (first * per_row) % header.restart:
        first -= 1
    while last < rows and (last * per_row) % header.restart:
        last += 1
    if (last - first) > MAX_BAND_SHARE * rows:
        return None

    scan_end = data.rfind(b"\xff\xd9")
    if scan_end < header.scan_start:
        scan_end = len(data)
    scan = data[header.scan_start:scan_end]
    markers = [m.start() for m in _RST.finditer(scan)]
    if len(markers) != intervals - 1:
        return None  # not the layout we computed: decode the whole frame instead

    k0 = first * per_row // header.restart
    k1 = -(-last * per_row // header.restart)
    start = 0 if k0 == 0 else markers[k0 - 1] + 2
    end = len(scan) if k1 >= intervals else markers[k1 - 1]
    body = scan[start:end]
    shift = k0 % 8
    if shift:
        body = _RST.sub(lambda m: bytes((0xFF, 0xD0 + ((m.group()[1] - 0xD0 - shift) % 8))), body)

    first_px = first * header.mcu_h
    height = min(header.height, last * header.mcu_h) - first_px
    head = bytearray(data[:header.scan_start])
    struct.pack_into(">H", head, header.sof_offset, height)
    return Band(bytes(head) + body + b"\xff\xd9", first_px, height, header.height)
