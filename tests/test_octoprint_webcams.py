"""OctoPrint's webcams as frame sources, and PiFocus's simulated webcam, in real OctoPrint 1.11.

- The adapter (``octoprint_pifocus.plugin.webcams``) only works inside OctoPrint's process, so
  it is run inside OctoPrint's real settings and plugin system (``run_in_octoprint``) with the
  bundled Classic Webcam pointed at a camera served by this test on 127.0.0.1.
- The simulated webcam is checked in the running test server (``octoprint_server``) through
  OctoPrint's own endpoints (settings, ``/downloads/camera/current``) and PiFocus's routes.
"""
from __future__ import annotations

import hashlib
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Dict, List

import cv2
import numpy as np
import pytest

from octoprint_pifocus.focus import measure_sharpness
from octoprint_pifocus.plugin.simulation import Simulation, SimulationSettings
from octoprint_server import demo_config, free_port, run_in_octoprint

SIMCAM = "pifocus_simulated"


def jpeg(value: int) -> bytes:
    """A small distinct JPEG per ``value``: which snapshot came back is visible in its bytes."""
    image = np.full((48, 64, 3), value % 256, np.uint8)
    cv2.putText(image, str(value), (4, 36), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (255, 255, 255), 2)
    return cv2.imencode(".jpg", image)[1].tobytes()


class FakeCamera:
    """A camera service on 127.0.0.1 (mjpg-streamer's snapshot URL and its failure modes)."""

    def __init__(self) -> None:
        self.requests: List[str] = []
        self.served: List[bytes] = []
        self.stopping = threading.Event()
        camera = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                camera.requests.append(self.path)
                if self.path.startswith("/snapshot"):
                    body = jpeg(len(camera.served) * 40 + 1)
                    camera.served.append(body)
                    return self._send(200, "image/jpeg", body)
                if self.path.startswith("/login"):
                    return self._send(200, "text/html", b"<!DOCTYPE html><html><body>Login</body></html>")
                if self.path.startswith("/empty"):
                    return self._send(200, "image/jpeg", b"")
                if self.path.startswith("/slow"):
                    time.sleep(3)
                    return self._send(200, "image/jpeg", jpeg(7))
                if self.path.startswith("/stream"):  # mjpg-streamer's ?action=stream
                    self.send_response(200)
                    self.send_header("Content-Type", "multipart/x-mixed-replace;boundary=boundarydonotcross")
                    self.end_headers()
                    return self._forever(lambda i: b"--boundarydonotcross\r\nContent-Type: image/jpeg\r\n\r\n"
                                         + jpeg(i) + b"\r\n", 0.1)
                if self.path.startswith("/trickle"):  # a JPEG that never ends
                    self.send_response(200)
                    self.send_header("Content-Type", "image/jpeg")
                    self.end_headers()
                    return self._forever(lambda i: b"\xff\xd8" if i == 0 else b"\0" * 64, 0.1)
                if self.path.startswith("/broken"):
                    return self._send(500, "text/plain", b"camera pipeline crashed")
                return self._send(404, "text/plain", b"not found")

            def _forever(self, part, interval):
                i = 0
                try:
                    while not camera.stopping.is_set():
                        self.wfile.write(part(i))
                        self.wfile.flush()
                        i += 1
                        time.sleep(interval)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _send(self, status, ctype, body):
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "FakeCamera":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()


