"""Fixtures that give end-to-end tests a real dockerd, a real Podman service, a real registry and stub engine images.

Tests that take `engine` (and `engine_env`) run once per container engine, ids [docker] and [podman]: the test
dockerd and Debian's podman serving its API (.ci/setup-podman). `engine.client` is a Docker SDK client for the
test's own checks — on Podman it talks to Podman's Docker-compatible API on the same socket, so a test reads both
engines' containers in one shape — while aima itself speaks libpod to Podman. Tests that take `docker_engine`
are Docker-only by nature (docker-compose, docker CLI lines, Docker's device requests).

Outside CI they skip when the real parts cannot run here (docker.io not installed, not root);
with CI set they fail instead, so CI never passes by skipping. Environment they read:
CI, AIMA_TEST_RUN_DIR, AIMA_TEST_DOCKER_ROOT, AIMA_TEST_DOCKER_STORAGE_DRIVER,
AIMA_TEST_BRIDGE_CIDR, AIMA_TEST_REGISTRY_ROOT, AIMA_TEST_REGISTRY_PORT.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field

import pytest

from tests.harness import HarnessError, HarnessUnavailable, dockerd, stubs
from tests.harness import registry as registry_mod

STACK_LABEL = "aima.stack"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _unavailable(reason: str) -> None:
    if _in_ci():
        pytest.fail(f"{reason}\n(CI is set, so end-to-end tests fail instead of skipping)", pytrace=False)
    pytest.skip(reason)


def _provide(make):
    """Call make(); skip or fail with the harness's own message when it cannot."""
    try:
        return make()
    except HarnessUnavailable as exc:
        problem, unavailable = str(exc), True
    except HarnessError as exc:
        problem, unavailable = str(exc), False
    # Outside the except blocks, so pytest does not print the message twice as a chained error.
    if unavailable:
        _unavailable(problem)
    pytest.fail(problem, pytrace=False)


@dataclass(frozen=True)
class DockerEngine:
    """The test dockerd: `.base_url` for DOCKER_HOST or aima's engine adapter, `.client` for checks."""

    base_url: str
    client: object  # docker.DockerClient
    daemon: dockerd.TestDaemon

    def hook_calls(self) -> list[str]:
        """Return the calls the stand-in NVIDIA hook recorded (one line per GPU container start)."""
        return self.daemon.hook_calls()


@pytest.fixture(scope="session")
def docker_engine():
    """A running test dockerd with the stand-in GPU hook, reused across pytest runs."""
    why = dockerd.missing_tools()
    if why:
        _unavailable(why)
    daemon = _provide(lambda: dockerd.ensure_daemon(dockerd.DaemonPaths.from_env()))
    client = daemon.client()
    yield DockerEngine(base_url=daemon.base_url, client=client, daemon=daemon)
    client.close()


@pytest.fixture(scope="session")
def registry(docker_engine):
    """A loopback registry private to this session (`.host`, `.stop()`, `.start()`, `.stopped()`)."""
    # Private, so a test that stops it cannot break another session using the same daemon.
    reg = _provide(lambda: registry_mod.start_private_registry(registry_mod.RegistryPaths.from_env()))
    yield reg
    _forget_references(docker_engine.client, reg.host)
    reg.remove()


def _forget_references(client, registry_host: str) -> None:
    """Untag references into a registry that is going away, so they do not pile up in the shared daemon."""
    import docker

    for image in client.images.list():
        refs = image.tags + image.attrs.get("RepoDigests", [])
        for ref in refs:
            if ref.startswith(f"{registry_host}/"):
                try:
                    client.images.remove(ref)
                except docker.errors.APIError:
                    pass  # gone already, or in use by a container some test left running


@pytest.fixture(scope="session")
def stub_image(docker_engine) -> str:
    """The stub engine image, built (or found in the build cache) on the test daemon."""
    _provide(lambda: stubs.build_stub(docker_engine.client, stubs.STUB_TAG))
    return stubs.STUB_TAG


@pytest.fixture(scope="session")
def pushed_stub(docker_engine, registry, stub_image) -> stubs.PushedImage:
    """The stub image pushed to the registry: `.ref` (tag), `.digest` and `.pinned` (repo@digest)."""
    return _provide(lambda: stubs.push(docker_engine.client, stub_image, registry.host))


