"""What a container should be and what Docker says exists, as plain data; the ContainerEngine Protocol."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from aima.errors import AimaError
from aima.plan_types import LABEL_CANDIDATE, LABEL_ENGINE, LABEL_HASH, LABEL_STACK, EnginePlan, Plan, PortBinding

# Extra labels (not part of the config hash) so that `status` can probe an engine without planning again.
LABEL_HEALTH = "aima.health-path"
LABEL_ENDPOINT = "aima.endpoint"


@dataclass(frozen=True)
class ContainerSpec:
    """Everything Docker needs to create one engine's container."""

    name: str
    engine: str
    image: str
    labels: Mapping[str, str]
    env: Mapping[str, str]
    command: tuple[str, ...]
    entrypoint: tuple[str, ...] | None
    ports: tuple[PortBinding, ...]
    mounts: tuple[tuple[str, str, bool], ...]  # (host source, container target, read-only)
    devices: tuple[str, ...]  # GPU indexes or UUIDs; () = no GPU request
    gpu: bool
    memory_mib: int | None
    cpus: float | None
    shm_mib: int | None
    pids: int | None
    network: str


def container_spec(engine: EnginePlan, plan: Plan) -> ContainerSpec:
    """The container an engine plan asks for, labelled so that up/down/status find it again."""
    labels = dict(engine.labels(plan.stack))
    labels[LABEL_HEALTH] = engine.health.path
    if engine.endpoint:
        labels[LABEL_ENDPOINT] = engine.endpoint
    lim = engine.limits
    return ContainerSpec(
        name=engine.container_name(plan.stack), engine=engine.engine, image=engine.image, labels=labels,
        env=dict(engine.env), command=engine.command, entrypoint=engine.entrypoint, ports=engine.ports,
        mounts=tuple((m.source, m.target, m.read_only) for m in engine.mounts), devices=engine.devices,
        gpu=engine.gpu, memory_mib=lim.memory_mib, cpus=lim.cpus, shm_mib=lim.shm_mib, pids=lim.pids,
        network=plan.network,
    )


@dataclass(frozen=True)
class Observed:
    """One of aima's containers as Docker reports it."""

    id: str
    name: str
    labels: Mapping[str, str]
    state: str  # created | running | paused | restarting | removing | exited | dead
    host_ports: tuple[int, ...] = ()
    exit_code: int | None = None
    image: str = ""

    @property
    def engine(self) -> str:
        """The engine label."""
        return self.labels.get(LABEL_ENGINE, "")

    @property
    def stack(self) -> str:
        """The stack label."""
        return self.labels.get(LABEL_STACK, "")

    @property
    def config_hash(self) -> str:
        """The config-hash label written when it was created."""
        return self.labels.get(LABEL_HASH, "")

    @property
    def candidate(self) -> str:
        """The catalogue candidate it runs."""
        return self.labels.get(LABEL_CANDIDATE, "")

    @property
    def running(self) -> bool:
        """True while the container's process runs."""
        return self.state == "running"


@dataclass(frozen=True)
class ContainerState:
    """A container's state right now."""

    status: str  # Docker's State.Status; "missing" when the container is gone
    exit_code: int | None = None
    error: str = ""  # Docker's State.Error (e.g. a failed start)
    oom_killed: bool = False
    finished_at: float | None = None  # when it last stopped, epoch seconds on the daemon's clock; None: never

    @property
    def running(self) -> bool:
        """True while the container's process runs."""
        return self.status == "running"


PullEvents = Callable[[dict], None]


class DaemonUnreachable(AimaError):
    """The container engine does not answer: never did, or stopped answering in the middle of a command."""


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
    """What aima needs from a container engine; the docker SDK implements it, tests fake it."""

    url: str  # where the daemon is, for messages ("unix:///var/run/docker.sock")

    def ping(self) -> None:
        """Raise DaemonUnreachable when the daemon does not answer (as every method does when it stops answering)."""

    def local(self) -> bool:
        """True when the daemon runs on this machine (its ports are this machine's ports)."""

    def host_platform(self) -> str:
        """The daemon's platform, e.g. linux/amd64."""

    def image_platform(self, image: str) -> str | None:
        """The platform of a local image, e.g. linux/arm64; None when the image is not here."""

    def pull(self, image: str, on_event: PullEvents) -> None:
        """Pull an image, reporting the streamed status events; raise AimaError on failure."""

    def ensure_network(self, name: str, labels: Mapping[str, str]) -> bool:
        """Create the network unless it exists; True when it was created."""

    def remove_networks(self, labels: Mapping[str, str]) -> list[str]:
        """Remove the networks carrying all these labels; return their names."""

    def create(self, spec: ContainerSpec) -> str:
        """Create (not start) a container; return its id."""

    def start(self, container_id: str) -> None:
        """Start a created or stopped container."""

    def list(self, labels: Mapping[str, str]) -> list[Observed]:
        """Containers (running or not) carrying all these labels (an empty value matches any value)."""

    def state(self, container_id: str) -> ContainerState:
        """The container's state now."""

    def remove(self, container_id: str) -> None:
        """Stop and remove a container (anonymous volumes and bind-mounted files stay)."""

    def logs(self, container_id: str, *, follow: bool = False, tail: int | None = None,
             timestamps: bool = False, since: float | None = None) -> Iterator[bytes]:
        """The container's output (stdout and stderr), as chunks."""

    def close_logs(self, stream: Iterator[bytes]) -> None:
        """Stop a following log stream from another thread."""

    def top_pids(self, container_id: str) -> list[int]:
        """Host PIDs of the container's processes."""
