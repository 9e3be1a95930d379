"""aima on Podman through its own API (libpod): the real CLI's up/status/logs/down against the test Podman service,
GPUs requested by CDI name and seen inside the containers (the stand-in CDI spec of .ci/setup-podman)."""

from __future__ import annotations

import time
import uuid

import httpx

from tests.e2e.upkit import PROFILE_2X3090, aima, catalog, stack


def _wait_healthy(stack_file, engines: set[str], timeout_s: float = 20) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        status = aima("status", "--stack", stack_file, "--json")
        assert status.rc == 0, status.err
        found = status.json()["engines"]
        if set(found) == engines and all(v["health"] == "ok" for v in found.values()):
            return found
        if time.monotonic() > deadline:
            return found
        time.sleep(0.3)


def test_up_status_logs_down_on_podman_with_gpus_by_cdi(podman_engine, podman_env, podman_stacks, stub_image,
                                                        tmp_path):
    name = f"pod-{uuid.uuid4().hex[:6]}"
    podman_stacks.append(name)
    images = catalog(tmp_path, "images-gpu.yaml", stub_image)
    stack_file = stack(tmp_path, name, {"asr": {"candidate": "stub-asr-sm86"}, "tts": {"enabled": False}})
    args = ["--hardware", PROFILE_2X3090, "--images", images, "--stack", stack_file]

    up = aima("up", *args, "--json")
    assert up.rc == 0, up.err + up.out
    result = up.json()
    assert result["ok"] and {e: v["action"] for e, v in result["engines"].items()} == {"asr": "create",
                                                                                       "llm": "create"}
    for engine in result["engines"].values():
        assert httpx.get(engine["endpoint"] + "/health", timeout=2).json() == {"status": "ok"}

    found = {c.engine: c for c in podman_engine.list({"aima.stack": name})}
    assert set(found) == {"asr", "llm"}
    for engine, device in (("asr", "1"), ("llm", "0")):
        log = b"".join(podman_engine.logs(found[engine].id)).decode()
        assert f"stub: NVIDIA_VISIBLE_DEVICES={device}" in log  # the CDI device nvidia.com/gpu=N reached it

    again = aima("up", *args, "--json")
    assert again.rc == 0, again.err
    assert {e: v["action"] for e, v in again.json()["engines"].items()} == {"asr": "noop", "llm": "noop"}

    assert {e: (v["state"], v["health"]) for e, v in _wait_healthy(stack_file, {"asr", "llm"}).items()} == {
        "asr": ("running", "ok"), "llm": ("running", "ok")}
    logs = aima("logs", "llm", "--tail", "1", "--stack", stack_file)
    assert logs.rc == 0 and logs.out.strip() == "stub: ready", logs.err

    down = aima("down", "--stack", stack_file)
    assert down.rc == 0 and "removed 2 container(s)" in down.out and f"network aima-{name}" in down.out, down.err
    assert podman_engine.list({"aima.stack": name}) == []


def test_a_crash_line_is_diagnosed_on_podman(podman_engine, podman_env, podman_stacks, stub_image, tmp_path):
    name = f"podc-{uuid.uuid4().hex[:6]}"
    podman_stacks.append(name)
    images = catalog(tmp_path, "images.yaml", stub_image)
    line = "CUDA kernel mul_mat_vec has no device code compatible with CUDA arch 520"
    stack_file = stack(tmp_path, name, {"asr": {"env": {"STUB_CRASH_LINE": line}}, "tts": {"enabled": False},
                                        "llm": {"enabled": False}})
    up = aima("up", "--images", images, "--stack", stack_file, "--timeout", "20")
    assert up.rc != 0
    assert "asr" in up.err and ("no device code" in up.err.lower() or "sm_52" in up.err.lower()
                                or "crashed" in up.err.lower() or "exited" in up.err.lower()), up.err
    aima("down", "--stack", stack_file)


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
