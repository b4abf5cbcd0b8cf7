"""Frames from the webcams OctoPrint knows (1.9+ webcam system), for the focus engine.

OctoPrint's webcams come from ``WebcamProviderPlugin`` plugins (classicwebcam, camera-streamer
control, PiFocus's own simulated camera...). We take frames the way OctoPrint's timelapse
does, through the provider's ``take_webcam_snapshot``, so any provider works, whatever it
captures from. :class:`OctoPrintWebcamSource` adds the engine's freshness rule on top: wait the
settle time after a move, drop the snapshots the user asked to discard, then return one.

For providers whose compatibility config has an MJPEG stream URL, :func:`stream_url` resolves
it for the engine's stream reader (``octoprint_pifocus.sources``).

Every failure is a :class:`~octoprint_pifocus.errors.CameraError` that names the webcam and
says what to check; a provider call that hangs is abandoned after a timeout.
"""
from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Dict, Iterable, List, Optional
from urllib.parse import urljoin, urlsplit

import octoprint.webcams
from octoprint.webcams import WebcamNotAbleToTakeSnapshotException

from flask_babel import gettext

from ..errors import CameraError
from ..redact import mask_url
from ..sources.base import DEFAULT_TIMEOUT, FrameSource
from ..sources.web import ask_kind

#: Extra seconds on top of the webcam's own snapshot timeout before we give up on a provider:
#: the provider's own timeout error, when it has one, says more than ours.
TIMEOUT_MARGIN = 2.0
#: No single snapshot is this big; more means the URL is a stream.
MAX_SNAPSHOT_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class WebcamInfo:
    """What the settings UI and the API show of one OctoPrint webcam."""

    name: str
    display_name: str
    provider: str
    can_snapshot: bool
    stream: Optional[str]
    snapshot: Optional[str]

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)


def describe(webcam) -> str:
    """``'Classic Webcam' (classic, from plugin classicwebcam)``: how messages name a webcam."""
    config = webcam.config
    return f"{config.displayName!r} ({config.name}, from plugin {webcam.providerIdentifier})"


def info(webcam) -> WebcamInfo:
    config = webcam.config
    compat = config.compat
    return WebcamInfo(
        name=config.name, display_name=config.displayName, provider=webcam.providerIdentifier,
        can_snapshot=bool(config.canSnapshot),
        stream=(compat.stream or None) if compat is not None else None,
        snapshot=(compat.snapshot or None) if compat is not None else None,
    )


def list_webcams() -> List[WebcamInfo]:
    """The webcams OctoPrint knows now, in provider order."""
    return [info(w) for w in octoprint.webcams.get_webcams().values()]


def find_webcam(name: Optional[str] = None):
    """OctoPrint's ``ProvidedWebcam`` called ``name``; empty or None: its snapshot webcam.

    The snapshot webcam is the one OctoPrint's timelapse uses (``webcam.snapshotWebcam``).
    That setting says ``classic`` on a fresh install even when the Classic Webcam has no
    snapshot URL; then the first webcam that can take snapshots is used, as OctoPrint does
    when the configured name is unknown.
    """
    if not name:
        webcam = octoprint.webcams.get_snapshot_webcam()
        if webcam is not None and not webcam.config.canSnapshot:
            able = [w for w in octoprint.webcams.get_webcams().values() if w.config.canSnapshot]
            webcam = able[0] if able else webcam
        if webcam is None:
            raise CameraError(
                "OctoPrint has no webcam that can take snapshots. Set one up under Settings > "
                "Webcam & Timelapse (e.g. the Classic Webcam's snapshot URL), or choose a camera "
                "URL in PiFocus's settings."
            )
        return webcam
    webcams = octoprint.webcams.get_webcams()
    webcam = webcams.get(name)
    if webcam is None:
        raise CameraError(gone_message(name, sorted(webcams)))
    return webcam


def gone_message(name: str, known: List[str]) -> str:
    """What a device whose webcam OctoPrint no longer lists says (status, autofocus, snapshot)."""
    return gettext("The webcam %(name)s is gone from OctoPrint (it knows: %(known)s). Choose another camera "
                   "for this focus device in Settings > PiFocus, or install and enable the plugin that "
                   "provides that webcam again.", name=repr(name), known=", ".join(known) or gettext("none"))


