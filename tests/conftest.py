"""Shared test fixtures: the real focus stacks in tests/data/stacks (reduced copies, 1024x768)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

# Playwright's expect() waits 5 s by default. The browser tests share the machine's cores with
# the OctoPrint servers they start (and, in CI, with other jobs): OctoPrint's UI takes longer
# than that to load under load. Wait as long as page actions do (test_browser.PAGE_TIMEOUT).
expect.set_options(timeout=30_000)

ROOT = Path(__file__).resolve().parents[1]
#: The reduced copies in the repository (scripts/reduce-stacks.py made them); PIFOCUS_STACKS may
#: point at the full-size originals, laid out the same way (tests/data/stacks/README.md).
STACKS = Path(os.environ.get("PIFOCUS_STACKS", ROOT / "tests" / "data" / "stacks"))


def stack_files(folder: str, pattern: str):
    """The frames of one real stack, in focus order. Missing data fails loudly, never skips."""
    files = sorted((STACKS / folder).glob(pattern), key=lambda p: (len(p.stem), p.stem))
    if not files:
        raise FileNotFoundError(
            f"No frames matching {pattern} in {STACKS / folder}; the tests read the stacks in "
            "tests/data/stacks (or wherever PIFOCUS_STACKS points)."
        )
    return files


@pytest.fixture(scope="session")
def pcb_stack():
    """focus-stack_depthmap: 10 JPEGs 1024x768 (camera Exif kept), sharpest pcb_004 (index 4)."""
    return stack_files("focus-stack_depthmap", "pcb_*.JPG")


@pytest.fixture(scope="session")
def step_stack():
    """cmcguinness_focusstack: 6 JPEGs 1024x768, sharpest at the start (step0/step1): an edge peak."""
    return stack_files("cmcguinness_focusstack", "step*.jpg")


@pytest.fixture(scope="session")
def scorpion_stack():
    """la3lma_scorpion_lapse: 14 frames 1024x768 from a Pi camera on a microscope, not in focus
    order (JPEGs here; the originals are PNGs, which the pattern also takes)."""
    return stack_files("la3lma_scorpion_lapse", "scorpion_lapse_*")


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
