"""Turn a frame into the grey pixels of its region of interest, decoding as little as possible.

A webcam JPEG is mostly decoded for nothing: focus needs luminance only, and rarely the full
resolution. libjpeg can decode straight to greyscale at 1/2, 1/4 or 1/8 size by skipping
the high DCT coefficients (OpenCV's ``IMREAD_REDUCED_GRAYSCALE_*``), which is several times
faster than a full colour decode plus a grey conversion. Only the ROI is then scored.
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import cv2
import numpy as np

from ..messages import say

#: The central half of the frame (a quarter of its area): where a print-cam usually looks.
DEFAULT_ROI: Tuple[float, float, float, float] = (0.25, 0.25, 0.5, 0.5)

#: Reductions libjpeg does while decoding, and the OpenCV flags that ask for them.
_REDUCED_FLAGS = {
    1: cv2.IMREAD_GRAYSCALE,
    2: cv2.IMREAD_REDUCED_GRAYSCALE_2,
    4: cv2.IMREAD_REDUCED_GRAYSCALE_4,
    8: cv2.IMREAD_REDUCED_GRAYSCALE_8,
}
REDUCTIONS = tuple(sorted(_REDUCED_FLAGS))

Roi = Tuple[float, float, float, float]


def validate_roi(roi: Optional[Sequence[float]]) -> Roi:
    """Return ``roi`` as a checked ``(x, y, w, h)`` tuple of fractions; ``None`` gives the default.

    Raises ``ValueError`` naming what is wrong, so that an API or CLI caller can show it.
    """
    if roi is None:
        return DEFAULT_ROI
    try:
        values = tuple(float(v) for v in roi)
    except OverflowError:
        raise ValueError(say("roi.too_large")) from None
    except (TypeError, ValueError):
        raise ValueError(say("roi.not_four", value=f"{roi!r:.80}")) from None
    if len(values) != 4:
        raise ValueError(say("roi.not_four", value=len(values)))
    x, y, w, h = values
    if not all(np.isfinite(values)):
        raise ValueError(say("roi.not_finite", value=repr(roi)))
    if w <= 0 or h <= 0:
        raise ValueError(say("roi.empty", w=f"{w:g}", h=f"{h:g}"))
    if x < 0 or y < 0 or x + w > 1.0 + 1e-9 or y + h > 1.0 + 1e-9:
        raise ValueError(say("roi.outside", value=repr(roi)))
    return x, y, w, h


def _describe(data: bytes) -> str:
    head = bytes(data[:8])
    if not data:
        return "an empty frame (0 bytes)"
    if head.lstrip().lower().startswith((b"<!doc", b"<html", b"<?xml")):
        return f"an HTML/XML page ({len(data)} bytes), not an image"
    return f"{len(data)} bytes starting with {head!r}"


def decode_grey(frame, reduce: int = 1) -> np.ndarray:
    """Decode ``frame`` to an 8-bit grey image, ``reduce`` times smaller in each direction.

    ``frame`` is encoded image bytes (JPEG, or anything OpenCV reads, like PNG) or a numpy
    image: 2-D grey, or 3-D BGR/BGRA. Raises ``ValueError`` for anything that is not an image.
    """
    if reduce not in _REDUCED_FLAGS:
        raise ValueError(f"reduce must be one of {REDUCTIONS}, got {reduce!r}")
    if isinstance(frame, (bytes, bytearray, memoryview)):
        data = bytes(frame) if not isinstance(frame, bytes) else frame
        if len(data) < 4:
            raise ValueError(f"Could not decode the frame: {_describe(data)}")
        buf = np.frombuffer(data, dtype=np.uint8)
        grey = cv2.imdecode(buf, _REDUCED_FLAGS[reduce])
        if grey is None:
            raise ValueError(f"Could not decode the frame as an image: {_describe(data)}")
        return grey
    if isinstance(frame, np.ndarray):
        grey = _array_to_grey(frame)
        if reduce > 1:
            h, w = grey.shape
            grey = cv2.resize(
                grey, (max(1, w // reduce), max(1, h // reduce)), interpolation=cv2.INTER_AREA
            )
        return grey
    raise ValueError(
        f"A frame must be encoded image bytes or a numpy image, got {type(frame).__name__}"
    )


def _array_to_grey(image: np.ndarray) -> np.ndarray:
    if image.size == 0:
        raise ValueError("Could not use the frame: the image is empty")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        grey = image
    elif image.ndim == 3 and image.shape[2] in (3, 4):
        if image.dtype != np.uint8:
            image = _to_uint8(image)
        code = cv2.COLOR_BGR2GRAY if image.shape[2] == 3 else cv2.COLOR_BGRA2GRAY
        grey = cv2.cvtColor(image, code)
    else:
        raise ValueError(
            f"Could not use the frame: expected a grey (H, W) or BGR (H, W, 3) image, "
            f"got shape {image.shape}"
        )
    return _to_uint8(grey)


def _to_uint8(image: np.ndarray) -> np.ndarray:
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.uint16:
        return (image >> 8).astype(np.uint8)
    if np.issubdtype(image.dtype, np.floating):
        peak = 1.0 if float(np.nanmax(image)) <= 1.0 else 255.0
        return np.clip(image * (255.0 / peak), 0, 255).astype(np.uint8)
    return np.clip(image, 0, 255).astype(np.uint8)


def crop_roi(grey: np.ndarray, roi: Roi, full_height: Optional[int] = None,
             row_offset: int = 0) -> np.ndarray:
    """The ROI of a decoded grey image, as a view, at least 8x8 pixels.

    ``grey`` may be a horizontal band of the frame: then ``full_height`` is the frame's
    height and ``row_offset`` the band's first row, both in ``grey``'s pixels.
    """
    h = full_height if full_height is not None else grey.shape[0]
    w = grey.shape[1]
    x, y, rw, rh = roi
    x0 = int(round(x * w))
    y0 = int(round(y * h))
    x1 = max(x0 + 1, int(round((x + rw) * w)))
    y1 = max(y0 + 1, int(round((y + rh) * h)))
    if x1 - x0 < 8 or y1 - y0 < 8:
        raise ValueError(
            f"ROI {roi!r} covers only {x1 - x0}x{y1 - y0} pixels of a {w}x{h} frame; "
            "it needs at least 8x8. Draw a larger region."
        )
    return grey[y0 - row_offset:y1 - row_offset, x0:x1]


def choose_reduction(width: int, height: int, roi: Roi, target: int = 480) -> int:
    """The largest libjpeg reduction that keeps the ROI's longer side at ``target`` px or more."""
    side = max(width * roi[2], height * roi[3])
    best = 1
    for factor in REDUCTIONS:
        if side / factor >= target:
            best = factor
    return best
