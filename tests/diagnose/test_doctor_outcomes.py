"""Doctor's decisions on observations, case by case: NVML, GPUs, the NVIDIA runtime, images, ports, containers."""

from __future__ import annotations

import errno
import os
from types import SimpleNamespace

import pytest

from aima.diagnose import check_containers, check_docker, check_engines, check_host, checks, deep
from aima.diagnose.checks import FAIL, OK, WARN, NotChecked
from aima.engine.model import Container, EngineInfo
from aima.hardware import nvml
from aima.hardware.model import Capability, CudaVersion, Gpu, Hardware
from aima.hardware.profiles import find_profile, load_profile
from aima.knowledge import load_knowledge
from aima.plan_types import PortBinding
from tests.conftest import PROFILES
from tests.diagnose.test_knowledge import SEED_LINES

IN_USE = os.strerror(errno.EADDRINUSE)


def _hw(name: str) -> Hardware:
    return load_profile(find_profile(name)).hardware


def _gpu(**kw) -> Gpu:
    base = dict(index=0, name="NVIDIA GeForce RTX 3080", compute_capability=Capability.parse("8.6"), memory_mib=10240,
                memory_free_mib=10000)
    return Gpu(**{**base, **kw})


# --- NVML and GPUs ------------------------------------------------------------------------------------------------

def test_gb10_unified_memory_is_reported_as_the_shared_pool(fake_nvml):
    reading = nvml.read(fake_nvml(PROFILES / "gb10.yaml"))
    hw = Hardware(gpus=reading.gpus, driver_version=reading.driver_version,
                  cuda_driver_version=reading.cuda_driver_version, cpu_arch="aarch64", cpu_cores=20, ram_mib=124000)
    assert check_host.nvml_outcome(reading, None, [], False).status == OK
    out = check_host.gpu_memory_outcome(reading.gpus[0], hw)
    assert out.status == OK and "unified memory" in out.summary and "124000 MiB" in out.summary
    cap = check_host.capability_outcome(reading.gpus[0])
    assert cap.status == OK and "12.1" in cap.summary and "sm_121" in cap.summary


@pytest.mark.parametrize(("mode", "pci", "status", "words"), [
    ("missing-library", [], OK, "no GPU: engines will run on the CPU"),
    ("missing-library", ["0000:01:00.0"], WARN, "install the NVIDIA driver"),
    ("driver-not-loaded", [], WARN, "modprobe nvidia"),
    ("no-permission", [], WARN, "/dev/nvidia"),
], ids=["cpu-only-machine", "gpu-without-driver", "driver-not-loaded", "no-permission"])
def test_nvml_failure_modes_say_what_they_mean(fake_nvml, mode, pci, status, words):
    reading = nvml.read(fake_nvml(mode))
    out = check_host.nvml_outcome(reading, None, pci, False)
    assert out.status == status
    assert words in out.summary + (out.remedy or "")
    assert "engines will run on the CPU" in out.summary


def test_nvml_python_package_missing_says_how_to_install_it():
    out = check_host.nvml_outcome(nvml.read(None), None, [], False)
    assert out.status == WARN and out.remedy == "pip install nvidia-ml-py"


def test_a_profile_is_not_read_from_nvml():
    out = check_host.nvml_outcome(None, "gb10", [], False)
    assert out.status == OK and "profile gb10" in out.summary


def test_gtx_1080_is_told_that_cuda_13_cannot_target_it():
    out = check_host.capability_outcome(_hw("gtx-1080").gpus[0])
    assert out.status == OK and "CUDA 13 images cannot target it" in out.summary


def test_kepler_is_too_old_for_cuda_12():
    out = check_host.capability_outcome(_gpu(name="Tesla K80", compute_capability=Capability.parse("3.7")))
    assert out.status == WARN and "too old for CUDA 12" in out.summary


def test_mig_on_is_a_warning_with_the_command_to_turn_it_off():
    out = check_host.mig_outcome(_gpu(index=1, mig_enabled=True))
    assert out.status == WARN and "nvidia-smi -i 1 -mig 0" in out.remedy
    assert check_host.mig_outcome(_gpu(mig_enabled=False)).status == OK
    assert check_host.mig_outcome(_gpu(mig_enabled=None)).summary == "this GPU has no MIG mode"


