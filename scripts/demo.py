"""``make demo``: OctoPrint with PiFocus on a simulated camera and printer, no hardware needed.

It sets up a fresh OctoPrint base folder (``.demo/`` in the checkout, or ``--basedir``) the
same way the test suite does (tests/octoprint_server.py), so what you try is what is tested:
first-run wizard done, a demo administrator with a fresh password, the virtual printer
connected (PiFocus's paced one, ``PIFOCUS_SIM``: it moves at the feed rate, and the
simulated webcams' sharp position follows its head), PiFocus driving its simulated lens and
serving its simulated webcam. Then it
runs the server on 127.0.0.1 in the foreground until Ctrl-C.

In the browser: the Control tab shows the simulated webcam, blurred; the PiFocus panel in
the sidebar has the Autofocus button. A second focus device, "microscope", focuses its own
simulated webcam (pifocus_simulated_microscope) with the virtual printer's Z (the
microscope-on-a-gantry case); both can autofocus at once (API with "device": "microscope").
"""
from __future__ import annotations

import argparse
import secrets
import shutil
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from octoprint_server import OctoPrintServer, ServerUser, demo_config  # noqa: E402

from octoprint_pifocus.demo import FOLLOW_DEMO  # noqa: E402
from octoprint_pifocus.plugin.sim_printer import PORT as PACED_PORT  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=5000, help="port on 127.0.0.1 (default 5000)")
    parser.add_argument("--basedir", default=str(ROOT / ".demo"),
                        help="OctoPrint base folder, recreated on every start (default .demo/)")
    parser.add_argument("--user", default="demo", help="name of the demo administrator")
    args = parser.parse_args()

    basedir = Path(args.basedir)
    if basedir.exists():
        shutil.rmtree(basedir)
    password = secrets.token_urlsafe(9)
    # Two focus devices: the simulated camera on its VCM, and a microscope on the printer's Z.
    # The simulated webcams are read as 30 fps streams, as a real webcam with an MJPEG stream
    # is: the autofocus measures their delay and waits only that (about 1 s, not 3 s).
    config = demo_config(microscope=True, hysteresis=4.0, noise=3.0, focus_field="both", stream=True, fps=30.0)
    config["plugins"]["pifocus"]["driver"] = "simulated"  # explicit: a fresh install has none (and its wizard)
    # PiFocus's paced virtual printer: moves at their feed rate, and the simulated cameras'
    # sharp position follows where its head really is (OctoPrint's VIRTUAL port stays there).
    config["serial"] = {"port": PACED_PORT}
    server = OctoPrintServer(extra_config=config,
                             users=(ServerUser(args.user, password, ("admins", "users")),),
                             basedir=basedir, keep_basedir=True)
    server.port, server.url = args.port, f"http://127.0.0.1:{args.port}"
    print(f"Starting OctoPrint with PiFocus in {basedir} ...", flush=True)
    server.start(timeout=120)
    # Home the virtual printer, so that switching the driver to printer Z works at once
    # (Z focus refuses a printer it has not seen homed).
    server.session(args.user).post(server.url + "/api/printer/printhead",
                                   json={"command": "home", "axes": ["x", "y", "z"]}, timeout=10)
    # The follow-focus demo print (Y travel, 20 layers; the simulated cameras' sharp position
    # follows the toolhead, simulation.focus_field "both"): calibrate a focus map, then print it.
    server.session(args.user).post(server.url + "/api/files/local",
                                   files={"file": (FOLLOW_DEMO.name, FOLLOW_DEMO.read_bytes())}, timeout=20)
    print(f"""
  PiFocus demo is running: {server.url}

    user:     {args.user}
    password: {password}

  The Control tab shows the simulated webcam (out of focus); click Autofocus in the PiFocus
  panel of the sidebar and watch the curve grow. Follow focus: calibrate a focus map
  (Settings > PiFocus), switch follow on and print {FOLLOW_DEMO.name} (uploaded): the webcam
  stays sharp while the bed travels; without the map it drifts. Logs: {server.log_path}
  Press Ctrl-C to stop.
""", flush=True)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *a: stopping.append(True))
    # Ctrl-C stops the demo even when it was started with SIGINT ignored (a shell without job
    # control starts background commands so, and Python then leaves it ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        while not stopping and server.process is not None and server.process.poll() is None:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    print("Stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
