"""Rootless limits (issue 18 item 3): what rootless Podman cannot grant is found from libpod's own /info and the
host's ip_unprivileged_port_start, reported by doctor and refused (or warned about) by `up` before anything exists."""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
from pathlib import Path

import pytest

from aima.engine.podman_engine import PodmanEngine
from aima.launch.preflight import PreflightFailed
from aima.launch.progress import QuietReporter
from aima.launch.rootless import DELEGATE, rootless_findings, unprivileged_port_start
from aima.launch.up import run_up
from aima.plan_types import PlannedLimits, PortBinding
from tests.engine.libpod_stub import (
    ROOTFUL_V1,
    ROOTLESS_V1,
    ROOTLESS_V2_DEFAULT,
    ROOTLESS_V2_DELEGATED,
    LibpodStub,
)
from tests.launch.fakes import FakeDocker, FakeProbes, engine_plan, plan_of


@pytest.fixture
def short_dir():
    path = Path(tempfile.mkdtemp(prefix="aima-pod-", dir="/tmp"))  # a Unix socket path must stay under 108 bytes
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _info(short_dir, payload):
    with LibpodStub(short_dir / "podman.sock", payload) as stub:
        engine = PodmanEngine(stub.url, timeout=5)
        try:
            return engine.info()
        finally:
            engine.close()


def test_the_podman_adapter_reads_cgroup_version_and_delegated_controllers_from_libpod_info(short_dir):
    info = _info(short_dir, ROOTLESS_V2_DEFAULT)
    assert (info.rootless, info.cgroup_version, info.cgroup_controllers) == (True, "v2", ("memory", "pids"))
    rootful = _info(short_dir, ROOTFUL_V1)
    assert (rootful.rootless, rootful.cgroup_version) == (False, "v1") and "cpu" in rootful.cgroup_controllers
    assert _info(short_dir, ROOTLESS_V1).cgroup_controllers == ()


LIMITED = engine_plan("llm", port=18000)  # memory 256 MiB and 1 CPU (tests.launch.fakes)
PIDS = dataclasses.replace(engine_plan("asr", port=18001), limits=PlannedLimits(pids=512))
UNLIMITED = dataclasses.replace(engine_plan("tts", port=18002), limits=PlannedLimits())


@pytest.mark.parametrize(("payload", "engines", "refused", "warned"), [
    (ROOTFUL_V1, [LIMITED], [], False),
    (ROOTLESS_V2_DELEGATED, [LIMITED, PIDS], [], False),
    (ROOTLESS_V2_DEFAULT, [LIMITED, PIDS], ["llm: its CPU limit needs the cgroup controller `cpu`"], False),
    (ROOTLESS_V2_DEFAULT, [UNLIMITED], [], False),
    (ROOTLESS_V1, [LIMITED], [], True),
    (ROOTLESS_V1, [UNLIMITED], [], False),
], ids=["rootful", "rootless-v2-delegated", "rootless-v2-systemd-default-no-cpu", "rootless-v2-no-limits",
        "rootless-v1-limits-not-applied", "rootless-v1-no-limits"])
def test_rootless_limits_table(short_dir, payload, engines, refused, warned):
    info = _info(short_dir, payload)
    found = rootless_findings(info, engines, [], 1024)
    assert [f"{e}: {t}"[:len(r)] for (e, t), r in zip(found.refusals, refused, strict=False)] == refused
    assert len(found.refusals) == len(refused)
    assert bool(found.warnings) == warned
    if refused:
        assert DELEGATE in found.refusals[0][1] and "user@.service.d" in found.refusals[0][1]


def test_a_privileged_port_is_refused_for_rootless_only(short_dir):
    ports = [("tts", PortBinding("127.0.0.1", 80, 8080)), ("llm", PortBinding("127.0.0.1", 8000, 8080))]
    found = rootless_findings(_info(short_dir, ROOTLESS_V2_DELEGATED), [UNLIMITED], ports, 1024)
    assert [e for e, _ in found.refusals] == ["tts"]
    assert "ip_unprivileged_port_start=1024" in found.refusals[0][1]
    assert not rootless_findings(_info(short_dir, ROOTFUL_V1), [UNLIMITED], ports, 1024).refusals
    assert not rootless_findings(_info(short_dir, ROOTLESS_V2_DELEGATED), [UNLIMITED], ports, 80).refusals


def test_the_host_sysctl_is_read(tmp_path):
    (tmp_path / "start").write_text("443\n")
    assert unprivileged_port_start(str(tmp_path / "start")) == 443
    assert unprivileged_port_start(str(tmp_path / "absent")) is None


class RootlessFake(FakeDocker):
    def __init__(self, info, **kw):
        super().__init__(**kw)
        self._rootless = info

    def info(self):
        return dataclasses.replace(self._rootless, architecture="x86_64", os_type="linux")


def test_up_refuses_before_creating_anything_when_a_limit_is_not_delegated(short_dir):
    docker = RootlessFake(_info(short_dir, ROOTLESS_V2_DEFAULT))
    plan = plan_of(dataclasses.replace(LIMITED, env=(("FAKE_READY", "1"),)))
    with pytest.raises(PreflightFailed, match="nothing was pulled or created") as caught:
        run_up(plan, docker, probe_for=FakeProbes(docker), port_check=lambda ip, port: None)
    assert "cgroup controller `cpu`" in str(caught.value) and DELEGATE in str(caught.value)
    assert not [c for c in docker.calls if c[0] in ("create", "pull")] and not docker.networks


def test_up_on_rootless_cgroup_v1_runs_but_warns_that_limits_are_not_applied(short_dir):
    docker = RootlessFake(_info(short_dir, ROOTLESS_V1))
    reporter = QuietReporter()
    plan = plan_of(dataclasses.replace(LIMITED, env=(("FAKE_READY", "1"),)))
    result = run_up(plan, docker, reporter=reporter, probe_for=FakeProbes(docker), port_check=lambda ip, port: None)
    assert result.ok
    assert any("cgroup v1 cannot set resource limits" in m and "not applied" in m for m in reporter.messages)


def test_doctor_reports_the_missing_delegation_with_the_drop_in(short_dir, tmp_path, monkeypatch):
    from tests.test_cli_json_errors import run

    stack = tmp_path / "aima.yaml"
    stack.write_text("name: rl\nengines:\n  llm: {limits: {cpus: 2}}\n")
    monkeypatch.delenv("AIMA_ENGINE", raising=False)
    with LibpodStub(short_dir / "podman.sock", ROOTLESS_V2_DEFAULT) as stub:
        monkeypatch.setenv("CONTAINER_HOST", stub.url)
        rc, out, _ = run("--engine", "podman", "doctor", "--hardware", "cpu-x86_64", "--stack", str(stack), "--json")
    checks = {c["id"]: c for c in json.loads(out)["checks"]}
    rootless = checks["docker.rootless"]
    assert rc == 1 and rootless["status"] == "fail", rootless
    assert "cgroup controller `cpu`" in rootless["summary"] and DELEGATE in rootless["remedy"]
    assert rootless["details"]["cgroup_controllers"] == ["memory", "pids"]
    assert "--engine podman" in checks["docker.reachable"]["summary"]
