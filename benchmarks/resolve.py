"""Resolutions per second over every shipped profile x engine (target >= 10,000/s), and full plans per second.

Run: python benchmarks/resolve.py [--seconds S]. Pure functions only: no Docker, no NVML.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This folder goes last on sys.path: benchmarks/inspect.py (the name) must not shadow the stdlib
# module, while the benchmarks can still import each other.
_here = str(Path(__file__).resolve().parent)
sys.path[:] = [p for p in sys.path if str(Path(p or ".").resolve()) != _here] + [_here]

import argparse
import time

from aima.catalog.load import load_catalog
from aima.hardware.profiles import all_profiles
from aima.plan import make_plan
from aima.resolve import resolve
from aima.stack import Stack


def rate(fn, seconds: float) -> tuple[float, int]:
    """Calls of fn per second over about `seconds`, and the call count."""
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        count += 1
    return count / (time.perf_counter() - start), count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    catalog = load_catalog(include_user_config=False)
    machines = [p.hardware for p in all_profiles()]
    engines = [e.name for e in catalog.engines]
    pairs = [(hw, e) for hw in machines for e in engines]

    def resolve_all() -> None:
        for hw, engine in pairs:
            resolve(engine, hw, catalog)

    per_sweep, sweeps = rate(resolve_all, args.seconds)
    print(f"{len(machines)} profiles x {len(engines)} engines = {len(pairs)} resolutions per sweep")
    print(f"resolutions/s: {per_sweep * len(pairs):,.0f}  (target >= 10,000/s; {sweeps} sweeps)")
    stack = Stack()
    plans, _ = rate(lambda: [make_plan(hw, catalog, stack) for hw in machines], args.seconds)
    print(f"full plans/s:  {plans * len(machines):,.0f}")


if __name__ == "__main__":
    main()