ADAPTER_SCRIPT = """
import hashlib, time
import cv2, numpy as np
from octoprint_pifocus.errors import CameraError
from octoprint_pifocus.plugin import webcams

CAMERA = {camera!r}
DEAD = {dead!r}
classic = plugin_manager.get_plugin_info("classicwebcam").implementation

def set_snapshot(url, timeout=1):
    classic._settings.set(["snapshot"], url)
    classic._settings.set_int(["snapshotTimeout"], timeout)

def error_of(call):
    try:
        call()
    except CameraError as exc:
        return str(exc)
    return None

def digest(data):
    return hashlib.sha256(data).hexdigest()

result = {{}}
result["webcams"] = [w.to_dict() for w in webcams.list_webcams()]
result["default"] = webcams.find_webcam(None).config.name

source = webcams.OctoPrintWebcamSource(None, settle=0.3, discard=2)
started = time.monotonic()
frame = source.capture()
result["capture"] = {{"seconds": time.monotonic() - started, "digest": digest(frame),
                     "snapshots": source.snapshots}}

sim = webcams.OctoPrintWebcamSource("pifocus_simulated").capture()
image = cv2.imdecode(np.frombuffer(sim, np.uint8), cv2.IMREAD_COLOR)
result["simulated_shape"] = list(image.shape)

adapter = webcams.OctoPrintWebcams(5000, host="0.0.0.0")
result["stream_local"] = adapter.stream_url("classic")
result["stream_request"] = adapter.stream_url("classic", request_base="http://octopi.local/")
result["stream_sim_proxied"] = adapter.stream_url("pifocus_simulated",
                                                  request_base="https://example.net/octoprint/")

errors = {{}}
errors["unknown"] = error_of(lambda: webcams.find_webcam("nope"))
set_snapshot(DEAD)
errors["refused"] = error_of(webcams.OctoPrintWebcamSource("classic").capture)
set_snapshot(CAMERA + "/login")
errors["html"] = error_of(webcams.OctoPrintWebcamSource("classic").capture)
set_snapshot(CAMERA + "/empty")
errors["empty"] = error_of(webcams.OctoPrintWebcamSource("classic").capture)
set_snapshot(CAMERA + "/missing")
errors["404"] = error_of(webcams.OctoPrintWebcamSource("classic").capture)
set_snapshot(CAMERA + "/broken")
errors["500"] = error_of(webcams.OctoPrintWebcamSource("classic").capture)
set_snapshot(CAMERA + "/stream")
errors["stream_as_snapshot"] = error_of(webcams.OctoPrintWebcamSource("classic").capture)
set_snapshot(CAMERA + "/trickle", timeout=1)
started = time.monotonic()
errors["trickle"] = error_of(webcams.OctoPrintWebcamSource("classic").capture)
errors["trickle_seconds"] = time.monotonic() - started
set_snapshot(CAMERA + "/slow", timeout=1)
started = time.monotonic()
errors["slow"] = error_of(webcams.OctoPrintWebcamSource("classic").capture)
errors["slow_seconds"] = time.monotonic() - started
set_snapshot("")
errors["no_snapshot_url"] = error_of(webcams.OctoPrintWebcamSource("classic").capture)
result["errors"] = errors
result["fallback"] = webcams.find_webcam(None).config.name

# What a device's camera slot opens for the classic webcam, by camera mode.
import logging
from octoprint_pifocus.plugin.device.camera_slot import CameraSlot
set_snapshot(CAMERA + "/snapshot")
chosen = {{}}
for stream, mode in ((CAMERA + "/stream", "auto"), (CAMERA + "/stream", "snapshot"), (DEAD, "auto")):
    classic._settings.set(["stream"], stream)
    config = {{"camera": {{"webcam": "classic", "url": "", "mode": mode, "settle": 0.0, "discard": 0,
                          "keep_open": 30}}}}
    slot = CameraSlot(lambda: config, lambda: adapter, logging.getLogger("pifocus.test"))
    camera = slot.open(warm=True)
    try:
        frame = camera.capture()
    finally:
        camera.close()
        slot.close()
    chosen[mode + (" with a stream" if stream != DEAD else ", no stream answering")] = [
        type(camera).__name__, frame[:2] == b"\\xff\\xd8"]
result["chosen"] = chosen
"""


@pytest.fixture(scope="module")
def adapter_run():
    """The adapter run once inside OctoPrint's plugin system, against a camera on 127.0.0.1."""
    with FakeCamera() as camera:
        dead = f"http://127.0.0.1:{free_port()}/snapshot"
        config = demo_config()
        config["webcam"] = {"snapshotWebcam": "classic", "defaultWebcam": "classic"}
        config["plugins"]["classicwebcam"] = {
            "_config_version": 1,  # else its migration replaces these from the old webcam.*
            "snapshot": camera.url + "/snapshot", "stream": "/webcam/?action=stream",
            "snapshotTimeout": 2,
        }
        result = run_in_octoprint(ADAPTER_SCRIPT.format(camera=camera.url, dead=dead),
                                  extra_config=config, plugins=("classicwebcam",))
        result["served"] = [hashlib.sha256(b).hexdigest() for b in camera.served]
        result["requests"] = list(camera.requests)
    return result


