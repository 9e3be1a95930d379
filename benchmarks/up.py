"""How long `aima up` takes next to the engines' own start-up, and how fast it names a crash.

On the test dockerd (tests/harness: real dockerd, busybox stub engines), prints:

- three stub engines that become ready after N seconds: total `aima up` wall time (a fresh process, plan and
  all) and its ratio to N (target <= 1.1), then a re-run on the unchanged stack;
- one engine that prints seed 000's line and exits: time from that line (Docker's log timestamp) to aima's
  diagnosis (target <= 1 s) and to `aima up` having exited;
- the same two cases with `docker-compose up -d` plus polling (health every 0.1 s; container state every 0.1 s),
  which starts as fast but cannot say what the crash means.

Figures only, no asserts. Needs root (or a running test dockerd) and `docker-compose` (bash .ci/setup-docker).
Usage: python benchmarks/up.py [--ready-after 10] [--crash-after 2] [--runs 1]
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
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO)]

from tests.e2e.upkit import catalog, free_port  # noqa: E402
from tests.harness import dockerd, stubs  # noqa: E402

SEED_000 = "CUDA kernel mul_mat_vec has no device code compatible with CUDA arch 520"
ENGINES = ("asr", "llm", "tts")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ready-after", type=float, default=10.0, help="N: seconds each stub engine 'loads'")
    parser.add_argument("--crash-after", type=float, default=2.0, help="seconds before the crashing stub's line")
    parser.add_argument("--runs", type=int, default=1, help="repeat each measurement")
    args = parser.parse_args()
    daemon = dockerd.ensure_daemon(dockerd.DaemonPaths.from_env())
    client = daemon.client()
    stubs.build_stub(client, stubs.STUB_TAG)
    env = {**os.environ, "DOCKER_HOST": daemon.base_url}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        images = catalog(work, "images.yaml", stubs.STUB_TAG)
        n = args.ready_after
        print(f"three stub engines ready after N = {n:g} s; crash line after {args.crash_after:g} s; "
              f"{os.cpu_count()} CPUs; Docker at {daemon.base_url}")
        for run in range(args.runs):
            total, again = aima_up_ready(work, images, env, n)
            print(f"aima up           : {total:6.2f} s = {total / n:.3f} x N  (re-up unchanged: {again:.2f} s)")
            latency, exited = aima_up_crash(work, images, env, client, args.crash_after)
            print(f"aima crash        : line -> diagnosis {latency:.3f} s; line -> `up` exited {exited:.3f} s")
            if shutil.which("docker-compose"):
                total = compose_ready(work, env, n)
                print(f"docker-compose    : {total:6.2f} s = {total / n:.3f} x N  (up -d + polling /health)")
                seen = compose_crash(work, env, client, args.crash_after)
                print(f"compose crash     : line -> exit seen by polling {seen:.3f} s (no diagnosis)")
            else:
                print("docker-compose not installed: run `bash .ci/setup-docker` for the comparison")
            if args.runs > 1:
                print(f"-- run {run + 1} of {args.runs} done")


def _stack(work: Path, name: str, engines: dict) -> Path:
    import yaml

    path = work / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, "engines": engines}))
    return path


def aima_up_ready(work: Path, images: Path, env: dict, n: float) -> tuple[float, float]:
    """Wall time of `python -m aima up` for three engines ready after n seconds, then of a re-run."""
    name = f"bench-{uuid.uuid4().hex[:6]}"
    stack = _stack(work, name, {e: {"port": free_port(), "env": {"STUB_READY_AFTER": f"{n:g}"}} for e in ENGINES})
    try:
        total = _timed(["up", "--images", images, "--stack", stack, "--json"], env)
        again = _timed(["up", "--images", images, "--stack", stack, "--json"], env)
    finally:
        _aima(["down", "--stack", stack], env)
    return total, again


def aima_up_crash(work: Path, images: Path, env: dict, client, crash_after: float) -> tuple[float, float]:
    """(crash line -> diagnosis as aima measured it, crash line -> `up` exited) for one crashing engine."""
    name = f"bench-{uuid.uuid4().hex[:6]}"
    crash = {"STUB_READY_AFTER": "60", "STUB_CRASH_AFTER": f"{crash_after:g}", "STUB_CRASH_LINE": SEED_000}
    stack = _stack(work, name, {"asr": {"port": free_port(), "env": crash}, "llm": {"enabled": False},
                                "tts": {"enabled": False}})
    try:
        done = _aima(["up", "--images", images, "--stack", stack, "--json"], env)
        exited = time.time()
        report = json.loads(done.stdout)["engines"]["asr"]
        line_at = _line_time(client, f"aima-{name}-asr", SEED_000)
    finally:
        _aima(["down", "--stack", stack], env)
    return report["diagnosis_latency_s"], exited - line_at


def compose_ready(work: Path, env: dict, n: float) -> float:
    """Wall time of `docker-compose up -d` plus polling every /health until all answer 200."""
    import httpx

    ports = {e: free_port() for e in ENGINES}
    project = f"bench{uuid.uuid4().hex[:6]}"
    compose = _compose_file(work, project, {e: ({"STUB_READY_AFTER": f"{n:g}"}, ports[e]) for e in ENGINES})
    started = time.monotonic()
    try:
        _compose(compose, project, env, "up", "-d")
        pending = set(ENGINES)
        with httpx.Client(timeout=1.0, trust_env=False) as http:
            while pending:
                for e in list(pending):
                    try:
                        if http.get(f"http://127.0.0.1:{ports[e]}/health").status_code == 200:
                            pending.discard(e)
                    except httpx.HTTPError:
                        pass
                if pending:
                    time.sleep(0.1)
        return time.monotonic() - started
    finally:
        _compose(compose, project, env, "down", "-t", "1")


def compose_crash(work: Path, env: dict, client, crash_after: float) -> float:
    """Crash line -> the moment polling `docker inspect` every 0.1 s sees the container exited."""
    project = f"bench{uuid.uuid4().hex[:6]}"
    crash = {"STUB_READY_AFTER": "60", "STUB_CRASH_AFTER": f"{crash_after:g}", "STUB_CRASH_LINE": SEED_000}
    compose = _compose_file(work, project, {"asr": (crash, free_port())})
    try:
        _compose(compose, project, env, "up", "-d")
        container = client.containers.list(all=True, filters={"label": f"com.docker.compose.project={project}"})[0]
        while True:
            container.reload()
            if container.status == "exited":
                seen = time.time()
                break
            time.sleep(0.1)
        return seen - _line_time(client, container.name, SEED_000)
    finally:
        _compose(compose, project, env, "down", "-t", "1")


def _compose_file(work: Path, project: str, services: dict[str, tuple[dict, int]]) -> Path:
    import yaml

    body = {"version": "2.4", "services": {
        name: {"image": stubs.STUB_TAG, "environment": env, "ports": [f"127.0.0.1:{port}:8080"]}
        for name, (env, port) in services.items()}}
    path = work / f"{project}.compose.yaml"
    path.write_text(yaml.safe_dump(body))
    return path


def _compose(path: Path, project: str, env: dict, *args: str) -> None:
    subprocess.run(["docker-compose", "-p", project, "-f", str(path), *args], env=env, check=True,
                   capture_output=True)


def _line_time(client, container: str, text: str) -> float:
    """Docker's timestamp of the first log line containing text."""
    from aima.launch.logwatch import split_timestamp

    for raw in client.api.logs(container, timestamps=True).decode().splitlines():
        when, line = split_timestamp(raw)
        if text in line and when is not None:
            return when
    raise SystemExit(f"{text!r} not in the log of {container}")


def _aima(args: list, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "aima", *map(str, args)], cwd=REPO, env=env, capture_output=True,
                          text=True)


def _timed(args: list, env: dict) -> float:
    started = time.monotonic()
    done = _aima(args, env)
    elapsed = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"aima {' '.join(map(str, args))} failed:\n{done.stderr}")
    return elapsed


if __name__ == "__main__":
    main()
