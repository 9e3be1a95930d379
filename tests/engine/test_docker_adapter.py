"""The docker SDK boundary without a daemon: create arguments from a plan, and Docker's errors in words."""

from __future__ import annotations

import dataclasses

import pytest

from aima.engine.docker_engine import DockerEngine, connect, create_kwargs, docker_url
from aima.engine.errors import create_error, pull_error, registry_of, start_error
from aima.engine.spec import container_spec
from aima.plan_types import Mount, PlannedLimits
from tests.launch.fakes import engine_plan, plan_of


def test_gpu_engine_gets_a_device_request_for_its_planned_gpus_and_its_limits():
    llm = dataclasses.replace(
        engine_plan("llm", gpu=True, devices=("1",), port=18000),
        limits=PlannedLimits(memory_mib=8192, cpus=2.5, shm_mib=1024, pids=512),
        mounts=(Mount("/srv/models/llm", "/models", True),), entrypoint=("bash", "-c"), command=("serve",))
    kwargs = create_kwargs(container_spec(llm, plan_of(llm, stack="demo")))
    [request] = kwargs["device_requests"]
    assert request["DeviceIDs"] == ["1"] and request["Capabilities"] == [["gpu"]]
    assert kwargs["mem_limit"] == "8192m" and kwargs["nano_cpus"] == 2_500_000_000
    assert kwargs["shm_size"] == "1024m" and kwargs["pids_limit"] == 512
    assert kwargs["ports"] == {"8080/tcp": ("127.0.0.1", 18000)}
    [mount] = kwargs["mounts"]
    assert mount["Source"] == "/srv/models/llm" and mount["Target"] == "/models" and mount["ReadOnly"] is True
    assert kwargs["entrypoint"] == ["bash", "-c"] and kwargs["command"] == ["serve"]
    assert kwargs["name"] == "aima-demo-llm" and kwargs["network"] == "aima-demo"
    assert kwargs["labels"]["aima.stack"] == "demo" and kwargs["labels"]["aima.health-path"] == "/health"
    assert "privileged" not in kwargs


def test_cpu_engine_has_no_device_request_and_keeps_the_image_command():
    asr = engine_plan("asr", port=18001)
    kwargs = create_kwargs(container_spec(asr, plan_of(asr)))
    assert "device_requests" not in kwargs and "command" not in kwargs and "entrypoint" not in kwargs


def test_gpu_engine_without_planned_devices_asks_for_all():
    kwargs = create_kwargs(container_spec(engine_plan("llm", gpu=True), plan_of(engine_plan("llm", gpu=True))))
    assert kwargs["device_requests"][0]["Count"] == -1


def test_docker_host_decides_where_to_connect():
    assert docker_url({"DOCKER_HOST": "unix:///run/x.sock"}) == "unix:///run/x.sock"
    assert docker_url({}) == "unix:///var/run/docker.sock"


def test_dead_socket_says_is_it_running(tmp_path):
    url = f"unix://{tmp_path}/docker.sock"
    with pytest.raises(Exception) as caught:
        connect({"DOCKER_HOST": url})
    assert str(caught.value) == (f"cannot connect to Docker at {url}: there is no socket {tmp_path}/docker.sock "
                                 "(no such file) — is Docker running?")
    assert "DOCKER_HOST" in caught.value.hint


@pytest.mark.parametrize("url, local", [("unix:///var/run/docker.sock", True), ("tcp://127.0.0.1:2375", True),
                                        ("tcp://gpu-box:2376", False), ("ssh://me@gpu-box", False)])
def test_only_a_daemon_on_this_machine_has_this_machines_ports(url, local):
    assert DockerEngine(None, url).local() is local


@pytest.mark.parametrize("image, registry", [
    ("vllm/vllm-openai:v0.15.0", "docker.io"), ("ubuntu", "docker.io"),
    ("ghcr.io/ggml-org/whisper.cpp:main", "ghcr.io"),
    ("127.0.0.1:5000/aima-test/stub:latest", "127.0.0.1:5000"), ("localhost/whisper.cpp:x", "localhost")])
def test_registry_of(image, registry):
    assert registry_of(image) == registry


@pytest.mark.parametrize("text, expected", [
    ('Get "http://127.0.0.1:5999/v2/": dial tcp 127.0.0.1:5999: connect: connection refused',
     "registry 127.0.0.1:5999 is not reachable"),
    ("manifest for 127.0.0.1:5999/x:latest not found: manifest unknown: manifest unknown",
     "registry 127.0.0.1:5999 does not have it"),
    ("no matching manifest for linux/arm64/v8 in the manifest list entries", "has no build for linux/arm64/v8"),
    ("unauthorized: authentication required", "refused access"),
], ids=["registry-down", "not-found", "platform", "auth"])
def test_pull_errors_say_what_happened(text, expected):
    error = pull_error("127.0.0.1:5999/x:latest", text, "linux/amd64")
    assert expected in str(error) and error.hint