def missing_webcam(name: Optional[str]) -> Optional[str]:
    """``name`` when it names a webcam OctoPrint does not list (now); None for a listed one or
    for "" (OctoPrint's snapshot webcam, whichever that is)."""
    if not name:
        return None
    return None if name in octoprint.webcams.get_webcams() else name


def snapshot_timeout(webcam) -> float:
    compat = webcam.config.compat
    own = float(compat.snapshotTimeout) if compat is not None and compat.snapshotTimeout else 5.0
    return own + TIMEOUT_MARGIN


class NotAJpeg(Exception):
    """The provider's answer does not start like a JPEG; ``head`` holds its first bytes."""

    def __init__(self, head: bytes) -> None:
        super().__init__("not a JPEG")
        self.head = head


def _read_snapshot(chunks: Iterable[bytes], cancelled: threading.Event) -> bytes:
    """Join a provider's chunks into one JPEG, stopping early when it cannot be one.

    A stream URL entered as snapshot URL is a common mistake: its answer never ends. So the
    first bytes are checked before reading on, the size is capped, and a reader abandoned
    after the timeout stops at its next chunk.
    """
    if isinstance(chunks, (bytes, bytearray)):
        chunks = [bytes(chunks)]
    data = bytearray()
    checked = False
    try:
        for chunk in chunks:
            if cancelled.is_set():
                break
            data += chunk
            if not checked and len(data) >= 2:
                if not data.startswith(b"\xff\xd8"):
                    raise NotAJpeg(bytes(data[:80]))
                checked = True
            if len(data) > MAX_SNAPSHOT_BYTES:
                raise NotAJpeg(bytes(data[:80]))
    finally:
        close = getattr(chunks, "close", None)
        if callable(close):
            close()
    return bytes(data)


def _run_with_timeout(call: Callable[[threading.Event], bytes], timeout: float) -> bytes:
    """``call(cancelled)`` in a helper thread; ``TimeoutError`` after ``timeout`` seconds.

    A provider that hangs (a stalled camera driver, a URL that trickles bytes forever) must
    not hang an autofocus. On timeout ``cancelled`` is set, so the reader stops at its next
    chunk instead of downloading on.
    """
    box: Dict[str, Any] = {}
    done = threading.Event()
    cancelled = threading.Event()

    def run() -> None:
        try:
            box["value"] = call(cancelled)
        except BaseException as exc:  # handed over to the caller
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=run, name="pifocus-webcam-snapshot", daemon=True).start()
    if not done.wait(timeout):
        cancelled.set()
        raise TimeoutError(f"no complete snapshot after {timeout:.0f} s")
    if "error" in box:
        raise box["error"]
    return box["value"]


def _reason(exc: BaseException) -> str:
    """A short cause and what to check, for the usual ways a snapshot fails."""
    import requests  # OctoPrint depends on it; classicwebcam's errors are requests errors

    if isinstance(exc, WebcamNotAbleToTakeSnapshotException):
        return "it cannot take snapshots. Give it a snapshot URL in its settings, or choose another webcam"
    if isinstance(exc, (TimeoutError, requests.Timeout)):
        return f"it timed out ({exc}). Check that the camera service is running and not overloaded"
    if isinstance(exc, requests.ConnectionError):
        return (f"the connection failed ({exc}). Check that the camera service (mjpg-streamer, "
                "camera-streamer...) is running and that the webcam's snapshot URL is right")
    if isinstance(exc, requests.HTTPError):
        status = exc.response.status_code if exc.response is not None else "?"
        return (f"the camera answered HTTP {status}. Check the webcam's snapshot URL "
                "(and its authentication settings)")
    return f"{type(exc).__name__}: {exc}"


