"""DOCKER_HOST / CONTAINER_HOST: the address parsed with the wrong part named, and what answers there in seconds."""

from __future__ import annotations

import socket
import time

import pytest

from aima.engine import address
from aima.engine.model import DaemonUnreachable
from aima.errors import AimaError
from tests.harness.listeners import CLOSES, DOCKER_LIKE, HTML_404, NOT_HTTP, SILENT, listening, refused_port


@pytest.mark.parametrize("url, scheme, host, port, path", [
    ("unix:///run/aima-test/docker.sock", "unix", "", 0, "/run/aima-test/docker.sock"),
    ("unix://", "unix", "", 0, "/var/run/docker.sock"),  # Docker's default socket, as the CLI and the SDK read it
    ("unix://run/x.sock", "unix", "", 0, "/run/x.sock"),  # Docker's legacy form
    ("tcp://127.0.0.1:2375", "tcp", "127.0.0.1", 2375, ""),
    ("127.0.0.1:2375", "tcp", "127.0.0.1", 2375, ""),  # a bare HOST:PORT is tcp:// to Docker
    ("http://[::1]:2375", "tcp", "::1", 2375, ""),
    ("ssh://me@gpu-box", "ssh", "gpu-box", 22, ""),
    ("tcp://h:2375\n", "tcp", "h", 2375, ""),  # stripped first, as Docker does
], ids=["unix", "unix-default", "unix-legacy", "tcp", "bare", "http-ipv6", "ssh", "newline"])
def test_addresses_docker_accepts_parse(url, scheme, host, port, path):
    parsed = address.parse(url)
    assert (parsed.scheme, parsed.host, parsed.port, parsed.path) == (scheme, host, port, path)


@pytest.mark.parametrize("url, why", [
    ("garbage://x", "unknown scheme 'garbage'"),
    ("tcp://", "no host name"),
    ("tcp://127.0.0.1", "no port"),
    ("tcp://127.0.0.1:99999", "bad host or port"),
    ("tcp://127.0.0.1:abc", "bad host or port"),
    ("tcp://127.0.0.1:2375/v1.43", "a path (/v1.43) after the host"),
    ("tcp://h:2375?x=1", "a query or fragment"),
    ("tcp://u:secret@h:2375", "a password"),
    ("/var/run/docker.sock", "a path without a scheme (a socket is unix:///var/run/docker.sock)"),
    ("", "it is empty"),
    ("tcp://h\x1b[2J:2375", "control character"),
], ids=["garbage", "tcp-empty", "no-port", "port-range", "port-text", "path", "query", "password", "bare-path",
        "empty", "control"])
def test_a_malformed_address_names_the_part_that_is_wrong(url, why):
    with pytest.raises(AimaError) as caught:
        address.parse(url)
    assert caught.value.message.startswith(f"DOCKER_HOST={url!r} is not an address aima can connect to: ")
    assert why in caught.value.message
    assert caught.value.exit_code == 2 and "unix:///PATH" in caught.value.hint


@pytest.mark.parametrize("value, seconds", [(None, 5.0), ("", 5.0), ("1.5", 1.5), ("30", 30.0)])
def test_connect_timeout_is_five_seconds_unless_set(value, seconds):
    assert address.connect_timeout({} if value is None else {"AIMA_CONNECT_TIMEOUT": value}) == seconds


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "five", "1e9"])
def test_a_bad_connect_timeout_is_refused(value):
    with pytest.raises(AimaError, match="AIMA_CONNECT_TIMEOUT"):
        address.connect_timeout({"AIMA_CONNECT_TIMEOUT": value})


def _found(url: str, timeout: float = 1.0) -> str:
    with pytest.raises(AimaError) as caught:
        address.check(address.parse(url), timeout)
    return caught.value.message


def test_a_server_that_accepts_and_never_answers_is_named_within_the_timeout():
    with listening(SILENT) as server:
        started = time.monotonic()
        message = _found(server.url, 1.0)
        took = time.monotonic() - started
    assert message == (f"cannot connect to Docker at {server.url}: something accepted the connection but did not "
                       "answer GET /_ping within 1 s")
    assert took < 10  # one deadline for connect and answer, not the SDK's 60 s


