"""``@PIFOCUS`` in G-code holds the print until the lens is in place (a real OctoPrint, virtual printer).

The evidence is OctoPrint's own serial.log (``serial: {log: true}``): every line sent to the
printer with the time it was sent. PiFocus logs "Autofocus started/done (<cause>)" in
octoprint.log with the same clock. A held print shows as: the line before the
``@PIFOCUS`` line sent before the autofocus starts, the line after it sent only after the
autofocus is done, and (for printer-Z focus) every Z move PiFocus made between the two.
"""
from __future__ import annotations

import datetime
import re
import time
from typing import List, Optional, Tuple

import pytest

from octoprint_server import OctoPrintServer, deep_merge, demo_config

API = "/api/plugin/pifocus"
STAMP = "%Y-%m-%d %H:%M:%S,%f"


@pytest.fixture(scope="module")
def server():
    config = deep_merge(demo_config(), {
        "serial": {"log": True},
        # A settle time makes every frame take a while: a hold that leaked would show.
        "plugins": {"pifocus": {"camera": {"settle": 0.1}}},
    })
    with OctoPrintServer(extra_config=config) as s:
        yield s


def api(server, command: str, user: str = "admin", **fields):
    r = server.session(user).post(server.url + API, json=dict(fields, command=command), timeout=30)
    assert r.status_code in (200, 202), r.text
    return r.json()


def status(server):
    return server.session("user").get(server.url + API, timeout=10).json()


def settings_of(server):
    return server.plugin_settings("pifocus")


def save_settings(server, values):
    r = server.session("admin").post(server.url + "/api/settings", json={"plugins": {"pifocus": values}},
                                     timeout=10)
    assert r.status_code == 200, r.text


class Logs:
    """The serial.log and octoprint.log lines written since this was created."""

    def __init__(self, server: OctoPrintServer) -> None:
        self.server = server
        self.serial_mark = len(server.serial_log_text())
        self.log_mark = len(server.log_text())

    def sent(self) -> List[Tuple[datetime.datetime, str]]:
        """(time, line) of every line sent to the printer, line numbers and checksums removed."""
        lines = []
        for line in self.server.serial_log_text()[self.serial_mark:].splitlines():
            m = re.match(r"(\S+ \S+) - Send: (?:N\d+ )?([^*]*)", line)
            if m:
                lines.append((datetime.datetime.strptime(m.group(1), STAMP), m.group(2).strip()))
        return lines

    def logged(self, text: str) -> Optional[datetime.datetime]:
        """When octoprint.log first got a line containing ``text``."""
        for line in self.server.log_text()[self.log_mark:].splitlines():
            if text in line:
                return datetime.datetime.strptime(line[:23], STAMP)
        return None

    def log(self) -> str:
        return self.server.log_text()[self.log_mark:]


def sent_at(sent, line: str) -> datetime.datetime:
    times = [t for t, text in sent if text == line]
    assert len(times) == 1, (line, sent)
    return times[0]


def finished(server, name: str) -> bool:
    """Whether ``name`` is the selected job and has been printed to the end."""
    job = server.job()
    return (job.get("job", {}).get("file", {}).get("name") == name
            and (job.get("progress", {}).get("completion") or 0) >= 100)


def print_and_wait(server, name: str, gcode: str, until: str = "Operational", timeout: float = 90.0) -> None:
    server.print_gcode(name, gcode)
    # A short file can start and finish between two polls of the state: its job at 100% counts.
    server.wait_for_state(lambda s: s != "Operational" or finished(server, name), timeout=10, what="print start")
    server.wait_for_state(lambda s: s == until, timeout=timeout, what=f"{name} to end {until}")


def test_lines_after_the_atcommand_wait_until_focus_is_done(server):
    api(server, "move", position=900)
    logs = Logs(server)
    print_and_wait(server, "hold.gcode", "G90\nM83\nG1 X10 F6000\n@PIFOCUS AUTOFOCUS\nG1 X20 F6000\nG1 X30\n")
    sent = logs.sent()
    started = logs.logged("Autofocus started (@PIFOCUS AUTOFOCUS")
    done = logs.logged("Autofocus done (@PIFOCUS AUTOFOCUS)")
    assert started and done, logs.log()[-3000:]
    assert sent_at(sent, "G1 X10 F6000") <= started
    assert sent_at(sent, "G1 X20 F6000") >= done
    assert (done - started).total_seconds() > 1.0  # 13 frames at 0.1 s settle: a real wait
    # PiFocus waited for the moves before the @-command (M400) and sent nothing else.
    between = [text for t, text in sent if sent_at(sent, "G1 X10 F6000") < t < sent_at(sent, "G1 X20 F6000")]
    assert between == ["M400"], between
    body = status(server)
    assert body["last_result"]["found"] is True and body["simulation"]["blur_radius"] < 1.0
    assert "print hold released" in logs.log()


