"""Which engine aima talks to, and why; and how a GPU request looks to Podman (CDI names)."""

from __future__ import annotations

import pytest

from aima.engine.podman_engine import cdi_devices, create_body
from aima.engine.select import DOCKER_SOCKET, choose
from aima.engine.spec import container_spec
from aima.errors import AimaError
from tests.harness.cli import run_cli as _cli
from tests.launch.fakes import engine_plan, plan_of

ROOTFUL = "unix:///run/podman/podman.sock"
ROOTLESS = "unix:///run/user/1000/podman/podman.sock"
ENV = {"XDG_RUNTIME_DIR": "/run/user/1000"}


@pytest.mark.parametrize(("env", "up", "engine", "url", "why"), [
    ({"DOCKER_HOST": "tcp://gpu:2376"}, {ROOTFUL}, "docker", "tcp://gpu:2376", "DOCKER_HOST is set"),
    ({"CONTAINER_HOST": "unix:///x.sock"}, {DOCKER_SOCKET}, "podman", "unix:///x.sock", "CONTAINER_HOST is set"),
    ({}, {DOCKER_SOCKET, ROOTFUL}, "docker", DOCKER_SOCKET, "Docker answers on its default socket"),
    ({}, {ROOTFUL, ROOTLESS}, "podman", ROOTFUL, "rootful Podman answers"),
    ({}, {ROOTLESS}, "podman", ROOTLESS, "rootless Podman answers"),
    ({}, set(), "docker", DOCKER_SOCKET, "no engine answers; Docker is the default"),
    ({"AIMA_ENGINE": "podman", "DOCKER_HOST": "unix:///d.sock"}, {ROOTLESS}, "podman", ROOTLESS,
     f"AIMA_ENGINE=podman, socket {ROOTLESS}"),
    ({"AIMA_ENGINE": "docker"}, {ROOTFUL}, "docker", DOCKER_SOCKET, "AIMA_ENGINE=docker"),
], ids=["docker-host", "container-host", "docker-running", "rootful", "rootless", "nothing", "aima-engine-podman",
        "aima-engine-docker"])
def test_engine_choice_order(env, up, engine, url, why):
    choice = choose({**ENV, **env}, answers=lambda u: u in up)
    assert (choice.engine, choice.url, choice.why) == (engine, url, why)


def test_an_unknown_engine_is_a_usage_error():
    with pytest.raises(AimaError, match="not a container engine") as caught:
        choose({"AIMA_ENGINE": "lxc"}, answers=lambda u: False)
    assert caught.value.exit_code == 2


def test_podman_gets_gpus_as_cdi_names_never_a_device_request():
    llm = engine_plan("llm", gpu=True, devices=("0", "GPU-1234"))
    body = create_body(container_spec(llm, plan_of(llm, stack="demo")))
    assert body["devices"] == [{"path": "nvidia.com/gpu=0"}, {"path": "nvidia.com/gpu=GPU-1234"}]
    assert "device_requests" not in body and body["networks"] == {"aima-demo": {}}
    assert body["portmappings"] == [{"host_ip": "127.0.0.1", "host_port": 18000, "container_port": 8080,
                                     "protocol": "tcp"}]
    assert body["resource_limits"]["memory"] == {"limit": 256 * 2**20}
    whole = engine_plan("llm", gpu=True)
    assert cdi_devices(container_spec(whole, plan_of(whole))) == ["nvidia.com/gpu=all"]
    cpu = engine_plan("asr")
    assert cdi_devices(container_spec(cpu, plan_of(cpu))) == []


def test_doctor_on_podman_checks_the_cdi_spec_names_the_planned_gpus(tmp_path):
    from aima.diagnose.check_docker import cdi_device_names, cdi_outcome

    (tmp_path / "nvidia.yaml").write_text('cdiVersion: "0.5.0"\nkind: nvidia.com/gpu\n'
                                          'devices:\n  - name: "0"\n  - name: all\n')
    available = cdi_device_names((str(tmp_path), str(tmp_path / "absent")))
    assert set(available) == {"0", "all"}
    assert cdi_outcome(available, ["0"], gpu_needed=True, has_gpu=True).status == "ok"
    missing = cdi_outcome(available, ["0", "1"], gpu_needed=True, has_gpu=True)
    assert missing.status == "fail" and "nvidia.com/gpu=1" in missing.summary
    assert "nvidia-ctk cdi generate" in missing.remedy
    none = cdi_outcome({}, ["all"], gpu_needed=True, has_gpu=True)
    assert none.status == "fail" and "no NVIDIA CDI spec" in none.summary
    assert cdi_outcome({}, [], gpu_needed=False, has_gpu=False).status == "ok"