def test_memory_held_by_other_processes_is_a_warning():
    out = check_host.gpu_memory_outcome(_gpu(memory_free_mib=4000), _hw("rtx-3080"))
    assert out.status == WARN and "6240 MiB is held" in out.summary and "nvidia-smi" in out.remedy


def test_driver_older_than_cuda_12_is_a_warning():
    hw = Hardware((_gpu(),), "470.82.01", CudaVersion(11, 4), "x86_64", 8, 32000)
    out = check_host.driver_outcome(hw)
    assert out.status == WARN and "CUDA 12 images will not start" in out.summary


# --- Docker ------------------------------------------------------------------------------------------------------

def _info(**kw) -> EngineInfo:
    base = dict(name="docker", server_version="27.3.1", api_version="1.47", os_type="linux", architecture="x86_64",
                root_dir="/var/lib/docker", runtimes=("runc",), default_runtime="runc")
    return EngineInfo(**{**base, **kw})


NO_DRIVER = 'could not select device driver "" with capabilities: [[gpu]]'


@pytest.mark.parametrize(("info", "gpu_needed", "has_gpu", "cdi", "probed", "error", "status", "words"), [
    (_info(runtimes=("nvidia", "runc")), True, True, [], None, None, OK, "nvidia runtime is registered"),
    (_info(), True, True, ["/etc/cdi/nvidia.yaml"], None, None, OK, "CDI"),
    (_info(), False, False, [], None, None, OK, "none is needed"),
    (_info(), True, True, [], "sha256:abc", None, OK, "device driver is registered"),
    (_info(), True, True, [], "sha256:abc", NO_DRIVER, FAIL, "will not start"),
    (_info(), False, True, [], "sha256:abc", NO_DRIVER, WARN, "does not matter yet"),
    (_info(), True, True, [], None, None, WARN, "cannot tell"),
], ids=["nvidia-runtime", "cdi", "cpu-only", "probe-starts", "no-driver-plan-needs-gpu", "no-driver-cpu-plan",
        "no-image-to-probe"])
def test_nvidia_runtime_is_only_a_fail_when_the_plan_needs_a_gpu(info, gpu_needed, has_gpu, cdi, probed, error,
                                                                  status, words):
    out = check_docker.runtime_outcome(info, gpu_needed=gpu_needed, has_gpu=has_gpu, cdi_specs=cdi,
                                       probed_with=probed, probe_error=error)
    assert out.status == status and words in out.summary
    if error:
        assert "nvidia-ctk runtime configure" in out.remedy


def test_docker_too_old_for_gpu_requests():
    assert check_docker.version_outcome(_info(api_version="1.39"), gpu_needed=True).status == FAIL
    assert check_docker.version_outcome(_info(api_version="1.39"), gpu_needed=False).status == WARN
    assert check_docker.version_outcome(_info(os_type="windows"), gpu_needed=False).status == FAIL


@pytest.mark.parametrize(("free_gib", "missing", "status"), [(1, [], FAIL), (10, ["img"], WARN), (10, [], OK),
                                                             (50, ["img"], OK)],
                         ids=["almost-full", "low-with-pulls", "low-nothing-to-pull", "plenty"])
def test_docker_disk(free_gib, missing, status):
    out = check_docker.docker_disk_outcome("/var/lib/docker", ("/var/lib", free_gib * 1024**3), missing)
    assert out.status == status


# --- engines -----------------------------------------------------------------------------------------------------

def _engine(**kw) -> SimpleNamespace:
    base = dict(engine="asr", candidate="whisper-cpp-cuda", image="ghcr.io/ggml-org/whisper.cpp:main-cuda",
                devices=("0",), gpu=True, model=None, mounts=())
    return SimpleNamespace(**{**base, **kw})


def test_rtx_5070_ti_refuses_sm52_sass_only_whisper_with_the_no_kernel_remedy():
    out = check_engines.archs_outcome(_engine(), SimpleNamespace(archs="sm_52", ptx_jit=True), None,
                                      _hw("rtx-5070-ti"))
    kb = load_knowledge().get("cuda-no-kernel-image")
    assert out.status == FAIL and "12.0" in out.summary and out.remedy == kb.remedy


