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


def _run_lines(lines: list[str], docker_host: str, extra: dict[str, str] | None = None) -> None:
    env = {**os.environ, "DOCKER_HOST": docker_host, **(extra or {})}
    for line in lines:
        done = subprocess.run(["bash", "-c", line], env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, f"{line}\n{done.stderr}"


def _status(stack_file) -> dict:
    deadline = time.monotonic() + 20
    while True:
        result = aima("status", "--stack", stack_file, "--json")
        assert result.rc in (0, 3), result.err  # 3 while an engine is not healthy yet
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
    # Secrets are never printed: `-e HF_TOKEN` makes Docker take the value from the runner's environment.
    assert "hf_secret_value" not in printed.out and " -e HF_TOKEN " in printed.out and "HF_TOKEN=" not in printed.out

    _run_lines(lines, docker_engine.base_url, {"HF_TOKEN": "pasted"})
    found = containers(docker_engine.client, name)
    assert set(found) == {"asr", "llm"}
    for engine, device in (("asr", "1"), ("llm", "0")):
        assert f"stub: NVIDIA_VISIBLE_DEVICES={device}" in found[engine].logs().decode()

    # `status` finds them by their labels and probes the health URL the labels name.
    engines = _status(stack_file)
    assert {e: (v["state"], v["health"]) for e, v in engines.items()} == {"asr": ("running", "ok"),
                                                                          "llm": ("running", "ok")}

    assert found["llm"].attrs["Config"]["Env"].count("HF_TOKEN=pasted") == 1

    # Containers run by hand from the printed lines carry the same labels and config hash, but aima did not
    # create them: `up` names them as look-alikes holding its names and `down` leaves them (docs/launch.md).
    up = aima("up", *args, "--json")
    assert up.rc == 1 and "look-alike" in up.err, up.err
    down = aima("down", "--stack", stack_file)
    assert down.rc == 0, down.err
    assert "left alone" in down.err
    assert {e: c.id for e, c in containers(docker_engine.client, name).items()} == {e: c.id for e, c in found.items()}
    for c in found.values():
        c.remove(force=True)
    for network in docker_engine.client.networks.list(names=[f"aima-{name}"]):
        network.remove()
