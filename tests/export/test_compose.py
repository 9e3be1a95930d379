"""aima export --format compose: the plan as a Compose file that docker-compose 1.29 accepts."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
import yaml
from typer.testing import CliRunner

from aima.cli import app, main
from aima.errors import AimaError
from aima.export.compose import compose_dict, dump_compose, health_test
from tests.conftest import PROFILES

SECRET_STACK = """
    engines:
      llm: {env: {HF_TOKEN: hf_abc123, PRICE: "5$ or $HOME"}}
"""


def test_gb10_compose_runs_the_llm_on_gpu_0_and_asr_tts_on_the_cpu(planner):
    plan, _ = planner("gb10")
    services = compose_dict(plan)["services"]
    assert set(services) == {"asr", "llm", "tts"}
    llm = services["llm"]
    assert llm["image"] == "nvcr.io/nvidia/vllm:26.01-py3"
    assert llm["entrypoint"] == ["/opt/nvidia/nvidia_entrypoint.sh"]  # NGC images run their arguments through it
    assert llm["command"][:2] == ["vllm", "serve"]
    assert llm["deploy"] == {"resources": {"reservations": {"devices": [
        {"driver": "nvidia", "device_ids": ["0"], "capabilities": ["gpu"]}]}}}
    assert "deploy" not in services["asr"] and "deploy" not in services["tts"]
    assert services["asr"]["mem_limit"] == "4096m" and services["asr"]["cpus"] == 2.0
    assert llm["shm_size"] == "8192m" and "mem_limit" not in llm  # unified memory: vLLM's share caps it


def test_two_gpus_give_each_engine_its_planned_device_ids(planner):
    plan, _ = planner("2x-rtx-3090")
    services = compose_dict(plan)["services"]
    ids = {name: s["deploy"]["resources"]["reservations"]["devices"][0]["device_ids"] for name, s in services.items()}
    assert ids == {"llm": ["0"], "asr": ["1"], "tts": ["1"]}


def test_ports_bind_loopback_unless_exposed(planner):
    plan, _ = planner("rtx-3080")
    assert compose_dict(plan)["services"]["llm"]["ports"] == ["127.0.0.1:8000:8080"]
    plan, _ = planner("rtx-3080", expose=True)
    assert compose_dict(plan)["services"]["llm"]["ports"] == ["0.0.0.0:8000:8080"]


def test_models_mount_read_only_and_limits_labels_network_health(planner):
    plan, _ = planner("rtx-3080")
    asr = compose_dict(plan)["services"]["asr"]
    [volume] = asr["volumes"]
    assert volume["type"] == "bind" and volume["target"] == "/models" and volume["read_only"] is True
    assert (asr["mem_limit"], asr["cpus"], asr["shm_size"], asr["pids_limit"]) == ("8192m", 4.0, "1024m", 1024)
    engine = plan.engine("asr")
    assert asr["labels"] == engine.labels(plan.stack) and asr["labels"]["aima.config-hash"] == engine.config_hash
    assert asr["container_name"] == "aima-aima-asr" and asr["networks"] == ["aima-aima"]
    assert compose_dict(plan)["networks"] == {"aima-aima": {"name": "aima-aima", "labels": {"aima.stack": "aima"}}}
    health = asr["healthcheck"]
    assert health["test"] == health_test(8080, "/health") and health["start_period"] == "180s"


def test_health_test_tries_wget_then_curl_then_python():
    kind, command = health_test(8880, "/health")
    assert kind == "CMD-SHELL"
    wget, curl, python = command.split(" || ")
    assert wget.startswith("wget ") and " -T " not in wget  # busybox 1.35's static wget segfaults on -T
    assert curl.startswith("curl -f") and python.startswith("python3 -c")
    assert all("http://127.0.0.1:8880/health" in part for part in (wget, curl, python))


def test_secrets_become_variable_references_and_dollars_are_escaped(planner):
    plan, _ = planner("rtx-3080", SECRET_STACK)
    text = dump_compose(plan)
    assert "hf_abc123" not in text
    env = yaml.safe_load(text)["services"]["llm"]["environment"]
    assert env["HF_TOKEN"].startswith("${HF_TOKEN:?")
    assert env["PRICE"] == "5$$ or $$HOME"
    assert "set HF_TOKEN in the environment or an .env file" in text.splitlines()[2]


def test_a_plan_with_refusals_is_not_exported(planner):
    plan, _ = planner("cpu-x86_64", "engines:\n  llm: {device: gpu}\n")
    with pytest.raises(AimaError, match=r"cannot export: the plan for cpu-x86_64 refuses 1 engine\(s\): llm: "):
        compose_dict(plan)


def test_cli_writes_the_file_or_refuses_in_one_line(tmp_path, capsys):
    out = tmp_path / "compose.yml"
    result = CliRunner().invoke(app, ["export", "--format", "compose", "--hardware", "h100", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert yaml.safe_load(out.read_text())["services"]["llm"]["image"] == "vllm/vllm-openai:v0.15.0"
    stack = tmp_path / "aima.yaml"
    stack.write_text("engines:\n  llm: {device: gpu}\n")
    assert main(["export", "--format", "compose", "--hardware", "cpu-x86_64", "--stack", str(stack)]) == 1
    err = capsys.readouterr().err
    assert "cannot export" in err and "llm" in err and "Traceback" not in err
    assert main(["export", "--format", "swarm", "--hardware", "h100"]) == 1


@pytest.fixture
def compose_cli():
    if shutil.which("docker-compose") is None:
        if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
            pytest.fail("docker-compose is not installed (run `bash .ci/setup-docker`)")
        pytest.skip("docker-compose is not installed (run `bash .ci/setup-docker`)")
    return "docker-compose"


@pytest.mark.parametrize("profile", sorted(p.stem for p in PROFILES.glob("*.yaml")))
def test_docker_compose_accepts_the_export_of_every_shipped_profile(compose_cli, planner, profile, tmp_path):
    plan, _ = planner(profile, SECRET_STACK)
    path = tmp_path / "docker-compose.yml"
    path.write_text(dump_compose(plan))
    env = {**os.environ, "HF_TOKEN": "x"}
    result = subprocess.run([compose_cli, "-f", str(path), "config"], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)["services"]
    # `config` prints a file that is still to be interpolated: the escapes survive, $HOME was not expanded.
    assert resolved["llm"]["environment"]["PRICE"] == "5$$ or $$HOME"
    assert set(resolved) == {e.engine for e in plan.engines}


def test_the_header_names_each_hub_model_folder_and_aima_pull(planner):
    plan, _ = planner("rtx-3080")
    text = dump_compose(plan)
    header = [line for line in text.splitlines() if line.startswith("# asr:")]
    asr = plan.engine("asr")
    assert header == [f"# asr: model {asr.model.name} ({asr.model.source.uri}) from the hub cache folder "
                      f"{asr.mounts[0].source}; fill it first on the machine that runs this file: aima pull asr"]
    assert asr.mounts[0].source.endswith("models--ggerganov--whisper.cpp")
    assert yaml.safe_load(text) == compose_dict(plan)  # comments only: the document is unchanged


def test_for_podman_the_gpus_are_cdi_devices_podman_compose_passes_on(planner):
    # podman-compose 1.0.3 ignores deploy.resources.reservations.devices: the engine would run on the CPU.
    plan, _ = planner("2x-rtx-3090")
    services = compose_dict(plan, "podman")["services"]
    assert {name: s["devices"] for name, s in services.items()} == {
        "llm": ["nvidia.com/gpu=0"], "asr": ["nvidia.com/gpu=1"], "tts": ["nvidia.com/gpu=1"]}
    assert not any("deploy" in s for s in services.values())
    docker = compose_dict(plan)["services"]
    assert not any("devices" in s for s in docker.values()) and all("deploy" in s for s in docker.values())


def test_the_engine_option_picks_the_compose_form(monkeypatch):
    monkeypatch.delenv("AIMA_ENGINE", raising=False)
    rc, out, err = _run("--engine", "podman", "export", "--format", "compose", "--hardware", "2x-rtx-3090")
    assert rc == 0, err
    assert "# For podman-compose (engine podman: --engine podman)" in out and "nvidia.com/gpu=0" in out
    monkeypatch.setenv("AIMA_ENGINE", "podman")
    rc, out, _ = _run("--engine", "docker", "export", "--format", "compose", "--hardware", "2x-rtx-3090")
    assert rc == 0 and "# For Docker Compose (engine docker: --engine docker)" in out and "device_ids" in out


def _run(*args):
    from tests.test_cli_json_errors import run

    return run(*args)