def test_rtx_5070_ti_with_whisper_built_for_52_is_seed_000():
    # CMake "52" carries sm_52 SASS and compute_52 PTX: the driver could JIT it, but ggml then traps (seed 000).
    out = check_engines.archs_outcome(_engine(), SimpleNamespace(archs="52", ptx_jit=False), None,
                                      _hw("rtx-5070-ti"))
    kb = load_knowledge().get("ggml-no-device-code-for-arch")
    assert out.status == FAIL and "CUDA arch 520" in out.summary and "seed" not in out.summary
    assert out.remedy == kb.remedy


def test_ptx_fit_is_allowed_for_engines_that_jit_safely():
    out = check_engines.archs_outcome(_engine(), SimpleNamespace(archs="52", ptx_jit=True), None,
                                      _hw("rtx-5070-ti"))
    assert out.status == WARN and "slow first start" in out.summary


def test_catalogue_and_inspected_binaries_disagree_is_a_warning_issue_8():
    inspected = ("sm_86;sm_89;sm_120", "inspected sha256:0123456789ab")
    out = check_engines.archs_outcome(_engine(), SimpleNamespace(archs="sm_86;sm_89", ptx_jit=True), inspected,
                                      _hw("rtx-5070-ti"))
    assert out.status == WARN
    assert "catalogue says" in out.summary and "sm_120" in out.summary and "inspected" in out.summary
    assert "images.yaml" in out.remedy and out.details["archs_source"].startswith("inspected")


def test_ptx_only_fit_is_a_slow_first_start_warning():
    out = check_engines.archs_outcome(_engine(), SimpleNamespace(archs="compute_80", ptx_jit=True), None,
                                      _hw("rtx-3080"))
    assert out.status == WARN and "JIT" in out.summary


def test_unknown_archs_point_at_aima_inspect():
    out = check_engines.archs_outcome(_engine(), SimpleNamespace(archs=None, ptx_jit=True), None, _hw("rtx-3080"))
    assert out.status == WARN and "aima inspect" in out.remedy


def _image(env) -> SimpleNamespace:
    return SimpleNamespace(env=tuple(env), platform="linux/amd64", id="sha256:" + "0" * 64, size_bytes=1 << 30)


def test_image_requiring_cuda_13_1_on_a_cuda_12_8_driver_fails_with_the_toolkit_remedy():
    image = _image(["PATH=/usr/bin", "NVIDIA_REQUIRE_CUDA=cuda>=13.1 brand=tesla,driver>=535,driver<536"])
    out = check_engines.require_outcome(_engine(), None, image, _hw("rtx-5090-old-driver"))
    assert out.status == FAIL
    assert "unsatisfied condition: cuda>=13.1" in out.summary and "will refuse to start" in out.summary
    assert out.remedy == load_knowledge().get("nvidia-require-cuda-unsatisfied").remedy
    assert out.details["source"] == "image"


def test_catalogue_requirement_is_used_before_the_image_is_pulled():
    out = check_engines.require_outcome(_engine(), SimpleNamespace(require_cuda=None, cuda="12.9"), None,
                                        _hw("rtx-5090-old-driver"))
    assert out.status == FAIL and out.details["source"] == "catalogue"


def test_forward_compatibility_on_a_tesla_is_a_warning():
    image = _image(["NVIDIA_REQUIRE_CUDA=cuda>=12.4 brand=tesla,driver>=535,driver<536"])
    out = check_engines.require_outcome(_engine(), None, image, _hw("t4"))
    assert out.status == WARN and "forward compatibility" in out.summary


def test_disabled_requirement_is_a_warning():
    out = check_engines.require_outcome(_engine(), None, _image(["NVIDIA_DISABLE_REQUIRE=1"]), _hw("rtx-3080"))
    assert out.status == WARN and "NVIDIA_DISABLE_REQUIRE" in out.summary


