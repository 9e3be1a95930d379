"""A moving tag (issue #17): the image pulled under a tag now needs a newer CUDA than the catalogue says.

The stub image is re-tagged with NVIDIA_REQUIRE_CUDA=cuda>=13.4 (as llama.cpp's server-cuda13 moved to CUDA
13.4) and pushed to the loopback registry; the catalogue still states CUDA 12.4. `up` pulls it on each engine (the
test dockerd, the test Podman service), reads the pulled image's own Env and refuses before any container is created.
"""

from __future__ import annotations

import io
import uuid

from tests.e2e.upkit import PROFILE_2X3090, aima, containers, stack
from tests.harness import stubs


def _moved_image(client, base: str, registry_host: str, repo: str) -> str:
    dockerfile = f"FROM {base}\nENV CUDA_VERSION=13.4.1 NVIDIA_REQUIRE_CUDA=cuda>=13.4\n".encode()
    image, _ = client.images.build(fileobj=io.BytesIO(dockerfile), rm=True)
    pushed = stubs.push(client, image.id, registry_host, repository=repo, tag="server-cuda13")
    client.images.remove(pushed.ref)  # only in the registry: `up` must pull it
    return pushed.ref


def test_moved_tag_refused(
        engine, engine_env, docker_engine, registry, stub_image, stacks, tmp_path):
    name = stacks.new()
    ref = _moved_image(docker_engine.client, stub_image, registry.host, f"aima-test/moving-{uuid.uuid4().hex[:8]}")
    images = tmp_path / "images.yaml"
    images.write_text(f"""version: 1
extends: false
engines:
  asr:
    candidates:
      - id: moved-gpu
        image: {ref}
        gpu: true
        platforms: [linux/amd64, linux/arm64]
        archs: ["86"]
        cuda: "12.4"
        port: 8080
        health: {{path: /health, startup_timeout_s: 20, interval_s: 0.1}}
        env: {{STUB_READY_AFTER: "1"}}
""")
    stack_file = stack(tmp_path, name, {"llm": {"enabled": False}, "tts": {"enabled": False}})
    result = aima("up", "--hardware", PROFILE_2X3090, "--images", str(images), "--stack", str(stack_file))
    assert result.rc == 1
    assert (f"asr: the pulled image {ref} cannot start on GPU 0 (NVIDIA GeForce RTX 3090): NVIDIA_REQUIRE_CUDA "
            "unsatisfied condition: cuda>=13.4") in result.err
    assert "nothing was created" in result.err and "aima catalog verify" in result.err
    assert containers(engine.client, name) == {}
    assert engine.client.images.get(ref)  # it was pulled: the check read the pulled image, not the catalogue
