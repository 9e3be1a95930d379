"""`aima export --format compose` run by the real docker-compose 1.29 against the test dockerd, with stub engines."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
import yaml

from tests.harness import stubs

SECRET = "s3cret-value-never-in-the-file"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _catalogue(path: Path, image: str) -> Path:
    """Stub candidates only (extends: false): two GPU engines with models and one CPU engine."""
    stub = f"image: '{image}'\n        platforms: [linux/amd64]\n"
    limits = "limits: {memory_mib: 64, cpus: 0.5, shm_mib: 16, pids: 64}"
    path.write_text(f"""extends: false
engines:
  asr:
    models: [{{name: tiny, format: ggml, file: tiny.bin, size_mib: 1, gpu_memory_mib: 100, memory_mib: 100}}]
    candidates:
      - id: stub-asr-gpu
        {stub}        gpu: true
        archs: "86"
        cuda: "12.0"
        port: 8080
        health: {{path: /health, startup_timeout_s: 30}}
        entrypoint: [/bin/sh, /stub/engine.sh]
        command: [--model, "{{model_path}}", --port, "{{port}}"]
        model_format: ggml
        {limits}
  llm:
    models: [{{name: small, format: gguf, file: small.gguf, size_mib: 1, gpu_memory_mib: 20000, memory_mib: 100}}]
    candidates:
      - id: stub-llm-gpu
        {stub}        gpu: true
        archs: "86"
        cuda: "12.0"
        port: 9000
        env: {{STUB_PORT: "9000"}}
        health: {{path: /health, startup_timeout_s: 30}}
        model_format: gguf
        {limits}
  tts:
    candidates:
      - id: stub-tts-cpu
        {stub}        gpu: false
        port: 8080
        health: {{path: /health, startup_timeout_s: 30}}
        {limits}
""")
    return path


def _stack(path: Path, name: str, models: Path, ports: dict[str, int]) -> Path:
    path.write_text(f"""name: {name}
engines:
  asr: {{port: {ports['asr']}, models_dir: '{models / 'asr'}'}}
  llm: {{port: {ports['llm']}, models_dir: '{models / 'llm'}', env: {{STUB_API_KEY: {SECRET}, PRICE: "5$ or $HOME"}}}}
  tts: {{port: {ports['tts']}}}
