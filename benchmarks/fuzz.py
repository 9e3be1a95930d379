"""Fuzz every input aima reads with hypothesis: N examples per target (default 10,000); print the count,
the uncaught exceptions (target: 0) and examples/s. Run: python benchmarks/fuzz.py [--examples N].
"""

from __future__ import annotations

import sys
from pathlib import Path

# This folder goes last on sys.path: benchmarks/inspect.py (the name) must not shadow the stdlib
# module, while the benchmarks can still import each other.
_here = str(Path(__file__).resolve().parent)
sys.path[:] = [p for p in sys.path if str(Path(p or ".").resolve()) != _here] + [_here]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

from hypothesis import HealthCheck, given, settings  # noqa: E402

from tests.fuzz import targets  # noqa: E402
from tests.fuzz.strategies import (  # noqa: E402
    ARCH_STRINGS,
    DOCKER_HOSTS,
    DOCUMENTS,
    HEALTH_BODIES,
    HF_URIS,
    HOSTILE,
    HUB_ENVS,
    LISTING_ENTRIES,
    PATH_ENVS,
    PING_ANSWERS,
    REQUIRE_STRINGS,
)


def run(name: str, strategy, call, examples: int) -> tuple[int, int, float]:
    """Run one target; return (examples run, uncaught exceptions, seconds)."""
    count = failures = 0

    @settings(max_examples=examples, deadline=None, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def one(value):
        nonlocal count, failures
        count += 1
        try:
            call(value)
        except Exception as exc:  # noqa: BLE001 - counting is the point
            failures += 1
            if failures <= 3:
                print(f"  {name}: {type(exc).__name__}: {str(exc)[:200]!r} for {value!r:.120}")

    start = time.perf_counter()
    one()
    return count, failures, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--examples", type=int, default=10_000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="aima-fuzz-"))
    cases = [(f"{loader} loader", DOCUMENTS, lambda text, loader=loader: targets.load_yaml(loader, text, folder))
             for loader in ("catalog", "profile", "stack", "signatures")]
    cases += [(f"{loader} loader, hostile (aliases, sizes, control characters)", HOSTILE,
               lambda text, loader=loader: targets.load_yaml(loader, text, folder))
              for loader in ("catalog", "profile", "stack", "signatures")]
    cases += [("arch strings", ARCH_STRINGS, targets.arch_string),
              ("NVIDIA_REQUIRE_CUDA strings", REQUIRE_STRINGS, targets.require_string),
              ("HOME and XDG_* values", PATH_ENVS, targets.paths_from_env),
              ("health responses", HEALTH_BODIES.flatmap(lambda b: targets.STATUSES.map(lambda s: (b, s))),
               lambda pair: targets.health_response(*pair)),
              ("DOCKER_HOST values", DOCKER_HOSTS, targets.docker_host),
              ("answers to GET /_ping", PING_ANSWERS, targets.ping_answer),
              ("hf:// URIs", HF_URIS, targets.hf_uri),
              ("hub file listing entries", LISTING_ENTRIES, targets.listing_entry),
              ("HF_ENDPOINT/_TIMEOUT values", HUB_ENVS, targets.hub_settings)]
    total_failures = 0
    for name, strategy, call in cases:
        count, failures, seconds = run(name, strategy, call, args.examples)
        total_failures += failures
        print(f"{name:30s} {count:7d} examples  {failures} uncaught  {count / seconds:8.0f}/s")
    print(f"uncaught exceptions in total: {total_failures} (target 0)")


if __name__ == "__main__":
    main()
