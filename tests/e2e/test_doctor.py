"""`aima doctor` on each engine (the test dockerd, the test Podman service): a dead engine, ports, images,
NVIDIA_REQUIRE_CUDA, containers whose logs hold the seeds' failure lines, `aima up`'s own containers, and --deep runs
on the stand-in GPU (Docker: the device request through the stand-in hook; Podman: the stand-in CDI spec).

GPU states come from the fake NVML (tests/fakenvml) replaying a profile; everything the engines do is real.
"""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml

from aima.engine.labels import LABEL_CANDIDATE, LABEL_ENGINE, LABEL_STACK
from aima.knowledge import load_knowledge
from tests.conftest import PROFILES, REPO
from tests.diagnose.test_knowledge import SEED_LINES
from tests.e2e.upkit import aima, catalog, free_port
from tests.e2e.upkit import stack as up_stack

SEED_000 = "CUDA kernel mul_mat_vec has no device code compatible with CUDA arch 520"
SEED_004 = "ptxas fatal : Value 'sm_121a' is not defined for option 'gpu-name'"


def _checks(result) -> dict[str, dict]:
    assert "Traceback" not in result.out + result.err
    return {c["id"]: c for c in result.json()["checks"]}


def _name(stacks, hint: str) -> str:
    return stacks.track(f"dr-{hint}-{uuid.uuid4().hex[:6]}")


def _catalogue(tmp_path: Path, llm: dict, other_image: str) -> Path:
    """extends: false; llm is the given candidate, asr and tts are CPU candidates of other_image."""
    def cpu(engine: str) -> dict:
        return {"id": f"stub-{engine}", "image": other_image, "gpu": False, "platforms": ["linux/amd64", "linux/arm64"],
                "port": 8080, "health": {"path": "/health", "startup_timeout_s": 20, "interval_s": 0.1}}

    base = {"platforms": ["linux/amd64", "linux/arm64"], "port": 8080,
            "health": {"path": "/health", "startup_timeout_s": 20, "interval_s": 0.1}}
    doc = {"version": 1, "extends": False, "engines": {
        "asr": {"candidates": [cpu("asr")]},
        "llm": {"candidates": [{**base, **llm}]},
        "tts": {"candidates": [cpu("tts")]}}}
    path = tmp_path / "images.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _stack(tmp_path: Path, name: str, llm: dict | None = None, only_llm: bool = True) -> Path:
    engines = {"llm": {"port": free_port(), **(llm or {})}}
    for other in ("asr", "tts"):
        engines[other] = {"enabled": False} if only_llm else {"port": free_port()}
    path = tmp_path / "stack.yaml"
    path.write_text(yaml.safe_dump({"name": name, "engines": engines}, sort_keys=False))
    return path


def _wait_for(container, text: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in container.logs().decode():
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} not in the log:\n{container.logs().decode()}")
        time.sleep(0.1)


def _named_stack(tmp_path: Path, name: str) -> Path:
    """A stack file that only names the stack (every engine with its defaults), so doctor checks its containers."""
    path = tmp_path / "named.yaml"
    path.write_text(f"name: {name}\n")
    return path


def _aima_container(client, image: str, stack: str, engine: str, **kwargs):
    """A container labelled the way `aima up` labels its own, with its port on a free loopback port."""
    return client.containers.run(image, detach=True, name=f"aima-{stack}-{engine}",
                                 labels={LABEL_STACK: stack, LABEL_ENGINE: engine, LABEL_CANDIDATE: "stub"},
                                 ports={"8080/tcp": ("127.0.0.1", None)}, **kwargs)


# --- the engine not there ---------------------------------------------------------------------------------------------

@pytest.fixture
def refusing_socket(tmp_path):
    """A Unix socket file nobody accepts on: what a stopped daemon leaves behind."""
    path = tmp_path / "docker.sock"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(path))
    yield path
    sock.close()


DEAD_REMEDY = {"docker": "systemctl start docker", "podman": "podman system service"}