def take_snapshot(webcam) -> bytes:
    """One JPEG from ``webcam``'s provider, checked; ``CameraError`` on any failure."""
    config = webcam.config
    if not config.canSnapshot:
        raise CameraError(
            f"Webcam {describe(webcam)} cannot take snapshots. Give it a snapshot URL in its "
            "settings, or choose another webcam in PiFocus's settings."
        )

    def call(cancelled: threading.Event) -> bytes:
        return _read_snapshot(webcam.providerPlugin.take_webcam_snapshot(config.name), cancelled)

    try:
        data = _run_with_timeout(call, snapshot_timeout(webcam))
    except NotAJpeg as exc:
        start = exc.head.decode("latin-1", errors="replace").strip()
        hint = ("It looks like an MJPEG stream: use the camera's snapshot URL (e.g. "
                "?action=snapshot), not its stream URL" if start.startswith("--") else
                "Check that its snapshot URL points at a snapshot, not a web page or a login form")
        raise CameraError(f"Webcam {describe(webcam)} returned something that is not a JPEG "
                          f"(starting {start[:60]!r}). {hint}.") from None
    except Exception as exc:
        raise CameraError(f"Webcam {describe(webcam)} gave no snapshot: {_reason(exc)}.") from exc
    if not data:
        raise CameraError(f"Webcam {describe(webcam)} returned an empty snapshot. Check that the "
                          "camera is connected and streaming.")
    return data


