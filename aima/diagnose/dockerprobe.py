"""The doctor's one door to Docker: short timeouts, plain facts out, behind the ``DockerSource`` Protocol.

It stands on the launcher's adapter (aima.launch.docker_engine: the same connection, error texts and container
arguments as `aima up`) and adds what only doctor asks: `docker info`, an image's environment, published ports
and health of containers, a GPU-request probe and short trial runs. Unit tests fake ``DockerSource``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from aima.plan_types import LABEL_STACK

TIMEOUT_S = 3  # doctor must answer in seconds, even when the daemon hangs
PROBE_LABEL = "aima.doctor"
_NO_SUCH_FILE = "/aima-doctor-probe-does-not-exist"


@dataclass(frozen=True)
class DockerInfo:
    """What `docker info` and `docker version` say that doctor needs."""

    server_version: str
    api_version: str
    os_type: str
    architecture: str  # as the daemon says: x86_64, aarch64
    root_dir: str
    runtimes: tuple[str, ...]
    default_runtime: str
    cdi_spec_dirs: tuple[str, ...] = ()


@dataclass(frozen=True)
class ImageFacts:
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
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


@dataclass(frozen=True)
class ContainerFacts:
    """One of aima's containers (label aima.stack) as Docker reports it."""

    id: str
    name: str
    image: str
    labels: dict[str, str]
    state: str
    exit_code: int | None = None
    oom_killed: bool = False
    error: str = ""
    health: str | None = None  # Docker's own HEALTHCHECK status, when the image has one
    ports: tuple[tuple[str, int, int], ...] = field(default=())  # (host ip, host port, container port)


@dataclass(frozen=True)
class RunResult:
    """A short container run: Docker's start error (if it never ran), exit code and output."""

    start_error: str | None
    exit_code: int | None
    output: str
    timed_out: bool = False


class DockerSource(Protocol):
    """What doctor asks of Docker; ``DockerProbe`` is the real one, tests bring fakes."""

    url: str
    local: bool  # the daemon runs here, so its ports and disks are this machine's
    engine: Any  # the launcher's ContainerEngine on the same daemon (--deep trials wait through it)

    def info(self) -> DockerInfo:
        """Server version and configuration."""

    def image(self, ref: str) -> ImageFacts | None:
        """A local image by reference, or None when it is not here."""

    def smallest_image(self) -> str | None:
        """The id of the smallest local image (for probes), or None when there is none."""

    def containers(self) -> list[ContainerFacts]:
        """Every container labelled aima.stack, running or not."""

    def log_lines(self, container_id: str, tail: int) -> list[str]:
        """The last ``tail`` lines of a container's stdout and stderr."""

    def gpu_request_error(self, image: str) -> str | None:
        """Docker's error when it cannot give a container a GPU, or None when it can."""

    def run_with_gpu(self, image: str, command: list[str], devices: tuple[str, ...], timeout_s: float) -> RunResult:
        """Run ``command`` in ``image`` with the GPUs ``devices`` (all when empty) and return what happened."""

    def start_trial(self, spec: Any) -> tuple[str, int | None, str | None]:
        """Start an engine's container spec briefly: (container id, loopback host port, Docker's error or None)."""

    def remove(self, container_id: str) -> None:
        """Remove a container, running or not."""


def docker_host() -> str:
    """Where the daemon is: DOCKER_HOST, else the default socket (the launcher's rule)."""
    from aima.launch.docker_engine import docker_url

    return docker_url()


def is_local(url: str) -> bool:
    """True for a daemon on this machine (a Unix socket or loopback TCP), as the launcher decides it."""
    from aima.launch.docker_engine import DockerEngine

    return DockerEngine(None, url).local()


