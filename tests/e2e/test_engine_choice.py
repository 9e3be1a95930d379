"""Which engine aima uses, chosen through the real CLI with both test engines answering: `--engine` beats
AIMA_ENGINE beats the stack file's `engine:` beats auto, and `aima doctor` says which and why (issue 18 item 1)."""

from __future__ import annotations

import uuid

import yaml

from tests.e2e.upkit import aima, catalog, stack


def _reachable(*args: str) -> dict:
    result = aima(*args, "--json")
    check = next(c for c in result.json()["checks"] if c["id"] == "docker.reachable")
    assert check["status"] == "ok", check
    return check


def _with_engine(path, engine: str):
    data = yaml.safe_load(path.read_text())
    path.write_text(yaml.safe_dump({"name": data["name"], "engine": engine, "engines": data["engines"]},
                                   sort_keys=False))
    return path


def test_doctor_says_which_engine_and_why(docker_host_env, podman_engine, tmp_path, monkeypatch):
    monkeypatch.delenv("AIMA_ENGINE", raising=False)
    monkeypatch.setenv("CONTAINER_HOST", podman_engine.url)
    stack_file = _with_engine(stack(tmp_path, "choice"), "podman")  # line 2: engine: podman

    chosen = _reachable("doctor", "--stack", stack_file)
    assert chosen["details"]["engine"] == "podman" and chosen["details"]["url"] == podman_engine.url
    assert f"stack file {stack_file}:2" in chosen["summary"], chosen["summary"]
    # The test Podman runs rootful on this host's cgroup v1 (its /info: cgroupVersion v1, every v1 controller).
    rootless = next(c for c in aima("doctor", "--stack", stack_file, "--json").json()["checks"]
                    if c["id"] == "docker.rootless")
    assert rootless["status"] == "ok" and "rootful" in rootless["summary"], rootless
    assert rootless["details"]["rootless"] is False and rootless["details"]["cgroup_version"] in ("v1", "v2")

    monkeypatch.setenv("AIMA_ENGINE", "docker")
    chosen = _reachable("doctor", "--stack", stack_file)
    assert chosen["details"]["engine"] == "docker" and "AIMA_ENGINE=docker" in chosen["summary"]

    monkeypatch.setenv("AIMA_ENGINE", "podman")
    chosen = _reachable("--engine", "docker", "doctor", "--stack", stack_file)
    assert chosen["details"]["engine"] == "docker" and "--engine docker" in chosen["summary"]
    assert chosen["details"]["url"] == docker_host_env


def test_engine_flag_runs_the_stack_on_podman_while_docker_host_is_set(docker_host_env, docker_engine, podman_engine,
                                                                       podman_stacks, stub_image, tmp_path,
                                                                       monkeypatch):
    monkeypatch.delenv("AIMA_ENGINE", raising=False)
    monkeypatch.setenv("CONTAINER_HOST", podman_engine.url)
    name = f"flag-{uuid.uuid4().hex[:6]}"
    podman_stacks.append(name)
    images = catalog(tmp_path, "images.yaml", stub_image)
    stack_file = stack(tmp_path, name, {"llm": {"enabled": False}, "tts": {"enabled": False}})
    up = aima("--engine", "podman", "up", "--images", images, "--stack", stack_file, "--no-verify", "--json")
    assert up.rc == 0, up.err + up.out
    assert [c.engine for c in podman_engine.list({"aima.stack": name})] == ["asr"]
    assert docker_engine.client.containers.list(all=True, filters={"label": f"aima.stack={name}"}) == []
    # Without the flag DOCKER_HOST wins: Docker has no such stack.
    assert "no containers" in aima("status", "--stack", stack_file).out
    status = aima("--engine", "podman", "status", "--stack", stack_file, "--json")
    assert status.rc == 0 and set(status.json()["engines"]) == {"asr"}, status.err
    down = aima("--engine", "podman", "down", "--stack", stack_file)
    assert down.rc == 0 and "removed 1 container(s)" in down.out, down.err + down.out
    assert podman_engine.list({"aima.stack": name}) == []