class OctoPrintWebcamSource(FrameSource):
    """A frame source for the engine over one OctoPrint webcam: ``capture() -> bytes``.

    Same contract as the engine's snapshot source (``octoprint_pifocus.sources``): the engine
    calls ``capture()`` right after each completed lens move, so every call waits ``settle``
    seconds, takes and drops ``discard`` snapshots, and returns the next one: a frame exposed
    after the move, even from a camera whose snapshots lag. The webcam is looked up at each
    capture, so a provider OctoPrint reloaded is followed. (Its timeout is the webcam's own
    snapshot timeout, see :func:`take_snapshot`.)
    """

    def __init__(self, webcam: Optional[str] = None, settle: float = 0.0, discard: int = 0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__(settle, discard, DEFAULT_TIMEOUT)
        self.webcam = webcam or None
        self._sleep = sleep
        #: Snapshots taken, discarded ones included, for diagnostics and tests.
        self.snapshots = 0
        self.name = f"OctoPrint webcam {self.webcam!r}" if self.webcam else "OctoPrint's snapshot webcam"

    def capture(self) -> bytes:
        webcam = find_webcam(self.webcam)
        if self.settle:
            self._sleep(self.settle)
        for _ in range(self.discard):
            take_snapshot(webcam)
            self.snapshots += 1
        frame = take_snapshot(webcam)
        self.snapshots += 1
        return frame


#: Bind addresses that mean "every interface": the server reaches itself on loopback.
_WILDCARD_HOSTS = ("", "0.0.0.0", "::", "localhost", "127.0.0.1", "::1")


def local_base_url(port: int, host: Optional[str] = "127.0.0.1") -> str:
    """OctoPrint's own address as seen from the server itself.

    ``host`` is the address OctoPrint was told to bind to: a wildcard (or loopback) means
    127.0.0.1 reaches it; a specific address is used as is.
    """
    host = (host or "").strip("[]")
    if host in _WILDCARD_HOSTS:
        host = "127.0.0.1"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{int(port)}/"


def resolve_url(url: str, base_url: str) -> str:
    """``url`` made absolute against ``base_url``, as a browser resolves it against the page.

    Absolute URLs stay as they are; ``/webcam/?action=stream`` keeps the base's scheme, host
    and port; ``plugin/pifocus/simcam/stream`` is also relative to a base path (OctoPrint
    behind a reverse proxy under ``/octoprint/``).
    """
    if not url:
        raise ValueError("empty URL")
    if not base_url.endswith("/"):
        base_url += "/"
    try:
        resolved = urljoin(base_url, url.strip())
        scheme = urlsplit(resolved).scheme
    except ValueError:
        scheme = ""
    if scheme not in ("http", "https"):
        raise ValueError(f"{mask_url(url)!r} is not an http(s) URL")
    return resolved


def stream_url(webcam, base_url: str) -> Optional[str]:
    """The absolute MJPEG stream URL of ``webcam``, or ``None`` when it has none.

    OctoPrint's webcam settings hold stream URLs *for the browser*: relative ones such as
    OctoPi's ``/webcam/?action=stream`` are resolved by the browser against the address it
    opened OctoPrint at. On the server, resolve them against the same browser-facing address
    when a request is at hand (``flask.request.url_root``: it honours OctoPrint's reverse proxy
    headers). Without a request (a print starting), :func:`local_base_url` with OctoPrint's
    port is the only address the server is sure of: it is right for everything OctoPrint
    serves itself (the simulated camera's stream, plugin routes), but on OctoPi ``/webcam/``
    is routed by haproxy on port 80, not by OctoPrint, so users there should give PiFocus an
    absolute camera URL (``camera.url``).

    PiFocus's own simulated webcam streams only to logged-in users with the Webcam permission;
    server-side, take its frames with :class:`OctoPrintWebcamSource` (rendered on demand, so
    always fresh), or through :meth:`OctoPrintWebcams.own_stream` (``simulation.stream``).
    """
    compat = webcam.config.compat
    if compat is None or not compat.stream:
        return None
    try:
        return resolve_url(compat.stream, base_url)
    except ValueError as exc:
        raise CameraError(f"Webcam {describe(webcam)} has a stream URL PiFocus cannot use "
                          f"({compat.stream!r}: {exc}). Check the webcam's stream URL.") from None


#: Where OctoPi's haproxy serves ``/webcam/`` (and OctoPrint) to the browser: port 80.
OCTOPI_PROXY_BASE = "http://127.0.0.1/"


def stream_url_candidates(webcam, local_base: str) -> List[str]:
    """Absolute URLs the server may reach ``webcam``'s stream at, most likely first.

    An absolute stream URL is the only candidate. A relative one (OctoPi's
    ``/webcam/?action=stream``) means "on the host the browser opened", which the server
    cannot know without a request: OctoPrint's own port serves it on a plain install, and
    OctoPi's haproxy on port 80 routes ``/webcam/`` to the camera service.
    """
    compat = webcam.config.compat
    if compat is None or not compat.stream:
        return []
    if compat.stream.strip().partition("://")[1]:
        return [stream_url(webcam, local_base)]
    urls = [stream_url(webcam, local_base), stream_url(webcam, OCTOPI_PROXY_BASE)]
    return list(dict.fromkeys(urls))


def first_stream(urls: Iterable[str], timeout: float = 2.0) -> Optional[str]:
    """The first URL that answers as an MJPEG stream (headers only), or ``None``."""
    for url in urls:
        try:
            if ask_kind(url, timeout) == "stream":
                return url
        except CameraError:
            continue
    return None


class OctoPrintWebcams:
    """The adapter the plugin holds: OctoPrint's webcams, frame sources and stream URLs.

    ``port`` is OctoPrint's port (``StartupPlugin.on_startup``), for resolving relative URLs
    when there is no browser request to resolve them against.
    """

    def __init__(self, port: int, host: Optional[str] = "127.0.0.1",
                 own_stream: Optional[Callable[[Any, str], Optional[str]]] = None) -> None:
        self.local_base = local_base_url(port, host)
        self._own_stream = own_stream

    def own_stream(self, webcam) -> Optional[str]:
        """Where the server reads PiFocus's own simulated ``webcam`` as a stream, or None:
        its snapshots then, rendered in-process (``simulation.stream`` off)."""
        return self._own_stream(webcam, self.local_base) if self._own_stream is not None else None

    def list(self) -> List[WebcamInfo]:
        return list_webcams()

    def find(self, name: Optional[str] = None):
        return find_webcam(name)

    def missing(self, name: Optional[str]) -> Optional[str]:
        """See :func:`missing_webcam`."""
        return missing_webcam(name)

    def source(self, name: Optional[str] = None, settle: float = 0.0, discard: int = 0) -> OctoPrintWebcamSource:
        return OctoPrintWebcamSource(name, settle=settle, discard=discard)

    def stream_urls(self, webcam) -> List[str]:
        """Where the server may reach ``webcam``'s stream, most likely first."""
        return stream_url_candidates(webcam, self.local_base)

    def stream_url(self, webcam, request_base: Optional[str] = None) -> Optional[str]:
        """``webcam``'s stream URL, absolute: against ``request_base`` if given, else locally."""
        if isinstance(webcam, str) or webcam is None:
            webcam = find_webcam(webcam)
        return stream_url(webcam, request_base or self.local_base)