@pytest.mark.parametrize(("explicit", "env", "configured", "engine", "why"), [
    ("docker", {"AIMA_ENGINE": "podman"}, ("podman", "aima.yaml:2"), "docker", "--engine docker"),
    (None, {"AIMA_ENGINE": "docker"}, ("podman", "aima.yaml:2"), "docker", "AIMA_ENGINE=docker"),
    (None, {"DOCKER_HOST": "unix:///d.sock"}, ("podman", "aima.yaml:2"), "podman",
     f"engine: podman in stack file aima.yaml:2, socket {ROOTFUL}"),
    (None, {"CONTAINER_HOST": "unix:///p.sock"}, ("docker", "/s/aima.yaml:1"), "docker",
     "engine: docker in stack file /s/aima.yaml:1"),
    ("podman", {}, None, "podman", f"--engine podman, socket {ROOTFUL}"),
], ids=["flag-beats-env-and-stack", "env-beats-stack", "stack-beats-docker-host", "stack-beats-container-host",
        "flag-alone"])
def test_engine_flag_beats_env_beats_stack_setting_beats_auto(explicit, env, configured, engine, why):
    choice = choose({**ENV, **env}, answers=lambda u: u == ROOTFUL, explicit=explicit, configured=configured)
    assert (choice.engine, choice.why) == (engine, why)


def test_a_bad_engine_flag_is_one_line_naming_the_flag():
    rc, out, err = _cli("--engine", "lxc", "status")
    assert rc == 2 and out == ""
    assert err.splitlines()[0] == "error: --engine lxc: not a container engine aima knows", err
    assert "Traceback" not in err and len(err.splitlines()) <= 2


def test_a_bad_aima_engine_is_one_line_naming_the_variable(monkeypatch):
    monkeypatch.setenv("AIMA_ENGINE", "lxc")
    rc, _, err = _cli("status")
    assert rc == 2 and err.splitlines()[0] == "error: AIMA_ENGINE=lxc: not a container engine aima knows", err


def test_a_bad_stack_engine_names_file_line_and_key(tmp_path, monkeypatch):
    monkeypatch.delenv("AIMA_ENGINE", raising=False)
    stack = tmp_path / "aima.yaml"
    stack.write_text("name: demo\nengine: lxc\n")
    rc, _, err = _cli("status", "--stack", str(stack))
    assert rc == 1 and err.splitlines()[0].startswith(f"error: {stack}:2: engine: must be one of docker, podman"), err


def test_the_stack_engine_setting_reaches_the_connection(tmp_path, monkeypatch):
    # Nothing listens on the Podman socket named by CONTAINER_HOST: the error shows Podman was the one tried.
    monkeypatch.delenv("AIMA_ENGINE", raising=False)
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/docker.sock")
    monkeypatch.setenv("CONTAINER_HOST", f"unix://{tmp_path}/podman.sock")
    stack = tmp_path / "aima.yaml"
    stack.write_text("name: demo\nengine: podman\n")
    rc, _, err = _cli("status", "--stack", str(stack))
    assert rc == 1 and "podman.sock" in err and "docker.sock" not in err, err
    rc, _, err = _cli("--engine", "docker", "status", "--stack", str(stack))
    assert rc == 1 and "docker.sock" in err and "podman.sock" not in err, err


def test_doctor_engine_podman_after_the_command_says_where_the_option_goes():
    rc, _, err = _cli("doctor", "--engine", "podman")
    assert rc == 2 and "aima --engine podman doctor" in err, err


def test_engine_after_another_command_hints_that_it_goes_first():
    rc, _, err = _cli("status", "--engine", "podman")
    assert rc == 2 and "No such option: --engine" in err and "aima --engine docker|podman COMMAND" in err, err
