"""A real OctoPrint server for the tests, in a fresh base folder on 127.0.0.1.

Why a real server: PiFocus is an OctoPrint plugin, and what matters (the plugin is loaded, its
webcam is registered, its routes are protected, its API answers) only shows in OctoPrint
itself. Mocks of OctoPrint would test our idea of OctoPrint, not OctoPrint 1.11.

The server runs with the same Python as the tests (``sys.executable -m octoprint serve``), so
it loads the editable PiFocus install of this checkout. Its base folder is set up as after a
completed first-run wizard, with users and API keys written directly to ``users.yaml`` (one
``octoprint user add`` costs a whole OctoPrint start-up), and it is kept offline: see
:func:`base_config`.

    with OctoPrintServer(extra_config={"plugins": {"pifocus": {...}}}) as server:
        server.session("admin").get(server.url + "/api/version")
"""
from __future__ import annotations

import atexit
import copy
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import requests
import yaml


@dataclass(frozen=True)
class ServerUser:
    """A user of the test server; ``apikey`` is filled in per server."""

    name: str
    password: str
    groups: Sequence[str]
    apikey: str = ""
    #: Extra permission keys beyond the groups' (e.g. "SETTINGS").
    permissions: Sequence[str] = ()


#: admin: everything. user: OctoPrint's default "users" group (WEBCAM, CONTROL... and what
#: plugins grant to users by default). guest: the "guests" group only, so no webcam and no
#: PiFocus rights: the user the 403 tests use.
DEFAULT_USERS = (
    ServerUser("admin", "admin-secret", ("admins", "users")),
    ServerUser("user", "user-secret", ("users",)),
    ServerUser("guest", "guest-secret", ("guests",)),
)

