"""The fault tests' kit: an engine API proxy that can hold, answer or cut requests, the fixtures every fault test
uses, and checks of the proxy itself.

The shared test dockerd and Podman service are never stopped or slowed (other tests and sessions use them).
Instead `aima` talks to a proxy on a socket of its own (DOCKER_HOST, or CONTAINER_HOST on Podman, =unix://<proxy>),
which forwards each request to the engine's real socket unless a hook, matched on method and path, holds it,
answers it itself (a streamed pull error) or does something first (binds a port, stops the registry). `cut()`
closes the listener and every connection and removes the socket file, as a daemon that stops does. Fault tests
that take `engine_proxy` run on both engines; the engine-specific API paths come from `engine` (conftest).
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import docker
import pytest
import yaml

from tests.e2e.conftest import EngineUnderTest
from tests.e2e.upkit import Result, aima, aima_process, catalog, free_port
from tests.harness import stubs

Hook = Callable[["Request"], "bytes | None"]  # bytes: answer with these and close; None: forward


@dataclass(frozen=True)
class Request:
    """One HTTP request as it passed the proxy."""

    method: str
    path: str
    head: bytes
    body: bytes


class EngineProxy:
    """Forwards HTTP/1.1 between clients on `path` and the engine on `upstream`, with hooks per request."""

    def __init__(self, upstream: str, path: Path) -> None:
        self.upstream = upstream
        self.path = path
        self.url = f"unix://{path}"
        self.requests: list[Request] = []
        self.hook_errors: list[BaseException] = []  # a broken hook would look like a daemon fault: fail the test
        self._hooks: list[tuple[str, re.Pattern, Hook]] = []
        self._holds: list[threading.Event] = []
        self._seen = threading.Condition()
        self._sockets: set[socket.socket] = set()
        self._cut = False
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(str(path))
        self._listener.listen(64)
        threading.Thread(target=self._accept, name="proxy-accept", daemon=True).start()

    def on(self, method: str, pattern: str, hook: Hook) -> None:
        """Run hook on each request with this method whose path matches pattern (re.search)."""
        self._hooks.append((method, re.compile(pattern), hook))

    def hold(self, method: str, pattern: str) -> threading.Event:
        """Keep matching requests waiting until the returned event is set (then forward them, unless cut)."""
        release = threading.Event()
        self._holds.append(release)

        def wait(request: Request) -> None:
            release.wait(60)

        self.on(method, pattern, wait)
        return release

    def wait_for(self, method: str, pattern: str, timeout: float = 20.0) -> Request:
        """The first request of this method whose path matches pattern, waiting for it if need be."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._seen:
            while True:
                for request in self.requests:
                    if request.method == method and regex.search(request.path):
                        return request
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [f"{r.method} {r.path}" for r in self.requests]
                    raise AssertionError(f"no {method} {pattern} through the proxy in {timeout} s; saw {seen}")
                self._seen.wait(left)

    def cut(self) -> None:
        """The daemon goes away: stop listening, drop every connection, remove the socket file."""
        self._cut = True
        self._listener.close()
        self.path.unlink(missing_ok=True)
        for sock in list(self._sockets):
            _close(sock)
        for release in self._holds:
            release.set()  # held requests see the cut and are dropped, never forwarded

    # --- the plumbing --------------------------------------------------------------------------------------

    def _accept(self) -> None:
        while not self._cut:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), name="proxy-conn", daemon=True).start()

    def _track(self, sock: socket.socket) -> socket.socket:
        self._sockets.add(sock)
        if self._cut:
            _close(sock)
        return sock

    def _serve(self, client: socket.socket) -> None:
        self._track(client)
        upstream = None
        buffer = b""
        try:
            while True:
                request, buffer = _read_request(client, buffer)
                if request is None:
                    return
                with self._seen:
                    self.requests.append(request)
                    self._seen.notify_all()
                answer = None
                for method, pattern, hook in self._hooks:
                    if answer is None and method == request.method and pattern.search(request.path):
                        try:
                            answer = hook(request)
                        except Exception as exc:
                            self.hook_errors.append(exc)
                            raise
                if self._cut:
                    return
                if answer is not None:
                    client.sendall(answer)
                    return
                if upstream is None:
                    upstream = self._track(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
                    upstream.connect(self.upstream)
                    threading.Thread(target=_pump, args=(upstream, client), name="proxy-pump", daemon=True).start()
                upstream.sendall(request.head + request.body)
        except OSError:
            return
        finally:
            for sock in (client, upstream):
                if sock is not None:
                    _close(sock)
                    self._sockets.discard(sock)


def _read_request(sock: socket.socket, buffer: bytes) -> tuple[Request | None, bytes]:
    """One request (head and Content-Length body) from the socket; None when the client closed."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            return None, b""
        buffer += chunk
    head, _, rest = buffer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    assert "chunked" not in headers.get("transfer-encoding", ""), "the proxy only handles Content-Length bodies"
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            return None, b""
        rest += chunk
    return Request(method, path, head + b"\r\n\r\n", rest[:length]), rest[length:]


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while chunk := source.recv(65536):
            sink.sendall(chunk)
    except OSError:
        pass
    finally:
        _close(sink)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


def streamed_error(events: list[dict]) -> bytes:
    """A 200 answer whose chunked JSON stream ends in an error event, as dockerd streams a failed pull."""
    body = b""
    for event in events:
        line = json.dumps(event).encode() + b"\r\n"
        body += f"{len(line):x}\r\n".encode() + line + b"\r\n"
    return (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
            b"Connection: close\r\n\r\n" + body + b"0\r\n\r\n")


def pushed_not_here(docker_engine, registry, stub_image, hint: str) -> str:
    """The stub in the registry under a fresh name, and on neither engine: `up` has to pull it."""
    pushed = stubs.push(docker_engine.client, stub_image, registry.host, repository=f"aima-test/{hint}")
    docker_engine.client.images.remove(pushed.ref)
    return pushed.ref


# --- fixtures ------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def proxy_in_front_of(url: str, kind: str) -> Iterator[EngineProxy]:
    """A proxy in front of the engine socket at url; cut and removed afterwards."""
    # A short folder of its own: unix socket paths are limited to 107 bytes.
    folder = Path(tempfile.mkdtemp(prefix="aima-fault-", dir="/tmp"))
    proxy = EngineProxy(url.removeprefix("unix://"), folder / f"{kind}.sock")
    try:
        yield proxy
    finally:
        proxy.cut()
        shutil.rmtree(folder, ignore_errors=True)
    assert not proxy.hook_errors, f"a proxy hook failed: {proxy.hook_errors}"


@pytest.fixture
def engine_proxy(engine):
    """A proxy in front of the engine under test for one test; cut when the test ends."""
    with proxy_in_front_of(engine.url, engine.kind) as proxy:
        yield proxy


@pytest.fixture(scope="module")
def foreign(engine, stub_image):
    """An unlabelled container that runs beside a module's fault tests (per engine); none of them may touch it."""
    client = engine.client
    container = client.containers.run(stub_image, detach=True, name=f"foreign-faults-{uuid.uuid4().hex[:6]}")
    container.reload()
    yield container
    container.remove(force=True)


@dataclass
class Fault:
    """One fault test's stack: files, the real CLI against the real daemon or the proxy, and what is left."""

    engine: EngineUnderTest
    name: str
    images: Path
    tmp_path: Path
    runs: list[str] = field(default_factory=list)  # every output seen, for the traceback check
    ports: dict[str, int] = field(default_factory=dict)  # engine -> host port, the same in every stack file

    def stack_file(self, file: str = "stack.yaml", **engines: dict) -> Path:
        """A stack file with only these engines, with these settings; an engine keeps its free port throughout."""
        settings = {e: {"port": self.ports.setdefault(e, free_port()), **engines[e]} if e in engines
                    else {"enabled": False} for e in ("asr", "llm", "tts")}
        path = self.tmp_path / file
        path.write_text(yaml.safe_dump({"name": self.name, "engines": settings}, sort_keys=False))
        return path

    @property
    def client(self):
        """The test's own Docker SDK client on the engine (on Podman: its Docker-compatible API)."""
        return self.engine.client

    def cli(self, *args: str) -> Result:
        """Run aima in this process against the engine under test."""
        result = aima(*args)
        self.runs += [result.out, result.err]
        return result

    def start(self, *args: str, via: str | None = None) -> subprocess.Popen:
        """Start `aima ...` as a child process, against the proxy at `via` when given."""
        return aima_process(*args, env=self.engine.env(via) if via else None)

    def finish(self, proc: subprocess.Popen, timeout: float = 30) -> tuple[int, str, str, float]:
        """Wait for a child aima: (exit status, stdout, stderr, seconds it took from now)."""
        began = time.monotonic()
        try:
            out, err = proc.communicate(timeout=timeout)
        finally:
            if proc.poll() is None:
                proc.kill()
        self.runs += [out, err]
        return proc.returncode, out, err, time.monotonic() - began

    def interrupt(self, proc: subprocess.Popen) -> tuple[int, str, str, float]:
        """Ctrl-C: SIGINT to the child aima, then wait for it."""
        proc.send_signal(signal.SIGINT)
        return self.finish(proc)

    def container(self, engine: str) -> str:
        return f"aima-{self.name}-{engine}"

    def left(self) -> dict[str, str]:
        """container name -> state, for everything labelled with this stack."""
        found = self.client.containers.list(all=True, filters={"label": f"aima.stack={self.name}"})
        return {c.name: c.status for c in found}

    def networks(self) -> list[str]:
        return [n.name for n in self.client.networks.list(filters={"label": f"aima.stack={self.name}"})]

    def wait_created(self, engine: str, timeout: float = 20) -> object:
        """The engine's container once it exists (and runs, unless it already stopped)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                found = self.client.containers.list(
                    all=True, filters={"label": [f"aima.stack={self.name}", f"aima.engine={engine}"]})
            except docker.errors.NotFound:
                continue  # the SDK inspects each listed container: one removed in between (a fallback) is gone
            if found and found[0].status != "created":
                return found[0]
            time.sleep(0.05)
        raise AssertionError(f"{self.container(engine)} never started")

    def down_leaves_nothing(self) -> None:
        """`aima down` through the engine's real socket; afterwards no container or network of the stack exists."""
        down = self.cli("down", "--stack", self.stack_file("down.yaml"))
        assert down.rc == 0, down.err
        assert self.left() == {} and self.networks() == []


@pytest.fixture
def fault(engine, engine_env, stub_image, stacks, foreign, tmp_path, monkeypatch):
    """A fresh stack for one fault test; afterwards: no traceback anywhere, the foreign container untouched."""
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))  # the stack locks of this test's aima processes
    started = foreign.attrs["State"]["StartedAt"]
    kit = Fault(engine, stacks.track(f"f-{uuid.uuid4().hex[:8]}"),
                catalog(tmp_path, "images.yaml", stub_image), tmp_path)
    yield kit
    assert not [text for text in kit.runs if "Traceback" in text], "a traceback in aima's output"
    foreign.reload()
    assert foreign.status == "running" and foreign.attrs["State"]["StartedAt"] == started
    assert "aima.stack" not in foreign.labels  # only the stub image's own label


