"""Debian's docker-registry on a loopback port, for real pushes, pulls and "registry down" tests.

dockerd treats 127.0.0.0/8 as an insecure registry by default (`docker info` lists it under
Insecure Registries), so plain HTTP on 127.0.0.1 works without touching the daemon's config.

Two flavours: the shared registry (preferably on port 5000) that survives test runs, for manual
use; and a private one per pytest session on a free port, which the fixtures use so that a test
stopping "the registry" cannot break another engineer's session running at the same time.
It starts in about 0.1 s, so being private costs nothing.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from . import HarnessError, HarnessUnavailable
from .procs import alive, locked, runs, tail, which

_CONFIG = """version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {storage}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
"""


@dataclass(frozen=True)
class RegistryPaths:
    """Where the test registries keep their config, blobs, state files and logs."""

    run_dir: Path
    storage_root: Path
    preferred_port: int

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> RegistryPaths:
        """Read the AIMA_TEST_* overrides, falling back to the shared defaults."""
        env = os.environ if environ is None else environ
        return cls(
            run_dir=Path(env.get("AIMA_TEST_RUN_DIR", "/run/aima-test")),
            storage_root=Path(env.get("AIMA_TEST_REGISTRY_ROOT", "/var/lib/aima-test-registry")),
            preferred_port=int(env.get("AIMA_TEST_REGISTRY_PORT", "5000")),
        )


class Registry:
    """A loopback test registry: `.host` for image references, `.stop()`/`.start()` for outages."""

    def __init__(self, paths: RegistryPaths, name: str, port: int, private: bool) -> None:
        self.paths = paths
        self.name = name
        self.port = port
        self.private = private
        self.storage = paths.storage_root / name
        self._files = paths.run_dir / f"registry-{name}"
        self._proc: subprocess.Popen | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def log(self) -> Path:
        return self._files.with_suffix(".log")

    def is_up(self) -> bool:
        """Say whether the registry answers its /v2/ API now."""
        return _answers(self.port)

    def start(self, timeout: float = 20.0) -> None:
        """Start the registry on its port unless it already answers there."""
        with locked(self.paths.run_dir / "registry.lock"):
            if self.is_up():
                return
            if _port_busy(self.port):
                raise HarnessError(f"port {self.port} is taken by something that is not a registry")
            binary = which("docker-registry")
            if not binary:
                raise HarnessUnavailable("docker-registry not found: run `bash .ci/setup-docker`")
            self.storage.mkdir(parents=True, exist_ok=True)
            config = self._files.with_suffix(".yml")
            config.write_text(_CONFIG.format(storage=self.storage, port=self.port))
            with open(self.log, "ab") as log:
                proc = subprocess.Popen(
                    [binary, "serve", str(config)],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    # The shared one outlives this process; a private one dies with it, even on kill -9.
                    start_new_session=not self.private,
                    preexec_fn=_die_with_parent if self.private else None,
                )
            self._proc = proc
            self._files.with_suffix(".json").write_text(json.dumps({"pid": proc.pid, "port": self.port}))
            deadline = time.monotonic() + timeout
            while not self.is_up():
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise HarnessError(
                        f"docker-registry did not come up on {self.host}.\n"
                        f"--- last lines of {self.log}:\n{tail(self.log)}"
                    )
                time.sleep(0.05)

    def stop(self, timeout: float = 20.0) -> None:
        """Stop the registry so that pulls from it fail (for "registry down" tests)."""
        pid = _state(self._files.with_suffix(".json")).get("pid")
        if pid and runs(pid, "docker-registry"):
            os.kill(pid, signal.SIGTERM)
        else:
            pid = None  # a stale state file: never signal whatever reused that pid
        deadline = time.monotonic() + timeout
        while self.is_up() or (pid and alive(pid)):
            if time.monotonic() > deadline:
                raise HarnessError(f"the registry on {self.host} (pid {pid}) did not stop")
            time.sleep(0.05)
        if self._proc is not None and self._proc.pid == pid:
            self._proc.wait()  # reap our child now, or it lingers as a zombie
            self._proc = None

    @contextmanager
    def stopped(self) -> Iterator[Registry]:
        """Stop the registry for the duration of a with-block, then start it again."""
        self.stop()
        try:
            yield self
        finally:
            self.start()

    def remove(self) -> None:
        """Stop the registry and delete its blobs and files (for private registries)."""
        self.stop()
        shutil.rmtree(self.storage, ignore_errors=True)
        for suffix in (".yml", ".json", ".log"):
            self._files.with_suffix(suffix).unlink(missing_ok=True)


def ensure_registry(paths: RegistryPaths) -> Registry:
    """Return the shared test registry, reusing the one a previous run left, or start it."""
    paths.run_dir.mkdir(parents=True, exist_ok=True)
    recorded = _state(paths.run_dir / "registry-shared.json").get("port")
    if recorded and _answers(recorded):
        return Registry(paths, "shared", recorded, private=False)
    # Keep the recorded port if we had one, so references in a stopped-and-restarted run stay valid.
    port = recorded or paths.preferred_port
    if _port_busy(port) and not _answers(port):
        port = _free_port()
    registry = Registry(paths, "shared", port, private=False)
    registry.start()
    return registry


def start_private_registry(paths: RegistryPaths) -> Registry:
    """Start a registry for this process alone, on a free loopback port; remove() it when done."""
    paths.run_dir.mkdir(parents=True, exist_ok=True)
    _sweep_dead_sessions(paths)
    port = _free_port()
    registry = Registry(paths, f"session-{os.getpid()}-{port}", port, private=True)
    registry.start()
    return registry


def _sweep_dead_sessions(paths: RegistryPaths) -> None:
    # A killed session's registry died with it, but its files stay; drop those of dead pids.
    for state in paths.run_dir.glob("registry-session-*.json"):
        name = state.stem.removeprefix("registry-")
        owner = int(name.split("-")[1])
        if not alive(owner):
            Registry(paths, name, _state(state).get("port", 0), private=True).remove()


def _die_with_parent() -> None:
    # prctl(PR_SET_PDEATHSIG, SIGTERM): the kernel stops the registry when pytest goes away.
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


def _state(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _answers(port: int) -> bool:
    import httpx

    try:
        response = httpx.get(f"http://127.0.0.1:{port}/v2/", timeout=2)
    except httpx.HTTPError:
        return False
    return response.headers.get("Docker-Distribution-API-Version") == "registry/2.0"


def _port_busy(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
