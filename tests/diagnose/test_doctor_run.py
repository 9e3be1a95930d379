"""run_doctor end to end with fake adapters: every group runs, one broken part never hides the others."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from aima.diagnose.checks import FAIL, OK, WARN
from aima.diagnose.doctor import Adapters, DoctorRequest, run_doctor
from aima.engine.model import Container, EngineInfo, ImageInfo
from aima.errors import AimaError
from aima.knowledge import load_knowledge
from aima.launch.reach import ProbeResult
from tests.conftest import PROFILES

SEED_004 = "ptxas fatal : Value 'sm_121a' is not defined for option 'gpu-name'"


@dataclass
class FakeDocker:
    """A DockerSource with fixed answers."""

    images_by_ref: dict[str, ImageInfo] = field(default_factory=dict)
    found: list[Container] = field(default_factory=list)
    logs_by_id: dict[str, list[str]] = field(default_factory=dict)
    url: str = "unix:///var/run/docker.sock"
    is_local: bool = True

    def local(self):
        return self.is_local

    def info(self) -> EngineInfo:
        return EngineInfo("docker", "27.3.1", "1.47", "linux", "x86_64", "/var/lib/docker", ("nvidia", "runc"), "runc")

    def image(self, ref):
        return self.images_by_ref.get(ref)

    def images(self):
        return []

    def list(self, labels):
        return [c for c in self.found if all(c.labels.get(k) == v if v else k in c.labels for k, v in labels.items())]

    def logs(self, container_id, tail=None, **kw):
        lines = self.logs_by_id.get(container_id, [])
        return iter(["".join(line + "\n" for line in (lines[-tail:] if tail else lines)).encode()])

    def close(self):
        pass


def _unreachable(choice=None):
    raise AimaError("cannot connect to Docker at unix:///nope.sock — is it running?", hint="start it")


def _adapters(docker=None, **kw) -> Adapters:
    base = dict(docker=(lambda choice: docker) if docker is not None else _unreachable,
                nvml=lambda: None, port_error=lambda ip, port: None, inspected=lambda images: {},
                http_probe=lambda url, timeout: ProbeResult(True, "HTTP 200", 200, '{"status":"ok"}'),
                nvidia_pci=lambda: [])
    return Adapters(**{**base, **kw})


def _by_id(results):
    return {r.id: r for r in results}


def _stack(tmp_path, text: str):
    path = tmp_path / "aima.yaml"
    path.write_text(text)
    return path


def test_without_docker_every_group_still_reports_and_docker_reachable_fails(tmp_path):
    results, elapsed = run_doctor(DoctorRequest(), _adapters())
    found = _by_id(results)
    assert found["docker.reachable"].status == FAIL and found["docker.reachable"].remedy == "start it"
    assert found["docker.version"].status == WARN and "not checked" in found["docker.version"].summary
    assert found["engine.llm.image-present"].status == WARN
    assert found["containers.found"].status == WARN
    assert found["gpu.nvml"].status == WARN  # nvidia-ml-py "missing" in this fake
    assert found["engines.plan"].status == OK and found["engine.llm.port"].status == OK
    assert {r.group for r in results} == {"host", "gpu", "docker", "engines", "containers"}
    assert elapsed < 5


def test_check_ids_are_unique(tmp_path):
    results, _ = run_doctor(DoctorRequest(), _adapters(FakeDocker()))
    ids = [r.id for r in results]
    assert len(ids) == len(set(ids))


def test_a_broken_adapter_fails_only_the_checks_that_use_it(tmp_path):
    def broken(path):
        raise RuntimeError("stat exploded")

    # models_dir: hand-placed files, read through the adapter (hub-cache models are read by aima.models.check)
    stack = _stack(tmp_path, "engines:\n  llm: {models_dir: /nonexistent}\n")
    results, _ = run_doctor(DoctorRequest(stack=stack), _adapters(FakeDocker(), path_size=broken))
    found = _by_id(results)
    assert found["engine.llm.model"].status == FAIL and "stat exploded" in found["engine.llm.model"].summary
    assert found["host.disk.models"].status == FAIL
    assert found["engine.llm.port"].status == OK and found["docker.reachable"].status == OK


def test_a_plan_with_a_refusal_fails_that_engine(tmp_path):
    stack = _stack(tmp_path, "engines:\n  llm: {device: gpu}\n")
    results, _ = run_doctor(DoctorRequest(hardware="cpu-x86_64", stack=stack), _adapters(FakeDocker()))
    found = _by_id(results)
    assert found["engine.llm.image"].status == FAIL and "device: gpu" in found["engine.llm.image"].summary
    assert "engine.llm.port" not in found  # a refused engine has nothing else to check
    assert found["engine.asr.image"].status == OK
    assert found["gpu.nvml"].status == OK and "profile cpu-x86_64" in found["gpu.nvml"].summary


def test_a_broken_catalogue_fails_engines_plan_with_file_and_line(tmp_path):
    images = tmp_path / "images.yaml"
    images.write_text("version: 1\nengines:\n  llm:\n    candidates:\n      - id: x\n        bogus: 1\n")
    results, _ = run_doctor(DoctorRequest(images=images), _adapters(FakeDocker()))
    found = _by_id(results)
    assert found["engines.plan"].status == FAIL and "images.yaml:" in found["engines.plan"].summary
    assert found["host.memory"].status == WARN and "engines.plan" in found["host.memory"].summary
    assert found["docker.reachable"].status == OK and found["gpu.nvml"].status == WARN


@pytest.mark.parametrize("option", ["images", "stack"])
def test_a_missing_input_file_is_bad_usage(tmp_path, option):
    with pytest.raises(AimaError) as caught:
        run_doctor(DoctorRequest(**{option: tmp_path / "nope.yaml"}), _adapters())
    assert caught.value.exit_code == 2


def test_an_unknown_hardware_profile_is_bad_usage():
    with pytest.raises(AimaError) as caught:
        run_doctor(DoctorRequest(hardware="no-such-machine"), _adapters())
    assert caught.value.exit_code == 2 and "gb10" in caught.value.hint


def test_gb10_through_fake_nvml_gets_per_gpu_checks_and_gpu_engine_checks(fake_nvml):
    module = fake_nvml(PROFILES / "gb10.yaml")
    results, _ = run_doctor(DoctorRequest(), _adapters(FakeDocker(), nvml=lambda: module))
    found = _by_id(results)
    assert "unified memory" in found["gpu.0.memory"].summary
    assert found["gpu.0.capability"].status == OK and "12.1" in found["gpu.0.capability"].summary
    assert found["docker.nvidia-runtime"].status == OK
    gpu_engines = [e for e in ("asr", "llm", "tts") if f"engine.{e}.archs" in found]
    assert gpu_engines == ["llm"]  # seed 004: on unified memory ASR and TTS stay on the CPU
    assert "engine.llm.cuda-require" in found


def test_a_container_log_with_seed_004_is_diagnosed_with_its_remedy():
    c = Container(id="c1", name="aima-aima-llm", image="vllm", labels={"aima.stack": "aima", "aima.engine": "llm"},
                       state="exited", exit_code=1)
    docker = FakeDocker(found=[c], logs_by_id={"c1": ["INFO loading", SEED_004, "Engine core initialization failed"]})
    results, _ = run_doctor(DoctorRequest(), _adapters(docker))
    found = _by_id(results)
    logs = found["container.aima-aima-llm.logs"]
    expected = load_knowledge().get("triton-ptxas-unknown-arch")
    assert logs.status == FAIL and logs.details["signature"] == expected.id
    assert logs.remedy.startswith("Point Triton at the image's own newer ptxas")
    assert logs.details["also"] == ["vllm-engine-core-init-failed"]
    assert found["container.aima-aima-llm.state"].status == FAIL
    assert "container.aima-aima-llm.health" not in found  # only probed while running


def test_deep_on_a_machine_without_gpu_is_skipped_with_a_reason():
    results, _ = run_doctor(DoctorRequest(deep=True), _adapters(FakeDocker()))
    deep = _by_id(results)["engines.deep"]
    assert deep.status == WARN and "no NVIDIA GPU" in deep.summary


def test_only_the_plans_stack_is_checked_and_other_stacks_are_named():
    other = Container(id="c2", name="aima-lab-llm", image="x", labels={"aima.stack": "lab", "aima.engine": "llm"},
                           state="exited", exit_code=1)
    results, _ = run_doctor(DoctorRequest(), _adapters(FakeDocker(found=[other])))
    found = _by_id(results)
    assert "container.aima-lab-llm.state" not in found
    assert found["containers.found"].details["other_stacks"] == ["lab"]
    assert "--stack FILE" in found["containers.found"].summary
