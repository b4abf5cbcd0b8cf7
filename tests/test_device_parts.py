"""The parts of a focus device (plugin/device/), each with real objects and no OctoPrint server.

The lens is PiFocus's simulated VCM (plugin/simulation.py), its camera a real HTTP camera on
127.0.0.1 that serves the simulation's frames, the registry the real one. Printer Z is
OctoPrint's own virtual printer behind a G-code port (tests/fakes/gcode_printer.py).
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Dict, List, Tuple

import pytest

from octoprint_pifocus.errors import CameraError
from octoprint_pifocus.plugin import settings as settings_rules
from octoprint_pifocus.plugin.device import PERSIST_DELAY, Busy, FocusDevice, Unavailable
from octoprint_pifocus.plugin.device.camera_slot import CameraSlot
from octoprint_pifocus.plugin.device.memory import DeviceMemory
from octoprint_pifocus.plugin.devices import DeviceRegistry, UnknownDevice
from octoprint_pifocus.plugin.simulation import Simulation, SimulationSettings
from fakes.gcode_printer import homed_port
from servers.camera_server import CameraServer

LOG = logging.getLogger("test.device_parts")


def flat(**device: Any) -> Dict[str, Any]:
    """One device's checked flat settings, as the registry gives them to a device."""
    entry = dict({"id": "camera", "name": "Camera"}, **device)
    return settings_rules.flat(settings_rules.check({"devices": [entry]}))


def reconfigured(config: Dict[str, Any], **change: Any) -> Dict[str, Any]:
    device = settings_rules.merge({k: v for k, v in config.items() if k != "simulation"}, change)
    return settings_rules.flat(settings_rules.check({"devices": [device], "simulation": config["simulation"]}))


class Persisted:
    """What a device writes to the settings, as the plugin's ``persist`` receives it."""

    def __init__(self) -> None:
        self.writes: List[Tuple[str, Any]] = []
        self.written = threading.Event()

    def __call__(self, key: str, value: Any) -> None:
        self.writes.append((key, value))
        self.written.set()

    def last(self, key: str) -> Any:
        return [value for k, value in self.writes if k == key][-1]


@pytest.fixture()
def simulation():
    return Simulation(SimulationSettings(focus=300.0, start=700.0, noise=1.0), seed=1)


@pytest.fixture()
def camera(simulation):
    with CameraServer(simulation.frame, fps=20) as server:
        yield server


def make_device(simulation, persisted=None, **settings: Any) -> Tuple[FocusDevice, List[Dict[str, Any]]]:
    published: List[Dict[str, Any]] = []
    config = flat(**dict({"driver": "simulated"}, **settings))
    device = FocusDevice(config, port=None, simulation=lambda: simulation, simulation_problem=lambda: "off",
                         webcams=lambda: None, publish=published.append, fire=lambda *a: None,
                         persist=persisted or Persisted(), logger=LOG)
    return device, published


# ~~ memory


def test_presets_and_last_positions_are_kept_per_driver_across_a_driver_switch(simulation):
    persisted = Persisted()
    device, _ = make_device(simulation, persisted)
    device.move(420)
    device.preset_save("bed")
    assert device.presets() == [{"name": "bed", "position": 420}]

    device.configure(reconfigured(device.config, driver="printer-z"))
    assert device.presets() == []  # another driver, other units: not its presets
    with pytest.raises(ValueError, match="no preset called 'bed' for the printer Z"):
        device.preset_apply("bed")
    assert device.last_position() is None

    device.configure(reconfigured(device.config, driver="simulated"))
    assert device.presets() == [{"name": "bed", "position": 420}]
    assert device.last_position() == 420
    device.move(100)
    assert device.preset_apply("bed")["position"] == 420
    # Written to the settings with their driver, so they survive a restart too.
    assert persisted.last("presets") == [{"name": "bed", "position": 420, "driver": "simulated"}]
    again = DeviceMemory({"presets": persisted.last("presets")}, Persisted())
    assert again.presets("simulated") == [{"name": "bed", "position": 420}] and again.presets("i2c") == []


