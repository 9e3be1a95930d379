"""Real rootless Podman (issue 18 item 3): the user aima-rootless (.ci/setup-podman) serves Podman's API on a socket of
its own, and aima reads from that service's own /info what rootless cannot grant, before anything is created.

What this host's rootless Podman 4.3.1 reports decides the expectation (here: cgroup v1, no controllers, ports from
1024); the rules themselves are tested on every kind of host's payload in tests/launch/test_rootless.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from aima.engine.podman_engine import PodmanEngine
from aima.launch.rootless import unprivileged_port_start
from tests.e2e.upkit import aima, catalog, free_port

USER = "aima-rootless"
RUN = Path("/run/aima-test/rootless")


def _as_user(command: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(["su", "-s", "/bin/sh", USER, "-c", f"cd ~ && XDG_RUNTIME_DIR={RUN / 'xdg'} {command}"],
                          capture_output=True, text=True, timeout=120, **kw)


@pytest.fixture(scope="module")
def rootless(docker_engine, stub_image):
    """aima's Podman adapter on aima-rootless's own API service, with the stub image loaded into its storage."""
    if shutil.which("podman") is None or subprocess.run(["id", USER], capture_output=True).returncode != 0:
        if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
            pytest.fail(f"podman or the user {USER} is missing (run `bash .ci/setup-podman`)")
        pytest.skip(f"podman or the user {USER} is missing (run `bash .ci/setup-podman`)")
    (RUN / "xdg").mkdir(parents=True, exist_ok=True)
    shutil.chown(RUN, USER)
    shutil.chown(RUN / "xdg", USER)
    (RUN / "xdg").chmod(0o700)
    sock = RUN / "podman.sock"
    url = f"unix://{sock}"
    if not _answers(url):
        sock.unlink(missing_ok=True)
        # A process of its own (close_fds): it must not inherit the e2e lock's descriptor.
        subprocess.Popen(["su", "-s", "/bin/sh", USER, "-c",
                          f"cd ~ && XDG_RUNTIME_DIR={RUN / 'xdg'} exec podman system service --time=0 {url}"],
                         stdout=subprocess.DEVNULL, stderr=open(RUN / "service.log", "ab"), close_fds=True,
                         start_new_session=True)
        deadline = time.monotonic() + 30
        while not _answers(url):
            assert time.monotonic() < deadline, (RUN / "service.log").read_text()[-2000:]
            time.sleep(0.2)
    engine = PodmanEngine(url)
    if engine.image(stub_image) is None:
        archive = RUN / "stub.tar"
        archive.write_bytes(b"".join(docker_engine.client.images.get(stub_image).save()))
        archive.chmod(0o644)
        loaded = _as_user(f"podman load -i {archive}")
        assert loaded.returncode == 0, loaded.stderr
    yield engine
    engine.close()


def _answers(url: str) -> bool:
    try:
        path = url[len("unix://"):]
        return httpx.Client(transport=httpx.HTTPTransport(uds=path)).get("http://d/_ping", timeout=2).status_code == 200
    except (httpx.HTTPError, OSError):
        return False


def _stack(tmp_path: Path, name: str, port: int) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"name: {name}\nengines:\n  asr: {{port: {port}}}\n  llm: {{enabled: false}}\n"
                    "  tts: {enabled: false}\n")
    return path


def test_doctor_and_up_on_real_rootless_podman(rootless, stub_image, tmp_path, monkeypatch):
    monkeypatch.delenv("AIMA_ENGINE", raising=False)
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setenv("CONTAINER_HOST", rootless.url)
    info = rootless.info()
    assert info.rootless and info.cgroup_version in ("v1", "v2")
    images = catalog(tmp_path, "images.yaml", stub_image)  # the stub asr has memory, CPU and pids limits
    start = unprivileged_port_start()
    assert start is not None and start > 80

    low = _stack(tmp_path, "rlow", 80)
    doctor = aima("--engine", "podman", "doctor", "--images", images, "--stack", low, "--json")
    check = next(c for c in doctor.json()["checks"] if c["id"] == "docker.rootless")
    assert check["status"] == "fail" and f"ip_unprivileged_port_start={start}" in check["summary"], check
    assert check["details"]["cgroup_version"] == info.cgroup_version
    version = next(c for c in doctor.json()["checks"] if c["id"] == "docker.version")
    assert version["summary"].endswith(", rootless")

    up = aima("--engine", "podman", "up", "--images", images, "--stack", low, "--no-verify")
    assert up.rc == 1 and "nothing was pulled or created" in up.err and "host port 80" in up.err, up.err
    assert rootless.list({"aima.stack": "rlow"}) == []

    ok_port = _stack(tmp_path, "rlok", free_port())
    up = aima("--engine", "podman", "up", "--images", images, "--stack", ok_port, "--no-verify")
    try:
        if info.cgroup_version == "v1":  # rootless v1: Podman drops every limit, aima says so and goes on
            assert "rootless Podman on cgroup v1 cannot set resource limits" in up.err, up.err
        elif not {"cpu", "memory", "pids"} <= set(info.cgroup_controllers or ()):
            assert up.rc == 1 and "is not delegated to this user" in up.err, up.err
        # Whether the container then runs depends on the host (this sandbox denies rootless /dev/net/tun);
        # either way nothing of a failed stack is left behind.
        if up.rc != 0:
            assert rootless.list({"aima.stack": "rlok"}) == []
    finally:
        aima("--engine", "podman", "down", "--stack", ok_port)