def test_start_errors_name_the_port_and_the_missing_gpu_runtime():
    port = start_error("aima-t-asr", "driver failed programming external connectivity on endpoint aima-t-asr: "
                                     "Bind for 127.0.0.1:18001 failed: port is already allocated")
    assert str(port) == "cannot start aima-t-asr: 127.0.0.1:18001 is already in use"
    gpu = start_error("aima-t-llm", 'could not select device driver "" with capabilities: [[gpu]]', "llm")
    assert "Docker cannot give containers a GPU" in str(gpu) and "nvidia-ctk" in gpu.hint


def test_create_errors():
    assert "model folder /srv/m does not exist" in str(
        create_error("n", "i", "invalid mount config for type \"bind\": bind source path does not exist: /srv/m"))
    assert "is not aima's" in str(create_error("n", "i", 'Conflict. The container name "/n" is already in use'))


CDI_SPEC = 'cdiVersion: "0.5.0"\nkind: nvidia.com/gpu\ndevices:\n  - name: "0"\n  - name: "1"\n  - name: all\n'


def _engine_with_cdi(spec_dirs: tuple[str, ...], url: str = "unix:///var/run/docker.sock") -> DockerEngine:
    from aima.engine.model import EngineInfo

    engine = DockerEngine.__new__(DockerEngine)
    engine.url = url
    engine._info = EngineInfo(name="docker", server_version="28.0.1", api_version="1.48", os_type="linux",
                              architecture="x86_64", root_dir="/var/lib/docker", runtimes=("runc",),
                              default_runtime="runc", cdi_spec_dirs=spec_dirs)
    return engine


def test_docker_with_cdi_and_an_nvidia_spec_gets_gpus_as_a_cdi_device_request(tmp_path):
    """Docker 25+ with CDI enabled lists CDISpecDirs in its info; with an NVIDIA spec naming the GPUs there,
    they go as one device request with driver "cdi" (moby integration/container/cdi_test.go expects
    {"Driver": "cdi", "DeviceIDs": [...]}), which does not need the nvidia runtime hook."""
    import docker

    (tmp_path / "nvidia.yaml").write_text(CDI_SPEC)
    llm = engine_plan("llm", gpu=True, devices=("1",), port=18000)
    spec = container_spec(llm, plan_of(llm, stack="demo"))
    engine = _engine_with_cdi((str(tmp_path), str(tmp_path / "absent")))
    assert engine.takes_cdi(spec)
    kwargs = create_kwargs(spec, cdi=engine.takes_cdi(spec))
    host = docker.APIClient(base_url="unix:///nowhere", version="1.43").create_host_config(
        device_requests=kwargs["device_requests"])
    assert host["DeviceRequests"] == [{"Driver": "cdi", "Count": 0, "DeviceIDs": ["nvidia.com/gpu=1"],
                                       "Capabilities": [], "Options": {}}]
    whole = engine_plan("llm", gpu=True)
    [request] = create_kwargs(container_spec(whole, plan_of(whole)), cdi=True)["device_requests"]
    assert request["DeviceIDs"] == ["nvidia.com/gpu=all"] and request["Driver"] == "cdi"


def test_docker_keeps_gpus_device_requests_without_cdi_a_spec_or_a_named_gpu(tmp_path):
    llm = engine_plan("llm", gpu=True, devices=("2",), port=18000)
    spec = container_spec(llm, plan_of(llm))
    assert not _engine_with_cdi(()).takes_cdi(spec)  # CDI not enabled: no CDISpecDirs in docker info
    assert not _engine_with_cdi((str(tmp_path),)).takes_cdi(spec)  # enabled, but no NVIDIA spec generated
    (tmp_path / "nvidia.yaml").write_text(CDI_SPEC)
    assert not _engine_with_cdi((str(tmp_path),)).takes_cdi(spec)  # the spec lacks GPU 2
    assert not _engine_with_cdi((str(tmp_path),), "tcp://10.0.0.5:2375").takes_cdi(spec)  # not this host's specs
    asr = engine_plan("asr")
    assert not _engine_with_cdi((str(tmp_path),)).takes_cdi(container_spec(asr, plan_of(asr)))
    [request] = create_kwargs(spec, cdi=False)["device_requests"]
    assert request["DeviceIDs"] == ["2"] and request["Capabilities"] == [["gpu"]] and not request.get("Driver")