def test_a_burst_of_moves_is_one_settings_write_of_the_last_position(simulation):
    persisted = Persisted()
    device, _ = make_device(simulation, persisted)
    for position in (200, 210, 220):
        device.move(position)
    assert [k for k, _ in persisted.writes] == []  # not yet: the moves may go on
    assert persisted.written.wait(PERSIST_DELAY + 5)
    time.sleep(0.3)
    assert persisted.writes == [("last_position", {"simulated": 220})]
    device.move(230)
    device.flush()  # now, as shutdown does
    assert persisted.writes[-1] == ("last_position", {"simulated": 230})


def test_the_presets_of_a_driver_are_limited_and_a_same_name_replaces():
    persisted = Persisted()
    memory = DeviceMemory({}, persisted)
    memory.save_preset("i2c", "bed", 100)
    memory.save_preset("i2c", "BED", 200)  # names without case: replaced, not added
    assert memory.presets("i2c") == [{"name": "BED", "position": 200}]
    for index in range(settings_rules.PRESETS_MAX - 1):
        memory.save_preset("i2c", f"p{index}", index)
    memory.save_preset("v4l2", "bed", 5)  # another driver has its own room
    with pytest.raises(ValueError, match="At most"):
        memory.save_preset("i2c", "one more", 1)
    assert len(memory.presets("i2c")) == settings_rules.PRESETS_MAX
    memory.delete_preset(memory.find_preset("i2c", "bed"))
    assert "BED" not in [p["name"] for p in persisted.last("presets")]
    assert memory.presets("v4l2") == [{"name": "bed", "position": 5}]


# ~~ jobs


def test_a_second_job_is_refused_with_busy_while_an_autofocus_runs(simulation, camera):
    device, published = make_device(simulation, camera={"url": camera.snapshot_url, "settle": 0.2})
    device.move(700)
    device.start_autofocus()
    job = device.job
    assert job is not None and job.kind == "autofocus" and device.status()["activity"] == "autofocus"
    with pytest.raises(Busy, match="an autofocus is running"):
        device.start_autofocus()
    with pytest.raises(Busy, match="an autofocus is running"):
        device.move(500)
    with pytest.raises(Busy, match="not at a position worth saving"):
        device.preset_save("mid-search")
    assert device.restore("webcam restart") is None  # skipped, not queued behind the search
    assert job.done.wait(60) and not device.busy
    result = device.status()["last_result"]
    # Found, and far nearer the focus than the start (the HTTP camera's frames lag the lens a little).
    assert result["found"] is True and abs(result["position"] - simulation.camera.focus_position) <= 40
    # The run's curve is the one its progress pushes drew, and every push names the device.
    pushed = [m["sample"] for m in published if m["type"] == "progress"]
    assert pushed == device.status()["curve"]
    assert {m["device"] for m in published} == {"camera"}
    device.move(500)  # free again


def test_a_stopped_device_refuses_every_job_until_it_resumes(simulation):
    persisted = Persisted()
    device, _ = make_device(simulation, persisted)
    device.move(333)
    device.shutdown("PiFocus is disabled.")
    assert persisted.last("last_position") == {"simulated": 333}  # saved on the way out
    with pytest.raises(Unavailable, match="PiFocus is disabled."):
        device.move(400)
    assert device.status()["lens_ok"] is False and device.status()["lens_error"] == "PiFocus is disabled."
    device.resume()
    assert device.move(400)["position"] == 400


@pytest.fixture()
def printer(tmp_path):
    port = homed_port(str(tmp_path))
    yield port
    port.close()


def z_registry(printer) -> DeviceRegistry:
    def make(config, z_gate):
        return FocusDevice(config, port=printer, simulation=lambda: None, simulation_problem=lambda: "",
                           webcams=lambda: None, publish=lambda m: None, fire=lambda *a: None,
                           persist=Persisted(), logger=LOG, z_gate=z_gate)

    registry = DeviceRegistry(make, logger=LOG)
    registry.configure(settings_rules.check({"devices": [
        {"id": "nozzle", "name": "Nozzle", "driver": "printer-z"},
        {"id": "gantry", "name": "Gantry", "driver": "printer-z"},
        {"id": "camera", "name": "Camera", "driver": ""}]}))
    return registry