def test_set_nudge_and_preset_during_a_print(server):
    api(server, "preset_save", name="bed", position=450)
    logs = Logs(server)
    print_and_wait(server, "moves.gcode", "G90\nM83\nG1 X10 F6000\n@PIFOCUS SET 600\n@PIFOCUS NUDGE -100\n"
                                          "@PIFOCUS PRESET bed\nG1 X20 F6000\n")
    log = logs.log()
    order = [log.find(f"'message': '{cause}'") for cause in ("@PIFOCUS SET 600", "@PIFOCUS NUDGE -100",
                                                             "@PIFOCUS PRESET bed")]
    assert -1 not in order and order == sorted(order), log[-3000:]
    assert "'position': 500" in log  # 600 nudged by -100
    assert status(server)["position"] == 450
    assert sent_at(logs.sent(), "G1 X20 F6000") >= logs.logged("@PIFOCUS PRESET bed: print hold released")


def test_atcommand_from_the_terminal_runs_without_a_print(server):
    api(server, "move", position=700)
    logs = Logs(server)
    server.printer_command("@PIFOCUS SET 455")
    deadline = time.monotonic() + 10
    # The lens reaches 455 a moment before the command logs that it is done.
    while status(server)["position"] != 455 or "@PIFOCUS SET 455 done" not in logs.log():
        assert time.monotonic() < deadline, logs.log()[-2000:]
        time.sleep(0.1)
    assert "print on hold" not in logs.log()


def test_printer_z_moves_only_inside_the_hold(server):
    window = (3.0, 8.0)
    # Z stays at the focus here (the blur is checked below); going back is the next test's.
    save_settings(server, {"driver": "printer-z",
                           "printer_z": {"min": window[0], "max": window[1], "feedrate": 3000, "backlash": 0.2,
                                         "restore_after_print_action": False}})
    try:
        assert status(server)["driver"] == "printer-z"
        logs = Logs(server)
        print_and_wait(server, "z.gcode", "G28\nG90\nM83\nG1 Z7 F3000\nG1 X10 F6000\n@PIFOCUS AUTOFOCUS\n"
                                          "G1 X20 F6000\nG1 X30\n")
        sent = logs.sent()
        texts = [text for _, text in sent]
        x10, x20 = texts.index("G1 X10 F6000"), texts.index("G1 X20 F6000")
        ours = texts[x10 + 1:x20]
        z_moves = [float(m.group(1)) for m in (re.search(r"^G1 Z(-?[\d.]+)", t) for t in ours) if m]
        assert len(z_moves) >= 8, ours
        assert all(window[0] <= z <= window[1] for z in z_moves), z_moves
        # Every move in G90 is followed by M83 (Marlin's G90 also makes E absolute), then M114.
        assert ours.count("G90") == ours.count("M83") >= len(z_moves) // 2 and ours[-1] == "M114", ours
        # No Z line outside the hold but the file's own.
        outside = [t for t in texts[:x10] + texts[x20:] if re.match(r"^G[01] .*Z", t)]
        assert outside == ["G1 Z7 F3000"], outside
        body = status(server)
        assert body["last_result"]["found"] is True, body["last_result"]
        assert body["simulation"]["lens"] == "printer_z" and body["simulation"]["blur_radius"] < 1.0
        assert body["z_blocked"] is None
    finally:
        save_settings(server, {"driver": "simulated", "printer_z": {"restore_after_print_action": True}})
    assert status(server)["driver"] == "simulated"


Z_WINDOW = (3.0, 8.0)


def z_lines(texts: List[str]) -> List[float]:
    """The Z of every G0/G1 line with a Z among ``texts``."""
    return [float(m.group(1)) for m in (re.match(r"^G[01] .*Z(-?[\d.]+)", t) for t in texts) if m]


