"""What only Podman has: its Docker-compatible API accepts a GPU request and drops it (4.3.1), and `up` must fail
rather than run the engine on the CPU. up/status/logs/down, CDI placement, crashes, pulls, faults and doctor on
Podman are the parametrised tests of this folder (`engine` in conftest.py), which run on Docker and Podman alike."""

from __future__ import annotations

import uuid

from tests.e2e.upkit import PROFILE_2X3090, aima, catalog, stack


def test_a_gpu_request_the_engine_drops_is_a_failure_not_a_cpu_run(podman_engine, podman_stacks, stub_image,
                                                                     tmp_path, monkeypatch):
    # Podman's Docker-compatible API (same socket) accepts --gpus and silently drops it on 4.3.1 (issue 18).
    monkeypatch.setenv("AIMA_ENGINE", "docker")
    monkeypatch.setenv("DOCKER_HOST", podman_engine.url)
    name = f"podg-{uuid.uuid4().hex[:6]}"
    podman_stacks.append(name)
    images = catalog(tmp_path, "images-gpu.yaml", stub_image)
    stack_file = stack(tmp_path, name, {"asr": {"candidate": "stub-asr-sm86"}, "tts": {"enabled": False},
                                        "llm": {"enabled": False}})
    up = aima("up", "--hardware", PROFILE_2X3090, "--images", images, "--stack", stack_file)
    assert up.rc != 0
    said = up.err + up.out
    assert "got no GPU" in said and "would run on the CPU" in said, said
    assert podman_engine.list({"aima.stack": name}) == []  # the GPU-less container is not left running