def test_printer_z_is_one_job_at_a_time_across_devices_and_the_refusal_names_the_holder(printer):
    registry = z_registry(printer)
    nozzle, gantry, camera = registry.find("nozzle"), registry.find("gantry"), registry.find("camera")
    job = nozzle.jobs.claim("move")
    assert registry.z_gate.holder is nozzle and job.z is True
    with pytest.raises(Busy, match=r"Printer Z is in use by the focus device 'Nozzle' \(nozzle\)"):
        gantry.move(5)
    assert "'Nozzle' (nozzle)" in gantry.z_blocked() and nozzle.z_blocked() is None
    assert not [line for line in printer.received if line.startswith("G1")]  # the refused move sent nothing
    # A device without printer Z does not take the gate: its job runs meanwhile.
    with camera.jobs.scope("test"):
        assert registry.z_gate.holder is nozzle
    # A held print's action waits for Z instead of failing.
    got = []
    waiter = threading.Thread(target=lambda: got.append(gantry.jobs.claim("gcode", wait=5.0)))
    waiter.start()
    time.sleep(0.3)
    assert not got
    nozzle.jobs.release(job)
    waiter.join(5)
    assert got and registry.z_gate.holder is gantry
    gantry.jobs.release(got[0])
    assert registry.z_gate.holder is None
    assert gantry.move(5)["position"] == 5.0 and printer.z() == 5.0


# ~~ lens slot


def test_printer_z_is_made_fresh_for_every_operation_and_hardware_is_not_opened_for_the_status(simulation, printer):
    device = FocusDevice(flat(driver="printer-z"), port=printer, simulation=lambda: simulation,
                         simulation_problem=lambda: "", webcams=lambda: None, publish=lambda m: None,
                         fire=lambda *a: None, persist=Persisted(), logger=LOG)
    assert device.lens() is not device.lens()  # fresh, asks the printer where Z is
    simulated, _ = make_device(simulation)
    assert simulated.lens() is simulated.lens() is simulation.lens
    i2c = FocusDevice(flat(driver="i2c", i2c={"bus": 97}), port=None, simulation=lambda: None,
                      simulation_problem=lambda: "", webcams=lambda: None, publish=lambda m: None,
                      fire=lambda *a: None, persist=Persisted(), logger=LOG)
    status = i2c.status()  # says it is opening, does not touch the bus
    assert status["lens_ok"] is False and status["lens_error"] == "Opening the lens..."
    with pytest.raises(Unavailable, match="i2c-97"):
        i2c.lens()
    assert "i2c-97" in i2c.status()["lens_error"]  # the error is kept for the status


def test_positions_outside_the_range_are_refused_and_inside_snapped(simulation):
    device, _ = make_device(simulation)
    lens = device.lens()
    assert device.lens_slot.check_range(lens, 400.4) == 400 and isinstance(device.lens_slot.check_range(lens, 400.0), int)
    with pytest.raises(ValueError, match="outside the lens range 0..1023 code; nothing was moved"):
        device.move(1500)
    assert simulation.lens.position == 700
    result = device.test()
    assert result["ok"] is True and "and back" in result["message"] and simulation.lens.position == 700


# ~~ camera slot


def test_the_camera_slot_reads_a_url_camera_and_says_when_it_is_gone(simulation):
    config = flat()
    with CameraServer(simulation.frame, fps=20) as server:
        config["camera"]["url"] = server.snapshot_url
        slot = CameraSlot(lambda: config, lambda: None, LOG)
        assert slot.snapshot()[:2] == b"\xff\xd8" and slot.alive() is True
    assert slot.alive() is False  # the server is gone
    config["camera"]["url"] = ""
    with pytest.raises(CameraError, match="webcams are not ready"):
        slot.snapshot()


def _autofocus(device) -> Dict[str, Any]:
    device.start_autofocus()
    job = device.job
    assert job is not None and job.done.wait(60)
    return device.status()["last_result"]


