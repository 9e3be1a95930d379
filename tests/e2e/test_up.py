"""`aima up/down/status/logs` end to end: the real CLI on each engine (the test dockerd, then the test Podman service),
stub engines, a loopback registry.

Catalogues: tests/e2e/data/images.yaml (three CPU stubs) and images-gpu.yaml (GPU stubs, seed 000's crash and
its fallbacks, planned with --hardware profiles/2x-rtx-3090.yaml). Each test uses its own stack name and free
loopback ports; the `stacks` fixture removes whatever is labelled with those names afterwards.
"""

from __future__ import annotations

import socket
import uuid

import httpx
import pytest

from tests.e2e.conftest import ENGINES
from tests.e2e.upkit import PROFILE_2X3090, aima, catalog, containers, stack


def _name(stacks, hint: str) -> str:
    # Stack names must be short (31 characters) and unique on the shared daemon.
    return stacks.track(f"up-{hint}-{uuid.uuid4().hex[:6]}")


def test_three_engines_come_up_healthy_then_reup_changes_nothing_then_down(
        engine, engine_env, stub_image, stacks, tmp_path):
    client = engine.client
    name = _name(stacks, "three")
    images, stack_file = catalog(tmp_path, "images.yaml", stub_image), stack(tmp_path, name)
    args = ["--images", images, "--stack", stack_file]

    first = aima("up", *args, "--json")
    assert first.rc == 0, first.err
    result = first.json()
    assert result["ok"] and {e["state"] for e in result["engines"].values()} == {"ready"}
    for row in result["engines"].values():
        assert row["action"] == "create"
        assert httpx.get(row["endpoint"] + "/health", timeout=2).json() == {"status": "ok"}
    found = containers(client, name)
    assert set(found) == {"asr", "llm", "tts"}
    asr = found["asr"].attrs
    labels = asr["Config"]["Labels"]
    assert labels["aima.stack"] == name and labels["aima.engine"] == "asr" and labels["aima.candidate"] == "stub-asr"
    assert len(labels["aima.config-hash"]) == 64
    host = asr["HostConfig"]
    assert host["Memory"] == 256 * 2**20 and engine.cpus(found["asr"]) == 0.5 and host["PidsLimit"] == 64
    assert host["ShmSize"] == 32 * 2**20 and not host["Privileged"]
    assert host["PortBindings"]["8080/tcp"][0]["HostIp"] == "127.0.0.1"
    assert list(asr["NetworkSettings"]["Networks"]) == [f"aima-{name}"]

    ids = {role: c.id for role, c in found.items()}
    again = aima("up", *args, "--json")
    assert again.rc == 0, again.err
    assert {e: v["action"] for e, v in again.json()["engines"].items()} == {"asr": "noop", "llm": "noop", "tts": "noop"}
    assert {role: c.id for role, c in containers(client, name).items()} == ids

    status = aima("status", "--stack", stack_file, "--json")
    assert status.rc == 0, status.err
    assert {e: (v["state"], v["health"]) for e, v in status.json()["engines"].items()} == {
        "asr": ("running", "ok"), "llm": ("running", "ok"), "tts": ("running", "ok")}

    logs = aima("logs", "llm", "--tail", "1", "--stack", stack_file)
    assert logs.rc == 0 and logs.out.strip() == "stub: ready"

    down = aima("down", "--stack", stack_file)
    assert down.rc == 0 and "removed 3 container(s)" in down.out and f"network aima-{name}" in down.out
    assert containers(client, name) == {}
    assert not client.networks.list(names=[f"aima-{name}"])


def test_reup_with_one_change_recreates_only_that_engine(engine, engine_env, stub_image, stacks, tmp_path):
    name = _name(stacks, "change")
    images = catalog(tmp_path, "images.yaml", stub_image)
    ports = stack(tmp_path, name)
    assert aima("up", "--images", images, "--stack", ports).rc == 0
    before = {role: c.id for role, c in containers(engine.client, name).items()}
    # Same ports, one change: tts gets an extra env var.
    changed = ports.read_text().replace("tts:\n    port:", "tts:\n    env: {EXTRA: '1'}\n    port:")
    ports.write_text(changed)
    again = aima("up", "--images", images, "--stack", ports, "--json")
    assert again.rc == 0, again.err
    assert {e: v["action"] for e, v in again.json()["engines"].items()} == {
        "asr": "noop", "llm": "noop", "tts": "recreate"}
    after = {role: c.id for role, c in containers(engine.client, name).items()}
    assert after["asr"] == before["asr"] and after["llm"] == before["llm"] and after["tts"] != before["tts"]