#: Bundled plugins that would talk to the network beyond 127.0.0.1 (mDNS/zeroconf
#: announcements) or fetch news feeds; the tests need neither.
DISABLED_PLUGINS = ["discovery", "announcements"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def deep_merge(base: Dict[str, Any], extra: Dict[str, Any]) -> Dict[str, Any]:
    """``extra`` merged into a copy of ``base``; nested dicts merge, anything else replaces."""
    result = copy.deepcopy(base)
    for key, value in (extra or {}).items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = deep_merge(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def base_config(dead_port: int) -> Dict[str, Any]:
    """config.yaml for a test server: set up, offline, virtual printer connected.

    Offline: the online check is off (OctoPrint then *assumes* it is online; switching it on
    against a closed port would make OctoPrint know it is offline, but its retries cost 6 s
    of every start-up). The server process gets a proxy on a closed port instead (see
    :meth:`OctoPrintServer.environment`), so any fetch from the internet fails at once, and
    the plugins that fetch at start-up are told not to.
    """
    return {
        "server": {
            "firstRun": False,
            "onlineCheck": {"enabled": False},
            "pluginBlacklist": {"enabled": False},
            "startOnceInSafeMode": False,
            "ignoreIncompleteStartup": True,
        },
        "accessControl": {"autologinLocal": False},
        "serial": {
            "port": "VIRTUAL",
            "baudrate": 115200,
            "autoconnect": True,
        },
        "webcam": {"webcamEnabled": True, "timelapseEnabled": True},
        "plugins": {
            "_disabled": list(DISABLED_PLUGINS),
            "tracking": {"enabled": False},
            "errortracking": {"enabled": False},
            # Fast and quiet: no simulated transmission errors (lines 100-115 by default),
            # no busy protocol. VirtualPrinter 1.11.8 no longer reads "throttle"; move
            # times come from the feed rate of each G-code move.
            "virtual_printer": {
                "enabled": True,
                "simulated_errors": [],
                "resend_ratio": 0,
                "sendBusy": False,
                "okAfterResend": False,
            },
            "pluginmanager": {
                "repository": f"http://127.0.0.1:{dead_port}/plugins.json",
                "notices": f"http://127.0.0.1:{dead_port}/notices.json",
            },
            # These ask pypi.org and get.octoprint.org at start-up.
            "health_check": {"disabled": ["octoprint_freshness", "python_eol"]},
        },
    }


LOGGING_CONFIG = {
    "loggers": {
        "octoprint.plugins.pifocus": {"level": "DEBUG"},
    }
}


#: (url, seconds) of every server started in this test run, for the run's summary.
STARTUPS: List[tuple] = []
#: Servers still running: stopped at interpreter exit if a test run is interrupted.
_RUNNING: "set[OctoPrintServer]" = set()


@atexit.register
def _stop_leftovers() -> None:
    for server in list(_RUNNING):
        server.stop(timeout=5)


#: The demo's second focus device: a microscope on the gantry, focused with the virtual
#: printer's Z, seeing its own simulated webcam (``pifocus_simulated_microscope``).
MICROSCOPE = {
    "id": "microscope", "name": "microscope", "driver": "printer-z",
    "camera": {"webcam": "pifocus_simulated_microscope", "settle": 0.0},
    "printer_z": {"min": 3.0, "max": 9.0, "feedrate": 3000, "backlash": 0.2},
}


def demo_config(microscope: bool = False, **simulation: Any) -> Dict[str, Any]:
    """Extra config for PiFocus on its simulated lens and camera, as the demo sets it up.

    ``microscope``: a second focus device, :data:`MICROSCOPE` (the demo has it); the first
    device is the top-level settings, which the migration moves into ``devices[0]``.

    OctoPrint's ``webcam.snapshotWebcam`` defaults to ``classic`` even when the Classic Webcam
    has no snapshot URL, so the simulated webcam is made the default and snapshot webcam
    explicitly: OctoPrint's snapshot download and timelapse then use it. The Control tab
    opens its first webcam tab, so the simulated cameras are ordered first (a second device's,
    ``plugin_pifocus_2``, before the Classic Webcam).
    """
    return {
        "webcam": {"defaultWebcam": "pifocus_simulated", "snapshotWebcam": "pifocus_simulated"},
        "appearance": {"components": {"order": {"webcam": ["plugin_pifocus", "plugin_pifocus_2"]}}},
        # The simulated lens, chosen explicitly: a fresh install has no lens driver (and its
        # set-up wizard); the demo and the tests that use this start set up.
        "plugins": {"pifocus": dict(
            {"driver": "simulated", "simulation": dict({"enabled": True}, **simulation)},
            **({"devices": [{"id": "camera", "name": "Camera"}, dict(MICROSCOPE)]} if microscope else {}))},
    }


class ServerStartError(RuntimeError):
    """The server did not come up; the message ends with the tail of its logs."""


class OctoPrintServer:
    """A real OctoPrint server in its own base folder; ``start()``/``stop()`` or a ``with``.

    ``extra_config`` is merged into config.yaml (e.g. ``{"plugins": {"pifocus": {...}}}``).
    ``users`` get fresh API keys (``server.users[name].apikey``). ``wait_operational`` waits
    for the virtual printer to be connected before ``start()`` returns.
    """

    def __init__(
        self,
        extra_config: Optional[Dict[str, Any]] = None,
        users: Sequence[ServerUser] = DEFAULT_USERS,
        wait_operational: bool = True,
        basedir: Optional[Path] = None,
        keep_basedir: bool = False,
    ) -> None:
        self.extra_config = extra_config or {}
        self.users: Dict[str, ServerUser] = {
            u.name: ServerUser(u.name, u.password, tuple(u.groups), u.apikey or secrets.token_hex(16),
                               tuple(u.permissions))
            for u in users
        }
        self.wait_operational = wait_operational
        #: The first administrator: start-up checks use its API key.
        self.admin_name = next(u.name for u in self.users.values() if "admins" in u.groups)
        self._own_basedir = basedir is None
        self.keep_basedir = keep_basedir
        self.basedir = Path(basedir) if basedir else Path(tempfile.mkdtemp(prefix="pifocus-octoprint-"))
        self.port = free_port()
        self.host = "127.0.0.1"
        self.url = f"http://{self.host}:{self.port}"
        self.process: Optional[subprocess.Popen] = None
        self.startup_seconds: Optional[float] = None
        self._stdout = None

    # ~~ base folder

    @property
    def log_path(self) -> Path:
        return self.basedir / "logs" / "octoprint.log"

    @property
    def stdout_path(self) -> Path:
        return self.basedir / "logs" / "stdout.log"

    @property
    def config_path(self) -> Path:
        return self.basedir / "config.yaml"

    def config(self) -> Dict[str, Any]:
        """The config.yaml this server starts with."""
        return deep_merge(base_config(free_port()), self.extra_config)

    def prepare(self) -> None:
        """Write config.yaml, users.yaml and logging.yaml into the base folder."""
        self.basedir.mkdir(parents=True, exist_ok=True)
        (self.basedir / "logs").mkdir(exist_ok=True)
        self.config_path.write_text(yaml.safe_dump(self.config(), sort_keys=False))
        (self.basedir / "logging.yaml").write_text(yaml.safe_dump(LOGGING_CONFIG))
        self._write_users()

    def _write_users(self) -> None:
        # OctoPrint's own hasher, so the stored hash is what its login checks against.
        from octoprint.access.users import UserManager

        data: Dict[str, Any] = {"_version": 2}
        for user in self.users.values():
            data[user.name] = {
                "password": UserManager.create_password_hash(user.password),
                "active": True,
                "groups": list(user.groups),
                "permissions": list(user.permissions),
                "apikey": user.apikey,
                "settings": {},
            }
        path = self.basedir / "users.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        path.chmod(0o600)

    # ~~ process

    def start(self, timeout: float = 90.0, prepare: bool = True) -> "OctoPrintServer":
        """Start ``octoprint serve`` and wait until its API answers (and the printer is up).

        ``prepare=False`` keeps the base folder as the last run left it (see :meth:`restart`).
        """
        if self.process is not None:
            raise RuntimeError("server already started")
        if prepare:
            self.prepare()
        env = self.environment()
        self._stdout = open(self.stdout_path, "wb")
        started = time.monotonic()
        command = [sys.executable, "-m", "octoprint", "serve", "--basedir", str(self.basedir),
                   "--host", self.host, "--port", str(self.port)]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            command.append("--iknowwhatimdoing")  # containers and CI often run as root
        self.process = subprocess.Popen(
            command,
            stdout=self._stdout, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            start_new_session=True,
        )
        _RUNNING.add(self)
        try:
            self._wait_for_api(started + timeout)
            if self.wait_operational:
                self._wait_for_printer(started + timeout)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - started
        STARTUPS.append((self.url, self.startup_seconds))
        return self

    def environment(self) -> Dict[str, str]:
        """The server's environment: unbuffered, and no way out of 127.0.0.1 over HTTP.

        ``requests`` (what OctoPrint's plugins fetch with) honours these proxy variables:
        everything but 127.0.0.1/localhost goes to a closed port and fails at once.
        """
        env = dict(os.environ)
        dead_proxy = f"http://127.0.0.1:{free_port()}"
        env.update({
            "PYTHONUNBUFFERED": "1", "NO_COLOR": "1",
            "HTTP_PROXY": dead_proxy, "HTTPS_PROXY": dead_proxy,
            "http_proxy": dead_proxy, "https_proxy": dead_proxy,
            "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
        })
        env.pop("ALL_PROXY", None)
        env.pop("all_proxy", None)
        return env

    def _fail(self, what: str) -> None:
        raise ServerStartError(f"OctoPrint on {self.url} {what}.\n{self.log_tail()}")

    def _wait_for_api(self, deadline: float) -> None:
        session = self.session(self.admin_name)
        while True:
            if self.process.poll() is not None:
                self._fail(f"exited with code {self.process.returncode} during start-up")
            try:
                r = session.get(self.url + "/api/version", timeout=2)
                if r.status_code == 200:
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                self._fail("did not answer /api/version in time")
            time.sleep(0.1)

    def _wait_for_printer(self, deadline: float) -> None:
        session = self.session(self.admin_name)
        while True:
            state = self.printer_state(session)
            if state == "Operational":
                return
            if self.process.poll() is not None:
                self._fail(f"exited with code {self.process.returncode} while connecting")
            if time.monotonic() > deadline:
                self._fail(f"did not connect to the virtual printer in time (state {state!r})")
            time.sleep(0.1)

    def printer_state(self, session: Optional[requests.Session] = None) -> str:
        r = (session or self.session(self.admin_name)).get(self.url + "/api/connection", timeout=5)
        r.raise_for_status()
        return r.json()["current"]["state"]

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM (OctoPrint shuts down cleanly on it), then SIGKILL after ``timeout``."""
        process, self.process = self.process, None
        _RUNNING.discard(self)
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        if self._stdout is not None:
            self._stdout.close()
            self._stdout = None

    def kill(self) -> None:
        """SIGKILL: the process dies at once, without OctoPrint's shutdown (no plugin's
        ``on_shutdown`` runs), as after a power cut or the OOM killer. ``start(prepare=False)``
        brings it back on what was on disk."""
        process, self.process = self.process, None
        _RUNNING.discard(self)
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(10)
        if self._stdout is not None:
            self._stdout.close()
            self._stdout = None

    def restart(self, timeout: float = 90.0) -> "OctoPrintServer":
        """Stop and start again in the same base folder, with what the server saved (its
        config.yaml included): what a user sees after restarting OctoPrint."""
        self.stop()
        return self.start(timeout, prepare=False)

    def cleanup(self) -> None:
        self.stop()
        if self._own_basedir and not self.keep_basedir:
            shutil.rmtree(self.basedir, ignore_errors=True)

    def __enter__(self) -> "OctoPrintServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.cleanup()

    # ~~ logs

    def log_tail(self, lines: int = 60) -> str:
        """The last lines of octoprint.log and of the captured stdout, for failure messages."""
        parts = []
        for path in (self.log_path, self.stdout_path):
            try:
                text = path.read_text(errors="replace").splitlines()
            except OSError:
                text = ["(missing)"]
            parts.append(f"--- {path} (last {lines} lines) ---\n" + "\n".join(text[-lines:]))
        return "\n".join(parts)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def wait_for_log(self, text: str, timeout: float = 20.0) -> str:
        """Wait until octoprint.log contains ``text`` (e.g. what a plugin logs after start-up)."""
        deadline = time.monotonic() + timeout
        while True:
            log = self.log_text()
            if text in log:
                return log
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not in the log after {timeout} s\n{self.log_tail()}")
            time.sleep(0.1)

    @property
    def serial_log_path(self) -> Path:
        """OctoPrint's serial.log: every line sent and received, with ``serial: {log: true}``."""
        return self.basedir / "logs" / "serial.log"

    def serial_log_text(self) -> str:
        try:
            return self.serial_log_path.read_text(errors="replace")
        except OSError:
            return ""

    # ~~ clients

    def session(self, user: Optional[str] = "admin") -> requests.Session:
        """A requests session that authenticates with ``user``'s API key (None: anonymous)."""
        s = requests.Session()
        if user is not None:
            s.headers["X-Api-Key"] = self.users[user].apikey
        return s

    def login(self, user: str = "admin", remember: bool = False) -> requests.Session:
        """A session logged in through /api/login with a cookie, as a browser is.

        OctoPrint checks CSRF on cookie sessions (double-submit): the ``csrf_token`` cookie
        (named ``csrf_token_P<port>``) must come back as ``X-CSRF-Token``; the session
        returned sends it on every request.
        """
        s = requests.Session()
        s.get(self.url + "/", timeout=10).raise_for_status()
        self._sync_csrf(s)
        u = self.users[user]
        r = s.post(self.url + "/api/login",
                   json={"user": u.name, "pass": u.password, "remember": remember}, timeout=10)
        if r.status_code != 200:
            raise RuntimeError(f"login as {user} failed: HTTP {r.status_code} {r.text[:200]}")
        self._sync_csrf(s)
        return s

    def login_cookies(self, user: str = "admin") -> List[Dict[str, str]]:
        """Cookies of a logged-in session, in the form Playwright's ``context.add_cookies`` takes."""
        return [{"name": c.name, "value": c.value, "url": self.url}
                for c in self.login(user, remember=True).cookies]

    def anonymous(self) -> requests.Session:
        """A browser that is not logged in, with its CSRF token (so a POST gets to the permission check)."""
        s = requests.Session()
        s.get(self.url + "/", timeout=10).raise_for_status()
        self._sync_csrf(s)
        return s

    @staticmethod
    def _sync_csrf(s: requests.Session) -> None:
        for cookie in s.cookies:
            if cookie.name.startswith("csrf_token"):
                s.headers["X-CSRF-Token"] = cookie.value

    def printer_command(self, *commands: str, user: str = "admin") -> None:
        """Send G-code through OctoPrint's printer API, as the terminal does."""
        r = self.session(user).post(self.url + "/api/printer/command", json={"commands": list(commands)},
                                    timeout=10)
        if r.status_code != 204:
            raise RuntimeError(f"printer command failed: HTTP {r.status_code} {r.text[:200]}")

    def print_gcode(self, name: str, text: str, user: str = "admin") -> None:
        """Upload ``text`` as ``name`` to OctoPrint's local storage, select and print it."""
        r = self.session(user).post(self.url + "/api/files/local", files={"file": (name, text.encode())},
                                    data={"select": "true", "print": "true"}, timeout=20)
        if r.status_code != 201:
            raise RuntimeError(f"upload of {name} failed: HTTP {r.status_code} {r.text[:200]}")

    def job(self, user: str = "admin") -> Dict[str, Any]:
        r = self.session(user).get(self.url + "/api/job", timeout=10)
        r.raise_for_status()
        return r.json()

    def wait_for_state(self, predicate, timeout: float = 30.0, what: str = "printer state") -> str:
        """Poll the printer state until ``predicate(state)``; returns the state."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.printer_state()
            if predicate(state):
                return state
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: still {state!r} after {timeout} s\n{self.log_tail(40)}")
            time.sleep(0.1)

    def plugin_settings(self, plugin: str, user: str = "admin") -> Dict[str, Any]:
        r = self.session(user).get(self.url + "/api/settings", timeout=10)
        r.raise_for_status()
        return r.json().get("plugins", {}).get(plugin, {})


#: Boots OctoPrint's settings and plugin system the way ``octoprint serve`` does (see
#: ``Server._setup_plugin_manager``), minus the HTTP server and the printer, then runs a script.
_BOOTSTRAP = r"""
import json, os, sys
basedir, script_path = sys.argv[1], sys.argv[2]
from octoprint import (init_platform, init_custom_events, init_webcam_compat_overlay,
                       init_settings_plugin_config_migration_and_cleanup,
                       octoprint_plugin_inject_factory, settings_plugin_inject_factory)
(settings, logger, safe_mode, event_manager, connectivity_checker, plugin_manager,
 environment_detector) = init_platform(basedir, os.path.join(basedir, "config.yaml"))
components = {"plugin_manager": plugin_manager, "event_bus": event_manager,
              "connectivity_checker": connectivity_checker,
              "environment_detector": environment_detector}
init_custom_events(plugin_manager)
plugin_manager.implementation_inject_factories = [
    octoprint_plugin_inject_factory(settings, components),
    settings_plugin_inject_factory(settings),
]
plugin_manager.initialize_implementations()
init_settings_plugin_config_migration_and_cleanup(plugin_manager)
init_webcam_compat_overlay(settings, plugin_manager)
namespace = {"settings": settings, "plugin_manager": plugin_manager, "__name__": "__script__"}
with open(script_path) as f:
    code = compile(f.read(), script_path, "exec")
exec(code, namespace)
sys.stdout.write("\nPIFOCUS-RESULT " + json.dumps(namespace.get("result")) + "\n")
sys.stdout.flush()
os._exit(0)  # plugin threads (file watchers, timers) must not keep the process alive
"""


def bundled_plugins() -> List[str]:
    """Identifiers of the plugins bundled with the installed OctoPrint."""
    import octoprint.plugins

    folder = Path(octoprint.plugins.__file__).parent
    return sorted(p.name for p in folder.iterdir()
                  if p.is_dir() and (p / "__init__.py").exists())


def run_in_octoprint(script: str, extra_config: Optional[Dict[str, Any]] = None,
                     plugins: Sequence[str] = ("classicwebcam",), timeout: float = 120.0) -> Any:
    """Run ``script`` inside OctoPrint's real settings and plugin system, in a fresh process.

    For code that only works in OctoPrint's process (e.g. ``octoprint.webcams``): the script
    sees ``settings`` and ``plugin_manager`` and sets ``result`` (JSON-able), which is
    returned. Only PiFocus and the bundled ``plugins`` named are enabled, so the other bundled
    plugins need no printer or file manager. A failure raises with the output and the log.
    """
    enabled = set(plugins)
    config = deep_merge(extra_config or {}, {
        "plugins": {"_disabled": [p for p in bundled_plugins() if p not in enabled]}})
    server = OctoPrintServer(extra_config=config, users=DEFAULT_USERS)
    try:
        server.prepare()
        script_path = server.basedir / "script.py"
        script_path.write_text(script)
        proc = subprocess.run(
            [sys.executable, "-c", _BOOTSTRAP, str(server.basedir), str(script_path)],
            capture_output=True, text=True, timeout=timeout, env=server.environment(),
        )
        marker = "PIFOCUS-RESULT "
        lines = [line for line in proc.stdout.splitlines() if line.startswith(marker)]
        if proc.returncode != 0 or not lines:
            raise RuntimeError(
                f"script in OctoPrint's plugin system failed (exit {proc.returncode}):\n"
                f"{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}\n{server.log_tail(40)}")
        return json.loads(lines[-1][len(marker):])
    finally:
        server.cleanup()


def api(server: OctoPrintServer, user: Optional[str] = "admin") -> requests.Session:
    """A requests session on ``server`` with ``user``'s API key (None: anonymous)."""
    return server.session(user)
