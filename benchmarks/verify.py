"""The time the speech loop adds to `aima up`, on the stub engines of the test dockerd.

Prints, for three stub engines (tests/harness/stubs.py) that answer the real request formats:
- `aima up --no-verify` and `aima up` wall time (fresh processes, a fresh stack each run, `aima down` after);
- what verify adds (the difference), the loop's own time, and the engines' own work inside it (the sum of
  the requests' round trips as aima measured them);
- the ratio of (added - engines' work) to the target of 1 s.
Figures only, no asserts. Needs root (or a running test dockerd): bash .ci/setup-docker.
Usage: python benchmarks/verify.py [--runs 3]
"""

from __future__ import annotations

import os
import sys

# Run as a script, this file's folder comes first on sys.path, where benchmarks/inspect.py would hide the
# standard library's inspect module: take the folder off before importing more.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO)]

from tests.e2e.upkit import catalog, stack  # noqa: E402
from tests.harness import dockerd, stubs  # noqa: E402


def _aima(env: dict[str, str], *args: str) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "aima", *args], cwd=REPO, env=env, capture_output=True, text=True)
    return time.perf_counter() - start, done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="fresh stacks per variant")
    args = parser.parse_args()
    daemon = dockerd.ensure_daemon(dockerd.DaemonPaths.from_env())
    stubs.build_stub(daemon.client(), stubs.STUB_TAG)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = {**os.environ, "DOCKER_HOST": daemon.base_url, "XDG_STATE_HOME": str(work / "state")}
        images = catalog(work, "images.yaml", stubs.STUB_TAG)
        plain, verified, loops, engines = [], [], [], []
        for _ in range(args.runs):
            for variant in ("--no-verify", "--json"):
                name = f"bench-vf-{uuid.uuid4().hex[:6]}"
                stack_file = stack(work, name, file=f"{name}.yaml")
                took, done = _aima(env, "up", "--images", str(images), "--stack", str(stack_file), variant)
                _aima(env, "down", "--stack", str(stack_file))
                if done.returncode != 0:
                    sys.exit(f"aima up {variant} failed: {done.stderr.strip()[-400:]}")
                if variant == "--no-verify":
                    plain.append(took)
                    continue
                verified.append(took)
                loop = json.loads(done.stdout)["verify"]
                loops.append(loop["elapsed_s"])
                engines.append(sum(c["elapsed_s"] for c in loop["engines"].values()))
    added = statistics.median(verified) - statistics.median(plain)
    work_s = statistics.median(engines)
    print(f"three stub engines (ready after 1 s), {args.runs} fresh stacks per variant, {os.cpu_count()} CPUs")
    print(f"aima up --no-verify: median {statistics.median(plain):.2f} s  (runs: "
          f"{', '.join(f'{t:.2f}' for t in plain)})")
    print(f"aima up (verify):    median {statistics.median(verified):.2f} s  (runs: "
          f"{', '.join(f'{t:.2f}' for t in verified)})")
    print(f"verify adds {added:.2f} s to up; the loop itself took {statistics.median(loops):.2f} s, of which the "
          f"engines' requests {work_s:.2f} s")
    print(f"added beyond the engines' work: {added - work_s:.2f} s (target < 1 s: ratio {(added - work_s) / 1.0:.2f})")


if __name__ == "__main__":
    main()