def test_seed_000_crash_is_diagnosed_within_a_second_and_falls_back(
        engine, engine_env, stub_image, stacks, tmp_path):
    name = _name(stacks, "seed000")
    images = catalog(tmp_path, "images-gpu.yaml", stub_image)
    stack_file = stack(tmp_path, name)
    args = ["--hardware", PROFILE_2X3090, "--images", images, "--stack", stack_file]

    first = aima("up", *args, "--json")
    assert first.rc == 1  # tts's only fallback is a CPU image
    engines = first.json()["engines"]
    asr = engines["asr"]
    assert asr["state"] == "ready" and asr["candidate"] == "stub-asr-sm86"
    assert asr["fell_back"] == [{"candidate": "stub-asr-sm52", "why": "ggml kernel has no device code for this GPU"}]
    tts = engines["tts"]
    assert tts["state"] == "crashed" and tts["diagnosis"]["signature"] == "cuda-no-kernel-image"
    assert tts["diagnosis_latency_s"] <= 1.0
    assert "--allow-cpu" in tts["no_fallback"]
    assert "RuntimeError: CUDA error: no kernel image is available for execution on the device" in tts["log_tail"]
    assert "1 of 3 engines did not come up: tts (crashed)" in first.err

    labels = containers(engine.client, name)["asr"].labels
    assert labels["aima.candidate"] == "stub-asr-sm86"

    second = aima("up", *args, "--allow-cpu")
    assert second.rc == 0, second.err
    assert "tts: stub-tts-gpu-broken failed: no kernel image is available for this GPU — falling back to stub-tts-cpu" \
        in second.err
    assert "asr: noop stub-asr-sm86" in second.err  # the earlier fallback is kept, not retried


def test_crash_line_to_diagnosis_is_under_a_second(engine, engine_env, stub_image, stacks, tmp_path):
    name = _name(stacks, "latency")
    images = catalog(tmp_path, "images-gpu.yaml", stub_image)
    # Only asr, pinned to the seed-000 candidate, so that nothing else competes for the two cores.
    stack_file = stack(tmp_path, name, {"asr": {"candidate": "stub-asr-sm52"}, "llm": {"enabled": False},
                                        "tts": {"enabled": False}})
    result = aima("up", "--hardware", PROFILE_2X3090, "--images", images, "--stack", stack_file, "--json")
    asr = result.json()["engines"]["asr"]
    assert result.rc == 1 and asr["state"] == "crashed"
    assert asr["diagnosis"]["line"] == "CUDA kernel mul_mat_vec has no device code compatible with CUDA arch 520"
    assert asr["diagnosis"]["remedy"] and asr["diagnosis"]["meaning"]
    assert 0 <= asr["diagnosis_latency_s"] <= 1.0
    assert asr["waited_s"] < 3  # the crash comes 1 s after start; the engine would only be ready after 5 s
    assert asr["no_fallback"] == "no other candidate fits this machine"


def test_gpu_placement_is_visible_inside_the_containers(engine, engine_env, stub_image, stacks, tmp_path,
                                                        fake_nvml):
    name = _name(stacks, "gpus")
    images = catalog(tmp_path, "images-gpu.yaml", stub_image)
    stack_file = stack(tmp_path, name, {"asr": {"candidate": "stub-asr-sm86"}, "tts": {"enabled": False}})
    plan = aima("plan", "--hardware", PROFILE_2X3090, "--images", images, "--stack", stack_file, "--json").json()
    planned = {e: v["devices"] for e, v in plan["engines"].items()}
    assert planned == {"asr": ["1"], "llm": ["0"]}  # the LLM takes a GPU of its own
    hooks_before = len(engine.docker.hook_calls()) if engine.docker else 0

    result = aima("up", "--hardware", PROFILE_2X3090, "--images", images, "--stack", stack_file)
    assert result.rc == 0, result.err
    found = containers(engine.client, name)
    for role, devices in planned.items():
        container = found[role]
        assert f"stub: NVIDIA_VISIBLE_DEVICES={','.join(devices)}" in container.logs().decode()
        if engine.kind == "docker":  # Docker: a device request, which dockerd's nvidia driver hands to the hook
            request = container.attrs["HostConfig"]["DeviceRequests"]
            assert request == [{"Driver": "", "Count": 0, "DeviceIDs": devices, "Capabilities": [["gpu"]],
                                "Options": {}}]
            assert container.id in "\n".join(engine.docker.hook_calls()[hooks_before:])
        else:  # Podman: the CDI device nvidia.com/gpu=N, whose stand-in spec binds /dev/null as /dev/nvidiaN
            exec_ = engine.client.api.exec_create(container.id, ["ls", f"/dev/nvidia{devices[0]}"])
            assert engine.client.api.exec_start(exec_).decode().strip() == f"/dev/nvidia{devices[0]}"

    # status: GPU memory per container from NVML (a fake NVML that sees the containers' host PIDs on the GPUs).
    pids = {e: engine.host_pids(c) for e, c in found.items()}
    profile = tmp_path / "nvml.yaml"
    processes = [{"pid": pid, "used_mib": 1000 if e == "llm" else 300} for e, ps in pids.items() for pid in ps]
    profile.write_text(_nvml_profile(processes))
    fake_nvml(profile)
    status = aima("status", "--stack", stack_file, "--json").json()["engines"]
    assert status["llm"]["gpu_memory_mib"] == 1000 * len(pids["llm"])
    assert status["asr"]["gpu_memory_mib"] == 300 * len(pids["asr"])