class DockerProbe:
    """The docker SDK behind DockerSource."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine  # aima.launch.docker_engine.DockerEngine, for the launcher's own waits
        self._client = engine.client
        self.url = engine.url
        self.local = engine.local()

    @classmethod
    def connect(cls, timeout_s: int = TIMEOUT_S) -> DockerProbe:
        """Connect through the launcher's adapter and ping; an AimaError says why Docker cannot be reached."""
        from aima.launch.docker_engine import connect

        engine = connect(timeout=timeout_s)
        engine.ping()
        return cls(engine)

    def close(self) -> None:
        """Close the HTTP session."""
        self._client.close()

    def info(self) -> DockerInfo:
        """Server version and configuration."""
        info = self._client.info()
        version = self._client.version()
        return DockerInfo(
            server_version=str(version.get("Version") or info.get("ServerVersion") or "?"),
            api_version=str(version.get("ApiVersion") or "?"),
            os_type=str(info.get("OSType") or "linux"),
            architecture=str(info.get("Architecture") or ""),
            root_dir=str(info.get("DockerRootDir") or ""),
            runtimes=tuple(sorted((info.get("Runtimes") or {}).keys())),
            default_runtime=str(info.get("DefaultRuntime") or "runc"),
            cdi_spec_dirs=tuple(info.get("CDISpecDirs") or ()),
        )

    def image(self, ref: str) -> ImageFacts | None:
        """A local image by reference, or None when it is not here."""
        import docker

        try:
            image = self._client.images.get(ref)
        except docker.errors.ImageNotFound:
            return None
        attrs = image.attrs
        return ImageFacts(
            ref=ref, id=image.id, os=str(attrs.get("Os") or ""), architecture=str(attrs.get("Architecture") or ""),
            variant=str(attrs.get("Variant") or ""), env=tuple((attrs.get("Config") or {}).get("Env") or ()),
            size_bytes=int(attrs.get("Size") or 0),
        )

    def smallest_image(self) -> str | None:
        """The id of the smallest local image (for probes), or None when there is none."""
        images = self._client.images.list()
        if not images:
            return None
        return min(images, key=lambda i: int(i.attrs.get("Size") or 0)).id

    def containers(self) -> list[ContainerFacts]:
        """Every container labelled aima.stack, running or not."""
        found = self._client.containers.list(all=True, filters={"label": LABEL_STACK})
        return [_container_facts(c.attrs) for c in found]

    def log_lines(self, container_id: str, tail: int) -> list[str]:
        """The last ``tail`` lines of a container's stdout and stderr."""
        raw = self._client.containers.get(container_id).logs(stdout=True, stderr=True, tail=tail)
        return raw.decode("utf-8", errors="replace").splitlines()

    def gpu_request_error(self, image: str) -> str | None:
        """Docker's error when it cannot give a container a GPU, or None when it can."""
        # Docker picks the GPU device driver when the container starts, before the process runs; an entrypoint
        # that does not exist makes the start fail right after that choice, so nothing ever runs.
        result = self._run(image, [_NO_SUCH_FILE], (), timeout_s=TIMEOUT_S)
        error = result.start_error or ""
        return error if "could not select device driver" in error else None

    def run_with_gpu(self, image: str, command: list[str], devices: tuple[str, ...], timeout_s: float) -> RunResult:
        """Run ``command`` in ``image`` with the GPUs ``devices`` (all when empty) and return what happened."""
        return self._run(image, command, devices, timeout_s)

    def start_trial(self, spec: Any) -> tuple[str, int | None, str | None]:
        """Start an engine's container spec briefly: (container id, loopback host port, Docker's error or None)."""
        import docker

        from aima.launch.docker_engine import create_kwargs

        # Exactly what `up` creates (GPU request, limits, mounts, command), but unnamed, off the stack's network,
        # on a random loopback port and without aima.stack labels, so it never meets the stack's own containers.
        kwargs = create_kwargs(spec)
        for key in ("name", "network"):
            kwargs.pop(key, None)
        port = spec.ports[0].container_port if spec.ports else None
        kwargs["ports"] = {f"{port}/tcp": ("127.0.0.1", None)} if port else {}
        kwargs["labels"] = {PROBE_LABEL: "trial"}
        try:
            container = self._client.containers.create(**kwargs)
        except docker.errors.APIError as exc:
            return "", None, str(exc.explanation or exc)
        try:
            container.start()
        except docker.errors.APIError as exc:
            return container.id, None, str(exc.explanation or exc)
        container.reload()
        bound = (container.ports.get(f"{port}/tcp") or [{}])[0].get("HostPort") if port else None
        return container.id, int(bound) if bound else None, None

    def remove(self, container_id: str) -> None:
        """Remove a container, running or not."""
        import docker

        try:
            self._client.api.remove_container(container_id, force=True)
        except docker.errors.APIError:
            pass  # already gone

    def _run(self, image: str, command: list[str], devices: tuple[str, ...], timeout_s: float) -> RunResult:
        import docker
        from docker.types import DeviceRequest

        # utility mounts nvidia-smi, compute the CUDA libraries (NVIDIA container toolkit's driver capabilities).
        request = (DeviceRequest(device_ids=list(devices), capabilities=[["gpu", "utility", "compute"]]) if devices
                   else DeviceRequest(count=-1, capabilities=[["gpu", "utility", "compute"]]))
        container = self._client.containers.create(
            image, entrypoint=command[:1], command=command[1:], device_requests=[request],
            labels={PROBE_LABEL: "probe"}, network_disabled=True, detach=True,
        )
        try:
            try:
                container.start()
            except docker.errors.APIError as exc:
                return RunResult(str(exc.explanation or exc), None, "")
            try:
                status = container.wait(timeout=timeout_s)
            except Exception:  # noqa: BLE001 - requests' timeout: the command hangs
                return RunResult(None, None, _logs(container), timed_out=True)
            return RunResult(None, int(status.get("StatusCode", -1)), _logs(container))
        finally:
            try:
                container.remove(force=True)
            except docker.errors.APIError:
                pass  # already gone; nothing of ours is left


def _logs(container: Any) -> str:
    return container.logs(stdout=True, stderr=True).decode("utf-8", errors="replace")


def _container_facts(attrs: dict) -> ContainerFacts:
    state = attrs.get("State") or {}
    config = attrs.get("Config") or {}
    ports: list[tuple[str, int, int]] = []
    published = (attrs.get("NetworkSettings") or {}).get("Ports") or {}
    if not any(published.values()):
        published = (attrs.get("HostConfig") or {}).get("PortBindings") or {}  # a stopped container's intent
    for spec, bindings in published.items():
        for binding in bindings or ():
            host_port = str(binding.get("HostPort") or "")
            if host_port.isdigit():
                ports.append((binding.get("HostIp") or "0.0.0.0", int(host_port), int(spec.split("/")[0])))
    health = (state.get("Health") or {}).get("Status")
    return ContainerFacts(
        id=attrs.get("Id", ""), name=str(attrs.get("Name") or "").lstrip("/"), image=str(config.get("Image") or ""),
        labels=dict(config.get("Labels") or {}), state=str(state.get("Status") or "unknown"),
        exit_code=state.get("ExitCode"), oom_killed=bool(state.get("OOMKilled")), error=str(state.get("Error") or ""),
        health=health, ports=tuple(ports),
    )
