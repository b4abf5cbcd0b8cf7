"""Frame sources for the focus engine: MJPEG streams and snapshot URLs, fresh after each move.

No OctoPrint imports: these work from scripts, the command line and tests::

    from octoprint_pifocus.sources import open_source

    with open_source("http://octopi.local/webcam/?action=stream") as camera:
        result = autofocus(lens, camera)

Every source's ``capture()`` returns JPEG bytes exposed after the last completed lens move,
and every failure is a :class:`~octoprint_pifocus.errors.CameraError` naming the URL and what
to check, so a search interrupted by the camera ends with ``found=False``.
"""
from __future__ import annotations

from urllib.parse import urlsplit

from .base import DEFAULT_SETTLE, DEFAULT_TIMEOUT, FrameSource, check_timing
from .mjpeg import MjpegStream
from .multipart import Frame, MultipartParser
from .snapshot import SnapshotSource
from .web import ask_kind

__all__ = [
    "open_source", "guess_mode", "FrameSource", "MjpegStream", "SnapshotSource", "Frame",
    "MultipartParser", "DEFAULT_SETTLE", "DEFAULT_TIMEOUT", "MODES",
]

MODES = ("auto", "stream", "snapshot")

_STREAM_HINTS = ("action=stream", "/stream", ".mjpg", ".mjpeg", "mjpeg", "video.cgi")
_SNAPSHOT_HINTS = ("action=snapshot", "/snapshot", ".jpg", ".jpeg", "snapshot", "/still")


def open_source(url: str, mode: str = "auto", settle: float = DEFAULT_SETTLE, discard: int = 0,
                timeout: float = DEFAULT_TIMEOUT) -> FrameSource:
    """A frame source for ``url``: ``mode`` "stream" (MJPEG), "snapshot", or "auto" (from the
    URL's usual shape, else from what the server answers).

    ``settle`` is the wait after a move before a frame counts (seconds; covers lens settling
    and the webcam pipeline's lag), ``discard`` how many fresh frames to drop after that, and
    ``timeout`` how long any network step may take. Bad arguments raise ``ValueError``; a bad
    URL or an unreachable camera in auto mode raise :class:`CameraError`.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
    check_timing(settle, discard, timeout)
    if mode == "auto":
        mode = guess_mode(url) or ask_kind(url, timeout)
    if mode == "stream":
        return MjpegStream(url, settle=settle, discard=discard, timeout=timeout)
    return SnapshotSource(url, settle=settle, discard=discard, timeout=timeout)


def guess_mode(url: str) -> str:
    """"stream" or "snapshot" from the URL's shape (mjpg-streamer, camera-streamer, file
    names); "" when it does not say."""
    try:
        parts = urlsplit((url or "").strip().lower())
    except ValueError:  # the source's own URL check says what is wrong
        return ""
    where = f"{parts.path}?{parts.query}"
    if any(hint in where for hint in _STREAM_HINTS):
        return "stream"
    if any(hint in where for hint in _SNAPSHOT_HINTS):
        return "snapshot"
    return ""
