"""Load and soak: many clients at once, then many autofocus runs in a row, on a real OctoPrint.

A real OctoPrint 1.11 (``tests/octoprint_server.py``) with PiFocus on its simulated camera:

1. **Load**: ``--clients`` threads for ``--seconds`` s, each in a loop of status GETs, moves,
   nudges, preset save/apply/delete and autofocus requests (weighted like a busy UI; 409s are
   expected while a run or another move holds the lens).
2. **Soak**: ``--runs`` autofocus runs in a row, each from a random start, each waited for.

Reported (JSON on stdout, a summary on stderr): 5xx answers; overlapping autofocus runs,
from the server's own log (every run logs "Autofocus started" and, before it lets go of the
lens, "Autofocus done"/"failed": two runs at once would show as a start inside another
run); unexpected statuses; latency p50/p95 per request kind; the lens inside its limits on
every status; the soak's found/in-focus counts and run times; the OctoPrint process's RSS
and thread count before and after each phase (psutil, an OctoPrint dependency).

    python bench/load.py              # 20 clients for 60 s, then 200 runs
    python bench/load.py --short      # 20 clients for 10 s, then 10 runs (CI: tests/test_load_short.py)
"""
from __future__ import annotations

import argparse
import json
import platform
import random
import re
import sys
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import psutil
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from octoprint_server import OctoPrintServer, deep_merge, demo_config  # noqa: E402

API = "/api/plugin/pifocus"

#: Request kinds and their weights in a client's loop.
MIX = [("status", 40), ("move", 15), ("nudge", 15), ("preset", 12), ("autofocus", 10)]
#: Statuses a kind may answer with under load (409: the lens is busy).
EXPECTED = {"status": {200}, "move": {200, 409}, "nudge": {200, 409}, "preset_save": {200},
            "preset_apply": {200, 409}, "preset_delete": {200}, "autofocus": {202, 409}}

#: Settle time per frame: short, so the soak's 200 runs take minutes, not a quarter hour;
#: the simulated camera renders each frame after the move anyway.
SETTLE = 0.05


def percentile(values: List[float], fraction: float) -> Optional[float]:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def process_figures(server: OctoPrintServer) -> Dict[str, Any]:
    process = psutil.Process(server.process.pid)
    return {"rss_mb": round(process.memory_info().rss / 2 ** 20, 1), "threads": process.num_threads()}


def overlaps(log: str) -> Tuple[int, int, int]:
    """(runs started, runs ended, starts while another run was still going) from the plugin's log."""
    started = ended = overlapping = 0
    running = 0
    for line in log.splitlines():
        if " - octoprint.plugins.pifocus - " not in line:
            continue
        if "Autofocus started (" in line:
            started += 1
            if running > 0:
                overlapping += 1
            running += 1
        elif re.search(r"Autofocus (done|failed) \(|Autofocus crashed", line):
            ended += 1
            running = max(0, running - 1)
    return started, ended, overlapping