# ~~ the OctoPrint webcam adapter, in OctoPrint's process


def test_adapter_lists_octoprints_webcams(adapter_run):
    by_name = {w["name"]: w for w in adapter_run["webcams"]}
    assert by_name["classic"]["provider"] == "classicwebcam"
    assert by_name["classic"]["can_snapshot"] is True
    assert by_name["classic"]["stream"] == "/webcam/?action=stream"
    assert by_name[SIMCAM]["provider"] == "pifocus"
    assert by_name[SIMCAM]["can_snapshot"] is True


def test_adapter_takes_a_fresh_frame_from_the_snapshot_webcam(adapter_run):
    assert adapter_run["default"] == "classic"  # webcam.snapshotWebcam
    capture = adapter_run["capture"]
    # settle, then two snapshots discarded: the frame is the camera's third answer.
    assert capture["snapshots"] == 3
    assert adapter_run["served"][:3] and capture["digest"] == adapter_run["served"][2]
    assert adapter_run["requests"][:3] == ["/snapshot"] * 3
    assert capture["seconds"] >= 0.3


def test_adapter_falls_back_to_a_webcam_that_can_take_snapshots(adapter_run):
    # webcam.snapshotWebcam is "classic", but classic has lost its snapshot URL.
    assert adapter_run["fallback"] == SIMCAM


def test_adapter_takes_frames_from_the_simulated_webcam_provider(adapter_run):
    assert adapter_run["simulated_shape"] == [540, 960, 3]


def test_camera_mode_auto_takes_the_webcams_stream_where_one_answers(adapter_run):
    """The default camera mode: the webcam's MJPEG stream (kept open by the device) when it
    answers, its snapshots when it does not; "snapshot" never looks for the stream."""
    assert adapter_run["chosen"] == {
        "auto with a stream": ["StreamLease", True],
        "snapshot with a stream": ["OctoPrintWebcamSource", True],
        "auto, no stream answering": ["OctoPrintWebcamSource", True],
    }


def test_stream_urls_resolve_like_the_browser(adapter_run):
    # No request at hand: OctoPrint's own port on 127.0.0.1 (it listened on 0.0.0.0).
    assert adapter_run["stream_local"] == "http://127.0.0.1:5000/webcam/?action=stream"
    # With the browser-facing base of a request, as the browser resolves it.
    assert adapter_run["stream_request"] == "http://octopi.local/webcam/?action=stream"
    assert adapter_run["stream_sim_proxied"] == \
        "https://example.net/octoprint/plugin/pifocus/simcam/stream"


@pytest.mark.parametrize("case, words", [
    ("unknown", ["'nope'", "classic", SIMCAM]),
    ("refused", ["'Classic Webcam' (classic, from plugin classicwebcam)", "connection failed",
                 "snapshot URL"]),
    ("html", ["classic", "not a JPEG", "<!DOCTYPE html>", "login"]),
    ("empty", ["classic", "empty snapshot"]),
    ("404", ["classic", "HTTP 404", "snapshot URL"]),
    ("500", ["classic", "HTTP 500"]),
    ("slow", ["classic", "timed out"]),
    ("stream_as_snapshot", ["classic", "not a JPEG", "--boundarydonotcross", "MJPEG stream",
                            "?action=snapshot"]),
    ("trickle", ["classic", "timed out", "no complete snapshot"]),
    ("no_snapshot_url", ["classic", "cannot take snapshots"]),
])
def test_adapter_errors_name_the_webcam_and_what_to_check(adapter_run, case, words):
    message = adapter_run["errors"][case]
    assert message is not None, f"{case}: no CameraError"
    for word in words:
        assert word in message, f"{case}: {word!r} not in {message!r}"


def test_adapter_gives_up_on_a_slow_camera(adapter_run):
    # snapshotTimeout 1 s against a camera answering after 3 s: the provider's own timeout.
    assert adapter_run["errors"]["slow_seconds"] < 2.5
    # A snapshot that never ends: PiFocus's own deadline, snapshotTimeout + 2 s.
    assert 2.9 < adapter_run["errors"]["trickle_seconds"] < 4.5


