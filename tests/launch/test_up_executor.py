"""run_up against an in-memory Docker: idempotency, fallback, ports, pulls, refusals, Ctrl-C."""

from __future__ import annotations

import _thread
import dataclasses
import errno
import os

import pytest

from aima.engine.labels import LABEL_CANDIDATE, LABEL_ENGINE, LABEL_HASH, LABEL_STACK
from aima.errors import AimaError
from aima.launch.reach import ProbeResult
from aima.launch.up import UpOptions, run_up
from aima.launch.wait import CRASHED, FAILED, READY, TIMEOUT
from aima.plan_types import Refusal
from tests.launch.fakes import FakeDocker, FakeProbes, engine_plan, plan_of

IN_USE = os.strerror(errno.EADDRINUSE)
SEED_000 = "CUDA kernel mul_mat_vec has no device code compatible with CUDA arch 520"
READY_ENV = {"FAKE_READY": "1"}


def three(**asr_changes):
    asr = dataclasses.replace(engine_plan("asr", port=18001, env=READY_ENV), **asr_changes)
    return plan_of(asr, engine_plan("llm", port=18000, env=READY_ENV), engine_plan("tts", port=18002, env=READY_ENV))


def up(plan, docker, options=UpOptions(), **kwargs):
    return run_up(plan, docker, options, probe_for=FakeProbes(docker), **kwargs)


def test_fresh_stack_comes_up_labelled_on_its_network():
    docker = FakeDocker()
    result = up(three(), docker)
    assert result.ok and [e.outcome.kind for e in result.engines] == [READY] * 3
    assert sorted(docker.created()) == ["aima-t-asr", "aima-t-llm", "aima-t-tts"]
    assert docker.networks == {"aima-t": {LABEL_STACK: "t"}}
    labels = next(c.spec.labels for c in docker.containers.values() if c.spec.engine == "asr")
    assert labels[LABEL_STACK] == "t" and labels[LABEL_ENGINE] == "asr" and labels[LABEL_CANDIDATE] == "asr-a"
    assert labels[LABEL_HASH] == three().engine("asr").config_hash


def test_unchanged_plan_changes_nothing():
    docker = FakeDocker()
    up(three(), docker)
    ids = set(docker.containers)
    docker.calls.clear()
    result = up(three(), docker)
    assert result.ok and [e.action for e in result.engines] == ["noop"] * 3
    assert set(docker.containers) == ids
    assert not [c for c in docker.calls if c[0] in ("create", "remove", "start", "pull")]


def test_changed_engine_alone_is_recreated():
    docker = FakeDocker()
    up(three(), docker)
    before = {c.spec.engine: cid for cid, c in docker.containers.items()}
    docker.calls.clear()
    result = up(three(command=("--threads", "4")), docker)
    after = {c.spec.engine: cid for cid, c in docker.containers.items()}
    assert [e.action for e in result.engines] == ["recreate", "noop", "noop"]
    assert after["llm"] == before["llm"] and after["tts"] == before["tts"] and after["asr"] != before["asr"]
    assert docker.created() == ["aima-t-asr"]


def test_engine_no_longer_in_the_plan_is_removed():
    docker = FakeDocker()
    up(three(), docker)
    plan = plan_of(engine_plan("asr", port=18001, env=READY_ENV), engine_plan("llm", port=18000, env=READY_ENV))
    result = up(plan, docker)
    assert result.removed == ["aima-t-tts"]
    assert sorted(c.spec.engine for c in docker.containers.values()) == ["asr", "llm"]


def _crashing_gpu_asr(fallbacks):
    crash = {"FAKE_LINES": f"loading model|{SEED_000}", "FAKE_EXIT": "1"}
    return engine_plan("asr", "gpu-sm52", gpu=True, devices=("0",), port=18001, env=crash, fallbacks=fallbacks)


def test_seed_000_crash_falls_back_to_the_next_gpu_candidate():
    docker = FakeDocker()
    good = engine_plan("asr", "gpu-sm120", image="stub:2", gpu=True, devices=("0",), port=18001, env=READY_ENV)
    result = up(plan_of(_crashing_gpu_asr((good,))), docker)
    asr = result.engines[0]
    assert asr.ok and asr.target.candidate == "gpu-sm120"
    assert asr.fell_back == [("gpu-sm52", "ggml kernel has no device code for this GPU")]
    [container] = docker.containers.values()
    assert container.spec.labels[LABEL_CANDIDATE] == "gpu-sm120" and container.spec.devices == ("0",)


