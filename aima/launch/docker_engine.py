"""The ContainerEngine Protocol on the docker SDK; every Docker error leaves this module as an AimaError."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar
from urllib.parse import urlparse

from aima.errors import AimaError
from aima.hardware.model import oci_arch
from aima.launch import docker_errors
from aima.launch.model import ContainerSpec, ContainerState, Observed, PullEvents, docker_time

DEFAULT_URL = "unix:///var/run/docker.sock"
_STOP_TIMEOUT_S = 5  # engines get SIGTERM and this long to exit before SIGKILL
F = TypeVar("F", bound=Callable[..., Any])


def docker_url(environ: Mapping[str, str] | None = None) -> str:
    """Where docker.from_env will connect: DOCKER_HOST, else the default socket."""
    env = os.environ if environ is None else environ
    return env.get("DOCKER_HOST") or DEFAULT_URL


def connect(environ: Mapping[str, str] | None = None, timeout: int = 60) -> DockerEngine:
    """A DockerEngine for DOCKER_HOST (docker.from_env semantics); AimaError when the daemon does not answer."""
    import docker

    env = dict(os.environ if environ is None else environ)
    url = docker_url(env)
    try:
        client = docker.from_env(environment=env, timeout=timeout)
    except Exception as exc:  # DockerException, requests' ConnectionError, PermissionError, bad DOCKER_HOST
        raise docker_errors.daemon_unreachable(url, exc) from None
    return DockerEngine(client, url)


def _translating(doing: str) -> Callable[[F], F]:
    """Turn any Docker, requests or socket error escaping a method into an AimaError about the daemon."""

    def wrap(method: F) -> F:
        @functools.wraps(method)
        def inner(self: DockerEngine, *args: Any, **kwargs: Any) -> Any:
            import docker.errors
            import requests

            try:
                return method(self, *args, **kwargs)
            except AimaError:
                raise
            except docker.errors.APIError as exc:
                raise AimaError(f"Docker could not {doing}: {exc.explanation or exc}") from None
            except (docker.errors.DockerException, requests.exceptions.ConnectionError, OSError) as exc:
                raise docker_errors.daemon_unreachable(self.url, exc) from None

        return inner  # type: ignore[return-value]

    return wrap


def create_kwargs(spec: ContainerSpec) -> dict[str, Any]:
    """The docker SDK's containers.create arguments for a spec: labels, GPUs, limits, ports, mounts, command."""
    from docker.types import DeviceRequest, Mount

    kwargs: dict[str, Any] = {
        "image": spec.image, "name": spec.name, "labels": dict(spec.labels), "environment": dict(spec.env),
        "detach": True, "network": spec.network,
        "ports": {f"{p.container_port}/tcp": (p.host_ip, p.host_port) for p in spec.ports},
        "mounts": [Mount(target, source, type="bind", read_only=ro) for source, target, ro in spec.mounts],
    }
    if spec.command:
        kwargs["command"] = list(spec.command)
    if spec.entrypoint is not None:
        kwargs["entrypoint"] = list(spec.entrypoint)
    if spec.gpu:
        # `--gpus device=0,1` in SDK form; no device ids means all GPUs (`--gpus all`).
        request = (DeviceRequest(device_ids=list(spec.devices), capabilities=[["gpu"]]) if spec.devices
                   else DeviceRequest(count=-1, capabilities=[["gpu"]]))
        kwargs["device_requests"] = [request]
    if spec.memory_mib:
        kwargs["mem_limit"] = f"{spec.memory_mib}m"
    if spec.cpus:
        kwargs["nano_cpus"] = int(spec.cpus * 1e9)
    if spec.shm_mib:
        kwargs["shm_size"] = f"{spec.shm_mib}m"
    if spec.pids:
        kwargs["pids_limit"] = spec.pids
    return kwargs


def _selector(labels: Mapping[str, str]) -> list[str]:
    """Docker's label filter: key=value, or only the key where the value is empty (any value)."""
    return [f"{k}={v}" if v else k for k, v in labels.items()]


def _observed(attrs: Mapping[str, Any]) -> Observed:
    state = attrs.get("State") or {}
    bindings = (attrs.get("HostConfig") or {}).get("PortBindings") or {}
    ports = tuple(sorted({int(b["HostPort"]) for items in bindings.values() for b in items or []
                          if str(b.get("HostPort") or "").isdigit()}))
    return Observed(id=attrs["Id"], name=str(attrs.get("Name", "")).lstrip("/"),
                    labels=dict((attrs.get("Config") or {}).get("Labels") or {}),
                    state=state.get("Status", "unknown"), host_ports=ports, exit_code=state.get("ExitCode"),
                    image=str((attrs.get("Config") or {}).get("Image", "")))


