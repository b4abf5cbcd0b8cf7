"""If OctoPrint does not put the print on hold, an @PIFOCUS command must not move anything.

OctoPrint's ``set_job_on_hold`` can answer False (it could not take the hold); then the
print keeps streaming G-code, and a Z move from PiFocus would land between the print's own
moves. The real printer is OctoPrint's; here a stand-in answers like one that refused the
hold, and a recording G-code port shows what would have reached the printer.
"""
from __future__ import annotations

import logging

from octoprint_pifocus.plugin import settings as settings_rules
from octoprint_pifocus.plugin.automation import PrintAutomation
from octoprint_pifocus.plugin.device import FocusDevice
from octoprint_pifocus.plugin.devices import DeviceRegistry


class RefusingPrinter:
    """OctoPrint's printer during a print whose hold could not be taken."""

    def __init__(self):
        self.calls = []

    def is_printing(self):
        return True

    def is_cancelling(self):
        return False

    def set_job_on_hold(self, value, blocking=True):
        self.calls.append(("hold", value))
        return False

    def pause_print(self, tags=None):
        self.calls.append(("pause",))

    def cancel_print(self, tags=None):
        self.calls.append(("cancel",))


class RecordingPort:
    """A connected, homed printer that records every line it would be sent."""

    def __init__(self):
        self.sent = []

    def send(self, lines):
        self.sent.extend(lines)

    def query(self, line, timeout=5.0):
        self.sent.append(line)
        return "X:0.00 Y:0.00 Z:3.00 E:0.00 Count X:0 Y:0 Z:0\nok"

    def is_connected(self):
        return True

    def is_printing(self):
        return True

    def is_homed(self):
        return True

    def positioning(self):
        return None

    def wait_idle(self, timeout, queue_timeout=1800.0):
        pass


def make(policy: str):
    checked = settings_rules.check({"devices": [{
        "id": "camera", "name": "Camera", "driver": "printer-z", "automation": {"failure_policy": policy}}]})
    port, printer, published = RecordingPort(), RefusingPrinter(), []
    devices = DeviceRegistry(lambda config, z_gate: FocusDevice(
        config, port=port, simulation=lambda: None, simulation_problem=lambda: "", webcams=lambda: None,
        publish=published.append, fire=lambda *a: None, persist=lambda *a: None,
        logger=logging.getLogger("test"), z_gate=z_gate))
    devices.configure(checked)
    automation = PrintAutomation(devices, printer, port, published.append)
    return automation, port, printer, published


def run(automation, parameters):
    automation.on_atcommand(parameters)
    for thread in automation.threads:
        thread.join(10)


def test_no_move_is_sent_when_the_hold_was_refused():
    automation, port, printer, published = make("pause")
    run(automation, "SET 5")
    assert not [line for line in port.sent if line.startswith("G1")]
    reports = [m for m in published if m.get("type") == "automation"]
    assert reports and reports[-1]["ok"] is False
    assert "did not put the print on hold" in reports[-1]["message"]
    # The failure policy still applies, and no hold is "released" that was never taken.
    assert ("pause",) in printer.calls
    assert ("hold", False) not in printer.calls


def test_continue_policy_leaves_the_print_running_when_the_hold_was_refused():
    automation, port, printer, published = make("continue")
    run(automation, "AUTOFOCUS")
    assert not [line for line in port.sent if line.startswith("G1")]
    assert ("pause",) not in printer.calls and ("cancel",) not in printer.calls
    assert published[-1]["ok"] is False and published[-1]["policy"] == "continue"
