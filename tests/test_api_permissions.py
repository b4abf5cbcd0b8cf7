"""The API's permission gate, below the HTTP layer (the auth matrix covers the roles end to end)."""
from __future__ import annotations

import pytest

from octoprint_pifocus.plugin.api import COMMANDS, MOVES_PRINTER, handle_command


@pytest.mark.parametrize("command", MOVES_PRINTER)
def test_a_command_that_moves_the_printer_needs_octoprints_printer_control_too(command):
    # PiFocus control alone is refused before any device is looked up (devices=None would fail).
    status, body = handle_command(None, command, {}, can_control=True, can_admin=True, can_move_printer=False)
    assert status == 403
    assert "printer control" in body["error"]


def test_only_the_printer_moving_commands_ask_for_printer_control():
    # The lens-only commands still answer without it (here: an unknown device, a 400, which is
    # past the permission gate).
    class NoDevices:
        def find(self, device):
            raise ValueError("no such device")

    for command in sorted(set(COMMANDS) - set(MOVES_PRINTER) - {"validate_settings"}):
        status, _ = handle_command(NoDevices(), command, {}, can_control=True, can_admin=True,
                                   can_move_printer=False)
        assert status == 400, command
