"""How real webcam servers lay out an MJPEG stream, byte for byte.

Each style reproduces one server's framing (from its source), so the parser is tested
against what it will meet: where the boundary goes, whether it has its ``--``, whether the
parts have a Content-Length, and the CRLFs around them.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Dict, Iterable


def _stamp() -> bytes:
    return b"%.06f" % time.time()


@dataclass(frozen=True)
class StreamStyle:
    """One server's framing: the stream's Content-Type, what follows the HTTP headers once,
    and how each frame is wrapped."""

    name: str
    content_type: str
    head: Callable[[], bytes]
    part: Callable[[bytes], bytes]

    def stream(self, frames: Iterable[bytes]) -> bytes:
        """The body of a stream carrying ``frames``, as the server would send it."""
        return self.head() + b"".join(self.part(f) for f in frames)


_MJPG = b"boundarydonotcross"
_CS = b"123456789000000000000987654321"

STYLES: Dict[str, StreamStyle] = {s.name: s for s in (
    # mjpg-streamer, output_http/httpd.c (and ustreamer by default): the boundary follows
    # each frame; parts have Content-Length and X-Timestamp.
    StreamStyle("mjpg-streamer", "multipart/x-mixed-replace;boundary=boundarydonotcross",
                lambda: b"--" + _MJPG + b"\r\n",
                lambda f: (b"Content-Type: image/jpeg\r\nContent-Length: %d\r\nX-Timestamp: %s\r\n\r\n"
                           % (len(f), _stamp())) + f + b"\r\n--" + _MJPG + b"\r\n"),
    # ustreamer with ?advance_headers=1: the next part's headers are sent right after a
    # frame, long before the next picture exists, and so there is no Content-Length.
    StreamStyle("ustreamer-advance", "multipart/x-mixed-replace;boundary=boundarydonotcross",
                lambda: b"--" + _MJPG + b"\r\nContent-Type: image/jpeg\r\nX-Timestamp: %s\r\n\r\n" % _stamp(),
                lambda f: f + b"\r\n--" + _MJPG + b"\r\n"
                          + b"Content-Type: image/jpeg\r\nX-Timestamp: %s\r\n\r\n" % _stamp()),
    # camera-streamer, output/http_jpeg.c.
    StreamStyle("camera-streamer", "multipart/x-mixed-replace;boundary=" + _CS.decode(),
                lambda: b"--" + _CS + b"\r\n",
                lambda f: b"Content-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(f)
                          + f + b"\r\n--" + _CS + b"\r\n"),
    # ESP32-CAM CameraWebServer: the boundary comes *before* each part.
    StreamStyle("esp32-cam", "multipart/x-mixed-replace;boundary=" + _CS.decode(),
                lambda: b"",
                lambda f: b"\r\n--" + _CS + b"\r\n"
                          + b"Content-Type: image/jpeg\r\nContent-Length: %d\r\nX-Timestamp: %s\r\n\r\n"
                          % (len(f), _stamp()) + f),
    # motion: lower-case "Content-type", Content-Length padded with spaces.
    StreamStyle("motion", "multipart/x-mixed-replace; boundary=BoundaryString",
                lambda: b"",
                lambda f: b"--BoundaryString\r\nContent-type: image/jpeg\r\nContent-Length: %9d\r\n\r\n"
                          % len(f) + f + b"\r\n"),
    # WebDriverAgent-like: the boundary declared *with* its dashes, a stray CRLF after parts.
    StreamStyle("dashes-declared", "multipart/x-mixed-replace; boundary=--BoundaryString",
                lambda: b"",
                lambda f: b"--BoundaryString\r\nContent-type: image/jpg\r\nContent-Length: %d\r\n\r\n"
                          % len(f) + f + b"\r\n\r\n"),
    # The Flask/OpenCV tutorial server: no Content-Length at all.
    StreamStyle("flask", "multipart/x-mixed-replace; boundary=frame",
                lambda: b"",
                lambda f: b"--frame\r\nContent-Type: image/jpeg\r\n\r\n" + f + b"\r\n"),
    # ffmpeg's mpjpeg muxer: lower-case header names.
    StreamStyle("ffmpeg", "multipart/x-mixed-replace;boundary=ffmpeg",
                lambda: b"",
                lambda f: b"--ffmpeg\r\nContent-type: image/jpeg\r\nContent-length: %d\r\n\r\n"
                          % len(f) + f + b"\r\n"),
    # An odd, quoted boundary with spaces and punctuation (legal in RFC 2046).
    StreamStyle("quoted-odd", 'multipart/x-mixed-replace; boundary="=_odd bound:ary;42"',
                lambda: b"",
                lambda f: b"--=_odd bound:ary;42\r\nContent-Type: image/jpeg\r\n\r\n" + f + b"\r\n"),
    # Some IP cameras: boundary lines without the "--", stray blank lines between parts.
    StreamStyle("no-dashes", "multipart/x-mixed-replace;boundary=ipcamera",
                lambda: b"",
                lambda f: b"ipcamera\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n"
                          % len(f) + f + b"\r\n\r\n\r\n"),
    # No boundary declared in the Content-Type at all.
    StreamStyle("undeclared", "multipart/x-mixed-replace",
                lambda: b"",
                lambda f: b"--myboundary\r\n\r\n" + f + b"\r\n"),
)}
