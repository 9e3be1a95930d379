"""`aima --engine podman export --format compose` run by Debian's real podman-compose (1.0.3) against the test
Podman, with stub engines: podman-compose ignores `deploy.resources.reservations.devices`, so for Podman the GPUs
are CDI `devices:` and must reach the containers (issue 18 item 4)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
import yaml

from tests.e2e.test_compose_export import SECRET, _catalogue, _free_port, _stack


def _podman_compose(args: list[str], env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(["podman-compose", *args], capture_output=True, text=True, env=env, timeout=180)
    if check and result.returncode != 0:
        raise AssertionError(f"podman-compose {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n"
                             f"{result.stderr}")
    return result


def _inspect(name: str) -> dict:
    done = subprocess.run(["podman", "inspect", name], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)[0]


def _wait_http(url: str, timeout: float = 40.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} did not answer 200 within {timeout} s")
        time.sleep(0.5)


@pytest.fixture
def podman_compose():
    if shutil.which("podman-compose") is None:
        if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
            pytest.fail("podman-compose is not installed (run `bash .ci/setup-podman`)")
        pytest.skip("podman-compose is not installed (run `bash .ci/setup-podman`)")
    return "podman-compose"


def test_podman_compose_runs_the_export_with_gpus_by_cdi(podman_engine, podman_stacks, podman_compose, stub_image,
                                                         tmp_path: Path) -> None:
    stack = f"pc{uuid.uuid4().hex[:8]}"
    podman_stacks.append(stack)
    models = tmp_path / "models"
    (models / "asr").mkdir(parents=True)
    (models / "llm").mkdir()
    (models / "asr" / "tiny.bin").write_text("not a model")
    ports = {engine: _free_port() for engine in ("asr", "llm", "tts")}
    catalogue = _catalogue(tmp_path / "images.yaml", f"localhost/{stub_image}")
    stack_file = _stack(tmp_path / "aima.yaml", stack, models, ports)
    compose_file = tmp_path / "podman-compose.yml"
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "CONTAINER_HOST": podman_engine.url}
    env.pop("AIMA_ENGINE", None)
    exported = subprocess.run([sys.executable, "-m", "aima", "--engine", "podman", "export", "--format", "compose",
                               "--hardware", "2x-rtx-3090", "--images", str(catalogue), "--stack", str(stack_file),
                               "-o", str(compose_file)], capture_output=True, text=True, env=env)
    assert exported.returncode == 0, exported.stderr
    text = compose_file.read_text()
    assert SECRET not in text
    assert "# For podman-compose (engine podman: --engine podman" in text, text[:600]
    services = yaml.safe_load(text)["services"]
    assert {name: s.get("devices") for name, s in services.items()} == {
        "llm": ["nvidia.com/gpu=0"], "asr": ["nvidia.com/gpu=1"], "tts": None}
    assert not any("deploy" in s for s in services.values())

    env["STUB_API_KEY"] = SECRET
    project = ["-p", f"aima-{stack}", "-f", str(compose_file)]
    try:
        _podman_compose([*project, "up", "-d"], env)
        for engine in ("asr", "llm", "tts"):
            _wait_http(f"http://127.0.0.1:{ports[engine]}/health")
            attrs = _inspect(f"aima-{stack}-{engine}")
            host = attrs["HostConfig"]
            assert (host["Memory"], host["NanoCpus"], host["ShmSize"]) == (64 * 2**20, 500_000_000, 16 * 2**20)
            labels = attrs["Config"]["Labels"]
            assert labels["aima.stack"] == stack and labels["aima.engine"] == engine
        found = {c.engine: c for c in podman_engine.list({"aima.stack": stack})}
        assert set(found) == {"asr", "llm", "tts"}  # aima status/down see them by their labels
        for engine, device in (("llm", "0"), ("asr", "1")):
            log = b"".join(podman_engine.logs(found[engine].id)).decode()
            assert f"stub: NVIDIA_VISIBLE_DEVICES={device}" in log, log  # the CDI device reached the container
        tts_log = b"".join(podman_engine.logs(found["tts"].id)).decode()
        assert "stub: NVIDIA_VISIBLE_DEVICES=unset" in tts_log
        llm_env = _inspect(f"aima-{stack}-llm")["Config"]["Env"]
        assert f"STUB_API_KEY={SECRET}" in llm_env and "PRICE=5$ or $HOME" in llm_env
    finally:
        down = _podman_compose([*project, "down"], env, check=False)
    assert down.returncode == 0, down.stderr
    assert podman_engine.list({"aima.stack": stack}) == []