def test_arm64_image_on_an_x86_64_host_fails():
    image = SimpleNamespace(platform="linux/arm64", env=(), id="sha256:1", size_bytes=1)
    out = check_engines.platform_outcome(_engine(), None, image, _hw("rtx-3080"))
    assert out.status == FAIL and "exec format error" in out.summary


def _container(name="aima-s-llm", stack="s", engine="llm", state="running", port=8000, **kw) -> Container:
    return Container(id="c" * 64, name=name, image="img", labels={"aima.stack": stack, "aima.engine": engine},
                          state=state, ports=((PortBinding("127.0.0.1", port, 8080),) if port else ()), **kw)


@pytest.mark.parametrize(("error", "containers", "status", "words"), [
    (None, [], OK, "is free"),
    (IN_USE, [_container()], OK, "aima's own llm container"),
    (IN_USE, [_container(name="aima-other-llm", stack="other")], FAIL, "held by container aima-other-llm"),
    (IN_USE, [], FAIL, "in use by another program"),
    (IN_USE, None, FAIL, "in use by another program"),
    ("Cannot assign requested address", [], FAIL, "cannot bind"),
], ids=["free", "own-container", "other-stack", "foreign-program", "docker-down", "bad-address"])
def test_port_check(error, containers, status, words):
    e = _engine(engine="llm")
    out = check_engines.port_outcome(e, PortBinding("127.0.0.1", 8000, 8080), "s", error, containers, True)
    assert out.status == status and words in out.summary
    if words == "in use by another program":
        assert "sport = :8000" in out.remedy


def test_port_on_a_remote_daemon_is_not_checked_here():
    with pytest.raises(NotChecked):
        check_engines.port_outcome(_engine(), PortBinding("127.0.0.1", 8000, 8080), "s", None, [], False)


def _with_model(tmp_path, size_mib=100) -> SimpleNamespace:
    model = SimpleNamespace(name="base", file="ggml-base.bin", size_mib=size_mib)
    return _engine(model=model, mounts=(SimpleNamespace(source=str(tmp_path), target="/models", read_only=True),))


def test_model_missing_fails_with_where_to_put_it(tmp_path):
    e = _with_model(tmp_path)
    path = checks.model_path(e)
    out = check_engines.model_outcome(e, path, None)
    assert out.status == FAIL and str(tmp_path) in out.remedy and "ggml-base.bin" in out.remedy


def test_model_much_smaller_than_expected_is_an_interrupted_download(tmp_path):
    e = _with_model(tmp_path, size_mib=100)
    out = check_engines.model_outcome(e, "x", 10 * 1024**2)
    assert out.status == WARN and "interrupted" in out.summary
    assert check_engines.model_outcome(e, "x", 100 * 1024**2).status == OK


def test_refused_engine_is_a_fail_with_the_resolver_reason():
    refusal = SimpleNamespace(engine="llm", reason="the stack asks for the GPU (device: gpu) but no GPU image fits",
                              rejected=(SimpleNamespace(candidate="vllm-official", reason="needs an NVIDIA GPU"),))
    out = check_engines.refusal_outcome(refusal)
    assert out.status == FAIL and "device: gpu" in out.summary and "aima plan" in out.remedy
    assert out.details["rejected"] == {"vllm-official": "needs an NVIDIA GPU"}


# --- containers --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("container", "status", "words"), [
    (_container(), OK, "running"),
    (_container(state="exited", exit_code=1), FAIL, "exited with code 1"),
    (_container(state="exited", exit_code=0), WARN, "exited cleanly"),
    (_container(state="exited", exit_code=137, oom_killed=True), FAIL, "OOM"),
    (_container(state="restarting"), FAIL, "restarting"),
    (_container(state="created", error=NO_DRIVER), FAIL, "Docker cannot give containers a GPU"),
], ids=["running", "crashed", "stopped", "oom", "restart-loop", "no-gpu-runtime"])
def test_container_state(container, status, words):
    out = check_containers.state_outcome(container)
    assert out.status == status and words in out.summary


@pytest.mark.parametrize(("status_code", "health", "expected"), [
    (200, None, OK), (503, None, WARN), (None, None, FAIL), (500, None, FAIL), (200, "unhealthy", FAIL),
], ids=["healthy", "loading", "nothing-listens", "server-error", "docker-unhealthy"])
def test_container_health(status_code, health, expected):
    c = _container(health=health)
    out = check_containers.health_outcome(c, "http://127.0.0.1:8000/health", status_code, "connection refused")
    assert out.status == expected