def _closed(server: CameraServer, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while server.open_connections and time.monotonic() < deadline:
        time.sleep(0.02)
    return server.open_connections == 0


def test_a_device_keeps_its_stream_open_and_the_next_autofocus_starts_on_frames_it_has(simulation, camera):
    """Two runs a moment apart: one connection, and the second run times the stream on frames
    received before it started (the first, on a new connection, has none). Stopping the device
    closes the stream."""
    device, _ = make_device(simulation, camera={"url": camera.stream_url, "mode": "stream", "keep_open": 30})
    try:
        first = _autofocus(device)
        time.sleep(0.6)  # the run ended with a move: the lens rests a settle and more
        second = _autofocus(device)
        assert first["found"] and second["found"], (first["message"], second["message"])
        assert (first["stale_checks"]["primed"], second["stale_checks"]["primed"]) == ("new", "kept")
        assert camera.connections == 1 and camera.open_connections == 1
    finally:
        device.shutdown()
    assert _closed(camera), "a stopped device left its stream open"


def test_keep_open_0_connects_for_every_run_and_a_camera_change_opens_a_new_stream(simulation, camera):
    device, _ = make_device(simulation, camera={"url": camera.stream_url, "mode": "stream", "keep_open": 0})
    try:
        _autofocus(device)
        assert _closed(camera), "keep_open 0 kept the stream open"
        device.configure(reconfigured(device.config, camera={"keep_open": 30}))
        _autofocus(device)
        assert camera.connections == 2 and camera.open_connections == 1
        device.configure(reconfigured(device.config, camera={"settle": 0.3}))
        assert _closed(camera), "the camera's settings changed: the idle stream must close"
        _autofocus(device)
        assert camera.connections == 3
    finally:
        device.shutdown()


def test_the_drift_watch_looks_through_one_stream_kept_open(simulation, camera):
    """A look every few seconds during a print: one connection for all of them, so a refocus
    at the layer change starts on frames it already has."""
    from octoprint_pifocus.plugin.drift_watch import DriftWatch

    device, _ = make_device(simulation, camera={"url": camera.stream_url, "mode": "stream", "keep_open": 30},
                            drift={"watch": "always"})
    watch = DriftWatch([device], None, None, publish=lambda m: None, fire=lambda *a: None, logger=LOG)
    try:
        verdicts = []
        for _ in range(3):
            verdicts.append(watch.poll(device))
            time.sleep(0.2)
        assert all(v is not None and v.score > 0 for v in verdicts), verdicts  # three frames scored
        assert camera.connections == 1 and camera.open_connections == 1
    finally:
        device.shutdown()


def test_warming_opens_the_stream_the_next_autofocus_starts_on(simulation, camera):
    """The sidebar's hint (the pointer on Autofocus): the stream opens now and the run that
    follows starts on frames it already has, through the same connection. A snapshot camera,
    or ``keep_open`` 0, opens nothing."""
    device, _ = make_device(simulation, camera={"url": camera.stream_url, "mode": "stream", "keep_open": 30})
    try:
        assert device.warm_camera() == {"warm": True}
        time.sleep(0.5)  # the user moves to the button and clicks
        result = _autofocus(device)
        assert result["found"] and result["stale_checks"]["primed"] == "kept"
        assert camera.connections == 1 and camera.open_connections == 1
    finally:
        device.shutdown()
    assert device.warm_camera() == {"warm": False}, "a stopped device opened its camera"
    for settings in ({"url": camera.snapshot_url, "mode": "snapshot"},
                     {"url": camera.stream_url, "mode": "stream", "keep_open": 0}):
        other, _ = make_device(simulation, camera=settings)
        assert other.warm_camera() == {"warm": False}
    assert camera.connections == 1


def test_a_snapshot_uses_a_warm_stream_but_never_opens_one_to_keep(simulation, camera):
    """The region editor's picture and the webcam watchdog's look: with no stream open they
    connect, take a frame and close; with one held open they take its next frame."""
    device, _ = make_device(simulation, camera={"url": camera.stream_url, "mode": "stream", "keep_open": 30})
    try:
        assert device.snapshot()[:2] == b"\xff\xd8"
        assert _closed(camera) and camera.connections == 1
        _autofocus(device)
        assert device.snapshot()[:2] == b"\xff\xd8"
        assert camera.connections == 2 and camera.open_connections == 1
    finally:
        device.shutdown()


def test_the_watchdogs_look_is_its_own_connection_so_a_camera_down_shows(simulation, camera):
    """The stream held open reconnects by itself and would wait through a restart: the
    webcam watchdog, there to notice one, asks on a connection of its own. A server that
    refuses new clients is down to it, while the held stream still delivers."""
    device, _ = make_device(simulation, camera={"url": camera.stream_url, "mode": "stream", "keep_open": 30})
    try:
        assert device.warm_camera() == {"warm": True}
        assert device.camera_alive() is True and camera.connections == 2
        camera.misbehave(status=503)
        assert device.camera_alive() is False
        assert device.snapshot()[:2] == b"\xff\xd8", "the held stream stopped delivering"
        camera.behave()
        assert device.camera_alive() is True
    finally:
        device.shutdown()


# ~~ the registry


def test_the_registry_keeps_known_devices_adds_and_removes_and_picks_a_status(simulation):
    made: List[FocusDevice] = []

    def make(config, z_gate):
        device = FocusDevice(config, port=None, simulation=lambda: simulation, simulation_problem=lambda: "",
                             webcams=lambda: None, publish=lambda m: None, fire=lambda *a: None,
                             persist=Persisted(), logger=LOG, z_gate=z_gate)
        made.append(device)
        return device

    registry = DeviceRegistry(make, logger=LOG)
    change = registry.configure(settings_rules.check({"devices": [{"id": "camera", "name": "Camera",
                                                                   "driver": "simulated"}]}))
    assert [d.id for d in change.added] == ["camera"] and change.removed == []
    first = registry.first
    change = registry.configure(settings_rules.check({"devices": [
        {"id": "camera", "name": "Renamed", "driver": "simulated"}, {"id": "scope", "name": "Scope"}]}))
    assert registry.first is first and first.name == "Renamed"  # kept, renamed
    assert [d.id for d in change.added] == ["scope"]
    body = registry.status(key="SCOPE")
    assert body["device"] == "scope" and [d["device"] for d in body["devices"]] == ["camera", "scope"]
    assert registry.status()["device"] == "camera"
    with pytest.raises(UnknownDevice, match="'Renamed' \\(camera\\), 'Scope' \\(scope\\)"):
        registry.status(key="periscope")
    scope = registry.find("scope")
    change = registry.configure(settings_rules.check({"devices": [{"id": "camera", "name": "Renamed",
                                                                   "driver": "simulated"}]}))
    assert change.removed == [scope] and scope.stopped and len(made) == 2


def test_the_status_says_when_libcamera_autofocus_is_held_in_manual(simulation):
    # camera-streamer (Camera Module 3) over a real HTTP server behaving like it.
    from fakes.camera_streamer_server import CameraStreamerServer

    server = CameraStreamerServer(form="new")
    try:
        device, _ = make_device(simulation, driver="camera-streamer",
                                camera_streamer={"url": server.url, "device": "CAMERA", "min": 0.0, "max": 12.0})
        assert device.status()["af_manual"] is False  # not yet: libcamera's own mode may hunt
        device.move(2.5)
        assert server.options["AfMode"] == "manual"
        assert device.status()["af_manual"] is True
    finally:
        server.stop()
    other, _ = make_device(simulation)
    assert other.status()["af_manual"] is None  # only camera-streamer has libcamera's autofocus


# ~~ the drift watch's refocus


def test_a_drift_refocus_refines_unless_the_device_follows_a_usable_map(simulation):
    from octoprint_pifocus.followfocus import CalibrationPoint, FocusMap
    from octoprint_pifocus.plugin.drift_watch import refocus_command

    points = [CalibrationPoint({"y": y}, lens, 1.0) for y, lens in ((0.0, 300.0), (100.0, 340.0), (200.0, 380.0))]
    stored = FocusMap.fit(points, ("y",), dof_width=30).to_dict()

    plain, _ = make_device(simulation)
    assert (refocus_command(plain).action, refocus_command(plain).refine) == ("autofocus", True)
    # A map that is not followed: still a refine (the user has not asked the map to lead).
    mapped, _ = make_device(simulation, focus_map=stored)
    assert refocus_command(mapped).action == "autofocus"
    following, _ = make_device(simulation, focus_map=stored, follow={"enabled": True})
    command = refocus_command(following)
    assert (command.action, command.device) == ("map", following.id)