# ~~ the simulated webcam in a running OctoPrint


def score(frame: bytes) -> float:
    return measure_sharpness(frame)


def move(server, position, user="admin"):
    session = server.session(user) if user else server.anonymous()
    return session.post(server.url + "/api/plugin/pifocus",
                                     json={"command": "move", "position": position}, timeout=10)


def octoprint_snapshot(server, user="user") -> bytes:
    """A frame through OctoPrint's own snapshot download (its snapshot webcam's provider)."""
    r = server.session(user).get(server.url + "/downloads/camera/current", timeout=20)
    assert r.status_code == 200, r.text[:200]
    assert r.headers["Content-Type"].startswith("image/jpeg")
    return r.content


def plugin_snapshot(server, user="user") -> bytes:
    r = server.session(user).get(server.url + "/plugin/pifocus/simcam/snapshot", timeout=20)
    assert r.status_code == 200, r.text[:200]
    assert r.headers["Content-Type"].startswith("image/jpeg")
    return r.content


def test_simulated_webcam_is_in_octoprints_webcam_list(octoprint_server):
    r = octoprint_server.session("user").get(octoprint_server.url + "/api/settings", timeout=10)
    webcam = r.json()["webcam"]
    cams = {w["name"]: w for w in webcam["webcams"]}
    assert cams[SIMCAM]["provider"] == "pifocus"
    assert cams[SIMCAM]["displayName"] == "PiFocus simulated camera"
    assert cams[SIMCAM]["canSnapshot"] is True
    assert cams[SIMCAM]["compat"]["stream"] == "plugin/pifocus/simcam/stream"
    assert cams[SIMCAM]["compat"]["snapshot"] == "plugin/pifocus/simcam/snapshot"
    assert webcam["snapshotWebcam"] == SIMCAM
    assert webcam["defaultWebcam"] == SIMCAM
    assert webcam["streamUrl"] == "plugin/pifocus/simcam/stream"


def test_snapshot_sharpness_follows_the_simulated_lens(octoprint_server):
    r = move(octoprint_server, 340)
    assert r.status_code == 200, r.text
    simulation = r.json()["simulation"]  # the status of PiFocus's API includes the simulation's
    focus = simulation["focus"]
    assert simulation["position"] == focus and simulation["blur_radius"] == 0
    sharp = [score(octoprint_snapshot(octoprint_server)), score(plugin_snapshot(octoprint_server))]
    assert move(octoprint_server, focus + 120).status_code == 200
    near = [score(octoprint_snapshot(octoprint_server)), score(plugin_snapshot(octoprint_server))]
    assert move(octoprint_server, 1000).status_code == 200
    far = [score(octoprint_snapshot(octoprint_server)), score(plugin_snapshot(octoprint_server))]
    for s, n, f in zip(sharp, near, far):
        assert s > 2 * n > 2 * f, (sharp, near, far)


def parts(response, count: int, timeout: float = 10.0) -> List[Dict]:
    """The first ``count`` parts of a multipart/x-mixed-replace response, parsed strictly."""
    boundary = response.headers["Content-Type"].split("boundary=")[1].encode()
    raw = response.raw
    found: List[Dict] = []
    deadline = time.monotonic() + timeout
    while len(found) < count:
        assert time.monotonic() < deadline, "stream too slow"
        line = raw.readline()
        if not line.strip():
            continue
        assert line.strip() == b"--" + boundary, line
        headers = {}
        while True:
            h = raw.readline().strip()
            if not h:
                break
            key, value = h.decode().split(":", 1)
            headers[key.strip().lower()] = value.strip()
        body = raw.read(int(headers["content-length"]))
        found.append({"headers": headers, "body": body, "at": time.monotonic()})
    return found