def use_printer_z(server) -> None:
    save_settings(server, {"driver": "printer-z", "printer_z": {"min": Z_WINDOW[0], "max": Z_WINDOW[1],
                                                                "feedrate": 3000, "backlash": 0.2}})
    assert status(server)["driver"] == "printer-z"


def test_a_held_printer_z_action_gives_the_print_its_z_back(server):
    """The microscope's Z is the tool's: after the autofocus the print goes on at its own Z,
    here below the Z window (the search first went up to the window's lower end)."""
    use_printer_z(server)
    try:
        assert settings_of(server)["printer_z"]["restore_after_print_action"] is True  # the default
        logs = Logs(server)
        print_and_wait(server, "zback.gcode", "G28\nG90\nM83\nG1 Z1.5 F3000\nG1 X10 F6000\n"
                                              "@PIFOCUS AUTOFOCUS\nG1 X20 F6000\nG1 X30\n")
        texts = [text for _, text in logs.sent()]
        x10, x20 = texts.index("G1 X10 F6000"), texts.index("G1 X20 F6000")
        ours = z_lines(texts[x10 + 1:x20])
        assert len(ours) >= 8, texts[x10:x20]
        assert any(Z_WINDOW[0] <= z <= Z_WINDOW[1] for z in ours[:-1])  # it focused in the window...
        assert z_lines(texts[:x20])[-1] == 1.5, ours  # ...and the next file line runs at the print's Z
        assert z_lines(texts[x20:]) == []
        assert status(server)["last_result"]["found"] is True
        assert "back to the print's Z" in logs.log()
    finally:
        save_settings(server, {"driver": "simulated"})


def test_a_print_started_during_an_api_autofocus_waits_for_z_to_go_back(server):
    """A print started while an API autofocus moves Z is held before its first line: the run
    is cancelled, Z goes back to where the run started, and only then does the file go on."""
    use_printer_z(server)
    try:
        server.printer_command("G28")
        deadline = time.monotonic() + 10
        while status(server)["z_blocked"] is not None:
            assert time.monotonic() < deadline, status(server)["z_blocked"]
            time.sleep(0.1)
        api(server, "move", position=5)
        logs = Logs(server)
        api(server, "autofocus")
        time.sleep(1.0)
        assert status(server)["activity"] == "autofocus"
        print_and_wait(server, "after-autofocus.gcode", "G1 X11 F6000\nG1 X12\n")
        texts = [text for _, text in logs.sent()]
        first = texts.index("G1 X11 F6000")
        before = z_lines(texts[:first])
        assert len(before) >= 3 and before[-1] == 5.0, before  # back at the start before the file's line
        assert z_lines(texts[first:]) == [], texts[first:]  # nothing of PiFocus's after it
        result = status(server)["last_result"]
        assert result["cancelled"] is True, result
        assert "A print started during PiFocus's autofocus" in logs.log()
        assert status(server)["z_blocked"] is None and not status(server)["busy"]
    finally:
        save_settings(server, {"driver": "simulated"})


def test_a_users_cancel_of_a_held_autofocus_is_no_failure(server):
    """Cancelling a held @PIFOCUS autofocus (a CONTROL user's API cancel) is reported as
    cancelled and the print goes on, whatever the failure policy."""
    save_settings(server, {"automation": {"failure_policy": "cancel"}})
    api(server, "move", position=900)
    logs = Logs(server)
    try:
        server.print_gcode("usercancel.gcode", "G90\nG1 X10 F6000\n@PIFOCUS AUTOFOCUS\nG1 X20 F6000\nG1 X30\n")
        deadline = time.monotonic() + 20
        while status(server)["activity"] != "print":
            assert time.monotonic() < deadline, logs.log()[-2000:]
            time.sleep(0.05)
        time.sleep(0.3)
        api(server, "cancel", user="user")
        server.wait_for_state(lambda s: s == "Operational", timeout=60, what="the print to end")
        texts = [text for _, text in logs.sent()]
        assert "G1 X20 F6000" in texts and "G1 X30" in texts, texts  # the print went on to its end
        log = logs.log()
        assert "@PIFOCUS AUTOFOCUS cancelled by a user" in log, log[-3000:]
        assert "failure policy: cancel" not in log and "Print job cancelled" not in log
        assert status(server)["last_result"]["cancelled"] is True
    finally:
        if server.printer_state() != "Operational":
            server.session("admin").post(server.url + "/api/job", json={"command": "cancel"}, timeout=10)
            server.wait_for_state(lambda s: s == "Operational", timeout=30, what="cancel")
        save_settings(server, {"automation": {"failure_policy": "continue"}})


