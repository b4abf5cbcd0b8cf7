"""A webcam server on 127.0.0.1 for tests: an MJPEG stream and snapshots, lagging and
misbehaving on demand.

A producer thread renders a frame every ``1/fps`` seconds and *publishes* each one ``latency``
frame periods after rendering it, as a real webcam pipeline does: what the server sends at
any moment shows the scene as it was several frames ago. The stream sends each published frame
once; a snapshot returns the one published last (mjpg-streamer's behaviour). Counters
(connections, requests, frames sent) let tests check what a client really did::

    with CameraServer(SimFrames(camera), fps=50, latency=4) as server:
        source = MjpegStream(server.stream_url)
        ...
        server.misbehave(stop_after=10)    # goes silent after 10 frames in all
"""
from __future__ import annotations

import base64
import dataclasses
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Deque, List, Optional, Set, Tuple, Union

from .styles import STYLES, StreamStyle


@dataclass(frozen=True)
class Misbehaviour:
    """What the server does wrong; the default is nothing."""

    status: int = 200                 # answer every request with this HTTP status
    body: Optional[bytes] = None      # answer both paths with this instead (HTML page, b"")
    content_type: Optional[str] = None  # instead of image/jpeg (snapshot) or the style's
    delay: float = 0.0                # seconds before answering anything (a slow server)
    stop_after: Optional[int] = None  # stream: go silent, connections open, after N frames in all
    drop_after: Optional[int] = None  # stream: close each connection after N frames on it
    keep_alive: bool = True           # snapshot: False answers "Connection: close" (HTTP/1.0 style)
    close_idle: bool = False          # snapshot: close after each answer *without* saying so
    bunch: int = 1                    # publish frames in bunches of this many, bunch_gap s apart,
    bunch_gap: float = 0.01           # a bunch every `bunch` periods (a loaded streamer; same rate)