def test_mjpeg_stream_delivers_jpeg_frames_at_the_set_rate(octoprint_server):
    r = octoprint_server.session("user").get(
        octoprint_server.url + "/plugin/pifocus/simcam/stream", stream=True, timeout=10)
    try:
        assert r.status_code == 200
        assert r.headers["Content-Type"].startswith("multipart/x-mixed-replace")
        frames = parts(r, 8)
    finally:
        r.close()
    for part in frames:
        assert part["headers"]["content-type"] == "image/jpeg"
        image = cv2.imdecode(np.frombuffer(part["body"], np.uint8), cv2.IMREAD_COLOR)
        assert image.shape == (540, 960, 3)
    rate = (len(frames) - 1) / (frames[-1]["at"] - frames[0]["at"])
    assert 5 <= rate <= 15, rate  # 10 fps by default


def test_mjpeg_stream_follows_the_lens(octoprint_server):
    assert move(octoprint_server, 1000).status_code == 200
    session = octoprint_server.login("user")  # a browser's <img>: session cookie
    r = session.get(octoprint_server.url + "/plugin/pifocus/simcam/stream", stream=True, timeout=10)
    try:
        assert r.status_code == 200
        blurred = score(parts(r, 1)[0]["body"])
        focus = move(octoprint_server, 340).json()["simulation"]["focus"]
        assert focus == 340
        # A frame rendered after the move arrives within a few frames.
        best = max(score(p["body"]) for p in parts(r, 4))
    finally:
        r.close()
    assert best > 4 * blurred, (best, blurred)


@pytest.mark.parametrize("path", ["/plugin/pifocus/simcam/stream", "/plugin/pifocus/simcam/snapshot"])
@pytest.mark.parametrize("user", ["guest", None])
def test_simulated_camera_routes_need_the_webcam_permission(octoprint_server, path, user):
    r = octoprint_server.session(user).get(octoprint_server.url + path, stream=True, timeout=10)
    r.close()
    assert r.status_code == 403


@pytest.mark.parametrize("user, status", [("user", 200), ("guest", 403), (None, 403)])
def test_move_needs_the_control_permission(octoprint_server, user, status):
    # PLUGIN_PIFOCUS_CONTROL is granted to the "users" group by default (docs/plugin-contract.md).
    assert move(octoprint_server, 500, user=user).status_code == status


@pytest.mark.parametrize("position, words", [
    ("abc", ["number"]), (None, ["number"]), (True, ["number"]), ("nan", ["finite"]),
    (5000, ["outside", "0..1023"]), (-1, ["outside"]),
])
def test_move_rejects_bad_positions(octoprint_server, position, words):
    r = move(octoprint_server, position)
    assert r.status_code == 400, r.text
    for word in words:
        assert word in r.json()["error"]


def test_move_without_position_is_a_400(octoprint_server):
    r = octoprint_server.session("admin").post(octoprint_server.url + "/api/plugin/pifocus",
                                               json={"command": "move"}, timeout=10)
    assert r.status_code == 400


def test_control_tab_shows_the_simulated_camera(octoprint_server):
    page = octoprint_server.login("user").get(octoprint_server.url + "/", timeout=30).text
    assert 'id="webcam_plugin_pifocus"' in page
    assert 'src="plugin/pifocus/simcam/stream"' in page
    # First of the webcam tabs: the one the Control tab opens.
    links = [page.find('id="webcam_plugin_pifocus_link"'), page.find('id="webcam_plugin_classicwebcam_real_link"')]
    assert 0 < links[0] < links[1], links


def set_simulation(server, **values):
    """Change PiFocus's simulation settings through OctoPrint's settings API, as the UI does."""
    r = server.session("admin").post(server.url + "/api/settings",
                                     json={"plugins": {"pifocus": {"simulation": values}}}, timeout=10)
    assert r.status_code == 200, r.text


def test_simulated_webcam_is_offered_only_while_simulation_is_on(octoprint_server):
    admin = octoprint_server.session("admin")

    def webcam_names():
        r = admin.get(octoprint_server.url + "/api/settings", timeout=10)
        return [w["name"] for w in r.json()["webcam"]["webcams"]]

    set_simulation(octoprint_server, enabled=False)
    try:
        assert SIMCAM not in webcam_names()
        for path in ("/plugin/pifocus/simcam/stream", "/plugin/pifocus/simcam/snapshot"):
            r = admin.get(octoprint_server.url + path, timeout=10)
            assert r.status_code == 404, path
        assert move(octoprint_server, 400).status_code == 409
    finally:
        set_simulation(octoprint_server, enabled=True)
    assert SIMCAM in webcam_names()
    assert len(plugin_snapshot(octoprint_server)) > 1000


