"""Which OctoPrint PiFocus loads on: 1.9 or newer; older ones get one log line, no traceback."""
from __future__ import annotations

import logging

import pytest

import octoprint_pifocus
from octoprint_pifocus import compat


@pytest.mark.parametrize("version, supported", [
    ("1.11.8", True), ("1.10.3", True), ("1.9.3", True), ("1.9.0", True), ("1.9.0rc1", True),
    ("2.0.0", True), ("1.12.0.dev123+g1234", True),
    ("1.8.7", False), ("1.8.0", False), ("1.4.2", False), ("0.9", False),
])
def test_octoprint_supported(version, supported):
    assert compat.octoprint_supported(version) is supported


def test_a_version_nobody_can_parse_is_not_refused():
    assert compat.parse_version("unknown") is None
    assert compat.octoprint_supported("unknown") is True


def test_the_running_octoprint_passes_the_plugin_check():
    import octoprint

    assert compat.octoprint_supported(octoprint.__version__)
    assert octoprint_pifocus.__plugin_check__() is True


def test_an_old_octoprint_gets_one_line_saying_what_is_needed(monkeypatch, caplog):
    import octoprint

    monkeypatch.setattr(octoprint, "__version__", "1.8.7")
    with caplog.at_level(logging.ERROR, logger="octoprint.plugins.pifocus"):
        assert octoprint_pifocus.__plugin_check__() is False
    assert len(caplog.records) == 1
    line = caplog.records[0].getMessage()
    assert "needs OctoPrint 1.9 or newer" in line and "this is OctoPrint 1.8.7" in line
    assert caplog.records[0].exc_info is None