def test_a_web_server_is_not_docker_and_its_answer_is_shown():
    with listening(HTML_404) as server:
        message = _found(server.url)
    assert message == (f"{server.url} answers, but it is not Docker: GET /_ping → HTTP/1.1 404 Not Found (text/html, "
                       "Server: nginx/1.22.1, \"<html><head><title>404 Not Found</title></head><body></body>\")")


def test_a_server_that_is_not_http_is_named():
    with listening(NOT_HTTP) as server:
        message = _found(server.url)
    assert message == (f"{server.url} answers, but it is not Docker: it answered GET /_ping with something that is "
                       "not HTTP: \"SSH-2.0-OpenSSH_9.2p1 Debian-2\\x0d\\x0a\"")


def test_a_server_that_closes_at_once_is_not_docker():
    with listening(CLOSES) as server:
        message = _found(server.url)
    assert "accepted the connection and closed it without answering GET /_ping" in message


def test_a_refused_port_says_nothing_listens():
    port = refused_port()
    message = _found(f"tcp://127.0.0.1:{port}")
    assert message == (f"cannot connect to Docker at tcp://127.0.0.1:{port}: nothing listens on 127.0.0.1:{port} "
                       "(connection refused) — is Docker running?")


def test_unix_sockets_missing_stale_and_not_a_socket(tmp_path):
    missing = tmp_path / "missing.sock"
    assert f"there is no socket {missing} (no such file)" in _found(f"unix://{missing}")
    stale = tmp_path / "stale.sock"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(stale))  # bound, never listening: what a daemon that died leaves behind
    assert f"nothing listens on {stale} (connection refused" in _found(f"unix://{stale}")
    plain = tmp_path / "file"
    plain.write_text("x")
    assert f"{plain} is a regular file, not a socket" in _found(f"unix://{plain}")
    assert f"{tmp_path} is a directory, not a socket" in _found(f"unix://{tmp_path}")


def test_a_silent_unix_socket_is_named_too(tmp_path):
    with listening(SILENT, str(tmp_path / "silent.sock")) as server:
        message = _found(server.url)
    assert "accepted the connection but did not answer GET /_ping within 1 s" in message


def test_the_docker_api_passes_and_errors_are_daemon_unreachable(tmp_path):
    with listening(DOCKER_LIKE) as server:
        address.check(address.parse(server.url), 2.0)
    with listening(DOCKER_LIKE, str(tmp_path / "d.sock")) as server:
        address.check(address.parse(server.url), 2.0)
    with pytest.raises(DaemonUnreachable):
        address.check(address.parse(f"tcp://127.0.0.1:{refused_port()}"), 1.0)


def test_podman_gets_its_own_words(tmp_path):
    with pytest.raises(AimaError) as caught:
        address.check(address.parse(f"unix://{tmp_path}/podman.sock", "CONTAINER_HOST"), 1.0, "Podman")
    assert caught.value.message.startswith(f"cannot connect to Podman at unix://{tmp_path}/podman.sock: there is no")
    assert "podman.socket" in caught.value.hint


@pytest.mark.parametrize("answer, problem", [
    (b"HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\n\r\nOK", None),
    (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nOK", None),  # an old daemon without the header
    (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html>hi</html>", "HTTP/1.1 200 OK (text/html, \"<html>hi"),
    (b"HTTP/1.1 401 Unauthorized\r\n\r\n", "HTTP/1.1 401 Unauthorized (no content type)"),
    (b"\x16\x03\x01\x00", "not HTTP: \"\\x16\\x03\\x01\\x00\""),
], ids=["docker", "old-docker", "web-200", "auth", "tls-bytes"])
def test_what_counts_as_the_api(answer, problem):
    found = address.not_the_api(answer)
    assert (found is None) if problem is None else (problem in (found or ""))
