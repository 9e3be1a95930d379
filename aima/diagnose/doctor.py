"""`aima doctor`: gather what this machine, Docker and the plan look like, then run every check independently.

Observations come from adapters in ``Adapters`` (NVML, Docker, sockets, disks, HTTP), each gathered once
and only when a check asks for it, so a missing daemon costs one short timeout, not one per check. The checks
themselves live in the check_* modules as functions of those observations; checks.run_checks keeps them apart.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from aima.diagnose import probes
from aima.diagnose.checks import Check, CheckResult, NotChecked, run_checks
from aima.errors import AimaError
from aima.launch import reach
from aima.launch.reach import ProbeResult

if TYPE_CHECKING:
    from aima.catalog.model import Catalog
    from aima.engine.model import Container, ContainerEngine, EngineInfo, ImageInfo
    from aima.engine.select import Choice
    from aima.hardware.host import HostFacts
    from aima.hardware.model import Hardware
    from aima.hardware.nvml import NvmlReading
    from aima.plan_types import Plan
    from aima.stack import Stack

_F = TypeVar("_F", bound=Callable[..., Any])

DOCKER_DOWN = NotChecked("Docker is not reachable (see docker.reachable)", "fix docker.reachable first")


@dataclass(frozen=True)
class DoctorRequest:
    """What the user asked `aima doctor` for."""

    hardware: str | None = None  # a profile to check against instead of this machine's GPUs
    images: Path | None = None
    stack: Path | None = None
    deep: bool = False
    deep_timeout_s: float = 30.0
    log_tail: int = 1000  # lines of each container's log scanned against the knowledge base
    engine: str | None = None  # the global --engine docker|podman


TIMEOUT_S = 3  # doctor must answer in seconds, even when the daemon hangs


def _connect_docker(choice: Choice) -> ContainerEngine:
    """The launcher's engine adapter with a short timeout, pinged; an AimaError says why it cannot be reached."""
    from aima.engine import connect_to

    engine = connect_to(choice, timeout=TIMEOUT_S)
    engine.ping()
    return engine


def _load_nvml() -> Any:
    from aima.hardware.nvml import load_pynvml

    return load_pynvml()


def _read_host() -> HostFacts:
    from aima.hardware.host import read_host

    return read_host(Path("/"))


def _inspected(images: set[str]) -> dict[str, tuple[str, str]]:
    from aima.inspect.cache import cached_archs

    return cached_archs(images)


def _port_start() -> int | None:
    from aima.launch.rootless import unprivileged_port_start

    return unprivileged_port_start()


@dataclass(frozen=True)
class Adapters:
    """The edges doctor touches; tests replace single ones."""

    nvml: Callable[[], Any] = _load_nvml
    host: Callable[[], HostFacts] = _read_host
    docker: Callable[[Choice], ContainerEngine] = _connect_docker
    inspected: Callable[[set[str]], dict[str, tuple[str, str]]] = _inspected
    port_error: Callable[[str, int], str | None] = reach.port_error
    disk_free: Callable[[str], tuple[str, int] | None] = probes.disk_free
    http_probe: Callable[[str, float], ProbeResult] = reach.http_probe
    nvidia_pci: Callable[[], list[str]] = probes.nvidia_pci_devices
    path_size: Callable[[str], int | None] = probes.path_size
    port_start: Callable[[], int | None] = _port_start  # net.ipv4.ip_unprivileged_port_start of this host


def _memo(method: _F) -> _F:
    """Cache a method's value or its exception per arguments, so every check sees one observation."""

    @functools.wraps(method)
    def inner(self: Facts, *args: Any) -> Any:
        key = (method.__name__, *args)
        if key not in self._cache:
            try:
                self._cache[key] = (True, method(self, *args))
            except Exception as exc:  # noqa: BLE001 - re-raised to every check that asks
                self._cache[key] = (False, exc)
        good, value = self._cache[key]
        if not good:
            raise value
        return value

    return cast("_F", inner)