@pytest.mark.parametrize(("seed", "line"), SEED_LINES, ids=[f"seed-{n}-{i}" for i, (n, _) in enumerate(SEED_LINES)])
def test_every_seed_line_in_a_log_is_a_fail_with_its_remedy_and_source(seed, line):
    lines = ["stub: starting", "loading model", line, "exiting"]
    out = check_containers.log_outcome(lines, "llm", "the log")
    expected = load_knowledge().first(lines, "llm")
    assert out.status == FAIL
    assert out.details["signature"] == expected.signature_id and out.remedy == expected.remedy
    assert out.details["line_number"] == 3 and out.details["source"] == expected.source
    assert expected.meaning in out.summary


def test_a_clean_log_is_ok():
    out = check_containers.log_outcome(["stub: ready"], "asr", "the log")
    assert out.status == OK and "no known failure" in out.summary


def test_an_unknown_engine_label_still_gets_every_signature():
    out = check_containers.log_outcome(["CUDA kernel mul_mat_vec has no device code compatible with CUDA arch 520"],
                                       "whisper", "the log")
    assert out.status == FAIL and out.details["signature"] == "ggml-no-device-code-for-arch"


# --- --deep ------------------------------------------------------------------------------------------------------

def _deep_engine() -> SimpleNamespace:
    return _engine(engine="llm", image="vllm/vllm-openai:v0.15.0", model=None)


def test_trial_crashing_with_seed_004_is_the_ptxas_diagnosis():
    from aima.launch.wait import CRASHED
    from aima.launch.wait import Outcome as Waited

    d = load_knowledge().match_line("ptxas fatal : Value 'sm_121a' is not defined for option 'gpu-name'", "llm")
    out = deep.trial_outcome(_deep_engine(), Waited(CRASHED, d.title, d, waited_s=3.2))
    assert out.status == FAIL and out.details["signature"] == "triton-ptxas-unknown-arch"
    assert "TRITON_PTXAS_PATH" in out.remedy and "3 s trial" in out.summary


@pytest.mark.parametrize(("kind", "status"), [("ready", OK), ("timeout", WARN), ("exited", FAIL), ("failed", FAIL)])
def test_trial_outcomes(kind, status):
    from aima.launch.wait import Outcome as Waited

    out = deep.trial_outcome(_deep_engine(), Waited(kind, "HTTP 200", exit_code=1 if kind == "exited" else None,
                                                    tail=("stub: loading",), waited_s=1.0))
    assert out.status == status


@pytest.mark.parametrize(("result", "status", "words"), [
    (SimpleNamespace(start_error=None, timed_out=False, exit_code=0,
                     output="GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-1234)\n"), OK, "sees GPU 0: NVIDIA H100"),
    (SimpleNamespace(start_error=NO_DRIVER, timed_out=False, exit_code=None, output=""), FAIL,
     "Docker cannot give containers a GPU"),
    (SimpleNamespace(start_error="nvidia-container-cli: requirement error: unsatisfied condition: cuda>=12.8, "
                                 "please update your driver", timed_out=False, exit_code=None, output=""), FAIL,
     "refused the image's CUDA requirement"),
    (SimpleNamespace(start_error='exec: "nvidia-smi": executable file not found in $PATH', timed_out=False,
                     exit_code=None, output=""), FAIL, "did not inject"),
    (SimpleNamespace(start_error=None, timed_out=True, exit_code=None, output=""), FAIL, "did not finish"),
    (SimpleNamespace(start_error=None, timed_out=False, exit_code=9, output="NVIDIA-SMI has failed"), FAIL,
     "listed no GPU"),
], ids=["sees-gpu", "no-gpu-runtime", "require-cuda", "no-nvidia-smi", "hangs", "no-gpu-listed"])
def test_gpu_run_outcomes(result, status, words):
    out = deep.gpu_run_outcome(_deep_engine(), result, 30)
    assert out.status == status and words in out.summary
