"""A daemon that answers GET /_ping and /version, then never answers the next call: each call's wait is bounded by
AIMA_ENGINE_TIMEOUT (60 s by default, docs/launch.md) and the error names the call and the seconds waited.

Before: the SDK's fixed 60 s, then "cannot connect to Docker … it did not answer (…read timeout=60)" with a hint
naming AIMA_CONNECT_TIMEOUT, which does not change that wait.
"""

from __future__ import annotations

import time

import pytest

from tests.e2e.upkit import aima, stack
from tests.harness.listeners import PING_THEN_STALL, listening, refused_port


@pytest.fixture
def env(monkeypatch, tmp_path):
    monkeypatch.setenv("AIMA_CONNECT_TIMEOUT", "2")
    monkeypatch.setenv("AIMA_ENGINE_TIMEOUT", "1")
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{refused_port()}")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.mark.parametrize("command", ["status", "down", "logs"])
def test_a_daemon_that_stalls_after_its_ping_is_named_within_the_call_timeout(command, env, tmp_path, monkeypatch):
    stack_file = stack(tmp_path, "stall")
    args = [command, "--stack", stack_file] + (["llm"] if command == "logs" else [])
    with listening(PING_THEN_STALL) as server:
        monkeypatch.setenv("DOCKER_HOST", server.url)
        start = time.monotonic()
        result = aima(*args)
        waited = time.monotonic() - start
    assert result.rc == 1, result.err
    first = "report its version" if command == "down" else "list containers"  # down asks `docker info` first
    assert f"error: Docker at {server.url} answered its ping, then did not {first} within 1 s" in result.err
    assert "AIMA_ENGINE_TIMEOUT=SECONDS" in result.err and "Traceback" not in result.err
    assert waited < 30  # the SDK's default alone would be 60 s


@pytest.mark.parametrize("value", ["0", "abc", "nan", "-3", "1e9"])
def test_a_bad_engine_timeout_is_a_usage_error(value, env, tmp_path, monkeypatch):
    monkeypatch.setenv("AIMA_ENGINE_TIMEOUT", value)
    with listening(PING_THEN_STALL) as server:
        monkeypatch.setenv("DOCKER_HOST", server.url)
        result = aima("status", "--stack", stack(tmp_path, "stall"))
    assert result.rc == 2
    assert f"error: AIMA_ENGINE_TIMEOUT={value!r}: not a number of seconds between 0 and 3600" in result.err


def test_an_ssh_docker_host_without_paramiko_says_what_is_missing(env, tmp_path, monkeypatch):
    """It said 'cannot connect to Docker at ssh://… — is it running?' and 'start it (sudo systemctl start docker)'."""
    pytest.importorskip("docker")
    try:
        import paramiko  # noqa: F401
        pytest.skip("paramiko is installed here: the SDK would really try ssh")
    except ImportError:
        pass
    monkeypatch.setenv("DOCKER_HOST", "ssh://user@192.0.2.1")
    result = aima("status", "--stack", stack(tmp_path, "ssh"))
    assert result.rc == 2, result.err
    assert result.err.startswith("error: DOCKER_HOST=ssh://user@192.0.2.1: an ssh:// address needs the paramiko "
                                 "package, which is not installed"), result.err


def test_a_podman_socket_that_stalls_after_its_ping_is_named_within_the_call_timeout(env, tmp_path, monkeypatch):
    """It said 'cannot connect to Podman … is its API service running? (timed out)'."""
    with listening(PING_THEN_STALL, str(tmp_path / "podman.sock")) as server:
        monkeypatch.setenv("AIMA_ENGINE", "podman")
        monkeypatch.setenv("CONTAINER_HOST", server.url)
        start = time.monotonic()
        result = aima("status", "--stack", stack(tmp_path, "stall"))
        waited = time.monotonic() - start
    assert result.rc == 1, result.err
    assert result.err.startswith(f"error: Podman at {server.url} answered its ping, then did not "), result.err
    assert "within 1 s" in result.err.splitlines()[0] and waited < 30


def test_a_tcp_container_host_is_refused_in_words(env, tmp_path, monkeypatch):
    """The adapter speaks over a Unix socket only; a tcp:// CONTAINER_HOST failed as '[Errno 2] No such file'."""
    with listening(PING_THEN_STALL) as server:
        monkeypatch.setenv("AIMA_ENGINE", "podman")
        monkeypatch.setenv("CONTAINER_HOST", server.url)
        result = aima("status", "--stack", stack(tmp_path, "tcp"))
    assert result.rc == 2, result.err
    assert result.err.startswith(f"error: CONTAINER_HOST={server.url}: aima speaks to Podman only through a unix:// "
                                 "socket"), result.err