class DockerEngine:
    """aima's view of one Docker daemon."""

    def __init__(self, client: Any, url: str) -> None:
        self.client = client
        self.url = url
        self._platform: str | None = None

    @_translating("answer a ping")
    def ping(self) -> None:
        """Raise AimaError when the daemon does not answer."""
        self.client.ping()

    def local(self) -> bool:
        """True when the daemon runs on this machine, so its published ports are this machine's ports."""
        parsed = urlparse(self.url)
        return parsed.scheme in ("unix", "npipe", "") or parsed.hostname in ("localhost", "127.0.0.1", "::1")

    @_translating("report its platform")
    def host_platform(self) -> str:
        """The daemon's platform, e.g. linux/amd64."""
        if self._platform is None:
            info = self.client.info()
            arch = info.get("Architecture", "")
            self._platform = f"{info.get('OSType', 'linux')}/{oci_arch(arch)}"
        return self._platform

    @_translating("inspect an image")
    def image_platform(self, image: str) -> str | None:
        """The platform of a local image, e.g. linux/arm64; None when the image is not here."""
        import docker.errors

        try:
            attrs = self.client.api.inspect_image(image)
        except docker.errors.NotFound:
            return None
        arch = attrs.get("Architecture", "")
        return f"{attrs.get('Os', 'linux')}/{oci_arch(arch)}"

    @_translating("pull an image")
    def pull(self, image: str, on_event: PullEvents) -> None:
        """Pull an image, reporting each streamed status event; AimaError naming the registry on failure."""
        import docker.errors

        try:
            for event in self.client.api.pull(image, stream=True, decode=True):
                if "error" in event:
                    raise docker_errors.pull_error(image, str(event["error"]), self.host_platform())
                on_event(event)
        except docker.errors.APIError as exc:
            raise docker_errors.pull_error(image, str(exc.explanation or exc), self.host_platform()) from None

    @_translating("create a network")
    def ensure_network(self, name: str, labels: Mapping[str, str]) -> bool:
        """Create the stack's bridge network unless it exists; True when it was created."""
        if any(n.name == name for n in self.client.networks.list(names=[name])):
            return False
        self.client.networks.create(name, driver="bridge", labels=dict(labels), check_duplicate=True)
        return True

    @_translating("remove a network")
    def remove_networks(self, labels: Mapping[str, str]) -> list[str]:
        """Remove the networks carrying all these labels; return their names."""
        import docker.errors

        removed = []
        for network in self.client.networks.list(filters={"label": _selector(labels)}):
            try:
                network.remove()
            except docker.errors.NotFound:
                continue
            except docker.errors.APIError as exc:
                if "active endpoints" in str(exc):
                    raise AimaError(f"network {network.name} is still used by containers that are not aima's",
                                    hint=f"see `docker network inspect {network.name}`") from None
                raise
            removed.append(network.name)
        return removed

    @_translating("create a container")
    def create(self, spec: ContainerSpec) -> str:
        """Create (not start) the container of a spec; return its id."""
        import docker.errors

        try:
            return self.client.containers.create(**create_kwargs(spec)).id
        except docker.errors.APIError as exc:
            raise docker_errors.create_error(spec.name, spec.image, str(exc.explanation or exc)) from None

    @_translating("start a container")
    def start(self, container_id: str) -> None:
        """Start a created or stopped container; AimaError with the cause (port taken, no GPU runtime)."""
        import docker.errors

        try:
            self.client.api.start(container_id)
        except docker.errors.APIError as exc:
            name = self._name(container_id)
            raise docker_errors.start_error(name, str(exc.explanation or exc),
                                            self._label(container_id, "aima.engine")) from None

    @_translating("list containers")
    def list(self, labels: Mapping[str, str]) -> list[Observed]:
        """Containers (running or not) carrying all these labels."""
        found = self.client.containers.list(all=True, filters={"label": _selector(labels)}, ignore_removed=True)
        return [_observed(c.attrs) for c in found]

    @_translating("inspect a container")
    def state(self, container_id: str) -> ContainerState:
        """The container's state now ("missing" when it is gone)."""
        import docker.errors

        try:
            state = self.client.api.inspect_container(container_id).get("State") or {}
        except docker.errors.NotFound:
            return ContainerState("missing")
        return ContainerState(state.get("Status", "unknown"), state.get("ExitCode"), state.get("Error") or "",
                              bool(state.get("OOMKilled")), docker_time(state.get("FinishedAt") or ""))

    @_translating("remove a container")
    def remove(self, container_id: str) -> None:
        """Stop (SIGTERM, then SIGKILL after a few seconds) and remove a container; its bind mounts stay untouched."""
        import docker.errors

        try:
            self.client.api.stop(container_id, timeout=_STOP_TIMEOUT_S)
        except docker.errors.NotFound:
            return
        except docker.errors.APIError:
            pass  # not running, or stopping already: removal with force handles it
        try:
            self.client.api.remove_container(container_id, force=True, v=False)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            if "already in progress" not in str(exc):
                raise

    @_translating("read container logs")
    def logs(self, container_id: str, *, follow: bool = False, tail: int | None = None,
             timestamps: bool = False, since: float | None = None) -> Iterator[bytes]:
        """The container's stdout and stderr as chunks; with follow, until it stops or close_logs is called."""
        return self.client.api.logs(container_id, stream=True, follow=follow, tail="all" if tail is None else tail,
                                    timestamps=timestamps, since=since)

    def close_logs(self, stream: Iterator[bytes]) -> None:
        """Stop a following log stream (from another thread)."""
        try:
            stream.close()  # type: ignore[attr-defined]
        except Exception:  # noqa: BLE001 - closing a stream that ended or broke already is fine
            pass

    @_translating("list container processes")
    def top_pids(self, container_id: str) -> list[int]:
        """Host PIDs of the container's processes; [] when it does not run."""
        import docker.errors

        try:
            top = self.client.api.top(container_id)
        except docker.errors.APIError:
            return []
        titles = top.get("Titles") or []
        if "PID" not in titles:
            return []
        column = titles.index("PID")
        return [int(row[column]) for row in top.get("Processes") or [] if str(row[column]).isdigit()]

    def _name(self, container_id: str) -> str:
        try:
            return self.client.api.inspect_container(container_id)["Name"].lstrip("/")
        except Exception:  # noqa: BLE001 - only for a message
            return container_id[:12]

    def _label(self, container_id: str, key: str) -> str | None:
        try:
            return (self.client.api.inspect_container(container_id)["Config"]["Labels"] or {}).get(key)
        except Exception:  # noqa: BLE001 - only for a message
            return None
