"""What a container should be and what the engine says exists, as plain data; the ContainerEngine Protocol.

``ContainerSpec`` is the one description of a container: `up` creates it, `plan --docker-run` prints it, doctor's
trials run it. ``Container`` is the one observed container (from a listing or an inspect), used by every caller.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from aima.engine import labels as L
from aima.errors import AimaError
from aima.hardware.model import oci_arch
from aima.plan_types import PortBinding


@dataclass(frozen=True)
class ContainerSpec:
    """Everything an engine needs to create one container."""

    name: str  # "" for an unnamed container (doctor's trials)
    engine: str
    image: str
    labels: Mapping[str, str]
    env: Mapping[str, str]
    command: tuple[str, ...]
    entrypoint: tuple[str, ...] | None
    ports: tuple[PortBinding, ...]  # host_port 0: any free port
    mounts: tuple[tuple[str, str, bool], ...]  # (host source, container target, read-only)
    devices: tuple[str, ...]  # GPU indexes or UUIDs; () with gpu=True = all GPUs
    gpu: bool
    memory_mib: int | None = None
    cpus: float | None = None
    shm_mib: int | None = None
    pids: int | None = None
    network: str = ""  # "" for the engine's default network


@dataclass(frozen=True)
class Container:
    """One container as the engine reports it (compose's Container: built from a listing or an inspect)."""

    id: str
    name: str
    labels: Mapping[str, str]
    state: str  # created | running | paused | restarting | removing | exited | dead
    exit_code: int | None = None
    image: str = ""
    oom_killed: bool = False
    error: str = ""  # the engine's State.Error (e.g. a failed start)
    health: str | None = None  # the image's own HEALTHCHECK status, when it has one
    ports: tuple[PortBinding, ...] = field(default=())
    finished_at: float | None = None  # when it last stopped, epoch seconds on the daemon's clock; None: never
    pid: int | None = None  # its first process on the engine's host, while it runs

    @property
    def engine(self) -> str:
        """The engine label."""
        return self.labels.get(L.LABEL_ENGINE, "")

    @property
    def stack(self) -> str:
        """The stack label."""
        return self.labels.get(L.LABEL_STACK, "")

    @property
    def config_hash(self) -> str:
        """The config-hash label written when it was created."""
        return self.labels.get(L.LABEL_HASH, "")

    @property
    def candidate(self) -> str:
        """The catalogue candidate it runs."""
        return self.labels.get(L.LABEL_CANDIDATE, "")

    @property
    def model(self) -> str:
        """The model it serves (label written at creation); '' for containers made before the label existed."""
        return self.labels.get(L.LABEL_MODEL, "")

    @property
    def model_source(self) -> str:
        """Where its model came from (hf://ORG/REPO[/ENTRY]@REVISION); '' for hand-placed files."""
        return self.labels.get(L.LABEL_MODEL_SOURCE, "")

    @property
    def running(self) -> bool:
        """True while the container's process runs."""
        return self.state == "running"

    @property
    def host_ports(self) -> tuple[int, ...]:
        """The host ports it publishes (or will publish when started)."""
        return tuple(sorted({p.host_port for p in self.ports if p.host_port}))

    @property
    def health_url(self) -> str | None:
        """Where its engine answers its health check, from its labels; None when it has no endpoint label."""
        return L.health_url(self.labels)


@dataclass(frozen=True)
class EngineInfo:
    """What the daemon says about itself (`docker info` and `docker version`)."""

    name: str  # docker | podman
    server_version: str
    api_version: str
    os_type: str
    architecture: str  # as the daemon says: x86_64, aarch64
    root_dir: str
    runtimes: tuple[str, ...]
    default_runtime: str
    cdi_spec_dirs: tuple[str, ...] = ()
    rootless: bool = False
    cpus: int = 0  # the host's CPUs as the daemon sees them (NCPU); 0 = unknown
    memory_mib: int = 0  # the host's memory as the daemon sees it (MemTotal); 0 = unknown
    daemon_id: str = ""  # the daemon's own ID (`docker info`), the same through any socket or proxy
    cgroup_version: str = ""  # v1 | v2 as the engine reports it (libpod host.cgroupVersion); "" = not reported
    # The cgroup controllers the engine may use (libpod host.cgroupControllers: for rootless v2 the ones delegated
    # to the user's systemd service, for rootless v1 none); None = not reported.
    cgroup_controllers: tuple[str, ...] | None = None

    @property
    def platform(self) -> str:
        """The daemon's platform, e.g. linux/amd64."""
        return f"{self.os_type or 'linux'}/{oci_arch(self.architecture)}"


@dataclass(frozen=True)
class ImageInfo:
    """A local image: its id, platform, environment and size."""

    ref: str
    id: str
    os: str
    architecture: str
    variant: str
    env: tuple[str, ...]
    size_bytes: int

    @property
    def platform(self) -> str:
        """linux/amd64, linux/arm64/v8, ..."""
        return "/".join(p for p in (self.os or "linux", oci_arch(self.architecture), self.variant) if p)


@dataclass(frozen=True)
class RunResult:
    """A short container run: the engine's refusal (if it never ran), exit code and output."""

    start_error: str | None
    exit_code: int | None
    output: str
    timed_out: bool = False


PullEvents = Callable[[dict], None]
BuildLog = Callable[[str], None]  # one line of a build's log ("Step 3/9 : RUN ..." lines included)


@dataclass(frozen=True)
class BuildOutput:
    """What an image build left: the image, or the error with the failing step and that step's log lines."""

    image_id: str | None
    error: str | None
    step: str  # the last "Step N/M : ..." line the builder printed
    step_lines: tuple[str, ...]  # that step's output (at most the last 200 lines)

    @property
    def ok(self) -> bool:
        """True when the build produced an image."""
        return self.error is None and self.image_id is not None

class DaemonUnreachable(AimaError):
    """The container engine does not answer: never did, or stopped answering in the middle of a command."""


class ContainerRefused(AimaError):
    """The engine refused to create or start a container; ``text`` keeps its own words for diagnosis."""

    def __init__(self, message: str, text: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.text = text


def docker_time(stamp: str) -> float | None:
    """Docker's RFC 3339 time with nanoseconds ('2026-01-02T03:04:05.123456789Z') -> epoch seconds; None if not one."""
    if len(stamp) < 20 or stamp[4:5] != "-" or not stamp.endswith("Z"):
        return None
    head, _, frac = stamp[:-1].partition(".")
    try:
        when = datetime.fromisoformat(head + "+00:00").timestamp()
    except ValueError:
        return None
    when += float("0." + frac) if frac.isdigit() else 0.0
    return when if when > 0 else None  # Docker writes 0001-01-01T00:00:00Z for "never"


class ContainerEngine(Protocol):
    """What aima needs from a container engine; the docker SDK implements it, tests fake it.

    Every method raises AimaError for what the user must fix, DaemonUnreachable when the daemon stops answering.
    """

    url: str  # where the daemon is, for messages ("unix:///var/run/docker.sock")

    def ping(self) -> None:
        """Raise DaemonUnreachable when the daemon does not answer."""

    def local(self) -> bool:
        """True when the daemon runs on this machine (its ports are this machine's ports)."""

    def info(self) -> EngineInfo:
        """The daemon's version, platform and configuration."""

    def image(self, ref: str) -> ImageInfo | None:
        """A local image by reference, or None when it is not here."""

    def obtainable(self, ref: str) -> str | None:
        """None when the image's registry has it (asked without pulling), else why it cannot be pulled."""

    def images(self) -> list[ImageInfo]:
        """Every local image."""

    def pull(self, image: str, on_event: PullEvents) -> None:
        """Pull an image, reporting the streamed status events; raise AimaError on failure."""

    def ensure_network(self, name: str, labels: Mapping[str, str]) -> str:
        """Create the network unless it exists; its id when this call created it, else ''."""

    def remove_networks(self, labels: Mapping[str, str], ids: Collection[str] | None = None) -> list[str]:
        """Remove the networks carrying all these labels (only those whose id is in ``ids``); return their names."""

    def create(self, spec: ContainerSpec) -> str:
        """Create (not start) a container; return its id. ContainerRefused when the engine says no."""

    def start(self, container_id: str) -> None:
        """Start a created or stopped container. ContainerRefused when the engine says no."""

    def list(self, labels: Mapping[str, str]) -> list[Container]:
        """Containers (running or not) carrying all these labels (an empty value matches any value)."""

    def inspect(self, container_id: str) -> Container | None:
        """The container now; None when it is gone."""

    def remove(self, container_id: str) -> None:
        """Stop and remove a container (anonymous volumes and bind-mounted files stay); gone already is fine."""

    def logs(self, container_id: str, *, follow: bool = False, tail: int | None = None,
             timestamps: bool = False, since: float | None = None) -> Iterator[bytes]:
        """The container's output (stdout and stderr), as chunks."""

    def close_logs(self, stream: Iterator[bytes]) -> None:
        """Stop a following log stream from another thread."""

    def top_pids(self, container_id: str) -> builtins.list[int]:
        """Host PIDs of the container's processes."""

    def run(self, spec: ContainerSpec, timeout_s: float) -> RunResult:
        """Create, start and wait for a short-lived container, then remove it: what happened and its output."""

    def export_files(self, image_id: str) -> Iterator[bytes]:
        """An image's filesystem as a tar stream, through a created-never-started container removed afterwards."""

    def image_labels(self, image: str) -> tuple[str, dict[str, str]] | None:
        """(image id, labels) of a local image; None when it is not here."""

    def build(self, context: bytes, tag: str, args: Mapping[str, str], labels: Mapping[str, str],
              on_line: BuildLog) -> BuildOutput:
        """Build an image from a tar context, streaming every log line; a failed step comes back as data."""

    def tag(self, image_id: str, reference: str) -> None:
        """Point a reference (repository:tag) at a local image."""

    def remove_image(self, reference: str) -> None:
        """Remove a local image reference (and the image when nothing else refers to it)."""

    def close(self) -> None:
        """Release the connection."""