@pytest.mark.parametrize("which", ["docker", "podman"])
@pytest.mark.parametrize("kind", ["no-socket", "stopped-daemon"])
def test_dead_engine_fails_docker_reachable_fast_and_every_other_group_still_reports(tmp_path, refusing_socket,
                                                                                     kind, which):
    socket_path = tmp_path / "missing.sock" if kind == "no-socket" else refusing_socket
    where = {"DOCKER_HOST": f"unix://{socket_path}"} if which == "docker" else {
        "AIMA_ENGINE": "podman", "CONTAINER_HOST": f"unix://{socket_path}"}
    env = {k: v for k, v in os.environ.items() if k not in ("AIMA_ENGINE", "DOCKER_HOST", "CONTAINER_HOST")}
    env.update(where, PYTHONPATH=str(REPO / "tests" / "fakenvml"), AIMA_FAKE_NVML="missing-library")
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "aima", "doctor", "--json"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)
    elapsed = time.monotonic() - started
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    found = {c["id"]: c for c in json.loads(proc.stdout)["checks"]}
    reachable = found["docker.reachable"]
    assert reachable["status"] == "fail" and str(socket_path) in reachable["summary"]
    assert DEAD_REMEDY[which] in reachable["remedy"]
    assert found["docker.version"]["status"] == "warn" and "not checked" in found["docker.version"]["summary"]
    assert found["gpu.nvml"]["summary"].startswith("no GPU: engines will run on the CPU")
    assert found["engines.plan"]["status"] == "ok" and found["engine.llm.platform"]["status"] == "ok"
    assert elapsed < 10  # Python start-up included; doctor itself reports well under a second


# --- ports, images, NVIDIA_REQUIRE_CUDA ------------------------------------------------------------------------------

def test_port_taken_by_another_program_fails_with_how_to_find_it(engine, engine_env, stacks, tmp_path):
    name = _name(stacks, "port")
    stack_file = _stack(tmp_path, name)
    port = yaml.safe_load(stack_file.read_text())["engines"]["llm"]["port"]
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        result = aima("doctor", "--stack", stack_file, "--json")
    check = _checks(result)["engine.llm.port"]
    assert result.rc == 1
    assert check["status"] == "fail" and f"127.0.0.1:{port} is in use by another program" == check["summary"]
    assert f"sport = :{port}" in check["remedy"]


def test_port_and_health_of_aimas_own_running_stack_are_ok(engine, engine_env, stub_image, stacks,
                                                           tmp_path):
    name = _name(stacks, "own")
    images, stack_file = catalog(tmp_path, "images.yaml", stub_image), up_stack(tmp_path, name)
    up = aima("up", "--images", images, "--stack", stack_file, "--json")
    assert up.rc == 0, up.err
    result = aima("doctor", "--images", images, "--stack", stack_file, "--json")
    found = _checks(result)
    for role in ("asr", "llm", "tts"):
        assert found[f"engine.{role}.port"]["status"] == "ok"
        assert f"aima's own {role} container aima-{name}-{role}" in found[f"engine.{role}.port"]["summary"]
        assert found[f"container.aima-{name}-{role}.state"]["status"] == "ok"
        assert found[f"container.aima-{name}-{role}.health"]["status"] == "ok"
        assert found[f"container.aima-{name}-{role}.logs"]["status"] == "ok"
        assert found[f"engine.{role}.image-present"]["status"] == "ok"


def test_missing_image_is_a_warning_and_a_present_one_is_checked_for_platform(engine, engine_env,
                                                                              stub_image, stacks, tmp_path):
    missing = f"aima-test/doctor-missing-{uuid.uuid4().hex[:8]}:none"
    images = _catalogue(tmp_path, {"id": "stub-llm", "image": stub_image, "gpu": False}, other_image=missing)
    stack_file = _stack(tmp_path, _name(stacks, "img"), only_llm=False)
    found = _checks(aima("doctor", "--images", images, "--stack", stack_file, "--json"))
    assert found["engine.asr.image-present"]["status"] == "warn"
    assert f"{engine.kind} pull {missing}" in found["engine.asr.image-present"]["remedy"]
    assert found["engine.asr.platform"]["details"]["source"] == "catalogue"
    present = found["engine.llm.image-present"]
    assert present["status"] == "ok" and present["details"]["image_id"].startswith("sha256:")
    platform = found["engine.llm.platform"]
    assert platform["status"] == "ok" and platform["details"]["source"] == "image"


@pytest.fixture
def cuda_13_1_image(engine, stub_image):
    """The stub with NVIDIA_REQUIRE_CUDA of a CUDA 13.1 base image (data-centre forward-compat clause included)."""
    tag = f"aima-test/doctor-require:{uuid.uuid4().hex[:8]}"
    dockerfile = (f"FROM {stub_image}\n"
                  "ENV NVIDIA_REQUIRE_CUDA=\"cuda>=13.1 brand=tesla,driver>=535,driver<536\"\n")
    engine.client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=tag, rm=True)
    yield tag
    engine.client.images.remove(tag, force=True)


