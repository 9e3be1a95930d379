"""CI's `aima catalog verify` run: push images to a loopback registry, verify a catalogue of them with the CLI.

CI cannot reach ghcr.io or Docker Hub, so it checks the whole path (registry reader, comparison, exit
codes, drift lines) against a real docker-registry: a catalogue that agrees with its images must exit 0,
the same catalogue after the tag moves must exit 1 with the exact drift lines. Run: python -m tests.harness.verify_ci
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from tests.harness.oci import PlatformSpec, Pusher
from tests.harness.registry import RegistryPaths, start_private_registry

REQUIRE = "cuda>=12.9 brand=tesla,driver>=535,driver<536 brand=tesla,driver>=570,driver<571"
CATALOGUE = """version: 1
engines:
  llm:
    candidates:
      - id: llama-gpu
        image: {host}/aima-ci/llama.cpp:server-cuda
        gpu: true
        platforms: [linux/amd64, linux/arm64]
        cuda: "12.9"
        archs: "80;90"
        require_cuda: "{require}"
        entrypoint: [/app/llama-server]
        port: 8080
        source: pushed by tests/harness/verify_ci.py
      - id: llama-cpu
        image: {host}/aima-ci/llama.cpp:server
        gpu: false
        platforms: [linux/amd64]
        port: 8080
"""


def _gpu(platform: str, cuda: str, require: str) -> PlatformSpec:
    return PlatformSpec(platform, env={"CUDA_VERSION": cuda, "NVIDIA_REQUIRE_CUDA": require},
                        entrypoint=["/app/llama-server"], exposed_ports=["8080/tcp"])


def _verify(aima: str, catalogue: Path) -> tuple[int, str]:
    done = subprocess.run([aima, "catalog", "verify", "--images", str(catalogue)], capture_output=True, text=True,
                          timeout=120, check=False)
    sys.stderr.write(done.stderr)
    return done.returncode, done.stdout


def main() -> int:
    aima = str(Path(sys.executable).with_name("aima"))
    registry = start_private_registry(RegistryPaths.from_env())
    try:
        pusher = Pusher(registry.host)
        pusher.push("aima-ci/llama.cpp", "server-cuda", [_gpu("linux/amd64", "12.9.1", REQUIRE),
                                                        _gpu("linux/arm64", "12.9.1", REQUIRE)])
        pusher.push("aima-ci/llama.cpp", "server", [PlatformSpec("linux/amd64")])
        with tempfile.TemporaryDirectory() as folder:
            catalogue = Path(folder) / "images.yaml"
            catalogue.write_text(CATALOGUE.format(host=registry.host, require=REQUIRE))
            code, out = _verify(aima, catalogue)
            if code != 0 or out:
                print(f"catalog verify: expected exit 0 and no drift, got {code}:\n{out}")
                return 1
            moved = pusher.push("aima-ci/llama.cpp", "server-cuda", [_gpu("linux/amd64", "13.4.1", "cuda>=13.4"),
                                                                    _gpu("linux/arm64", "12.9.1", REQUIRE)])
            digest = moved.platform_digests["linux/amd64"]
            expected = (f"llm/llama-gpu: cuda: catalogue 12.9, image 13.4 (linux/amd64 {digest})\n"
                        f"llm/llama-gpu: require_cuda: catalogue cuda>=12.9 + branches 535/570 for 1 brands, "
                        f"image cuda>=13.4 (linux/amd64 {digest})\n")
            code, out = _verify(aima, catalogue)
            if code != 1 or out != expected:
                print(f"catalog verify after the tag moved: expected exit 1 and\n{expected}got {code}:\n{out}")
                return 1
        print("catalog verify: a catalogue that agrees exits 0; after its tag moved, exactly the drifted facts, exit 1")
        return 0
    finally:
        registry.remove()


if __name__ == "__main__":
    sys.exit(main())
