"""Fixtures that give end-to-end tests a real dockerd, a real registry and stub engine images.

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
def stacks(docker_engine, request):
    """Per-test stack names whose containers/networks (label aima.stack) are removed afterwards."""
    # Short, test-derived names make leftovers easy to trace in `docker ps`.
    prefix = "t-" + "".join(c if c.isalnum() else "-" for c in request.node.name.lower())[:30].strip("-")
    tracker = Stacks(client=docker_engine.client, prefix=prefix)
    yield tracker
    tracker.cleanup()


# --- Podman (issue 18): Debian's podman serving its own API on a socket of its own -------------------------------

PODMAN_SOCK = os.environ.get("AIMA_TEST_PODMAN_SOCK", "/run/aima-test/podman.sock")


@pytest.fixture(scope="session")
def podman_engine(docker_engine, stub_image):
    """aima's Podman adapter on the test Podman service (.ci/setup-podman --start), with the stub image loaded."""
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
    if engine.image(stub_image) is None:
        # Podman keeps its own images: load the stub that the test dockerd built.
        data = b"".join(docker_engine.client.images.get(stub_image).save())
        engine._call("POST", "/images/load", "load an image", content=data, timeout=120)
    yield engine
    engine.close()


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