def test_gpu_engine_does_not_drop_to_the_cpu_without_allow_cpu():
    cpu = engine_plan("asr", "cpu", port=18001, env=READY_ENV)
    result = up(plan_of(_crashing_gpu_asr((cpu,))), FakeDocker())
    asr = result.engines[0]
    assert not result.ok and asr.outcome.kind == CRASHED and "--allow-cpu" in asr.no_fallback
    assert asr.outcome.diagnosis.signature_id == "ggml-no-device-code-for-arch"
    assert asr.outcome.tail[-1] == SEED_000

    result = up(plan_of(_crashing_gpu_asr((cpu,))), FakeDocker(), UpOptions(allow_cpu=True))
    assert result.ok and result.engines[0].target.candidate == "cpu"


def test_taken_port_refuses_before_anything_starts():
    docker = FakeDocker()
    with pytest.raises(AimaError, match=r"nothing was pulled or created: \(1\) asr: host port 127.0.0.1:18001 is "):
        up(three(), docker, port_check=lambda ip, port: IN_USE if port == 18001 else None)
    assert docker.containers == {} and docker.networks == {}


def test_ports_of_a_remote_daemon_are_not_checked_here():
    result = up(three(), FakeDocker(local=False), port_check=lambda ip, port: IN_USE)
    assert result.ok


def test_missing_image_is_pulled_and_a_failed_pull_starts_nothing():
    docker = FakeDocker(images={})
    assert up(three(), docker).ok
    assert [c for c in docker.calls if c[0] == "pull"] == [("pull", "stub:1")]  # once, though three engines use it

    docker = FakeDocker(images={}, pull_error=AimaError("cannot pull stub:1: registry r is not reachable"))
    with pytest.raises(AimaError, match="not reachable"):
        up(three(), docker)
    assert docker.containers == {}


def test_local_image_of_another_platform_is_refused():
    docker = FakeDocker(images={"stub:1": "linux/arm64"})
    with pytest.raises(AimaError, match="built for linux/arm64, but this Docker host is linux/amd64"):
        up(three(), docker)


def test_refused_plan_starts_nothing():
    plan = dataclasses.replace(three(), refusals=(Refusal("llm", "needs 18432 MiB, 8000 MiB left"),))
    docker = FakeDocker()
    with pytest.raises(AimaError, match="llm: needs 18432 MiB"):
        up(plan, docker)
    assert docker.calls == []


def test_failed_start_removes_the_container_and_reports_why():
    class NoGpuRuntime(FakeDocker):
        def start(self, container_id):
            raise AimaError("cannot start aima-t-asr: Docker cannot give containers a GPU")

    docker = NoGpuRuntime()
    result = up(plan_of(engine_plan("asr", gpu=True, devices=("0",), port=18001)), docker)
    outcome = result.engines[0].outcome
    assert outcome.kind == FAILED and "cannot give containers a GPU" in outcome.detail
    assert docker.containers == {}


def test_timeout_caps_the_startup_allowance_for_all_engines():
    slow = {"FAKE_READY": "0"}
    plan = plan_of(engine_plan("asr", port=18001, env=slow), engine_plan("llm", port=18000, env=slow))
    result = up(plan, FakeDocker(), UpOptions(timeout_s=0.3))
    assert [e.outcome.kind for e in result.engines] == [TIMEOUT, TIMEOUT]
    assert all(e.outcome.waited_s < 1.0 for e in result.engines)
    assert "last probe: HTTP 503 loading" in result.engines[0].outcome.detail


def test_ctrl_c_removes_what_this_run_created_and_says_what_is_left():
    docker = FakeDocker()
    plan = three()
    kept = docker.add(plan, plan.engine("llm"))
    interrupted = []

    def probe_for(url):
        def probe():
            # Ctrl-C arrives once both new containers exist, while every engine is still loading.
            if len(docker.containers) == 3 and not interrupted:
                interrupted.append(1)
                _thread.interrupt_main()
            return ProbeResult(False, "HTTP 503 loading")

        return probe

    with pytest.raises(AimaError) as caught:
        run_up(plan, docker, probe_for=probe_for)
    message = str(caught.value)
    assert caught.value.exit_code == 130
    assert "removed what this run created: aima-t-asr, aima-t-tts" in message
    assert "left as they were: aima-t-llm" in message
    assert list(docker.containers) == [kept]
