"""What a logged-in browser receives on OctoPrint's push socket, for tests against the real server.

OctoPrint pushes plugin messages, events and the printer's state over SockJS; its raw
WebSocket endpoint is ``ws://HOST:PORT/sockjs/websocket`` (no SockJS framing: one JSON object
per message). A browser logs in (``POST /api/login {"passive": true}`` answers the user's
``name`` and ``session``), then authenticates the socket with ``{"auth": "name:session"}``;
from then on it gets what that user may see (plugin messages and events need STATUS).

    with SocketListener(server, "user") as socket:
        ...                                   # make PiFocus do something
        socket.wait_for(lambda m: m.get("plugin", {}).get("plugin") == "pifocus")
        socket.plugin_messages("pifocus"); socket.events("plugin_pifocus_")

Every message is kept, in order, as parsed JSON (``messages``) and as received (``raw``).
"""
from __future__ import annotations

import json
import threading
import time
from typing import Any, Callable, Dict, List, Optional

import websocket  # websocket-client

from octoprint_server import OctoPrintServer

Message = Dict[str, Any]


class SocketListener:
    """One browser's push socket on ``server``, logged in as ``user`` (a name in ``server.users``)."""

    def __init__(self, server: OctoPrintServer, user: str, timeout: float = 20.0) -> None:
        self.server = server
        self.user = user
        self.timeout = timeout
        self.raw: List[str] = []
        self.messages: List[Message] = []
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._ws: Optional[websocket.WebSocket] = None
        self._thread: Optional[threading.Thread] = None
        self._closed = threading.Event()
        self.error: Optional[BaseException] = None

    # ~~ set-up

    def login(self) -> str:
        """``name:session`` for the socket's auth message, from a passive login with the API key."""
        r = self.server.session(self.user).post(self.server.url + "/api/login", json={"passive": True},
                                                timeout=10)
        if r.status_code != 200:
            raise RuntimeError(f"passive login as {self.user} failed: HTTP {r.status_code} {r.text[:200]}")
        body = r.json()
        return f"{body['name']}:{body['session']}"

    def start(self) -> "SocketListener":
        auth = self.login()
        url = self.server.url.replace("http://", "ws://", 1) + "/sockjs/websocket"
        self._ws = websocket.create_connection(url, timeout=self.timeout)
        self._ws.send(json.dumps({"auth": auth}))
        self._thread = threading.Thread(target=self._receive, name=f"socket-{self.user}", daemon=True)
        self._thread.start()
        # Authenticated once OctoPrint sends what needs STATUS (the printer's "current" state).
        self.wait_for(lambda m: "current" in m or "history" in m, what="the first state after auth")
        return self

    def _receive(self) -> None:
        ws = self._ws
        while not self._closed.is_set():
            try:
                text = ws.recv()
            except websocket.WebSocketTimeoutException:
                continue
            except Exception as exc:  # closed by us or by the server
                if not self._closed.is_set():
                    self.error = exc
                break
            if not text:
                continue
            try:
                message = json.loads(text)
            except ValueError:
                message = {"unparsed": text}
            with self._arrived:
                self.raw.append(text)
                self.messages.append(message)
                self._arrived.notify_all()

    def close(self) -> None:
        self._closed.set()
        if self._ws is not None:
            try:
                self._ws.close()
            except Exception:
                pass
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> "SocketListener":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    # ~~ what arrived

    def snapshot(self) -> List[Message]:
        with self._lock:
            return list(self.messages)

    def text(self) -> str:
        """Everything received, as received: for "this must never appear" checks."""
        with self._lock:
            return "\n".join(self.raw)

    def plugin_messages(self, plugin: str) -> List[Any]:
        """The ``data`` of every plugin message from ``plugin``."""
        return [m["plugin"]["data"] for m in self.snapshot()
                if isinstance(m.get("plugin"), dict) and m["plugin"].get("plugin") == plugin]

    def events(self, prefix: str = "") -> List[Dict[str, Any]]:
        """Every event (``{"type", "payload"}``) whose type starts with ``prefix``."""
        return [m["event"] for m in self.snapshot()
                if isinstance(m.get("event"), dict) and str(m["event"].get("type", "")).startswith(prefix)]

    def wait_for(self, predicate: Callable[[Message], bool], timeout: Optional[float] = None,
                 what: str = "a message") -> Message:
        """The first message (received so far or later) for which ``predicate`` is true."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        seen = 0
        with self._arrived:
            while True:
                for message in self.messages[seen:]:
                    if predicate(message):
                        return message
                seen = len(self.messages)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"{what} did not arrive on {self.user}'s socket within the time "
                                         f"({len(self.messages)} messages; error: {self.error!r})")
                self._arrived.wait(min(remaining, 0.5))

    def wait_for_plugin(self, plugin: str, predicate: Callable[[Any], bool] = lambda data: True,
                        timeout: Optional[float] = None, what: str = "a plugin message") -> Any:
        message = self.wait_for(lambda m: isinstance(m.get("plugin"), dict) and m["plugin"].get("plugin") == plugin
                                and predicate(m["plugin"].get("data")), timeout, what)
        return message["plugin"]["data"]

    def wait_for_event(self, event: str, timeout: Optional[float] = None) -> Dict[str, Any]:
        message = self.wait_for(lambda m: isinstance(m.get("event"), dict) and m["event"].get("type") == event,
                                timeout, f"event {event}")
        return message["event"]