def _nvml_profile(processes: list[dict]) -> str:
    import yaml

    data = yaml.safe_load(open(PROFILE_2X3090).read())
    data["gpus"][0]["processes"] = processes
    return yaml.safe_dump(data)


def test_never_ready_engine_times_out_with_the_log_tail(engine, engine_env, stub_image, stacks, tmp_path):
    name = _name(stacks, "never")
    images = catalog(tmp_path, "images.yaml", stub_image)
    stack_file = stack(tmp_path, name, {"llm": {"env": {"STUB_NEVER_READY": "1"}}, "asr": {"enabled": False},
                                        "tts": {"enabled": False}})
    result = aima("up", "--images", images, "--stack", stack_file, "--timeout", "2")
    assert result.rc == 1
    assert "llm (stub-llm): timeout: not ready after " in result.err
    assert "s (--timeout 2 s); last probe: HTTP 503" in result.err
    assert "last log lines:" in result.err and "stub: loading (never ready)" in result.err
    assert "Traceback" not in result.err


def test_taken_port_is_refused_before_anything_starts(engine, engine_env, stub_image, stacks, tmp_path):
    name = _name(stacks, "port")
    images = catalog(tmp_path, "images.yaml", stub_image)
    stack_file = stack(tmp_path, name)
    import yaml

    port = yaml.safe_load(stack_file.read_text())["engines"]["asr"]["port"]
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        result = aima("up", "--images", images, "--stack", stack_file)
    assert result.rc == 1
    assert f"nothing was pulled or created: (1) asr: host port 127.0.0.1:{port} is already in use" in result.err
    assert containers(engine.client, name) == {}


@pytest.mark.parametrize("kind", ENGINES)
def test_daemon_down_says_where_it_looked(kind, stub_image, tmp_path, monkeypatch):
    dead = tmp_path / "dead.sock"
    with socket.socket(socket.AF_UNIX) as sock:  # a socket file nobody listens on: connection refused
        sock.bind(str(dead))
    for variable in ("AIMA_ENGINE", "DOCKER_HOST", "CONTAINER_HOST"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("DOCKER_HOST" if kind == "docker" else "CONTAINER_HOST", f"unix://{dead}")
    title = {"docker": "Docker", "podman": "Podman"}[kind]
    said = (f"error: cannot connect to {title} at unix://{dead}: nothing listens on {dead} (connection refused: "
            f"a socket file left behind) — is {title} running?")
    images = catalog(tmp_path, "images.yaml", stub_image)
    for command in (["up", "--images", images], ["status"], ["down"]):
        result = aima(*command, "--stack", stack(tmp_path, "dead"))
        assert result.rc == 1
        assert said in result.err
        assert "Traceback" not in result.err


def test_down_leaves_foreign_containers_alone(engine, engine_env, stub_image, stacks, tmp_path):
    client = engine.client
    name, other = _name(stacks, "down"), _name(stacks, "other")
    images = catalog(tmp_path, "images.yaml", stub_image)
    stack_file = stack(tmp_path, name, {"llm": {"enabled": False}, "tts": {"enabled": False}})
    assert aima("up", "--images", images, "--stack", stack_file).rc == 0
    unlabelled = client.containers.run(stub_image, detach=True, name=f"foreign-{uuid.uuid4().hex[:6]}")
    neighbour = client.containers.run(stub_image, detach=True, labels={"aima.stack": other, "aima.engine": "asr"})
    try:
        down = aima("down", "--stack", stack_file)
        assert down.rc == 0, down.err
        assert containers(client, name) == {}
        for container in (unlabelled, neighbour):
            container.reload()
            assert container.status == "running"
    finally:
        unlabelled.remove(force=True)