class Recorder:
    """Thread-safe record of (kind, status, seconds) and of bad states seen."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latencies: Dict[str, List[float]] = defaultdict(list)
        self.statuses: Dict[str, Counter] = defaultdict(Counter)
        self.unexpected: List[str] = []
        self.outside_limits: List[Any] = []
        self.errors: List[str] = []

    def add(self, kind: str, status: int, seconds: float, body: str = "") -> None:
        with self.lock:
            self.latencies[kind].append(seconds)
            self.statuses[kind][status] += 1
            if status not in EXPECTED.get(kind, {200}) and len(self.unexpected) < 20:
                self.unexpected.append(f"{kind} {status} {body[:160]}")

    def check_limits(self, body: Dict[str, Any]) -> None:
        if body.get("lens_ok") and body.get("position") is not None:
            low, high = body["limits"]
            if not low <= body["position"] <= high:
                with self.lock:
                    self.outside_limits.append(body["position"])

    def summary(self) -> Dict[str, Any]:
        kinds = {}
        for kind, values in sorted(self.latencies.items()):
            kinds[kind] = {
                "count": len(values),
                "statuses": {str(k): v for k, v in sorted(self.statuses[kind].items())},
                "p50_ms": round(1000 * percentile(values, 0.5), 1),
                "p95_ms": round(1000 * percentile(values, 0.95), 1),
            }
        return {
            "requests": sum(len(v) for v in self.latencies.values()),
            "server_errors": sum(n for c in self.statuses.values() for s, n in c.items() if s >= 500),
            "unexpected": self.unexpected,
            "outside_limits": self.outside_limits[:20],
            "client_errors": self.errors[:20],
            "kinds": kinds,
        }


def client_loop(server: OctoPrintServer, index: int, stop: threading.Event, rec: Recorder, seed: int) -> None:
    rnd = random.Random(seed * 1000 + index)
    session = server.session("user")
    name = f"load-{index}"
    preset_step = 0
    kinds = [k for k, w in MIX for _ in range(w)]

    def post(kind: str, body: Dict[str, Any]) -> None:
        started = time.monotonic()
        r = session.post(server.url + API, json=body, timeout=60)
        rec.add(kind, r.status_code, time.monotonic() - started, r.text)

    while not stop.is_set():
        kind = rnd.choice(kinds)
        try:
            if kind == "status":
                started = time.monotonic()
                r = session.get(server.url + API, timeout=60)
                rec.add("status", r.status_code, time.monotonic() - started, r.text)
                if r.status_code == 200:
                    rec.check_limits(r.json())
            elif kind == "move":
                post("move", {"command": "move", "position": rnd.randint(0, 1023)})
            elif kind == "nudge":
                post("nudge", {"command": "nudge", "delta": rnd.choice([-50, -5, -1, 1, 5, 50])})
            elif kind == "preset":
                step = ("preset_save", "preset_apply", "preset_delete")[preset_step % 3]
                preset_step += 1
                body = {"command": step, "name": name}
                if step == "preset_save":
                    body["position"] = rnd.randint(0, 1023)
                post(step, body)
            else:
                post("autofocus", {"command": "autofocus", "refine": rnd.random() < 0.5})
        except requests.RequestException as exc:
            with rec.lock:
                rec.errors.append(f"{kind}: {exc}")


def wait_idle(session: requests.Session, server: OctoPrintServer, timeout: float = 120.0) -> Dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body = session.get(server.url + API, timeout=30).json()
        if body["activity"] is None:
            return body
        if time.monotonic() > deadline:
            raise RuntimeError(f"PiFocus still busy after {timeout} s: {body}")
        time.sleep(0.05)


def load_phase(server: OctoPrintServer, clients: int, seconds: float, seed: int) -> Dict[str, Any]:
    rec = Recorder()
    stop = threading.Event()
    threads = [threading.Thread(target=client_loop, args=(server, i, stop, rec, seed), daemon=True)
               for i in range(clients)]
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join(90)
    result = rec.summary()
    result.update({"clients": clients, "seconds": seconds,
                   "clients_still_running": sum(t.is_alive() for t in threads)})
    return result


def soak_phase(server: OctoPrintServer, runs: int, seed: int) -> Dict[str, Any]:
    rnd = random.Random(seed)
    session = server.session("user")
    found = in_focus = refused = server_errors = 0
    durations: List[float] = []
    captures: List[int] = []
    failures: List[str] = []
    for _ in range(runs):
        start = rnd.randint(0, 1023)
        r = session.post(server.url + API, json={"command": "move", "position": start}, timeout=60)
        server_errors += r.status_code >= 500
        r = session.post(server.url + API, json={"command": "autofocus"}, timeout=60)
        server_errors += r.status_code >= 500
        if r.status_code != 202:
            refused += 1
            failures.append(f"autofocus from {start}: HTTP {r.status_code} {r.text[:120]}")
            continue
        body = wait_idle(session, server)
        result = body["last_result"]
        durations.append(result["duration"])
        captures.append(result["captures"])
        if result["found"]:
            found += 1
            in_focus += body["simulation"]["blur_radius"] < 1.0
        elif len(failures) < 20:
            failures.append(f"from {start}: {result['message']}")
    return {
        "runs": runs, "found": found, "in_focus": in_focus, "refused": refused,
        "server_errors": server_errors, "failures": failures,
        "duration_p50_s": percentile(durations, 0.5), "duration_p95_s": percentile(durations, 0.95),
        "frames_p50": percentile([float(c) for c in captures], 0.5),
        "frames_max": max(captures) if captures else None,
    }


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--short", action="store_true", help="20 clients for 10 s, then 10 runs (CI)")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=None, help="load phase length (default 60, short 10)")
    parser.add_argument("--runs", type=int, default=None, help="soak runs (default 200, short 10)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    seconds = args.seconds if args.seconds is not None else (10.0 if args.short else 60.0)
    runs = args.runs if args.runs is not None else (10 if args.short else 200)

    config = deep_merge(demo_config(), {"plugins": {"pifocus": {"camera": {"settle": SETTLE}}}})
    server = OctoPrintServer(extra_config=config)
    report: Dict[str, Any] = {
        "machine": {"cpus": psutil.cpu_count(), "python": platform.python_version(), "system": platform.platform()},
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "settle_s": SETTLE,
    }
    with server:
        session = server.session("user")
        # Warm up: the first autofocus builds the scene and the scorer's caches.
        session.post(server.url + API, json={"command": "autofocus"}, timeout=60)
        wait_idle(session, server)
        report["process_start"] = process_figures(server)

        began = time.monotonic()
        report["load"] = load_phase(server, args.clients, seconds, args.seed)
        report["load"]["wall_s"] = round(time.monotonic() - began, 1)
        wait_idle(session, server)
        report["process_after_load"] = process_figures(server)

        began = time.monotonic()
        report["soak"] = soak_phase(server, runs, args.seed)
        report["soak"]["wall_s"] = round(time.monotonic() - began, 1)
        time.sleep(1.0)  # let the last run's threads (status push, persist timer) end
        report["process_after_soak"] = process_figures(server)

        started, ended, overlapping = overlaps(server.log_text())
        report["autofocus_log"] = {"started": started, "ended": ended, "overlapping": overlapping}
        report["server_errors"] = report["load"]["server_errors"] + report["soak"]["server_errors"]
        report["pifocus_errors_in_log"] = len(re.findall(r" - octoprint\.plugins\.pifocus - ERROR - ",
                                                         server.log_text()))

    print(json.dumps(report, indent=1))
    load, soak = report["load"], report["soak"]
    print(f"load: {load['requests']} requests by {load['clients']} clients in {load['seconds']:g} s, "
          f"{load['server_errors']} 5xx; soak: {soak['found']}/{soak['runs']} found "
          f"({soak['in_focus']} in focus); overlapping runs: {overlapping}; "
          f"threads {report['process_start']['threads']} -> {report['process_after_soak']['threads']}, "
          f"RSS {report['process_start']['rss_mb']} -> {report['process_after_soak']['rss_mb']} MB",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