@pytest.fixture
def docker_host_env(docker_engine, monkeypatch) -> str:
    """Point DOCKER_HOST at the test daemon for this test only (for CLI runs); return the URL."""
    monkeypatch.setenv("DOCKER_HOST", docker_engine.base_url)
    return docker_engine.base_url


@dataclass
class Stacks:
    """Stack names a test uses; everything labelled with them is removed when the test ends."""

    client: object
    prefix: str
    names: list[str] = field(default_factory=list)

    def new(self, hint: str = "") -> str:
        """Return a fresh, unique stack name and remember it for cleanup."""
        return self.track(f"{self.prefix}{'-' + hint if hint else ''}-{uuid.uuid4().hex[:6]}")

    def track(self, name: str) -> str:
        """Remember a stack name chosen elsewhere (e.g. by the CLI) for cleanup; return it."""
        if name not in self.names:
            self.names.append(name)
        return name

    def labels(self, name: str) -> dict[str, str]:
        """Return the labels that mark a container or network as part of stack name."""
        return {STACK_LABEL: name}

    def cleanup(self) -> None:
        """Remove containers, then networks and volumes, labelled with the tracked stack names."""
        for name in self.names:
            selector = {"label": f"{STACK_LABEL}={name}"}
            for container in self.client.containers.list(all=True, filters=selector):
                container.remove(force=True, v=True)
            for network in self.client.networks.list(filters=selector):
                network.remove()
            for volume in self.client.volumes.list(filters=selector):
                volume.remove(force=True)


@pytest.fixture
def stacks(request):
    """Per-test stack names whose containers/networks (label aima.stack) are removed afterwards."""
    # On the engine the test runs on: `engine` when it takes one (both engines), else the test dockerd.
    under_test = request.getfixturevalue("engine" if "engine" in request.fixturenames else "docker_engine")
    # Short, test-derived names make leftovers easy to trace in `docker ps`.
    # At most 24 characters, so that prefix + "-" + 6 hex digits fits a stack name (31), ids like [podman] included.
    prefix = "t-" + "".join(c if c.isalnum() else "-" for c in request.node.name.lower())[:22].strip("-")
    tracker = Stacks(client=under_test.client, prefix=prefix)
    yield tracker
    tracker.cleanup()


# --- Podman (issue 18): Debian's podman serving its own API on a socket of its own -------------------------------

PODMAN_SOCK = os.environ.get("AIMA_TEST_PODMAN_SOCK", "/run/aima-test/podman.sock")


@pytest.fixture(scope="session")
def podman_engine(docker_engine, stub_image, request):
    """aima's Podman adapter on the test Podman service (.ci/setup-podman --start), with the stub image pulled."""
    import shutil
    import subprocess
    from pathlib import Path

    from aima.engine.podman_engine import PodmanEngine

    if shutil.which("podman") is None and os.geteuid() != 0:
        _unavailable("podman is not installed and installing it needs root (bash .ci/setup-podman)")
    setup = Path(__file__).resolve().parents[2] / ".ci" / "setup-podman"
    done = subprocess.run(["bash", str(setup), "--start"], capture_output=True, text=True,
                          env={**os.environ, "AIMA_TEST_PODMAN_SOCK": PODMAN_SOCK})
    if done.returncode != 0:
        _unavailable(f"the test Podman service did not start: {done.stderr.strip()[-400:]}")
    engine = PodmanEngine(f"unix://{PODMAN_SOCK}")
    built = docker_engine.client.images.get(stub_image).id
    here = engine.image(stub_image)
    if here is None or here.id != built:  # missing, or an older stub (stubs.py changed since)
        # Podman keeps its own images: it pulls the stub the test dockerd built from the session's loopback registry,
        # as it pulls any image (plain HTTP: .ci/setup-podman marks loopback registries insecure), under its tag.
        pushed = request.getfixturevalue("pushed_stub")
        _provide(lambda: _pull_into_podman(engine, pushed.pinned, stub_image))
    yield engine
    engine.close()


def _pull_into_podman(engine, pinned: str, tag: str) -> None:
    from aima.errors import AimaError

    try:
        engine.pull(pinned, lambda event: None)
        found = engine.image(pinned)
        engine.tag(found.id, tag)  # localhost/<tag>, as a locally built image is named in Podman
    except AimaError as exc:
        raise HarnessError(f"Podman could not pull the stub image from the test registry: {exc}") from None


