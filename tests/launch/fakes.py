"""An in-memory ContainerEngine and plan builders, so `up`'s decisions and executor run without Docker.

A fake container "runs" its image's script, read from its env when it starts:
FAKE_LINES (lines separated by '|', logged at start), FAKE_EXIT (exit code after logging the lines),
FAKE_READY (1: the health probe answers 200 while it runs). It also plays the stub image's crash
(STUB_CRASH_LINE printed, then exit STUB_EXIT_CODE, default 1), so tests/e2e/test_engine_protocol.py can run the
same calls on this fake and on the real adapter.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from aima.catalog.model import Health
from aima.engine.model import (
    Container,
    ContainerRefused,
    ContainerSpec,
    EngineInfo,
    ImageInfo,
    RunResult,
)
from aima.errors import AimaError
from aima.hardware.model import Hardware
from aima.launch.reach import ProbeResult
from aima.plan_types import EnginePlan, Plan, PlannedLimits, PortBinding

HARDWARE = Hardware(gpus=(), driver_version=None, cuda_driver_version=None, cpu_arch="x86_64", cpu_cores=8,
                    ram_mib=32768)
STAMP = "2026-01-02T03:04:05.000000000Z"


def engine_plan(engine: str, candidate: str | None = None, *, image: str = "stub:1", gpu: bool = False,
                devices: tuple[str, ...] = (), port: int = 18000, env: Mapping[str, str] | None = None,
                fallbacks: tuple[EnginePlan, ...] = (), startup_timeout_s: float = 30.0) -> EnginePlan:
    """A minimal EnginePlan for tests."""
    return EnginePlan(
        engine=engine, candidate=candidate or f"{engine}-a", image=image, gpu=gpu, devices=devices, command=(),
        entrypoint=None, env=tuple(sorted((env or {}).items())), ports=(PortBinding("127.0.0.1", port, 8080),),
        mounts=(), limits=PlannedLimits(memory_mib=256, cpus=1.0), health=Health("/health", startup_timeout_s, 0.05),
        model=None, concurrency=None, container_port=8080, reason="test", fallbacks=fallbacks)


def plan_of(*engines: EnginePlan, stack: str = "t") -> Plan:
    """A Plan of these engines on a CPU-only machine."""
    return Plan(stack, HARDWARE, tuple(engines))


@dataclass
class FakeContainer:
    spec: ContainerSpec
    id: str
    state: str = "created"
    exit_code: int | None = None
    lines: list[str] = field(default_factory=list)
    finished_at: float | None = None


class FakeDocker:
    """The ContainerEngine Protocol in memory; records every call."""

    url = "unix:///fake.sock"

    def __init__(self, *, platform: str = "linux/amd64", images: Mapping[str, str] | None = None,
                 pull_error: AimaError | None = None, local: bool = True) -> None:
        self.platform = platform
        self.platforms = dict(images if images is not None else {"stub:1": platform, "stub:2": platform})
        self.pull_error = pull_error
        self.unobtainable: dict[str, str] = {}  # image -> why its registry does not have it
        self.is_local = local
        self.containers: dict[str, FakeContainer] = {}
        self.networks: dict[str, dict] = {}
        self.calls: list[tuple[str, str]] = []
        self.pids: dict[str, list[int]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    # the Protocol
    def ping(self) -> None:
        self.calls.append(("ping", ""))

    def local(self) -> bool:
        return self.is_local

    def info(self) -> EngineInfo:
        os_type, arch = self.platform.split("/")[:2]
        return EngineInfo("fake", "1.0", "1.47", os_type, arch, "/var/lib/fake", ("runc",), "runc")

    def image(self, ref: str) -> ImageInfo | None:
        platform = self.platforms.get(ref)
        if platform is None:
            return None
        os_name, arch = platform.split("/")[:2]
        return ImageInfo(ref, f"sha256:{abs(hash(ref)):064x}"[:71], os_name, arch, "", (), 1000)

    def obtainable(self, ref: str) -> str | None:
        return self.unobtainable.get(ref)

    def images(self) -> list[ImageInfo]:
        return [i for i in map(self.image, self.platforms) if i is not None]

    def pull(self, image: str, on_event) -> None:
        self.calls.append(("pull", image))
        if self.pull_error:
            raise self.pull_error
        on_event({"status": "Downloading", "id": "layer1", "progressDetail": {"current": 1, "total": 2}})
        self.platforms[image] = self.platform

    def ensure_network(self, name: str, labels: Mapping[str, str]) -> str:
        if name in self.networks:
            return ""
        self.networks[name] = dict(labels)
        return name  # the fake's network id is its name

    def remove_networks(self, labels: Mapping[str, str], ids=None) -> list[str]:
        gone = [n for n, have in self.networks.items() if all(have.get(k) == v for k, v in labels.items())
                and (ids is None or n in ids)]
        for name in gone:
            del self.networks[name]
        return gone

    def create(self, spec: ContainerSpec) -> str:
        if spec.image not in self.platforms:
            raise ContainerRefused(f"cannot create {spec.name}: image {spec.image} is not on this machine",
                                   f"No such image: {spec.image}")
        with self._lock:
            if spec.name and any(c.spec.name == spec.name for c in self.containers.values()):
                raise ContainerRefused(f"cannot create {spec.name}: a container of that name exists",
                                       f"Conflict. The container name \"/{spec.name}\" is already in use")
            cid = f"c{next(self._ids):03d}"
            self.containers[cid] = FakeContainer(spec, cid)
        self.calls.append(("create", spec.name))
        return cid

    def start(self, container_id: str) -> None:
        c = self.containers[container_id]
        self.calls.append(("start", c.spec.name))
        env = c.spec.env
        c.lines += [f"{STAMP} {line}" for line in env.get("FAKE_LINES", "").split("|") if line]
        if "STUB_CRASH_LINE" in env:
            c.lines.append(f"{STAMP} {env['STUB_CRASH_LINE']}")
            c.state, c.exit_code = "exited", int(env.get("STUB_EXIT_CODE", "1"))
        elif "FAKE_EXIT" in env:
            c.state, c.exit_code = "exited", int(env["FAKE_EXIT"])
        else:
            c.state = "running"

    def list(self, labels: Mapping[str, str]) -> list[Container]:
        return [self._observed(c) for c in list(self.containers.values())
                if all((c.spec.labels.get(k) == v) if v else k in c.spec.labels for k, v in labels.items())]

    def inspect(self, container_id: str) -> Container | None:
        c = self.containers.get(container_id)
        return None if c is None else self._observed(c)

    @staticmethod
    def _observed(c: FakeContainer) -> Container:
        return Container(c.id, c.spec.name, dict(c.spec.labels), c.state, c.exit_code, c.spec.image,
                         ports=tuple(PortBinding(p.host_ip, p.host_port, p.container_port) for p in c.spec.ports),
                         finished_at=c.finished_at)

    def remove(self, container_id: str) -> None:
        self.calls.append(("remove", container_id))
        self.containers.pop(container_id, None)

    def logs(self, container_id: str, *, follow: bool = False, tail: int | None = None, timestamps: bool = False,
             since: float | None = None) -> Iterator[bytes]:
        c = self.containers.get(container_id)
        lines = [] if c is None or tail == 0 else c.lines
        for line in lines:
            yield ((line if timestamps else line.split(" ", 1)[1]) + "\n").encode()
        if follow and c is not None and c.state == "running":
            # A running fake only ends its log when the test closes the stream.
            event = threading.Event()
            self._streams = getattr(self, "_streams", [])
            self._streams.append(event)
            event.wait(30)

    def close_logs(self, stream) -> None:
        for event in getattr(self, "_streams", []):
            event.set()

    def top_pids(self, container_id: str) -> list[int]:
        return self.pids.get(container_id, [])

    def run(self, spec: ContainerSpec, timeout_s: float) -> RunResult:
        cid = self.create(spec)
        try:
            self.start(cid)
            c = self.containers[cid]
            output = "".join(line.split(" ", 1)[1] + "\n" for line in c.lines)
            return RunResult(None, c.exit_code if c.state == "exited" else 0, output)
        finally:
            self.remove(cid)

    def export_files(self, image_id: str) -> Iterator[bytes]:
        return iter(())

    def close(self) -> None:
        pass

    # helpers for tests
    def add(self, plan: Plan, engine: EnginePlan, state: str = "running") -> str:
        """A container that an earlier `up` created for this engine plan."""
        from aima.engine.spec import container_spec

        cid = self.create(container_spec(engine, plan))
        self.containers[cid].state = state
        self.calls.clear()
        return cid

    def created(self) -> list[str]:
        return [name for call, name in self.calls if call == "create"]


class FakeProbes:
    """probe_for for run_up: ready when the container behind the port runs with FAKE_READY=1."""

    def __init__(self, docker: FakeDocker) -> None:
        self.docker = docker

    def __call__(self, url: str):
        port = int(url.split(":")[2].split("/")[0])

        def probe() -> ProbeResult:
            for c in list(self.docker.containers.values()):
                if any(p.host_port == port for p in c.spec.ports) and c.state == "running":
                    ready = c.spec.env.get("FAKE_READY") == "1"
                    return ProbeResult(ready, "HTTP 200" if ready else "HTTP 503 loading")
            return ProbeResult(False, "ConnectError")

        return probe