def test_image_whose_nvidia_require_cuda_the_driver_does_not_meet_fails(engine, engine_env, fake_nvml,
                                                                        cuda_13_1_image, stub_image, stacks,
                                                                        tmp_path):
    fake_nvml(PROFILES / "rtx-5090-old-driver.yaml")  # GeForce, driver 570.86.16 = CUDA 12.8
    # The catalogue says CUDA 12.4, so the plan picks it; the image's own environment says otherwise.
    llm = {"id": "stub-llm-gpu", "image": cuda_13_1_image, "gpu": True, "archs": "sm_120", "cuda": "12.4"}
    images = _catalogue(tmp_path, llm, other_image=stub_image)
    result = aima("doctor", "--images", images, "--stack", _stack(tmp_path, _name(stacks, "req")), "--json")
    found = _checks(result)
    require = found["engine.llm.cuda-require"]
    assert result.rc == 1
    assert require["status"] == "fail" and require["details"]["source"] == "image"
    assert "unsatisfied condition: cuda>=13.1" in require["summary"]
    assert require["remedy"] == load_knowledge().get("nvidia-require-cuda-unsatisfied").remedy
    assert found["engine.llm.archs"]["status"] == "ok"
    # Docker: the test daemon registers the nvidia device driver (stand-in hook), so the GPU request probe starts;
    # Podman: the stand-in CDI spec (.ci/setup-podman) names the planned GPU.
    assert found["docker.nvidia-runtime"]["status"] == "ok"
    assert found["gpu.0.capability"]["summary"].startswith("NVIDIA GeForce RTX 5090: compute capability 12.0")


# --- containers and the seeds' failure lines -----------------------------------------------------------------------

@pytest.mark.parametrize(("seed", "line"), SEED_LINES, ids=[f"seed-{n}-{i}" for i, (n, _) in enumerate(SEED_LINES)])
def test_running_container_whose_log_holds_a_seed_line_is_diagnosed(engine, engine_env, stub_image,
                                                                    stacks, tmp_path, seed, line):
    name = _name(stacks, f"s{seed}")
    # Print the seed's line to stderr, then become the healthy stub: running and answering, yet broken.
    container = _aima_container(engine.client, stub_image, name, "llm", environment={"SEED_LINE": line},
                                entrypoint=["/bin/sh", "-c", 'printf "%s\\n" "$SEED_LINE" >&2; '
                                            'exec /bin/sh /stub/engine.sh'])
    _wait_for(container, "stub: ready")
    found = _checks(aima("doctor", "--stack", _named_stack(tmp_path, name), "--json"))
    prefix = f"container.aima-{name}-llm"
    expected = load_knowledge().first([line], "llm")
    logs = found[f"{prefix}.logs"]
    assert found[f"{prefix}.state"]["status"] == "ok" and found[f"{prefix}.health"]["status"] == "ok"
    assert logs["status"] == "fail" and logs["details"]["signature"] == expected.signature_id
    assert logs["remedy"] == expected.remedy and logs["details"]["source"] == expected.source
    assert line in logs["details"]["line"]


@pytest.mark.parametrize(("line", "signature"), [(SEED_000, "ggml-no-device-code-for-arch"),
                                                 (SEED_004, "triton-ptxas-unknown-arch")], ids=["seed-000", "seed-004"])
def test_crashed_container_is_a_fail_with_the_seed_diagnosis(engine, engine_env, stub_image, stacks,
                                                             tmp_path, line, signature):
    name = _name(stacks, "crash")
    container = _aima_container(engine.client, stub_image, name, "asr" if "ggml" in signature else "llm",
                                environment={"STUB_CRASH_LINE": line, "STUB_EXIT_CODE": "134"})
    container.wait(timeout=10)
    stack_file = _named_stack(tmp_path, name)
    result = aima("doctor", "--stack", stack_file)
    flat = " ".join(result.out.split())
    found = _checks(aima("doctor", "--stack", stack_file, "--json"))
    role = "asr" if "ggml" in signature else "llm"
    state, logs = found[f"container.aima-{name}-{role}.state"], found[f"container.aima-{name}-{role}.logs"]
    assert result.rc == 1
    assert state["status"] == "fail" and "exited with code 134" in state["summary"]
    assert logs["status"] == "fail" and logs["details"]["signature"] == signature
    assert logs["remedy"] == load_knowledge().get(signature).remedy
    # The table shows the diagnosis and its public source, never the project's shorthand ("seed 000").
    assert "source:" in flat and "seed 0" not in flat and "FAIL" in flat
    assert "https://github.com/" in logs["details"]["source"] and "seed" not in logs["details"]["source"]


