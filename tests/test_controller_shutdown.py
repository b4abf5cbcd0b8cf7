"""Stopping PiFocus (disable, uninstall, OctoPrint's shutdown) in the middle of an autofocus.

The lens is an I2C voice coil on the recording fake bus (tests/fakes/fake_smbus.py, at the
smbus2 level), the camera a real HTTP camera on 127.0.0.1. Before the fix, ``shutdown``
closed the bus right after asking the search to stop, so the search's move back to its start
failed with "... was closed; open the lens again" and the lens stayed wherever it was.
"""
from __future__ import annotations

import logging
import time

import numpy as np
import pytest
from fakes.fake_smbus import DW9714Model, FakeI2C

from octoprint_pifocus.lenses import i2c_vcm
from octoprint_pifocus.plugin import settings as settings_rules
from octoprint_pifocus.plugin.device import PERSIST_DELAY, FocusDevice, Unavailable
from servers.camera_server import CameraServer
from servers.frames import encode_jpeg

BUS = 10
START = 300



@pytest.fixture()
def world(tmp_path):
    return FakeI2C(dev_dir=str(tmp_path))


@pytest.fixture()
def chip(monkeypatch, world):
    """A DW9714 on bus 10; smbus2's SMBus replaced by the fake bus (the hardware, nothing of ours)."""
    model = DW9714Model()
    world.add_bus(BUS, {0x0C: model})
    monkeypatch.setattr(i2c_vcm, "SMBus", lambda path, force=False: world.factory(int(str(path).rsplit("-", 1)[1]), force))
    return model


@pytest.fixture()
def camera():
    frame = encode_jpeg(np.random.default_rng(3).integers(0, 255, (120, 160), dtype=np.uint8))
    with CameraServer(lambda: frame, fps=10) as server:
        yield server


def _controller(camera, persisted):
    device = dict(settings_rules.defaults()["devices"][0], driver="i2c", i2c={"bus": BUS},
                  camera={"url": camera.snapshot_url, "settle": 0.3})
    config = settings_rules.flat(settings_rules.check({"devices": [device]}))
    published = []
    controller = FocusDevice(config, port=None, simulation=lambda: None, simulation_problem=lambda: "",
                                 webcams=lambda: None, publish=published.append, fire=lambda *a: None,
                                 persist=lambda key, value: persisted.append((key, dict(value))),
                                 logger=logging.getLogger("test.shutdown"))
    return controller, published


def _reconfigured(config, change):
    """A device's checked settings with ``change`` merged in, as a settings save gives them."""
    device = settings_rules.merge({k: v for k, v in config.items() if k != "simulation"}, change)
    return settings_rules.flat(settings_rules.check({"devices": [device], "simulation": config["simulation"]}))


def _wait(condition, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_shutdown_mid_autofocus_lets_the_search_return_before_closing_the_bus(chip, camera):
    persisted = []
    controller, published = _controller(camera, persisted)
    controller.move(START)
    assert chip.position == START
    controller.start_autofocus()
    assert _wait(lambda: sum(1 for m in published if m.get("type") == "progress") >= 3), "the search never ran"
    assert chip.position != START  # mid-run, away from the start

    controller.shutdown("PiFocus is disabled.")

    assert not controller.busy
    assert chip.position == START, "the lens must be back where the search started"
    result = controller.status()["last_result"]
    assert "cancel" in result["message"].lower(), result["message"]
    assert "closed" not in result["message"]
    # Saved once, with the start position; no timer left to write again later.
    assert persisted and persisted[-1][1]["i2c"] == START
    count = len(persisted)
    time.sleep(PERSIST_DELAY + 0.5)
    assert len(persisted) == count


def test_after_shutdown_nothing_reopens_the_lens(chip, world, camera):
    persisted = []
    controller, _published = _controller(camera, persisted)
    controller.move(START)
    controller.shutdown("PiFocus is disabled.")
    opened = len(world.opened)

    # A settings save while stopped (another chip): noted, but nothing opens the hardware.
    controller.configure(_reconfigured(controller.config, {"i2c": {"chip": "dw9807"}}))
    time.sleep(0.5)
    assert len(world.opened) == opened
    assert controller.config["i2c"]["chip"] == "dw9807"
    with pytest.raises(Unavailable, match="disabled"):
        controller.move(100)
    with pytest.raises(Unavailable, match="disabled"):
        controller.start_autofocus()
    assert chip.position == START

    # Enabled again: the saved settings apply (the DW9714 stands in for the DW9807 it was told about).
    controller.configure(_reconfigured(controller.config, {"i2c": {"chip": "dw9714"}}))
    controller.resume()
    controller.move(100)
    assert chip.position == 100 and len(world.opened) > opened


def test_a_job_outliving_the_shutdown_wait_saves_at_once_and_leaves_no_timer(chip, camera):
    """shutdown() waits only so long; a run ending after it saves its position directly."""
    persisted = []
    controller, published = _controller(camera, persisted)
    controller.move(START)
    controller.start_autofocus()
    assert _wait(lambda: sum(1 for m in published if m.get("type") == "progress") >= 3), "the search never ran"

    controller.shutdown("PiFocus is disabled.", wait=0.0)  # closes the bus under the running search
    assert _wait(lambda: not controller.busy), "the search did not end"
    result = controller.status()["last_result"]
    saved = len(persisted)
    assert persisted[-1][1]["i2c"] == result["position"], (persisted[-1], result)
    time.sleep(PERSIST_DELAY + 0.5)
    assert len(persisted) == saved, "a persist timer ran after the shutdown"
