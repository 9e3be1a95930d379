"""`aima plan` against `docker-compose config` on an equivalent three-service file; `aima --help` against ramalama's.

Prints median wall times and the ratios, measured in the same run. docker-compose 1.x (Debian's package,
installed by .ci/setup-docker) is the tool users would otherwise write by hand for this stack; ramalama (a
Python CLI that also starts AI engines in containers; `pip install ramalama`, found on PATH or with
--ramalama) is the nearest neighbour for start-up cost. The commands take turns, run by run, so a busy
machine slows each of them alike. Targets (issue 12): plan <= 0.40 x compose, --help <= 0.5 x ramalama's.
Run: python benchmarks/cli_vs_compose.py [--runs N] [--ramalama PATH]
"""

from __future__ import annotations

import sys
from pathlib import Path

# This folder goes last on sys.path: benchmarks/inspect.py (the name) must not shadow the stdlib
# module, while the benchmarks can still import each other.
_here = str(Path(__file__).resolve().parent)
sys.path[:] = [p for p in sys.path if str(Path(p or ".").resolve()) != _here] + [_here]

import argparse  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

from startup import aima_command  # noqa: E402

# The same three engines `aima plan --hardware rtx-3080` chooses, written as a person would by hand.
COMPOSE = """
version: "2.4"
services:
  asr:
    image: ghcr.io/ggml-org/whisper.cpp:main-cuda
    entrypoint: [bash, -c]
    command: ["whisper-server --host 0.0.0.0 --port 8080 -m /models/ggml-large-v3.bin"]
    ports: ["127.0.0.1:8001:8080"]
    volumes: ["~/.local/share/aima/models/asr:/models:ro"]
    mem_limit: 8g
    cpus: 4
    shm_size: 1g
    runtime: nvidia
    environment: {NVIDIA_VISIBLE_DEVICES: "0"}
  llm:
    image: vllm/vllm-openai:v0.15.0
    command: [--model, /models/Qwen2.5-7B-Instruct, --port, "8000", --gpu-memory-utilization, "0.6"]
    ports: ["127.0.0.1:8000:8000"]
    volumes: ["~/.local/share/aima/models/llm:/models:ro"]
    shm_size: 8g
    runtime: nvidia
    environment: {NVIDIA_VISIBLE_DEVICES: "0"}
  tts:
    image: ghcr.io/remsky/kokoro-fastapi-gpu:latest
    ports: ["127.0.0.1:8002:8880"]
    mem_limit: 4g
    cpus: 2
    runtime: nvidia
    environment: {NVIDIA_VISIBLE_DEVICES: "0"}
"""


PLAN = "aima plan --hardware rtx-3080"
COMPOSE_CONFIG = "docker-compose config"


def interleaved_medians(commands: dict[str, list[str]], runs: int) -> dict[str, float]:
    """Median wall time of each command; one warm-up each, then the commands take turns `runs` times."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for argv in commands.values():
        subprocess.run(argv, capture_output=True, check=False)
    for _ in range(runs):
        for name, argv in commands.items():
            start = time.perf_counter()
            subprocess.run(argv, capture_output=True, check=False)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--ramalama", help="the ramalama command (default: found on PATH)")
    args = parser.parse_args()
    aima = aima_command()
    compose = shutil.which("docker-compose")
    ramalama = args.ramalama or shutil.which("ramalama")
    folder = Path(tempfile.mkdtemp(prefix="aima-bench-"))
    (folder / "docker-compose.yml").write_text(COMPOSE)
    commands = {"aima --help": aima + ["--help"], PLAN: aima + ["plan", "--hardware", "rtx-3080"]}
    if compose:
        commands[COMPOSE_CONFIG] = [compose, "-f", str(folder / "docker-compose.yml"), "config"]
    if ramalama:
        commands["ramalama --help"] = [ramalama, "--help"]
    results = interleaved_medians(commands, args.runs)
    for name, seconds in results.items():
        print(f"{name:34s} {seconds * 1000:8.1f} ms")
    if compose:
        ratio = results[PLAN] / results[COMPOSE_CONFIG]
        print(f"ratio aima plan / docker-compose config:   {ratio:.2f}  (target <= 0.40: "
              f"{'met' if ratio <= 0.40 else 'NOT met'})")
        print(f"ratio aima --help / docker-compose config: {results['aima --help'] / results[COMPOSE_CONFIG]:.2f}")
    else:
        print("docker-compose not installed: no plan ratio (bash .ci/setup-docker installs it)")
    if ramalama:
        ratio = results["aima --help"] / results["ramalama --help"]
        verdict = "met" if ratio <= 0.5 else "NOT met"
        print(f"ratio aima --help / ramalama --help:       {ratio:.2f}  (target <= 0.5: {verdict})")
    else:
        print("ramalama not found: no --help ratio (pip install ramalama, or --ramalama PATH)")


if __name__ == "__main__":
    main()
