"""Shared test fixtures: the real focus stacks from ../shared/stacks."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STACKS = Path(os.environ.get("PIFOCUS_STACKS", ROOT.parent / "shared" / "stacks"))


def stack_files(folder: str, pattern: str):
    """The frames of one real stack, in focus order. Missing data fails loudly, never skips."""
    files = sorted((STACKS / folder).glob(pattern), key=lambda p: (len(p.stem), p.stem))
    if not files:
        raise FileNotFoundError(
            f"No frames matching {pattern} in {STACKS / folder}; the tests need ../shared/stacks "
            "(or PIFOCUS_STACKS pointing at it)."
        )
    return files


@pytest.fixture(scope="session")
def pcb_stack():
    """focus-stack_depthmap: 10 JPEGs 2048x1536, sharpest pcb_004 (index 4)."""
    return stack_files("focus-stack_depthmap", "pcb_*.JPG")


@pytest.fixture(scope="session")
def step_stack():
    """cmcguinness_focusstack: 6 JPEGs, sharpest at the start (step0/step1): an edge peak."""
    return stack_files("cmcguinness_focusstack", "step*.jpg")


@pytest.fixture(scope="session")
def scorpion_stack():
    """la3lma_scorpion_lapse: 14 PNGs from a Pi camera on a microscope, not in focus order."""
    return stack_files("la3lma_scorpion_lapse", "scorpion_lapse_*.png")


# ~~ A real OctoPrint server (tests/octoprint_server.py)

import octoprint_server as _octoprint_server  # noqa: E402


@pytest.fixture(scope="session")
def octoprint_server():
    """One real OctoPrint 1.11 for the session: virtual printer connected, PiFocus on its
    simulated camera (OctoPrint's default and snapshot webcam). Users admin, user and guest
    (see octoprint_server.DEFAULT_USERS), each with an API key: ``octoprint_server.session(name)``.
    Tests that need another configuration start their own ``OctoPrintServer``."""
    server = _octoprint_server.OctoPrintServer(extra_config=_octoprint_server.demo_config())
    with server:
        yield server


def pytest_terminal_summary(terminalreporter):
    for url, seconds in _octoprint_server.STARTUPS:
        terminalreporter.write_line(
            f"OctoPrint test server {url} started in {seconds:.1f} s "
            "(until the virtual printer was Operational)")