# --- the proxy's own checks ------------------------------------------------------------------------------------


@pytest.fixture
def docker_proxy(docker_engine):
    """A proxy in front of the test dockerd (the proxy's own checks, which speak the Docker API through it)."""
    with proxy_in_front_of(docker_engine.base_url, "docker") as proxy:
        yield proxy


def test_the_proxy_forwards_then_cut_refuses_like_a_stopped_daemon(docker_proxy):
    client = docker.DockerClient(base_url=docker_proxy.url, timeout=5)
    try:
        assert client.ping() and client.version()["ApiVersion"]
        docker_proxy.wait_for("GET", r"/_ping$")
        docker_proxy.cut()
        assert not docker_proxy.path.exists()
        with pytest.raises((docker.errors.DockerException, OSError)):  # requests' errors are OSErrors
            client.ping()
    finally:
        client.close()


def test_a_hook_answers_a_pull_with_dockerds_error_stream_and_other_requests_pass(docker_proxy):
    docker_proxy.on("POST", r"/images/create", lambda r: streamed_error(
        [{"status": "Pulling fs layer", "id": "a"}, {"error": "boom", "errorDetail": {"message": "boom"}}]))
    client = docker.DockerClient(base_url=docker_proxy.url, timeout=5)
    try:
        events = list(client.api.pull("127.0.0.1:1/nothing:latest", stream=True, decode=True))
        assert events[-1]["error"] == "boom"
        assert client.ping()
    finally:
        client.close()
