"""Helpers shared by the benchmarks: paths and interleaved timing."""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Callable, Dict

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
#: The real stacks: the 1024x768 copies in the repository, or full-size originals laid out the
#: same way where PIFOCUS_STACKS points (tests/data/stacks/README.md says where they come from).
STACKS = Path(os.environ.get("PIFOCUS_STACKS", ROOT / "tests" / "data" / "stacks"))
RESULTS = ROOT / "bench" / "results"


def interleaved_ms(fns: Dict[str, Callable[[], object]], rounds: int = 7, repeat: int = 10) -> Dict[str, float]:
    """Median ms per call of each function, timed in alternating rounds in one process,
    so that a noisy machine slows every contender alike and the ratios stay meaningful."""
    times: Dict[str, list] = {name: [] for name in fns}
    for fn in fns.values():
        fn()  # warm-up: caches, lazy initialisation
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            for _ in range(repeat):
                fn()
            times[name].append((time.perf_counter() - start) * 1000.0 / repeat)
    return {name: sorted(v)[len(v) // 2] for name, v in times.items()}
