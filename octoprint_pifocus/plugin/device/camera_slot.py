"""A focus device's camera: the frame source its settings name, opened per operation.

Kept apart from the lens because a camera has its own ways in (an OctoPrint webcam through
its provider, that webcam's MJPEG stream, a plain URL) and its own timing (settle time,
discarded frames), and the webcam watchdog only ever needs this part: is the camera alive.
PiFocus's simulated webcam is read in-process, its snapshots always fresh, unless
``simulation.stream`` has the device read its stream as a real webcam's (the demo does).

A stream is lent by the slot's :class:`~octoprint_pifocus.sources.keeper.StreamKeeper`: an
autofocus or a drift-watch look (``warm``) keeps it open ``camera.keep_open`` seconds after,
so the next one starts on frames it already has, with no connection to make.
"""
from __future__ import annotations

import logging
from typing import Any, Callable, Dict, Optional

from flask_babel import gettext

from ...errors import CameraError, PiFocusError
from ...redact import mask_url
from ...sources import guess_mode, open_source
from ...sources.base import DEFAULT_TIMEOUT
from ...sources.keeper import DEFAULT_KEEP, StreamKeeper, StreamLease
from ...sources.web import ask_kind
from ..webcams import first_stream

_logger = logging.getLogger(__name__)

#: The name of PiFocus's simulated webcam in OctoPrint's webcam list.
SIMULATED_WEBCAM = "pifocus_simulated"


class CameraSlot:
    """Opens the camera ``config()["camera"]`` says; ``webcams()`` is OctoPrint's webcams
    adapter (:class:`~..webcams.OctoPrintWebcams`), None until OctoPrint started."""

    def __init__(self, config: Callable[[], Dict[str, Any]], webcams: Callable[[], Any],
                 logger: logging.Logger) -> None:
        self._config = config
        self._webcams = webcams
        self._logger = logger
        self.keeper = StreamKeeper(keep=lambda: float(self._config()["camera"].get("keep_open", DEFAULT_KEEP)))

    def open(self, fresh: bool = False, warm: bool = False, shared: bool = True):
        """A frame source as the settings say; ``fresh``: no settle wait (one snapshot);
        ``warm``: a stream stays open ``camera.keep_open`` seconds after it is closed;
        ``shared``: False, a stream of its own, never the one held open."""
        cam = self._config()["camera"]
        settle = 0.0 if fresh else float(cam["settle"])
        discard = 0 if fresh else int(cam["discard"])
        url = cam["url"]
        if url:
            mode = cam["mode"]
            if mode == "auto":
                # The stream held open is this URL's: no need to ask the server what it is.
                mode = "stream" if self.keeper.url == url else (guess_mode(url) or ask_kind(url, DEFAULT_TIMEOUT))
            if mode == "stream":
                return self._stream(url, settle, discard, warm, shared)
            return open_source(url, "snapshot", settle, discard)
        webcams = self._webcams()
        if webcams is None:
            raise CameraError(gettext("OctoPrint's webcams are not ready yet; try again in a moment."))
        name = cam["webcam"] or None
        if cam["mode"] != "snapshot":  # "stream", "auto": the stream where one answers
            try:
                webcam = webcams.find(name)
            except CameraError:
                if cam["mode"] == "stream":
                    raise
                webcam = None  # "auto": the snapshot source says what is wrong, when it is asked
            if webcam is not None and webcam.providerIdentifier == "pifocus":
                # PiFocus's own simulated webcam: its snapshots are rendered in-process, always
                # fresh; with simulation.stream, its stream as a real webcam's (the demo).
                own = webcams.own_stream(webcam)
                if own:
                    return self._stream(own, settle, discard, warm, shared)
            elif webcam is not None:
                candidates = webcams.stream_urls(webcam)
                kept = self.keeper.url
                # A stream held open that still delivers answers for itself: no probing.
                url = kept if kept in candidates and self.keeper.delivering(kept) else first_stream(candidates)
                if url:
                    return self._stream(url, settle, discard, warm, shared)
                self._logger.info("Webcam %s: no stream answered at %s; using its snapshots",
                                  webcam.config.name, ", ".join(map(mask_url, candidates)) or "(no stream URL)")
        return webcams.source(name, settle=settle, discard=discard)

    def _stream(self, url: str, settle: float, discard: int, warm: bool, shared: bool):
        if shared:
            return self.keeper.lease(url, settle, discard, warm=warm)
        return open_source(url, "stream", settle, discard)

    def close(self) -> None:
        """Close a stream held open (the device stopping)."""
        self.keeper.close()

    def warm(self) -> bool:
        """Open the camera's stream now and keep it ``camera.keep_open`` seconds: an autofocus
        is likely soon, and it then starts on frames the stream already has. False, doing
        nothing, for a camera that is not a stream or with ``keep_open`` 0; a camera that
        does not answer is the autofocus's to report, not this hint's."""
        cam = self._config()["camera"]
        if float(cam.get("keep_open", DEFAULT_KEEP)) <= 0 or cam["mode"] == "snapshot":
            return False
        try:
            camera = self.open(fresh=True, warm=True)
        except (PiFocusError, ValueError, OSError) as exc:
            self._logger.debug("Warming the camera failed: %s", exc)
            return False
        close_camera(camera)
        return isinstance(camera, StreamLease)

    def webcam_name(self) -> Optional[str]:
        """The OctoPrint webcam this device focuses (its ``camera.webcam``; none set: OctoPrint's
        snapshot webcam), so the browser can put the device's focus strip on that webcam's
        picture; None with a camera URL, or while OctoPrint has no webcam to take."""
        cam = self._config()["camera"]
        if cam["url"]:
            return None
        if cam["webcam"]:
            return str(cam["webcam"])
        webcams = self._webcams()
        try:
            return str(webcams.find(None).config.name) if webcams is not None else None
        except (PiFocusError, AttributeError, LookupError, ValueError):
            return None

    def missing_webcam(self) -> Optional[str]:
        """The OctoPrint webcam this device names that OctoPrint no longer lists, or None."""
        cam, webcams = self._config()["camera"], self._webcams()
        if cam["url"] or not cam["webcam"] or webcams is None:
            return None
        return webcams.missing(cam["webcam"])

    def snapshot(self) -> bytes:
        """One JPEG from the configured camera (for drawing the region of interest)."""
        camera = self.open(fresh=True)
        try:
            return camera.capture()
        finally:
            close_camera(camera)

    def alive(self) -> bool:
        """Whether the camera gives a frame now (the webcam watchdog's question). On a
        connection of its own: the stream held open reconnects by itself and would wait
        through a camera's restart, which the watchdog is there to notice."""
        try:
            camera = self.open(fresh=True, shared=False)
            try:
                camera.capture()
            finally:
                close_camera(camera)
            return True
        except (PiFocusError, ValueError, OSError):
            return False


def close_camera(camera) -> None:
    """Close a frame source if it can be closed; a failure is logged, never raised."""
    close = getattr(camera, "close", None)
    if callable(close):
        try:
            close()
        except Exception:
            _logger.exception("Closing the camera failed")
