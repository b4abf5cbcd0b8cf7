"""Every lens driver notes when its last move completed (``moved_at``).

An autofocus on a stream takes frames it already has only from a settle after that time
(``focus.pipeline.autofocus_fresh``): a driver that set it too early, or not at all, would
let a run score the picture from before the lens moved. Each driver is checked against its
own fake at the lowest layer (bus bytes, ioctl node, HTTP server, OctoPrint's virtual printer):
the time is set once the hardware has the value, and a move refused or failed leaves it.
"""
from __future__ import annotations

import time

import pytest
from fakes.camera_streamer_server import CameraStreamerServer
from fakes.fake_smbus import DW9714Model, FakeI2C
from fakes.fake_v4l2 import FakeNode, FakeV4L2
from fakes.gcode_printer import homed_port

from octoprint_pifocus.errors import LensError, MoveRefused
from octoprint_pifocus.lenses import CameraStreamerLens, I2CVCMLens, PrinterZLens, V4L2Lens


class TimedDW9714(DW9714Model):
    """A DW9714 that notes when each position reached it."""

    def reset(self) -> None:
        super().reset()
        self.written_at = []

    def write(self, data: bytes) -> None:
        super().write(data)
        self.written_at.append(time.monotonic())


def test_i2c_notes_the_move_after_the_chip_took_the_bytes(tmp_path):
    world = FakeI2C(dev_dir=str(tmp_path))
    chip = TimedDW9714()
    world.add_bus(10, {0x0C: chip})
    lens = I2CVCMLens(bus=10, chip="dw9714", bus_factory=world.factory, dev_dir=world.dev_dir,
                      sleep=lambda seconds: None)
    assert lens.moved_at is None                  # opening reads the position, moves nothing
    lens.move_to(300)
    assert chip.writes()[-1] == b"\x12\xC0"
    assert lens.moved_at >= chip.written_at[-1]
    moved = lens.moved_at
    with pytest.raises(MoveRefused):
        lens.move_to(1024)
    chip.powered = False                          # the webcam stopped: the write fails
    with pytest.raises(LensError):
        lens.move_to(400)
    assert lens.moved_at == moved
    chip.powered = True
    assert lens.reapply() is True                 # a re-send moves the lens too
    assert chip.position == 300 and lens.moved_at >= chip.written_at[-1] > moved


def test_v4l2_notes_the_move_after_the_control_was_set(tmp_path):
    dev = tmp_path / "dev"
    dev.mkdir()
    v4l2 = FakeV4L2(str(dev))
    cam = v4l2.add("video0", FakeNode.uvc_c920())
    lens = V4L2Lens(**v4l2.options())
    assert lens.moved_at is None
    before = time.monotonic()
    lens.move_to(120)
    assert cam.lens == 120 and before <= lens.moved_at <= time.monotonic()
    moved = lens.moved_at
    with pytest.raises(MoveRefused):
        lens.move_to(251)
    assert lens.moved_at == moved and cam.lens == 120
    lens.reapply()
    assert lens.moved_at > moved


def test_camera_streamer_notes_the_move_after_the_server_took_it():
    server = CameraStreamerServer(form="new")
    failing = CameraStreamerServer(fail=True)
    try:
        lens = CameraStreamerLens(url=server.url, limits=(0.0, 10.0))
        assert lens.moved_at is None
        before = time.monotonic()
        lens.move_to(2.5)
        assert server.options["LensPosition"] == "2.5"
        assert before <= lens.moved_at <= time.monotonic()
        moved = lens.moved_at
        with pytest.raises(MoveRefused):
            lens.move_to(10.5)
        assert lens.moved_at == moved
        refused = CameraStreamerLens(url=failing.url)
        with pytest.raises(LensError):
            refused.move_to(1.0)                  # the server answers 500
        assert refused.moved_at is None
    finally:
        server.stop()
        failing.stop()


def test_printer_z_notes_the_move_when_the_printer_finished_it(tmp_path):
    port = homed_port(str(tmp_path))
    try:
        made = time.monotonic()
        lens = PrinterZLens(port, window=(0.0, 10.0), feedrate=60)
        # Made per operation, and the printer moves Z on its own: it may just have moved.
        assert lens.moved_at >= made
        lens.move_to(2.0)
        started = time.monotonic()
        lens.move_to(4.0)                         # 2 mm at 60 mm/min: 0.2 s on the virtual printer
        assert port.z() == 4.0
        assert lens.moved_at - started >= 0.18    # when it ended, not when it was sent
        moved = lens.moved_at
        with pytest.raises(MoveRefused):
            lens.move_to(10.5)
        assert lens.moved_at == moved
    finally:
        port.close()
