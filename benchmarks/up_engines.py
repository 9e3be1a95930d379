"""`aima up` on Podman next to Docker: the same three-engine stub stack, the same run, wall time of a fresh
`aima up` process (plan, create, start, wait until healthy) and of `aima down`, and the Podman/Docker ratio.

Needs root: the test dockerd (tests/harness) and the test Podman service (.ci/setup-podman --start). Figures only.
Usage: python benchmarks/up_engines.py [--ready-after 2] [--runs 3]
"""

from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import argparse  # noqa: E402
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

PODMAN_SOCK = os.environ.get("AIMA_TEST_PODMAN_SOCK", "/run/aima-test/podman.sock")


def _timed(args: list[str], env: dict[str, str]) -> float:
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "aima", *args], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"aima {' '.join(args)} failed: {done.stderr.strip()[-400:]}")
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ready-after", type=float, default=2.0, help="seconds each stub engine 'loads'")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    daemon = dockerd.ensure_daemon(dockerd.DaemonPaths.from_env())
    client = daemon.client()
    stubs.build_stub(client, stubs.STUB_TAG)
    subprocess.run(["bash", str(REPO / ".ci" / "setup-podman"), "--start"], check=True, capture_output=True)
    from aima.engine.podman_engine import PodmanEngine

    podman = PodmanEngine(f"unix://{PODMAN_SOCK}")
    if podman.image(stubs.STUB_TAG) is None:
        saved = b"".join(client.images.get(stubs.STUB_TAG).save())
        podman._call("POST", "/images/load", "load an image", content=saved, timeout=120)
    base = {k: v for k, v in os.environ.items() if k not in ("DOCKER_HOST", "CONTAINER_HOST", "AIMA_ENGINE")}
    envs = {"docker": {**base, "AIMA_ENGINE": "docker", "DOCKER_HOST": daemon.base_url},
            "podman": {**base, "AIMA_ENGINE": "podman", "CONTAINER_HOST": f"unix://{PODMAN_SOCK}"}}
    figures: dict[str, dict[str, list[float]]] = {e: {"up": [], "down": []} for e in envs}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        images = catalog(work, "images.yaml", stubs.STUB_TAG)
        ready = {"env": {"STUB_READY_AFTER": f"{args.ready_after:g}"}}
        for _ in range(args.runs):
            for engine, env in envs.items():  # interleaved, so both see the same machine load
                folder = work / f"{engine}-{uuid.uuid4().hex[:6]}"
                folder.mkdir()
                stack_file = stack(folder, f"bench-{uuid.uuid4().hex[:6]}", {e: ready for e in ("asr", "llm", "tts")})
                figures[engine]["up"].append(_timed(["up", "--images", str(images), "--stack", str(stack_file)], env))
                figures[engine]["down"].append(_timed(["down", "--stack", str(stack_file)], env))
    print(f"three stub engines ready after {args.ready_after:g} s; {args.runs} run(s) each, interleaved; "
          f"{os.cpu_count()} CPUs")
    for step in ("up", "down"):
        d, p = statistics.median(figures["docker"][step]), statistics.median(figures["podman"][step])
        print(f"aima {step:4}  docker {d:6.2f} s   podman {p:6.2f} s   podman/docker {p / d:4.2f}x")


if __name__ == "__main__":
    main()