def test_printer_z_lens_defocuses_with_the_virtual_printers_z(octoprint_server):
    """simulation.lens printer_z: the microscope on the gantry, Z from the virtual printer."""
    admin = octoprint_server.session("admin")

    def gcode(*commands):
        r = admin.post(octoprint_server.url + "/api/printer/command",
                       json={"commands": list(commands)}, timeout=10)
        assert r.status_code == 204, r.text

    def settled_score(predicate, timeout=15.0):
        deadline = time.monotonic() + timeout
        while True:
            value = score(octoprint_snapshot(octoprint_server))
            if predicate(value) or time.monotonic() > deadline:
                return value
            time.sleep(0.2)

    settings = octoprint_server.plugin_settings("pifocus")["simulation"]
    assert move(octoprint_server, 340).status_code == 200
    reference = score(octoprint_snapshot(octoprint_server))  # the VCM in focus
    set_simulation(octoprint_server, lens="printer_z")
    try:
        assert move(octoprint_server, 400).status_code == 409  # Z moves with G-code only
        gcode("G90", f"G1 Z{settings['z_focus']} F6000")
        in_focus = settled_score(lambda v: v > 0.7 * reference)
        gcode(f"G1 Z{settings['z_focus'] + 4} F6000")
        out_of_focus = settled_score(lambda v: v < 0.3 * reference)
    finally:
        set_simulation(octoprint_server, lens="vcm")
    assert in_focus > 0.7 * reference
    assert out_of_focus < 0.3 * reference


# ~~ the simulation object, in plain Python


def test_simulation_renders_at_the_lens_position_and_caches_per_position():
    sim = Simulation(SimulationSettings(enabled=True, width=320, height=180, noise=0), seed=3)
    sim.move(sim.settings.focus)
    first = sim.frame()
    assert sim.frame() is first  # same position, within REFRESH: no second render
    sim.move(sim.settings.focus + 200)
    blurred = sim.frame()
    assert sim.renders == 2
    assert score(first) > 3 * score(blurred)


def test_simulation_follows_a_position_source():
    z = {"value": None}
    settings = SimulationSettings(enabled=True, lens="printer_z", width=320, height=180,
                                  z_focus=5.0, z_blur_rate=8.0, noise=0)
    sim = Simulation(settings, position_source=lambda: z["value"], seed=3)
    assert sim.position() == 0.0  # unknown Z before the first move
    z["value"] = 5.0
    sharp = sim.frame()
    assert sim.status()["blur_radius"] == 0 and sim.units == "mm"
    z["value"] = 9.0
    assert sim.blur_radius() == pytest.approx(32.0)
    blurred = sim.frame()
    z["value"] = None
    assert sim.position() == 9.0  # keeps the last known Z
    assert score(sharp) > 3 * score(blurred)


@pytest.mark.parametrize("data, words", [
    ({"lens": "zoom"}, ["simulation.lens", "vcm", "printer_z"]),
    ({"fps": "fast"}, ["simulation.fps"]),
    ({"fps": 0}, ["simulation.fps"]),
    ({"width": 10}, ["simulation.width", "160..3840"]),
    ({"focus": 2000}, ["0..1023"]),
    # Stored as .nan/.inf they broke /api/settings and rendered a black camera.
    ({"noise": "NaN"}, ["simulation.noise", "finite"]),
    ({"noise": float("inf")}, ["simulation.noise", "finite"]),
    ({"width": 1e400}, ["simulation.width", "finite"]),
    ({"blur_rate": 10 ** 400}, ["simulation.blur_rate", "finite"]),
    ({"height": 10 ** 400}, ["simulation.height", "far outside"]),
    ({"jpeg_quality": 80.5}, ["simulation.jpeg_quality", "whole number"]),
])
def test_simulation_settings_are_checked(data, words):
    with pytest.raises(ValueError) as err:
        SimulationSettings.from_dict(data)
    for word in words:
        assert word in str(err.value)


def test_printer_z_needs_a_position_source():
    with pytest.raises(ValueError, match="position source"):
        Simulation(SimulationSettings(lens="printer_z", width=160, height=90))