class Facts:
    """Observations of this machine, Docker and the plan, each gathered once on first use."""

    def __init__(self, request: DoctorRequest, adapters: Adapters | None = None) -> None:
        self.request = request
        self.adapters = adapters or Adapters()
        self._cache: dict[tuple, tuple[bool, Any]] = {}

    @_memo
    def host(self) -> HostFacts:
        """CPU arch, cores, RAM of this machine."""
        return self.adapters.host()

    @_memo
    def nvml(self) -> NvmlReading | None:
        """NVML's reading of this machine, or None when checking against a profile."""
        from aima.hardware import nvml

        if self.request.hardware is not None:
            return None
        return nvml.read(self.adapters.nvml(), jetson=self.host().jetson)

    @_memo
    def hardware(self) -> Hardware:
        """The machine the plan is for: a profile, or this machine as NVML and the kernel see it."""
        from aima.hardware.detect import assemble

        if self.request.hardware is not None:
            from aima.pipeline import load_hardware

            return load_hardware(self.request.hardware)
        # The reading doctor also reports on by itself, assembled as `aima detect` does.
        # nvml() is None only with a hardware profile, which returned above.
        return assemble(cast("NvmlReading", self.nvml()), self.host())

    @_memo
    def inputs(self) -> tuple[Catalog, Stack]:
        """The catalogue and the stack."""
        from aima.pipeline import load_catalog_and_stack

        return load_catalog_and_stack(self.request.images, self.request.stack)

    @_memo
    def inspected(self) -> dict[str, tuple[str, str]]:
        """image -> (archs, source) for the catalogue's GPU images that `aima inspect` has cached."""
        catalog, _ = self.inputs()
        try:
            return self.adapters.inspected({c.image for e in catalog.engines for c in e.candidates if c.gpu})
        except Exception:  # noqa: BLE001 - the cache is a convenience; without it the catalogue's archs count
            return {}

    @_memo
    def plan(self) -> Plan:
        """The plan `aima up` would carry out here."""
        from aima.pipeline import model_sizes
        from aima.plan import PlanOptions, make_plan

        catalog, stack = self.inputs()
        # hf:// models are sized (and a folder's files listed) from the cache, else the hub, as `aima plan` does
        return make_plan(self.hardware(), catalog, stack, PlanOptions(inspected=self.inspected(),
                                                                      model_sizes=model_sizes(stack, False)))

    @_memo
    def choice(self) -> Choice:
        """Which engine and why: --engine, AIMA_ENGINE, the stack's engine: (when the stack reads), else found."""
        from aima.engine.select import choose

        try:
            configured = self.inputs()[1].configured_engine
        except Exception:  # noqa: BLE001 - engines.plan reports a stack that does not read
            configured = None
        return choose(explicit=self.request.engine, configured=configured)

    @_memo
    def docker(self) -> ContainerEngine:
        """The engine's adapter, connected; AimaError when the engine cannot be reached."""
        return self.adapters.docker(self.choice())

    def docker_or_skip(self) -> ContainerEngine:
        """The Docker adapter, or NotChecked for checks that only make sense with Docker."""
        try:
            return self.docker()
        except Exception:  # noqa: BLE001 - docker.reachable reports the cause once
            raise DOCKER_DOWN from None

    @_memo
    def docker_info(self) -> EngineInfo:
        """`docker info` and `docker version`."""
        return self.docker_or_skip().info()

    @_memo
    def image(self, ref: str) -> ImageInfo | None:
        """A local image's facts, or None when it is not pulled."""
        return self.docker_or_skip().image(ref)

    @_memo
    def containers(self) -> list[Container]:
        """aima's containers (label aima.stack), running or not."""
        from aima.engine.labels import stack_selector

        return self.docker_or_skip().list(stack_selector())

    def log_lines(self, container_id: str, tail: int) -> list[str]:
        """The last ``tail`` lines of a container's stdout and stderr."""
        chunks = self.docker_or_skip().logs(container_id, tail=tail)
        return b"".join(chunks).decode("utf-8", errors="replace").splitlines()

    def close(self) -> None:
        """Release the Docker connection if one was made."""
        good, value = self._cache.get(("docker",), (False, None))
        if good and hasattr(value, "close"):
            value.close()


def producers(facts: Facts) -> list[tuple[str, Callable[[], Iterable[Check]]]]:
    """Every group of checks in report order."""
    from aima.diagnose import check_containers, check_docker, check_engines, check_host

    groups: list[tuple[str, Callable[[], Iterable[Check]]]] = [
        ("host", lambda: check_host.host_checks(facts)),
        ("gpu", lambda: check_host.gpu_checks(facts)),
        ("docker", lambda: check_docker.docker_checks(facts)),
        ("engines", lambda: check_engines.engine_checks(facts)),
        ("containers", lambda: check_containers.container_checks(facts)),
    ]
    if facts.request.deep:
        from aima.diagnose import check_verify, deep

        groups.append(("engines", lambda: deep.deep_checks(facts)))
        groups.append(("containers", lambda: check_verify.verify_checks(facts)))
    return groups


def validate(request: DoctorRequest) -> None:
    """Refuse bad usage up front (exit 2): files that do not exist, a hardware profile that is not there."""
    for option, path in (("--images", request.images), ("--stack", request.stack)):
        if path is not None and not Path(path).is_file():
            raise AimaError(f"{option} {path}: no such file", exit_code=2)
    if request.hardware is not None:
        from aima.hardware.profiles import find_profile

        try:
            find_profile(request.hardware)
        except AimaError as exc:
            raise AimaError(exc.message, hint=exc.hint, exit_code=2) from None


def run_doctor(request: DoctorRequest, adapters: Adapters | None = None) -> tuple[list[CheckResult], float]:
    """Run every check; return the results and the wall time in seconds."""
    started = time.monotonic()
    validate(request)
    facts = Facts(request, adapters)
    try:
        results = run_checks(producers(facts))
    finally:
        facts.close()
    return results, time.monotonic() - started