@pytest.mark.parametrize("policy, line, end_state", [
    ("pause", "@PIFOCUS PRESET no such preset", "Paused"),
    ("cancel", "@PIFOCUS SET 99999", "Operational"),
])
def test_failure_policy(server, policy, line, end_state):
    save_settings(server, {"automation": {"failure_policy": policy}})
    logs = Logs(server)
    try:
        print_and_wait(server, f"{policy}.gcode", f"G90\nG1 X10 F6000\n{line}\nG1 X20 F6000\nG1 X30\n",
                       until=end_state)
        time.sleep(1.0)  # anything leaking past the failed line would be sent by now
        texts = [text for _, text in logs.sent()]
        assert "G1 X10 F6000" in texts
        assert "G1 X20 F6000" not in texts and "G1 X30" not in texts, texts
        assert f"failure policy: {policy}" in logs.log()
        assert server.printer_state() == end_state
    finally:
        if server.printer_state() != "Operational":
            server.session("admin").post(server.url + "/api/job", json={"command": "cancel"}, timeout=10)
            server.wait_for_state(lambda s: s == "Operational", timeout=30, what="cancel")
        save_settings(server, {"automation": {"failure_policy": "continue"}})


def test_continue_policy_goes_on_printing(server):
    logs = Logs(server)
    print_and_wait(server, "continue.gcode", "G90\nG1 X10 F6000\n@PIFOCUS FLY\nG1 X20 F6000\n")
    assert "G1 X20 F6000" in [text for _, text in logs.sent()]
    assert "Unknown @PIFOCUS action 'FLY'" in logs.log()


def test_autofocus_before_every_print(server):
    api(server, "move", position=420)
    save_settings(server, {"automation": {"autofocus_before_print": True, "before_print_mode": "refine"}})
    try:
        logs = Logs(server)
        print_and_wait(server, "plain.gcode", "G90\nG1 X10 F6000\nG1 X20\n")
        started = logs.logged("Autofocus started (@PIFOCUS AUTOFOCUS REFINE")
        done = logs.logged("Autofocus done (@PIFOCUS AUTOFOCUS REFINE)")
        assert started and done, logs.log()[-3000:]
        sent = logs.sent()
        first = sent_at(sent, "G90")
        assert first >= done, "the file started before focus was done"
        body = status(server)
        assert body["last_result"]["mode"] == "refine" and body["simulation"]["blur_radius"] < 1.0
    finally:
        save_settings(server, {"automation": {"autofocus_before_print": False}})


# ~~ the @-command's syntax, in plain Python

from octoprint_pifocus.plugin.automation import AtCommand, parse_atcommand  # noqa: E402


@pytest.mark.parametrize("text, expected", [
    ("AUTOFOCUS", AtCommand("autofocus")),
    ("autofocus refine", AtCommand("autofocus", refine=True)),
    ("AUTOFOCUS FULL", AtCommand("autofocus")),
    ("SET 412", AtCommand("set", value=412.0)),
    ("NUDGE -0.25", AtCommand("nudge", value=-0.25)),
    ("PRESET  top of part ", AtCommand("preset", name="top of part")),
])
def test_atcommands_parse(text, expected):
    assert parse_atcommand(text) == expected


@pytest.mark.parametrize("text, words", [
    ("", ["needs an action"]),
    ("FLY", ["Unknown @PIFOCUS action"]),
    ("AUTOFOCUS NOW", ["REFINE"]),
    ("SET", ["one number"]),
    ("SET 1 2", ["one number"]),
    ("SET nan", ["one number"]),
    ("NUDGE far", ["one number"]),
    ("PRESET", ["empty"]),
    ("PRESET " + "x" * 40, ["at most 32"]),
])
def test_bad_atcommands_say_why(text, words):
    with pytest.raises(ValueError) as error:
        parse_atcommand(text)
    for word in words:
        assert word in str(error.value)