""")
    return path


def _compose(args: list[str], env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(["docker-compose", *args], capture_output=True, text=True, env=env, timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"docker-compose {' '.join(args)} exited {result.returncode}:\n{result.stderr}")
    return result


def _wait_healthy(client, name: str, timeout: float = 40.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        attrs = client.containers.get(name).attrs
        status = attrs["State"].get("Health", {}).get("Status")
        if status == "healthy":
            return attrs
        if status == "unhealthy" or attrs["State"]["Status"] == "exited":
            break
        time.sleep(0.5)
    log = client.containers.get(name).logs().decode(errors="replace")
    raise AssertionError(f"{name} not healthy: {attrs['State']}\n{log}")


@pytest.fixture
def compose_tool():
    if shutil.which("docker-compose") is None:
        if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
            pytest.fail("docker-compose is not installed (run `bash .ci/setup-docker`)")
        pytest.skip("docker-compose is not installed (run `bash .ci/setup-docker`)")
    return "docker-compose"


def test_exported_compose_file_brings_the_stub_stack_up_on_the_planned_gpus(
        docker_engine, stub_image, stacks, compose_tool, tmp_path: Path) -> None:
    stack = stacks.track(f"cx{uuid.uuid4().hex[:8]}")
    models = tmp_path / "models"
    (models / "asr").mkdir(parents=True)
    (models / "llm").mkdir()
    (models / "asr" / "tiny.bin").write_text("not a model")
    ports = {engine: _free_port() for engine in ("asr", "llm", "tts")}
    catalogue = _catalogue(tmp_path / "images.yaml", stub_image)
    stack_file = _stack(tmp_path / "aima.yaml", stack, models, ports)
    compose_file = tmp_path / "docker-compose.yml"

    env = {**os.environ, "DOCKER_HOST": docker_engine.base_url, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    exported = subprocess.run([sys.executable, "-m", "aima", "export", "--format", "compose", "--hardware",
                               "2x-rtx-3090", "--images", str(catalogue), "--stack", str(stack_file),
                               "-o", str(compose_file)], capture_output=True, text=True, env=env)
    assert exported.returncode == 0, exported.stderr
    text = compose_file.read_text()
    assert SECRET not in text and "${STUB_API_KEY:?" in text
    services = yaml.safe_load(text)["services"]
    # The 20 GB LLM fills GPU 0; ASR goes to GPU 1 (seed 001's one-engine-per-GPU placement).
    devices = {name: s.get("deploy", {}).get("resources", {}).get("reservations", {}).get("devices")
               for name, s in services.items()}
    assert devices == {"llm": [{"driver": "nvidia", "device_ids": ["0"], "capabilities": ["gpu"]}],
                       "asr": [{"driver": "nvidia", "device_ids": ["1"], "capabilities": ["gpu"]}], "tts": None}

    # Without the secret in the environment compose refuses, naming the variable.
    missing = _compose(["-f", str(compose_file), "config", "-q"], env, check=False)
    assert missing.returncode != 0 and "STUB_API_KEY" in missing.stderr
    env["STUB_API_KEY"] = SECRET
    _compose(["-f", str(compose_file), "config", "-q"], env)

    project = ["-p", f"aima-{stack}", "-f", str(compose_file)]
    client = docker_engine.client
    try:
        _compose([*project, "up", "-d"], env)
        for engine in ("asr", "llm", "tts"):
            attrs = _wait_healthy(client, f"aima-{stack}-{engine}")
            assert httpx.get(f"http://127.0.0.1:{ports[engine]}/health", timeout=5).status_code == 200
            host = attrs["HostConfig"]
            assert (host["Memory"], host["NanoCpus"], host["ShmSize"], host["PidsLimit"]) == (
                64 * 2**20, 500_000_000, 16 * 2**20, 64)
            assert host["PortBindings"] == {f"{_container_port(engine)}/tcp": [
                {"HostIp": "127.0.0.1", "HostPort": str(ports[engine])}]}
            assert attrs["Config"]["Labels"]["aima.stack"] == stack
            assert attrs["Config"]["Labels"]["aima.engine"] == engine
            assert f"aima-{stack}" in attrs["NetworkSettings"]["Networks"]
            requests = host.get("DeviceRequests") or []
            planned = {"asr": ["1"], "llm": ["0"], "tts": None}[engine]
            assert [r["DeviceIDs"] for r in requests] == ([planned] if planned else [])
        asr = client.containers.get(f"aima-{stack}-asr").attrs
        assert asr["Mounts"][0]["Destination"] == "/models" and asr["Mounts"][0]["RW"] is False
        asr_log = client.containers.get(f"aima-{stack}-asr").logs().decode()
        assert "args: --model /models/tiny.bin --port 8080" in asr_log
        llm = client.containers.get(f"aima-{stack}-llm")
        assert f"STUB_API_KEY={SECRET}" in llm.attrs["Config"]["Env"]
        assert "PRICE=5$ or $HOME" in llm.attrs["Config"]["Env"]  # '$' reached the container unexpanded
        assert "stub: NVIDIA_VISIBLE_DEVICES=0" in llm.logs().decode()
    finally:
        down = _compose([*project, "down"], env, check=False)
    assert down.returncode == 0, down.stderr
    assert client.containers.list(all=True, filters={"label": f"aima.stack={stack}"}) == []


def _container_port(engine: str) -> int:
    return {"asr": stubs.STUB_PORT, "llm": 9000, "tts": stubs.STUB_PORT}[engine]
