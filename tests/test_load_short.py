"""The load and soak benchmark (bench/load.py) in its short mode, on every change.

20 clients for 10 s against a real OctoPrint, then 10 autofocus runs in a row. Asserted: no
5xx, no two autofocus runs at once (from the server's log), no unexpected status, the lens
always inside its limits, every run ended, and the server's thread count bounded. No timing
is asserted here: the latencies are for the README's figures (bench/load.py in full).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_short_load_and_soak():
    run = subprocess.run([sys.executable, str(ROOT / "bench" / "load.py"), "--short"],
                         capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-5000:]
    report = json.loads(run.stdout)
    load, soak = report["load"], report["soak"]

    assert report["server_errors"] == 0, report
    assert load["unexpected"] == [] and load["client_errors"] == [], load
    assert load["outside_limits"] == [], load["outside_limits"]
    assert load["clients_still_running"] == 0
    kinds = load["kinds"]
    assert {"status", "move", "nudge", "preset_save", "preset_apply", "preset_delete", "autofocus"} <= set(kinds)
    # Under load some autofocus requests start a run and the others are told it is busy.
    assert kinds["autofocus"]["statuses"].get("202", 0) >= 1, kinds["autofocus"]

    log = report["autofocus_log"]
    assert log["overlapping"] == 0, log
    assert log["started"] == log["ended"] >= soak["runs"], log
    assert report["pifocus_errors_in_log"] == 0

    assert soak["refused"] == 0 and soak["failures"] == [], soak
    assert soak["found"] == soak["in_focus"] == soak["runs"] == 10, soak

    start, after_load, after_soak = (report[k]["threads"] for k in
                                     ("process_start", "process_after_load", "process_after_soak"))
    # Bounded: the soak's runs leave no threads behind, and the load only a few pooled ones.
    assert after_soak <= after_load + 2, (start, after_load, after_soak)
    assert after_load <= start + 12, (start, after_load, after_soak)
