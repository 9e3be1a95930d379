"""A DOCKER_HOST that is silent, not Docker, refused or malformed: `status`, `down` and `up` say which, in seconds.

Real servers on 127.0.0.1 (tests/harness/listeners.py) and the real CLI (aima.cli.main, and one child process for
the wall clock). Before aima.engine.address these took the SDK's 60 s and all said "is it running?".
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from tests.e2e.upkit import REPO, aima, catalog, stack
from tests.harness.listeners import HTML_404, NOT_HTTP, SILENT, listening, refused_port
from tests.harness.stubs import STUB_TAG


@pytest.fixture
def quick(monkeypatch, tmp_path):
    """A one-second connect timeout, no HF hub, state and caches under tmp_path."""
    monkeypatch.setenv("AIMA_CONNECT_TIMEOUT", "1")
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{refused_port()}")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def _commands(tmp_path):
    images = catalog(tmp_path, "images.yaml", STUB_TAG)
    stack_file = stack(tmp_path, "dockerhost")
    return {"status": ["status", "--stack", stack_file], "down": ["down", "--stack", stack_file],
            "up": ["up", "--images", images, "--stack", stack_file, "--no-verify"]}


@pytest.mark.parametrize("command", ["status", "down", "up"])
def test_a_silent_docker_host_is_named_within_seconds(command, quick, tmp_path, monkeypatch):
    with listening(SILENT) as server:
        monkeypatch.setenv("DOCKER_HOST", server.url)
        result = aima(*_commands(tmp_path)[command])
    assert result.rc == 1
    assert (f"error: cannot connect to Docker at {server.url}: something accepted the connection but did not answer "
            "GET /_ping within 1 s") in result.err
    assert "AIMA_CONNECT_TIMEOUT" in result.err and "Traceback" not in result.err


@pytest.mark.parametrize("command", ["status", "down", "up"])
def test_a_web_server_is_not_docker(command, quick, tmp_path, monkeypatch):
    with listening(HTML_404) as server:
        monkeypatch.setenv("DOCKER_HOST", server.url)
        result = aima(*_commands(tmp_path)[command])
    assert result.rc == 1
    assert f"error: {server.url} answers, but it is not Docker: GET /_ping → HTTP/1.1 404 Not Found (text/html" \
        in result.err


def test_something_that_is_not_http_is_not_docker(quick, tmp_path, monkeypatch):
    with listening(NOT_HTTP) as server:
        monkeypatch.setenv("DOCKER_HOST", server.url)
        result = aima(*_commands(tmp_path)["status"])
    assert result.rc == 1 and "with something that is not HTTP: \"SSH-2.0-OpenSSH" in result.err


def test_a_refused_port_says_nothing_listens(quick, tmp_path, monkeypatch):
    port = refused_port()
    monkeypatch.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{port}")
    for command in ("status", "down", "up"):
        result = aima(*_commands(tmp_path)[command])
        assert result.rc == 1
        assert f"nothing listens on 127.0.0.1:{port} (connection refused) — is Docker running?" in result.err


@pytest.mark.parametrize("url, why", [
    ("garbage://x", "unknown scheme 'garbage'"),
    ("tcp://", "no host name"),
    ("tcp://127.0.0.1", "no port"),
], ids=["garbage", "tcp-empty", "no-port"])
def test_a_malformed_docker_host_names_the_wrong_part(url, why, quick, tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", url)
    for command in ("status", "down", "up"):
        result = aima(*_commands(tmp_path)[command])
        assert result.rc == 2, result.err
        assert f"error: DOCKER_HOST={url!r} is not an address aima can connect to: {why}" in result.err


def test_a_missing_unix_socket_is_named(quick, tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nowhere/docker.sock")
    result = aima(*_commands(tmp_path)["status"])
    assert result.rc == 1 and f"there is no socket {tmp_path}/nowhere/docker.sock (no such file)" in result.err


def test_up_json_prints_the_unreachable_docker_as_one_json_error(quick, tmp_path, monkeypatch):
    port = refused_port()
    monkeypatch.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{port}")
    result = aima(*_commands(tmp_path)["up"], "--json")
    assert result.rc == 1
    doc = json.loads(result.out)  # stdout is exactly one JSON document
    assert doc["ok"] is False and "nothing listens on" in doc["error"] and "DOCKER_HOST" in doc["hint"]


def test_up_checks_docker_before_downloading_any_model(quick, tmp_path, monkeypatch):
    # The shipped catalogue's CPU plan fetches model files from the hub (HF_ENDPOINT: a refused port here).
    # Docker is checked first: its error, not the hub's, and no model folder appears.
    monkeypatch.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{refused_port()}")
    result = aima("up", "--hardware", "cpu-x86_64", "--stack", stack(tmp_path, "order"), "--no-verify", "--json")
    assert result.rc == 1
    assert "cannot connect to Docker" in result.json()["error"]
    assert "huggingface" not in result.err and "HF_ENDPOINT" not in result.err
    assert not (tmp_path / "hf").exists()


def test_status_against_a_silent_host_ends_well_before_the_old_60_s(tmp_path):
    with listening(SILENT) as server:
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "aima", "status", "--stack", str(stack(tmp_path, "clock"))],
                              cwd=REPO, capture_output=True, text=True, timeout=60,
                              env={**_env(), "DOCKER_HOST": server.url})
        took = time.monotonic() - started
    assert done.returncode == 1 and "did not answer GET /_ping within 5 s" in done.stderr  # the default timeout
    assert took < 20


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k not in ("AIMA_CONNECT_TIMEOUT",)}


def test_a_silent_podman_socket_is_named_within_seconds(quick, tmp_path, monkeypatch):
    with listening(SILENT, str(tmp_path / "podman.sock")) as server:
        monkeypatch.setenv("AIMA_ENGINE", "podman")
        monkeypatch.setenv("CONTAINER_HOST", server.url)
        result = aima(*_commands(tmp_path)["status"])
    assert result.rc == 1
    assert (f"error: cannot connect to Podman at {server.url}: something accepted the connection but did not answer "
            "GET /_ping within 1 s") in result.err


def test_doctor_names_a_silent_docker_host_in_its_check(quick, tmp_path, monkeypatch):
    with listening(SILENT) as server:
        monkeypatch.setenv("DOCKER_HOST", server.url)
        started = time.monotonic()
        result = aima("doctor", "--hardware", "cpu-x86_64", "--stack", str(stack(tmp_path, "doc")), "--json")
        took = time.monotonic() - started
    check = next(c for c in result.json()["checks"] if c["id"] == "docker.reachable")
    assert check["status"] == "fail"
    assert "something accepted the connection but did not answer GET /_ping within 1 s" in check["summary"]
    assert took < 20