@pytest.fixture
def podman_stacks(podman_engine):
    """Stack names whose Podman containers and networks are removed when the test ends."""
    names: list[str] = []
    yield names
    for name in names:
        for c in podman_engine.list({STACK_LABEL: name}):
            podman_engine.remove(c.id)
        podman_engine.remove_networks({STACK_LABEL: name})


@pytest.fixture
def podman_env(podman_engine, monkeypatch) -> str:
    """Point aima at the test Podman for this test only (AIMA_ENGINE=podman, CONTAINER_HOST)."""
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setenv("AIMA_ENGINE", "podman")
    monkeypatch.setenv("CONTAINER_HOST", podman_engine.url)
    return podman_engine.url


# --- Both engines: the e2e suite's tests that take `engine` run on Docker and on Podman ---------------------------

ENGINES = ["docker", "podman"]


@dataclass(frozen=True)
class EngineUnderTest:
    """One container engine a test runs on: where aima reaches it, and a Docker SDK client for the test's checks."""

    kind: str  # docker | podman
    url: str  # unix:// socket aima is pointed at
    client: object  # docker.DockerClient; on Podman its Docker-compatible API on the same socket
    docker: DockerEngine | None = None  # the test dockerd (its GPU hook's calls), on Docker
    podman: object | None = None  # aima's PodmanEngine adapter on the test service, on Podman

    @property
    def title(self) -> str:
        """The engine's name as aima's messages spell it."""
        return "Docker" if self.kind == "docker" else "Podman"

    def env(self, url: str | None = None) -> dict[str, str]:
        """The environment that points aima at this engine (or at a proxy in front of it, url)."""
        where = url or self.url
        if self.kind == "docker":
            return {"AIMA_ENGINE": "docker", "DOCKER_HOST": where}
        return {"AIMA_ENGINE": "podman", "CONTAINER_HOST": where}

    def host_pids(self, container) -> list[int]:
        """Host PIDs of a container's processes, as NVML would report them on the GPU."""
        if self.kind == "docker":
            return [int(p[1]) for p in container.top()["Processes"]]
        return self.podman.top_pids(container.id)  # compat `top` shows PIDs inside the container

    def cpus(self, container) -> float:
        """The CPU limit of a container (Docker sets NanoCpus, Podman a CFS quota per period)."""
        host = container.attrs["HostConfig"]
        if host.get("NanoCpus"):
            return host["NanoCpus"] / 1e9
        return host["CpuQuota"] / host["CpuPeriod"] if host.get("CpuPeriod") else 0.0

    def pull_path(self) -> str:
        """The API path (a regex) of an image pull, for the fault proxy."""
        return r"/images/create" if self.kind == "docker" else r"/libpod/images/pull"

    def follow_logs_path(self, container_id: str) -> str:
        """The API path (a regex) of a followed log request, which `up` makes while it waits for readiness."""
        flag = "follow=1" if self.kind == "docker" else "follow=true"
        return rf"/containers/{container_id}/logs\?.*{flag}"


@pytest.fixture(scope="session", params=ENGINES)
def engine(request) -> EngineUnderTest:
    """The test dockerd, then the test Podman service: each test that takes it runs on both."""
    if request.param == "docker":
        docker_engine = request.getfixturevalue("docker_engine")
        return EngineUnderTest("docker", docker_engine.base_url, docker_engine.client, docker=docker_engine)
    import docker

    podman = request.getfixturevalue("podman_engine")
    client = docker.DockerClient(base_url=podman.url, timeout=60)
    request.addfinalizer(lambda: _forget_podman_pulls(client))
    request.addfinalizer(client.close)
    return EngineUnderTest("podman", podman.url, client, podman=podman)


def _forget_podman_pulls(client) -> None:
    """Remove what the tests pulled from loopback registries into Podman's storage (the stub stays loaded)."""
    import docker

    for image in client.images.list():
        for tag in image.tags:
            if tag.startswith("127.0.0.1:"):
                try:  # by tag, never by id: a pulled copy of the stub shares the stub's id
                    client.images.remove(tag)
                except docker.errors.APIError:
                    pass  # in use by a container some test left, or gone already


@pytest.fixture
def engine_env(engine, monkeypatch) -> EngineUnderTest:
    """Point aima (in this process and its children) at the engine under test for this test only."""
    for name in ("AIMA_ENGINE", "DOCKER_HOST", "CONTAINER_HOST"):
        monkeypatch.delenv(name, raising=False)
    for name, value in engine.env().items():
        monkeypatch.setenv(name, value)
    return engine
