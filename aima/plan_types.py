"""What `up` will run, as plain data: the Plan and its EnginePlans (no I/O here)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from aima.catalog.model import Candidate, Health, ModelChoice
from aima.engine.labels import LABEL_CANDIDATE, LABEL_ENGINE, LABEL_HASH, LABEL_STACK
from aima.hardware.model import Hardware
from aima.resolve import Rejection
from aima.secrets import REDACTED, SECRET_KEY, redact_env  # noqa: F401 - one definition, kept importable here


@dataclass(frozen=True)
class PortBinding:
    """A published port: host_ip:host_port -> container_port/tcp."""

    host_ip: str
    host_port: int
    container_port: int


@dataclass(frozen=True)
class Mount:
    """A host folder mounted into the container (models are read-only)."""

    source: str
    target: str
    read_only: bool = True


@dataclass(frozen=True)
class PlannedLimits:
    """Resource limits as they will be applied; None = unlimited."""

    memory_mib: int | None = None
    cpus: float | None = None
    shm_mib: int | None = None
    pids: int | None = None
    gpu_memory_mib: int | None = None  # this engine's claim on GPU (or unified) memory
    gpu_memory_utilization: float | None = None  # the fraction handed to engines sized that way (vLLM)


@dataclass(frozen=True)
class BuildPlan:
    """How aima builds an engine's image from a shipped recipe (docs/builds.md); read from the recipe's files."""

    engine: str
    candidate: str
    image: str  # the catalogue's reference: the tag the build gets
    recipe: str
    recipe_dir: str
    args: tuple[tuple[str, str], ...]
    base_images: tuple[str, ...]
    minutes: int
    disk_gib: float
    recipe_hash: str
    archs: str | None  # what the built binaries must carry (the catalogue's promise)
    built_here: str | None = None  # the image id when this machine has built this very recipe hash


@dataclass(frozen=True)
class EnginePlan:
    """Exactly how one engine will run."""

    engine: str
    candidate: str
    image: str
    gpu: bool
    devices: tuple[str, ...]  # GPU indexes or UUIDs for the device request; () on the CPU
    command: tuple[str, ...]
    entrypoint: tuple[str, ...] | None
    env: tuple[tuple[str, str], ...]
    ports: tuple[PortBinding, ...]
    mounts: tuple[Mount, ...]
    limits: PlannedLimits
    health: Health
    model: ModelChoice | None
    concurrency: int | None
    container_port: int
    reason: str
    rejected: tuple[Rejection, ...] = ()
    warnings: tuple[str, ...] = ()
    archs_source: str = "catalogue"
    known_failures: tuple[str, ...] = ()
    fallbacks: tuple[EnginePlan, ...] = field(default=(), repr=False)
    chosen: Candidate | None = field(default=None, repr=False, compare=False)  # the catalogue entry it runs
    mode: str = "cpu"  # native | ptx-jit | forward-compat | ptx-jit+forward-compat | cpu
    gpus: tuple[int, ...] = ()  # the physical GPUs behind `devices` (a MIG UUID's parent GPU)
    tried: tuple[str, ...] = ()  # 'candidate: why not' for each placement attempt before this one
    obtain: str = "pull"  # pull | build | local (docs/builds.md)
    build: BuildPlan | None = None

    def container_name(self, stack: str) -> str:
        """The container's name: aima-<stack>-<engine>."""
        return f"aima-{stack}-{self.engine}"

    @property
    def endpoint(self) -> str | None:
        """The URL a user reaches the engine at."""
        if not self.ports:
            return None
        p = self.ports[0]
        host = "127.0.0.1" if p.host_ip in ("0.0.0.0", "") else p.host_ip
        return f"http://{host}:{p.host_port}"

    def runtime_dict(self) -> dict:
        """Everything that shapes the running container; its hash decides whether `up` recreates it."""
        return {
            "image": self.image, "devices": list(self.devices), "command": list(self.command),
            "entrypoint": None if self.entrypoint is None else list(self.entrypoint), "env": dict(self.env),
            "ports": [[p.host_ip, p.host_port, p.container_port] for p in self.ports],
            "mounts": [[m.source, m.target, m.read_only] for m in self.mounts],
            "limits": [self.limits.memory_mib, self.limits.cpus, self.limits.shm_mib, self.limits.pids],
        }

    @property
    def config_hash(self) -> str:
        """sha256 of the runtime configuration (compose's config-hash idea)."""
        blob = json.dumps(self.runtime_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()

    def labels(self, stack: str) -> dict[str, str]:
        """The labels `up`, `down` and `status` find aima's containers by."""
        return {LABEL_STACK: stack, LABEL_ENGINE: self.engine, LABEL_HASH: self.config_hash,
                LABEL_CANDIDATE: self.candidate}


@dataclass(frozen=True)
class Refusal:
    """An engine that cannot run on this machine, with the numbers."""

    engine: str
    reason: str
    rejected: tuple[Rejection, ...] = ()


@dataclass(frozen=True)
class Plan:
    """The whole stack as it will run on one machine."""

    stack: str
    hardware: Hardware
    engines: tuple[EnginePlan, ...]
    refusals: tuple[Refusal, ...] = ()
    warnings: tuple[str, ...] = ()
    memory_budget: tuple[tuple[str, int], ...] = ()  # unified memory: (what, MiB) rows that sum to the pool
    latest: bool = False  # images pulled by their moving tags (`up --latest`, stack `latest: true`), not by pin

    @property
    def network(self) -> str:
        """The stack's Docker network."""
        return f"aima-{self.stack}"

    @property
    def ok(self) -> bool:
        """True when every engine could be planned."""
        return not self.refusals

    def engine(self, name: str) -> EnginePlan | None:
        """One engine's plan, or None."""
        return next((e for e in self.engines if e.engine == name), None)


