"""Median wall time of `aima --help`, `aima detect --json` and `aima plan` (targets: --help < 0.10 s, plan <= 0.15 s).

Run: python benchmarks/startup.py [--runs N]. Uses the installed `aima` console script when it is on PATH
next to this Python, else `python -m aima`. Measure an installed wheel (`.venv/bin/python benchmarks/startup.py`
after `bash .ci/test`): from a checkout with PYTHONDONTWRITEBYTECODE set, every run recompiles aima's modules.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This folder goes last on sys.path: benchmarks/inspect.py (the name) must not shadow the stdlib
# module, while the benchmarks can still import each other.
_here = str(Path(__file__).resolve().parent)
sys.path[:] = [p for p in sys.path if str(Path(p or ".").resolve()) != _here] + [_here]

import argparse
import os
import shutil
import statistics
import subprocess
import time


def aima_command() -> list[str]:
    """The console script beside this interpreter, else python -m aima."""
    script = Path(sys.executable).parent / "aima"
    if script.exists():
        return [str(script)]
    found = shutil.which("aima")
    return [found] if found else [sys.executable, "-m", "aima"]


def median_seconds(argv: list[str], runs: int) -> float:
    """Median wall time of running argv `runs` times (after one warm-up)."""
    subprocess.run(argv, capture_output=True, check=False)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    aima = aima_command()
    cases = {
        "aima --help": (aima + ["--help"], 0.10),
        "aima detect --json": (aima + ["detect", "--json"], None),
        "aima plan --hardware gb10": (aima + ["plan", "--hardware", "gb10"], 0.15),
        "python -c pass (interpreter floor)": ([sys.executable, "-c", "pass"], None),
    }
    print(f"command: {' '.join(aima)}; {args.runs} runs each, median wall time")
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        print("note: PYTHONDONTWRITEBYTECODE is set: modules without a .pyc are compiled on every run")
    for name, (argv, target) in cases.items():
        seconds = median_seconds(argv, args.runs)
        note = f"  (target < {target:.2f} s: {'met' if seconds < target else 'NOT met'})" if target else ""
        print(f"{name:40s} {seconds * 1000:8.1f} ms{note}")


if __name__ == "__main__":
    main()
