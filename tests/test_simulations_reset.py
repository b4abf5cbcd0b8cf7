"""Rebuilding the devices' simulations after a settings save (plugin/simulations.py).

A save rebuilds every running simulation with its VCM where it was. A frame asked for while
the rebuild runs (a browser's stream, the drift watch) must get the rebuilt simulation, not
a fresh one with its VCM back at ``simulation.start``: in CI a browser test saw the first
device's lens jump from 341 to 700 after a save that did not touch it.
"""
from __future__ import annotations

import threading
from typing import List, Optional, Tuple

from octoprint_pifocus.plugin.simulation import SimulationSettings
from octoprint_pifocus.plugin.simulations import Simulations

SETTINGS = SimulationSettings(enabled=True, start=700.0, width=160, height=90)


def make(devices: List[Tuple[str, str]], on_devices=None) -> Simulations:
    def listed() -> List[Tuple[str, str]]:
        if on_devices is not None:
            on_devices()
        return list(devices)

    return Simulations(listed, lambda: SETTINGS, z_source=lambda: None)


def test_a_reset_keeps_each_vcm_where_it_was_and_applies_new_settings():
    simulations = make([("camera", ""), ("nozzle", "simulated")])
    simulations.get("camera").move(341)
    simulations.get("nozzle").move(123)
    before = simulations.get("camera")
    simulations.reset(True)
    after = simulations.get("camera")
    assert after is not before  # rebuilt from the settings
    assert (after.lens.position, simulations.get("nozzle").lens.position) == (341, 123)


def test_a_frame_asked_for_during_a_reset_gets_the_rebuilt_simulation_not_a_fresh_one():
    asked: List[Optional[float]] = []
    during = {"on": False}

    def ask_for_a_frame_meanwhile() -> None:
        # Called by the reset (it lists the devices): another thread asks for the camera's
        # simulation meanwhile, as a stream does.
        if not during["on"]:
            return
        during["on"] = False
        worker = threading.Thread(target=lambda: asked.append(simulations.get("camera").lens.position))
        worker.start()
        worker.join(0.5)  # at once, unless it waits for the reset's lock
        threads.append(worker)

    threads: List[threading.Thread] = []
    simulations = make([("camera", "")], on_devices=ask_for_a_frame_meanwhile)
    simulations.get("camera").move(341)
    during["on"] = True
    simulations.reset(True)
    for worker in threads:
        worker.join(5)
    assert threads and asked == [341]
    assert simulations.get("camera").lens.position == 341


def test_a_reset_with_the_simulation_off_drops_them_all():
    simulations = make([("camera", "")])
    simulations.get("camera").move(341)
    simulations.reset(False)
    # Built afresh on the next use (the simulation back on): at its start again.
    assert simulations.get("camera").lens.position == 700