class CameraServer:
    """Serves ``render()`` (JPEG bytes) at ``stream_path`` and ``snapshot_path``; with
    ``auth=(user, password)`` both need HTTP basic auth. Any other path answers 404."""

    def __init__(self, render: Callable[[], bytes], fps: float = 30.0, latency: int = 0,
                 style: Union[str, StreamStyle] = "mjpg-streamer", stream_path: str = "/stream",
                 snapshot_path: str = "/snapshot", auth: Optional[Tuple[str, str]] = None) -> None:
        self.render = render
        self.auth = auth
        self._expected_auth = None if auth is None else "Basic " + base64.b64encode(
            f"{auth[0]}:{auth[1]}".encode()).decode()
        self.fps = float(fps)
        self.latency = int(latency)
        self.style = STYLES[style] if isinstance(style, str) else style
        self.stream_path = stream_path
        self.snapshot_path = snapshot_path
        self.behaviour = Misbehaviour()
        #: Accepted TCP connections, request paths in order, stream frames sent in all.
        self.connections = 0
        self.requests: List[str] = []
        self.frames_sent = 0
        self._lock = threading.Condition()
        self._published: Optional[bytes] = None
        self._seq = 0
        self._stopping = threading.Event()
        self._sockets: Set[socket.socket] = set()
        self._httpd: Optional[ThreadingHTTPServer] = None
        self._threads: List[threading.Thread] = []

    # ~~ lifetime

    def start(self) -> "CameraServer":
        handler = type("Handler", (_Handler,), {"owner": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        for target in (self._listen, self._produce):
            thread = threading.Thread(target=target, daemon=True, name=f"camera-server {target.__name__}")
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            self._lock.notify_all()
            sockets = list(self._sockets)
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        for sock in sockets:
            _shutdown(sock)
        for thread in self._threads:
            thread.join(5)

    def __enter__(self) -> "CameraServer":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # ~~ what tests use

    @property
    def port(self) -> int:
        assert self._httpd is not None, "start the server first"
        return self._httpd.server_address[1]

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    @property
    def stream_url(self) -> str:
        return self.url(self.stream_path)

    @property
    def snapshot_url(self) -> str:
        return self.url(self.snapshot_path)

    def misbehave(self, **changes) -> None:
        """Change what goes wrong from now on (fields of :class:`Misbehaviour`)."""
        self.behaviour = dataclasses.replace(self.behaviour, **changes)

    def behave(self) -> None:
        self.behaviour = Misbehaviour()

    @property
    def open_connections(self) -> int:
        """Connections open now (a closed client's goes when its handler notices)."""
        with self._lock:
            return len(self._sockets)

    def drop_connections(self) -> None:
        """Cut every open connection now, as a crashing or restarting server would."""
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            _shutdown(sock)

    def wait_published(self, count: int = 1, timeout: float = 5.0) -> None:
        """Block until ``count`` frames have been published (the pipeline is full)."""
        with self._lock:
            if not self._lock.wait_for(lambda: self._seq >= count, timeout):
                raise TimeoutError(f"the camera server published {self._seq} frames, not {count}")

    def _listen(self) -> None:
        assert self._httpd is not None
        self._httpd.serve_forever(poll_interval=0.05)  # stop() returns within 50 ms

    # ~~ the producer: one frame per tick, each sent `latency` frame periods after rendering

    def _produce(self) -> None:
        """Publishes, after each render, the newest frame rendered at least ``latency``
        periods ago. The delay is kept in time rather than in ticks, so a tick that runs late
        on a loaded machine does not make every frame in the pipeline older still."""
        period = 1.0 / self.fps
        delay = self.latency * period
        pipeline: Deque[Tuple[float, bytes]] = deque()
        tick = time.monotonic()
        while not self._stopping.is_set():
            pipeline.append((time.monotonic(), self.render()))
            due = None
            while pipeline and pipeline[0][0] <= time.monotonic() - delay:
                due = pipeline.popleft()[1]
            if due is not None:
                self._publish(due)
            behaviour = self.behaviour
            for _ in range(behaviour.bunch - 1 if due is not None else 0):
                if self._stopping.wait(behaviour.bunch_gap):
                    break
                self._publish(self.render())
                tick += period
            tick += period
            now = time.monotonic()
            if tick < now - period:
                tick = now  # fell behind (a loaded machine): no burst of catch-up frames
            self._stopping.wait(max(0.0, tick - now))

    def _publish(self, frame: bytes) -> None:
        with self._lock:
            self._published = frame
            self._seq += 1
            self._lock.notify_all()

    def _next_frame(self, after: int):
        """The first frame published after sequence number ``after``, or None when stopping."""
        with self._lock:
            self._lock.wait_for(lambda: self._seq > after or self._stopping.is_set())
            if self._stopping.is_set():
                return None, after
            return self._published, self._seq

    # ~~ request handling (runs in the handler threads)

    def _serve(self, handler: "_Handler") -> None:
        path = handler.path
        with self._lock:
            self.requests.append(path)
        behaviour = self.behaviour
        if behaviour.delay and self._stopping.wait(behaviour.delay):
            return
        if path not in (self.stream_path, self.snapshot_path):
            return self._send(handler, 404, b"<html><title>404 Not Found</title></html>", "text/html")
        if self.auth is not None and handler.headers.get("Authorization") != self._expected_auth:
            handler.send_response(401)
            handler.send_header("WWW-Authenticate", 'Basic realm="webcam"')
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        if behaviour.status != 200:
            body = behaviour.body if behaviour.body is not None else b"Internal failure"
            return self._send(handler, behaviour.status, body, behaviour.content_type or "text/plain")
        if behaviour.body is not None:  # a login page, an empty answer...: on both endpoints
            return self._send(handler, 200, behaviour.body, behaviour.content_type or "image/jpeg")
        if path == self.stream_path:
            return self._stream(handler, behaviour)
        body, _ = self._next_frame(0)
        if body is None:
            return
        self._send(handler, 200, body, behaviour.content_type or "image/jpeg",
                   keep_alive=behaviour.keep_alive)
        if behaviour.close_idle:
            handler.close_connection = True

    def _send(self, handler: "_Handler", status: int, body: bytes, content_type: str,
              keep_alive: bool = True) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        if not keep_alive:
            handler.send_header("Connection", "close")
        handler.end_headers()
        handler.wfile.write(body)
        handler.wfile.flush()

    def _stream(self, handler: "_Handler", behaviour: Misbehaviour) -> None:
        handler.close_connection = True
        handler.send_response(200)
        handler.send_header("Content-Type", behaviour.content_type or self.style.content_type)
        handler.send_header("Cache-Control", "no-store, no-cache, must-revalidate, max-age=0")
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.wfile.write(self.style.head())
        handler.wfile.flush()
        with self._lock:
            seq = self._seq
        sent_here = 0
        while True:
            frame, seq = self._next_frame(seq)
            if frame is None:
                return
            behaviour = self.behaviour
            if behaviour.stop_after is not None and self.frames_sent >= behaviour.stop_after:
                self._stopping.wait()  # silent, connection open, until the server stops
                return
            handler.wfile.write(self.style.part(frame))
            handler.wfile.flush()
            with self._lock:
                self.frames_sent += 1
            sent_here += 1
            if behaviour.drop_after is not None and sent_here >= behaviour.drop_after:
                return

    def _opened(self, sock: socket.socket) -> None:
        with self._lock:
            self.connections += 1
            self._sockets.add(sock)

    def _closed(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive for snapshots; streams say Connection: close
    owner: CameraServer

    def setup(self) -> None:
        super().setup()
        self.owner._opened(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.owner._closed(self.connection)

    def do_GET(self) -> None:  # noqa: N802 (the http.server API)
        try:
            self.owner._serve(self)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True  # the client went away: fine for a webcam

    def log_message(self, format: str, *args) -> None:  # noqa: A002
        pass


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def refused_url(path: str = "/") -> str:
    """A URL on 127.0.0.1 where nothing listens: connecting to it is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"
