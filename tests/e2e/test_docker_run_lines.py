"""`aima plan --docker-run` prints the containers `up` creates: the printed lines, pasted into a shell with the
real `docker` CLI, give containers that `up` then leaves alone (same config hash), that `status` probes for
health, and that `down` removes together with their network."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid

import pytest

from tests.e2e.upkit import PROFILE_2X3090, aima, catalog, containers, stack


def _run_lines(lines: list[str], docker_host: str) -> None:
    env = {**os.environ, "DOCKER_HOST": docker_host}
    for line in lines:
        done = subprocess.run(["bash", "-c", line], env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, f"{line}\n{done.stderr}"


def _status(stack_file) -> dict:
    deadline = time.monotonic() + 20
    while True:
        result = aima("status", "--stack", stack_file, "--json")
        assert result.rc == 0, result.err
        engines = result.json()["engines"]
        if all(e["health"] == "ok" for e in engines.values()) or time.monotonic() > deadline:
            return engines
        time.sleep(0.3)


def test_printed_lines_round_trip_through_up_status_and_down(docker_engine, docker_host_env, stub_image, stacks,
                                                             tmp_path):
    if shutil.which("docker") is None and os.environ.get("CI"):
        pytest.fail("the docker CLI is not installed (.ci/setup-docker installs it)")
    name = stacks.track(f"lines-{uuid.uuid4().hex[:6]}")
    images = catalog(tmp_path, "images-gpu.yaml", stub_image)
    stack_file = stack(tmp_path, name, {"asr": {"candidate": "stub-asr-sm86"}, "tts": {"enabled": False},
                                        "llm": {"env": {"HF_TOKEN": "hf_secret_value"}}})
    args = ["--hardware", PROFILE_2X3090, "--images", images, "--stack", stack_file]
    printed = aima("plan", *args, "--docker-run")
    assert printed.rc == 0, printed.err
    lines = printed.out.strip().splitlines()
    assert lines[0] == f"docker network create --label aima.stack={name} aima-{name}"
    assert "hf_secret_value" not in printed.out and "HF_TOKEN=***" in printed.out  # secrets never printed

    _run_lines([line.replace("HF_TOKEN=***", "HF_TOKEN=pasted") for line in lines], docker_engine.base_url)
    found = containers(docker_engine.client, name)
    assert set(found) == {"asr", "llm"}
    for engine, device in (("asr", "1"), ("llm", "0")):
        assert f"stub: NVIDIA_VISIBLE_DEVICES={device}" in found[engine].logs().decode()

    # `status` finds them by their labels and probes the health URL the labels name.
    engines = _status(stack_file)
    assert {e: (v["state"], v["health"]) for e, v in engines.items()} == {"asr": ("running", "ok"),
                                                                          "llm": ("running", "ok")}

    # The same spec `up` creates: the same config hash, so `up` has nothing to do but wait for health.
    up = aima("up", *args, "--json")
    assert up.rc == 0, up.err
    assert {e: v["action"] for e, v in up.json()["engines"].items()} == {"asr": "noop", "llm": "noop"}
    assert {e: c.id for e, c in containers(docker_engine.client, name).items()} == {e: c.id for e, c in found.items()}

    down = aima("down", "--stack", stack_file)
    assert down.rc == 0, down.err
    assert "removed 2 container(s)" in down.out and f"network aima-{name}" in down.out
    assert containers(docker_engine.client, name) == {}
    assert not docker_engine.client.networks.list(names=[f"aima-{name}"])
