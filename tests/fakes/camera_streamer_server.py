"""A real HTTP server on 127.0.0.1 that answers ``/option`` and ``/status`` like camera-streamer.

Modelled on camera-streamer's ``cmd/camera-streamer/http.c``:

* ``form="new"`` (0.2.2 and later): ``/option?device=&key=&value=``; no key or value is
  400 "No key or value passed."; ``device`` must match a device name exactly
  (``CAMERA``); an option no device has is 404; a value that cannot be set is 500.
* ``form="old"``: every query parameter is an option to set; none set is 404 "No options
  passed."; a failure is 500 "Cannot set ...". No ``/status``.

Option names match as camera-streamer matches them: case and non-alphanumerics ignored.
``requests`` logs every request as (path, params); ``options`` holds what was set.
``auth=(user, password)`` asks for HTTP basic auth as a reverse proxy in front of
camera-streamer does (401 without the right ``Authorization``); ``authorizations`` logs the
``Authorization`` header of every request (None when there was none).
"""
from __future__ import annotations

import base64
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Dict, List, Optional, Tuple
from urllib.parse import parse_qsl, urlsplit


def _norm(key: str) -> str:
    return re.sub(r"[^a-z0-9]", "", key.lower())


class CameraStreamerServer:
    def __init__(self, form: str = "new", has_lens: bool = True, fail: bool = False, delay: float = 0.0,
                 auth: Optional[Tuple[str, str]] = None) -> None:
        self.form = form
        self.auth = auth
        self.authorizations: List[Optional[str]] = []
        self.has_lens = has_lens
        self.fail = fail
        self.delay = delay
        self.requests: List[Tuple[str, Dict[str, str]]] = []
        self.options: Dict[str, str] = {}
        self.devices = {"CAMERA": ["AfMode", "LensPosition", "ExposureTime"] if has_lens else ["ExposureTime"],
                        "ISP": ["RedBalance"]}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                parts = urlsplit(self.path)
                params = dict(parse_qsl(parts.query, keep_blank_values=True))
                authorization = self.headers.get("Authorization")
                outer.authorizations.append(authorization)
                if outer.auth is not None and authorization != outer.expected_authorization():
                    data = b"401 Unauthorized\r\n"
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="camera-streamer"')
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                outer.requests.append((parts.path, params))
                if outer.delay:
                    time.sleep(outer.delay)
                status, body, kind = outer.answer(parts.path, params)
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(5)

    def expected_authorization(self) -> Optional[str]:
        if self.auth is None:
            return None
        token = base64.b64encode(f"{self.auth[0]}:{self.auth[1]}".encode()).decode("ascii")
        return f"Basic {token}"

    # ~~ behaviour

    def _set(self, device: str, key: str, value: str) -> Optional[bool]:
        """True set, False refused, None: the device has no such option."""
        for option in self.devices[device]:
            if _norm(option) == _norm(key):
                if self.fail or (option == "LensPosition" and not _is_float(value)):
                    return False
                self.options[option] = value
                return True
        return None

    def answer(self, path: str, params: Dict[str, str]) -> Tuple[int, str, str]:
        if path == "/status" and self.form == "new":
            return 200, json.dumps({"devices": [{"name": d} for d in self.devices]}), "application/json"
        if path != "/option":
            return 404, "Not found\r\n", "text/plain"
        if self.form == "new":
            return self._new(params)
        return self._old(params)

    def _new(self, params: Dict[str, str]) -> Tuple[int, str, str]:
        key, value, device = params.get("key"), params.get("value"), params.get("device")
        if key is None or value is None:
            return 400, "No key or value passed.\r\n", "text/plain"
        names = [name for name in self.devices if not device or name == device]
        status, lines = self._report([(f"{name}: ", key, value, [self._set(name, key, value)]) for name in names])
        if status is None:
            return 404, f"The option was not found for device='{device}', key='{key}', value='{value}'.\r\n", "text/plain"
        return status, lines + "\r\n", "text/plain"

    def _old(self, params: Dict[str, str]) -> Tuple[int, str, str]:
        status, lines = self._report([("", key, value, [self._set(name, key, value) for name in self.devices])
                                      for key, value in params.items()])
        usage = "\r\n\r\nSet: /option?name=value\r\n"
        if status is None:
            return 404, "No options passed." + usage, "text/plain"
        return status, lines + usage, "text/plain"

    @staticmethod
    def _report(attempts) -> Tuple[Optional[int], str]:
        """camera-streamer's reply: the first outcome sets the status, each outcome adds a line."""
        status, lines = None, []
        for prefix, key, value, results in attempts:
            if True in results:
                status = status or 200
                lines.append(f"{prefix}The '{key}' was set to '{value}'.")
            elif False in results:
                status = status or 500
                lines.append(f"{prefix}Cannot set '{key}' to '{value}'.")
        return status, "\r\n".join(lines)

    def sets(self) -> List[Dict[str, str]]:
        """The requests that carried options (the form probe left out)."""
        return [params for path, params in self.requests if path == "/option" and params]


def _is_float(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False
