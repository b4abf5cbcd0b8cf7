"""The engine's command line: ``score`` and ``demo``."""
from __future__ import annotations

import subprocess
import sys

import pytest

from octoprint_pifocus.cli import main


def test_score_prints_each_file_and_ranks_the_real_stack(pcb_stack, capsys):
    assert main(["score", *map(str, pcb_stack)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == len(pcb_stack)
    scores = [float(line.split()[-1]) for line in lines]
    assert [p.name for p in pcb_stack][scores.index(max(scores))] == "pcb_004.JPG"


def test_score_with_roi_and_measure(pcb_stack, capsys):
    assert main(["score", str(pcb_stack[4]), "--roi", "0.4,0.4,0.2,0.2", "--measure", "brenner"]) == 0
    assert float(capsys.readouterr().out.split()[-1]) > 0


def test_score_reports_a_file_that_is_not_an_image(tmp_path, pcb_stack, capsys):
    bad = tmp_path / "login.jpg"
    bad.write_bytes(b"<html><body>Please log in</body></html>")
    assert main(["score", str(pcb_stack[0]), str(bad)]) == 1
    out = capsys.readouterr().out
    assert "login.jpg" in out and "HTML" in out


def test_score_missing_file_is_one_line(capsys):
    assert main(["score", "/nonexistent/frame.jpg"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Cannot read /nonexistent/frame.jpg" in err


def test_bad_roi_is_a_usage_error(capsys, pcb_stack):
    try:
        main(["score", str(pcb_stack[0]), "--roi", "0.9,0.9,0.5,0.5"])
    except SystemExit as exc:
        assert exc.code == 2
    assert "inside the frame" in capsys.readouterr().err


def test_demo_runs_as_a_program_and_ends_in_focus():
    run = subprocess.run([sys.executable, "-m", "octoprint_pifocus", "demo", "--seed", "11"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    frames = [line for line in lines if line.strip()[:1].isdigit() and ("coarse" in line or "fine" in line or "final" in line)]
    assert len(frames) >= 6
    assert any("In focus at" in line for line in lines)
    blur = float(next(line for line in lines if "Remaining blur radius" in line).split()[3])
    assert blur <= 0.75


@pytest.mark.parametrize("option, value, words", [
    ("--focus", "inf", "--focus must be a finite number, e.g. 2.5; got 'inf'"),
    ("--focus", "nan", "--focus must be a finite number, e.g. 2.5; got 'nan'"),
    ("--focus", "5000", "--focus must be between 0 and 1023; got '5000'"),
    ("--blur-rate", "nan", "--blur-rate must be a finite number, e.g. 2.5; got 'nan'"),
    ("--noise", "-inf", "--noise must be a finite number, e.g. 2.5; got '-inf'"),
    ("--hysteresis", "inf", "--hysteresis must be a finite number, e.g. 2.5; got 'inf'"),
])
def test_demo_numbers_must_be_finite_and_in_range(capsys, option, value, words):
    with pytest.raises(SystemExit) as exit_:
        main(["demo", f"{option}={value}"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err
