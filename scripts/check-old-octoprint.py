"""PiFocus on an OctoPrint older than 1.9: not loaded, one log line, no traceback.

``make test-old-octoprint`` (and ``.ci/run``) runs this with a Python that OctoPrint 1.8.7
installs on (3.9). It builds ``.venv-octoprint-1.8`` once (OctoPrint 1.8.7 and this checkout,
without PiFocus's own dependencies: the version check runs before anything imports them),
starts ``octoprint serve`` on 127.0.0.1 in a fresh base folder, and reads its log.

Why a script and not part of ``make test``: it needs a second, older OctoPrint in a venv of
its own, and a Python old enough for it, which not every development machine has.
Prints pytest's kind of closing line and exits non-zero on failure.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv-octoprint-1.8"
OLD_OCTOPRINT = "1.8.7"
EXPECTED = f"PiFocus needs OctoPrint 1.9 or newer, this is OctoPrint {OLD_OCTOPRINT}"


def build_venv() -> Path:
    python = VENV / "bin" / "python"
    stamp = VENV / f".octoprint-{OLD_OCTOPRINT}"
    if not stamp.exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
        pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        subprocess.run(pip + [f"OctoPrint=={OLD_OCTOPRINT}"], check=True)
        stamp.touch()
    # This checkout as it is now, every time (not editable: like a Plugin Manager install).
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps",
                    "--force-reinstall", str(ROOT)], check=True)
    return python


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    python = build_venv()
    with tempfile.TemporaryDirectory(prefix="pifocus-octoprint-1.8-") as basedir:
        log = Path(basedir) / "logs" / "octoprint.log"
        env = dict(os.environ, HTTP_PROXY="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9")
        server = subprocess.Popen([str(python), "-m", "octoprint", "serve", "--basedir", basedir, "--host",
                                   "127.0.0.1", "--port", str(free_port())],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        text = ""
        try:
            # OctoPrint decides on every plugin before it starts its server; a few seconds more
            # show whether anything of PiFocus ran after all.
            deadline, settled = time.monotonic() + 120, None
            while time.monotonic() < deadline and (settled is None or time.monotonic() < settled):
                time.sleep(0.5)
                text = log.read_text(errors="replace") if log.exists() else ""
                if settled is None and "did not pass check" in text:
                    settled = time.monotonic() + 5
        finally:
            server.terminate()
            server.wait(30)
    lines = [line for line in text.splitlines() if "pifocus" in line.lower()]
    failures = []
    if "Starting OctoPrint 1.8.7" not in text:
        failures.append("OctoPrint 1.8.7 did not start")
    if sum(EXPECTED in line for line in lines) != 1:
        failures.append(f"expected exactly one log line with {EXPECTED!r}")
    if not any("did not pass check, not loading" in line for line in lines):
        failures.append("OctoPrint should say PiFocus did not pass its check")
    if "Traceback" in text:
        failures.append("the log has a traceback")
    print("\n".join(lines))
    for failure in failures:
        print("FAILED:", failure)
    print(f"{0 if failures else 1} passed, {1 if failures else 0} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