# --- --deep on the stand-in GPU -----------------------------------------------------------------------------------

def _deep_llm(tmp_path, stub_image, env: dict[str, str]) -> Path:
    llm = {"id": "stub-llm-gb10", "image": stub_image, "gpu": True, "archs": "sm_121a", "cuda": "12.4", "env": env}
    return _catalogue(tmp_path, llm, other_image=stub_image)


def _doctor_leftovers(client) -> list:
    return client.containers.list(all=True, filters={"label": "aima.doctor"})


def test_deep_finds_seed_004_before_up_and_leaves_nothing_behind(engine, engine_env, fake_nvml,
                                                                 stub_image, stacks, tmp_path):
    fake_nvml(PROFILES / "gb10.yaml")
    images = _deep_llm(tmp_path, stub_image, {"STUB_NEVER_READY": "1", "STUB_CRASH_AFTER": "1",
                                              "STUB_CRASH_LINE": SEED_004})
    before = len(engine.docker.hook_calls()) if engine.docker else 0
    result = aima("doctor", "--deep", "--deep-timeout", "20", "--images", images, "--stack",
                  _stack(tmp_path, _name(stacks, "deep")), "--json")
    found = _checks(result)
    trial, gpu_run = found["engine.llm.trial"], found["engine.llm.gpu-run"]
    assert result.rc == 1
    assert trial["status"] == "fail" and trial["details"]["signature"] == "triton-ptxas-unknown-arch"
    assert "TRITON_PTXAS_PATH" in trial["remedy"]
    # The stand-in hook (CDI spec) gives the GPU request but mounts no driver tools: doctor says exactly that.
    assert gpu_run["status"] == "fail" and "did not inject" in gpu_run["summary"]
    if engine.docker:
        assert len(engine.docker.hook_calls()) >= before + 2  # both runs really went through Docker's GPU path
    assert _doctor_leftovers(engine.client) == []


def test_deep_trial_of_a_healthy_gpu_image_is_ok(engine, engine_env, fake_nvml, stub_image, stacks,
                                                 tmp_path):
    fake_nvml(PROFILES / "gb10.yaml")
    images = _deep_llm(tmp_path, stub_image, {"STUB_READY_AFTER": "1"})
    found = _checks(aima("doctor", "--deep", "--images", images, "--stack", _stack(tmp_path, _name(stacks, "ok")),
                         "--json"))
    assert found["engine.llm.trial"]["status"] == "ok" and "came up healthy" in found["engine.llm.trial"]["summary"]
    assert _doctor_leftovers(engine.client) == []


# --- a CPU-only machine with Docker or Podman -------------------------------------------------------------------------

def test_cpu_only_machine_with_models_in_place_runs_clean(engine, engine_env, fake_nvml, stacks,
                                                          tmp_path):
    from aima.pipeline import PlanRequest, build_plan

    fake_nvml("missing-library")
    stack_file = tmp_path / "aima.yaml"
    engines = {e: {"port": free_port(), "models_dir": str(tmp_path / e)} for e in ("asr", "llm", "tts")}
    stack_file.write_text(yaml.safe_dump({"name": _name(stacks, "cpu"), "engines": engines}))
    for e in build_plan(PlanRequest(stack=stack_file)).engines:
        if e.model and e.model.file:  # sparse files of the catalogue's size: present and complete
            (tmp_path / e.engine).mkdir(exist_ok=True)
            with open(tmp_path / e.engine / e.model.file, "wb") as handle:
                handle.truncate(e.model.size_mib * 1024 * 1024)
    result = aima("doctor", "--stack", stack_file, "--deep", "--json")
    found = _checks(result)
    assert result.rc == 0, [c for c in found.values() if c["status"] == "fail"]
    assert found["gpu.nvml"]["summary"].startswith("no GPU: engines will run on the CPU")
    needed = {"docker": "none is needed", "podman": "no CDI spec is needed"}[engine.kind]
    assert found["docker.nvidia-runtime"]["status"] == "ok" and needed in found["docker.nvidia-runtime"]["summary"]
    assert found["engines.deep"]["status"] == "warn" and "no NVIDIA GPU" in found["engines.deep"]["summary"]
    assert all(found[f"engine.{e}.model"]["status"] == "ok" for e in ("asr", "llm"))
    table = aima("doctor", "--stack", stack_file)
    assert table.rc == 0 and "no GPU: engines will run on the CPU" in " ".join(table.out.split())
