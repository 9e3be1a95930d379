"""`aima --help` and `aima plan` against `docker-compose config` on an equivalent three-service file.

Prints median wall times and the ratios, measured in the same run. docker-compose 1.x (Debian's package,
installed by .ci/setup-docker) is the tool users would otherwise write by hand for this stack.
Run: python benchmarks/cli_vs_compose.py [--runs N]
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
import tempfile  # noqa: E402

from startup import aima_command, median_seconds  # noqa: E402

# The same three engines `aima plan --hardware rtx-4090` chooses, written as a person would by hand.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=11)
    args = parser.parse_args()
    aima = aima_command()
    compose = shutil.which("docker-compose")
    folder = Path(tempfile.mkdtemp(prefix="aima-bench-"))
    (folder / "docker-compose.yml").write_text(COMPOSE)
    results = {
        "aima --help": median_seconds(aima + ["--help"], args.runs),
        "aima plan --hardware rtx-4090": median_seconds(aima + ["plan", "--hardware", "rtx-4090"], args.runs),
    }
    if compose:
        results["docker-compose config"] = median_seconds(
            [compose, "-f", str(folder / "docker-compose.yml"), "config"], args.runs)
    for name, seconds in results.items():
        print(f"{name:34s} {seconds * 1000:8.1f} ms")
    if compose:
        base = results["docker-compose config"]
        print(f"ratio aima --help / docker-compose config: {results['aima --help'] / base:.2f}")
        print(f"ratio aima plan / docker-compose config:   {results['aima plan --hardware rtx-4090'] / base:.2f}")
    else:
        print("docker-compose not installed: no ratio (bash .ci/setup-docker installs it)")


if __name__ == "__main__":
    main()
