"""The streamer benchmark (bench/streamer.py) in a short version, on every change.

Two of its pipelines (640x480 30 fps stream copy, and the 5-frame one: re-encoding at 15 fps
with 4 threads), two cases each, PiFocus as a device runs it after its lens test and the
seed's sweep, through a real ffmpeg. Asserted: the benchmark runs and reports every pipeline;
PiFocus never ends found=True on stale frames and every run it says found is in focus; the
rig sees the seed's frames as stale (so it can see stale frames at all). No timing is asserted:
the wall times and ratios are the README's, from the full benchmark on an idle machine. And the
choice of pipelines (``--quick``, ``--pipeline NAME``), without running any.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_short_streamer_benchmark(tmp_path):
    out = tmp_path / "streamer.json"
    # The two pipelines --quick measures, named (so --pipeline is what runs them).
    run = subprocess.run([sys.executable, str(ROOT / "bench" / "streamer.py"), "--cases", "2",
                          "--pipeline", "640x480 30 fps copy", "--pipeline", "640x480 15 fps encode -threads 4",
                          "--contenders", "measured,seed", "--out", str(out)],
                         capture_output=True, text=True, timeout=600, cwd=ROOT / "bench")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-5000:]
    results = json.loads(out.read_text())
    assert [r["pipeline"] for r in results] == ["640x480 30 fps copy", "640x480 15 fps encode -threads 4"], (
        run.stdout)
    for outcome in results:
        assert "error" not in outcome, outcome
        measured = [r for r in outcome["rows"] if r["contender"] == "measured"]
        seed = [r for r in outcome["rows"] if r["contender"] == "seed"]
        assert len(measured) == len(seed) == 2
        assert not any(r["found_on_stale"] for r in measured), measured
        assert all(r["ok"] for r in measured if r["found"]), "found means in focus"
        assert outcome["summary"]["measured"]["found_on_stale"] == 0
        assert sum(r["stale"] for r in seed) > 0, "the seed's sweep reads frames from before its moves"
        assert "| measured |" in run.stdout and "| seed |" in run.stdout


def test_the_pipelines_a_run_measures_are_chosen_by_name_or_quick():
    sys.path[:0] = [str(ROOT / "bench"), str(ROOT / "tests")]
    try:
        import streamer
    finally:
        del sys.path[:2]
    every = [p.name for p in streamer.select_pipelines()]
    assert len(every) == 16 and len(set(every)) == 16
    assert [p.name for p in streamer.select_pipelines(quick=True)] == [
        "640x480 30 fps copy", "640x480 15 fps encode -threads 4"]
    chosen = ["1280x720 30 fps encode", "640x480 15 fps copy"]
    assert [p.name for p in streamer.select_pipelines(True, chosen)] == chosen, "names win over --quick"
    with pytest.raises(ValueError, match="unknown pipeline.*720p.*choose from 640x480 30 fps copy"):
        streamer.select_pipelines(names=["720p"])
