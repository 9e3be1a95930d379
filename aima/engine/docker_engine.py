"""The ContainerEngine Protocol on the docker SDK: the only module of aima that imports ``docker``.

Every Docker, requests or socket error leaves this module as an AimaError: DaemonUnreachable when the daemon does
not answer (at connect or in the middle of any call, doctor's included), ContainerRefused with Docker's own words
when it refuses a container, a translated pull error naming the registry.
"""

from __future__ import annotations

import builtins
import functools
import math
import os
from collections.abc import Callable, Collection, Iterator, Mapping
from typing import Any, TypeVar
from urllib.parse import urlparse

from aima.engine import errors
from aima.engine import labels as L
from aima.engine.cdi import cdi_covers, cdi_names
from aima.engine.model import (
    BuildLog,
    BuildOutput,
    Container,
    ContainerSpec,
    EngineInfo,
    ImageInfo,
    PortBinding,
    PullEvents,
    RunResult,
    docker_time,
)
from aima.errors import AimaError

DEFAULT_URL = "unix:///var/run/docker.sock"
_STOP_TIMEOUT_S = 5  # engines get SIGTERM and this long to exit before SIGKILL
F = TypeVar("F", bound=Callable[..., Any])


def docker_url(environ: Mapping[str, str] | None = None) -> str:
    """Where docker.from_env will connect: DOCKER_HOST, else the default socket."""
    env = os.environ if environ is None else environ
    return env.get("DOCKER_HOST") or DEFAULT_URL


def is_local(url: str) -> bool:
    """True for a daemon on this machine (a Unix socket or loopback TCP), so its published ports are ours."""
    parsed = urlparse(url)
    return parsed.scheme in ("unix", "npipe", "") or parsed.hostname in ("localhost", "127.0.0.1", "::1")


def connect(environ: Mapping[str, str] | None = None, timeout: float | None = None) -> DockerEngine:
    """A DockerEngine for DOCKER_HOST (docker.from_env semantics); AimaError saying what answers there instead.

    The address is parsed and pinged first (aima.engine.address) within AIMA_CONNECT_TIMEOUT (5 s) or ``timeout``
    when shorter, so a silent server or one that is not Docker is named in seconds; the SDK then negotiates the API
    version under the same short timeout and keeps ``timeout`` (default AIMA_ENGINE_TIMEOUT, 60 s) for every later
    call; a call that gets no answer in that time is an error saying which call and how long it waited.
    """
    import docker

    from aima.engine import address

    env = dict(os.environ if environ is None else environ)
    url = docker_url(env)
    if timeout is None:
        timeout = address.call_timeout(env)
    quick = min(address.connect_timeout(env), timeout)
    tls = bool(env.get("DOCKER_TLS_VERIFY") or env.get("DOCKER_CERT_PATH"))
    address.check(address.parse(url, "DOCKER_HOST", tls=tls), quick, "Docker")
    try:
        client = docker.from_env(environment=env, timeout=math.ceil(quick))  # the SDK takes whole seconds
    except Exception as exc:  # DockerException, requests' ConnectionError/ReadTimeout, PermissionError
        raise errors.daemon_unreachable(url, exc, timeout_s=quick) from None
    client.api.timeout = math.ceil(timeout)
    return DockerEngine(client, url, math.ceil(timeout))


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
            except (docker.errors.DockerException, requests.exceptions.RequestException, OSError) as exc:
                if errors.timed_out(exc):
                    raise errors.daemon_stalled(self.url, doing, self.timeout) from None
                raise errors.daemon_unreachable(self.url, exc) from None

        return inner  # type: ignore[return-value]

    return wrap


def create_kwargs(spec: ContainerSpec, cdi: bool = False) -> dict[str, Any]:
    """The docker SDK's containers.create arguments for a spec: labels, GPUs, limits, ports, mounts, command.

    cdi: the daemon takes CDI names and this host's NVIDIA CDI spec names every GPU asked for: the GPUs go as
    one device request with driver "cdi" (what `docker run --device nvidia.com/gpu=0` sends on Docker 25+),
    else as `--gpus` device requests served by the NVIDIA runtime hook."""
    from docker.types import DeviceRequest, Mount

    kwargs: dict[str, Any] = {
        "image": spec.image, "labels": dict(spec.labels), "environment": dict(spec.env), "detach": True,
        "ports": {f"{p.container_port}/tcp": (p.host_ip, p.host_port or None) for p in spec.ports},
        "mounts": [Mount(target, source, type="bind", read_only=ro) for source, target, ro in spec.mounts],
    }
    if spec.name:
        kwargs["name"] = spec.name
    if spec.network:
        kwargs["network"] = spec.network
    if spec.command:
        kwargs["command"] = list(spec.command)
    if spec.entrypoint is not None:
        kwargs["entrypoint"] = list(spec.entrypoint)
    if spec.gpu and cdi:
        kwargs["device_requests"] = [DeviceRequest(driver="cdi", device_ids=cdi_names(spec))]
    elif spec.gpu:
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


def container_from(attrs: Mapping[str, Any]) -> Container:
    """A Container from Docker's inspect (or listing) JSON."""
    state = attrs.get("State") or {}
    config = attrs.get("Config") or {}
    published = (attrs.get("NetworkSettings") or {}).get("Ports") or {}
    if not any(published.values()):
        published = (attrs.get("HostConfig") or {}).get("PortBindings") or {}  # a stopped container's intent
    ports = []
    for key, bindings in published.items():
        for binding in bindings or ():
            host_port = str(binding.get("HostPort") or "")
            if host_port.isdigit():
                ports.append(PortBinding(binding.get("HostIp") or "0.0.0.0", int(host_port),
                                           int(str(key).split("/")[0])))
    return Container(
        id=attrs.get("Id", ""), name=str(attrs.get("Name") or "").lstrip("/"), labels=dict(config.get("Labels") or {}),
        state=str(state.get("Status") or "unknown"), exit_code=state.get("ExitCode"),
        image=str(config.get("Image") or ""), oom_killed=bool(state.get("OOMKilled")),
        error=str(state.get("Error") or ""), health=(state.get("Health") or {}).get("Status"),
        ports=tuple(sorted(set(ports), key=lambda p: (p.container_port, p.host_ip))),
        finished_at=docker_time(str(state.get("FinishedAt") or "")), pid=int(state.get("Pid") or 0) or None,
    )


def _image_info(ref: str, attrs: Mapping[str, Any]) -> ImageInfo:
    return ImageInfo(ref=ref, id=str(attrs.get("Id") or ""), os=str(attrs.get("Os") or ""),
                     architecture=str(attrs.get("Architecture") or ""), variant=str(attrs.get("Variant") or ""),
                     env=tuple((attrs.get("Config") or {}).get("Env") or ()), size_bytes=int(attrs.get("Size") or 0))


class DockerEngine:
    """aima's view of one Docker daemon."""

    name = "docker"

    def __init__(self, client: Any, url: str, timeout: float = 60) -> None:
        self.client = client
        self.url = url
        self.timeout = timeout  # seconds each call may wait for an answer (the SDK's read timeout)
        self._info: EngineInfo | None = None

    @_translating("answer a ping")
    def ping(self) -> None:
        """Raise AimaError when the daemon does not answer."""
        self.client.ping()

    def local(self) -> bool:
        """True when the daemon runs on this machine, so its published ports are this machine's ports."""
        return is_local(self.url)

    def takes_cdi(self, spec: ContainerSpec) -> bool:
        """GPUs by CDI name: the daemon has CDI enabled (its info lists CDISpecDirs, Docker 25+), it runs here, and
        the NVIDIA CDI spec in those folders names every GPU of the spec (else `--gpus` as before)."""
        return bool(spec.gpu) and self.local() and cdi_covers(spec, self.info().cdi_spec_dirs)

    @_translating("report its version")
    def info(self) -> EngineInfo:
        """`docker info` and `docker version`, read once."""
        if self._info is None:
            info = self.client.info()
            version = self.client.version()
            self._info = EngineInfo(
                name="docker", server_version=str(version.get("Version") or info.get("ServerVersion") or "?"),
                api_version=str(version.get("ApiVersion") or "?"), os_type=str(info.get("OSType") or "linux"),
                architecture=str(info.get("Architecture") or ""), root_dir=str(info.get("DockerRootDir") or ""),
                runtimes=tuple(sorted((info.get("Runtimes") or {}).keys())),
                default_runtime=str(info.get("DefaultRuntime") or "runc"),
                cdi_spec_dirs=tuple(info.get("CDISpecDirs") or ()),
                rootless=any("rootless" in str(o) for o in info.get("SecurityOptions") or ()),
                cpus=int(info.get("NCPU") or 0), memory_mib=int(info.get("MemTotal") or 0) // 2**20,
                daemon_id=str(info.get("ID") or ""),
            )
        return self._info

    @_translating("inspect an image")
    def image(self, ref: str) -> ImageInfo | None:
        """A local image by reference, or None when it is not here."""
        import docker.errors

        try:
            return _image_info(ref, self.client.api.inspect_image(ref))
        except docker.errors.NotFound:
            return None

    @_translating("ask a registry about an image")
    def obtainable(self, ref: str) -> str | None:
        """None when the registry knows the image (the daemon asks for its manifest, pulls nothing), else why not."""
        import docker.errors

        try:
            self.client.api.inspect_distribution(ref)
        except docker.errors.APIError as exc:
            return str(errors.pull_error(ref, str(exc.explanation or exc), self.info().platform))
        return None

    @_translating("list images")
    def images(self) -> list[ImageInfo]:
        """Every local image."""
        return [_image_info(i.id, i.attrs) for i in self.client.images.list()]

    @_translating("pull an image")
    def pull(self, image: str, on_event: PullEvents) -> None:
        """Pull an image, reporting each streamed status event; AimaError naming the registry on failure."""
        import docker.errors

        try:
            for event in self.client.api.pull(image, stream=True, decode=True):
                if "error" in event:
                    raise errors.pull_error(image, str(event["error"]), self.info().platform)
                on_event(event)
        except docker.errors.APIError as exc:
            raise errors.pull_error(image, str(exc.explanation or exc), self.info().platform) from None

    @_translating("inspect an image")
    def image_labels(self, image: str) -> tuple[str, dict[str, str]] | None:
        """(image id, labels) of a local image; None when it is not here."""
        import docker.errors

        try:
            attrs = self.client.api.inspect_image(image)
        except docker.errors.NotFound:
            return None
        return attrs["Id"], dict((attrs.get("Config") or {}).get("Labels") or {})

    @_translating("build an image")
    def build(self, context: bytes, tag: str, args: Mapping[str, str], labels: Mapping[str, str],
              on_line: BuildLog) -> BuildOutput:
        """Build an image from a tar context through the API, streaming every log line; a failed step is data."""
        import io

        import docker.errors

        out = _BuildStream(on_line)
        try:
            stream = self.client.api.build(fileobj=io.BytesIO(context), custom_context=True, tag=tag,
                                           buildargs=dict(args), labels=dict(labels), rm=True, forcerm=True,
                                           decode=True)
            for event in stream:
                out.event(event)
        except docker.errors.APIError as exc:
            out.fail(str(exc.explanation or exc))
        return out.result()

    @_translating("tag an image")
    def tag(self, image_id: str, reference: str) -> None:
        """Point a reference (repository:tag) at a local image."""
        name = reference.split("@", 1)[0]
        repo, _, tag = name.rpartition(":") if ":" in name.rsplit("/", 1)[-1] else (name, "", "latest")
        self.client.api.tag(image_id, repo, tag or "latest", force=True)

    @_translating("remove an image")
    def remove_image(self, reference: str) -> None:
        """Remove a local image reference (and the image when nothing else refers to it)."""
        import docker.errors

        try:
            self.client.api.remove_image(reference)
        except docker.errors.NotFound:
            pass

    @_translating("create a network")
    def ensure_network(self, name: str, labels: Mapping[str, str]) -> str:
        """Create the stack's bridge network unless it exists; its id when this call created it, else ''."""
        if any(n.name == name for n in self.client.networks.list(names=[name])):
            return ""
        return str(self.client.networks.create(name, driver="bridge", labels=dict(labels), check_duplicate=True).id)

    @_translating("remove a network")
    def remove_networks(self, labels: Mapping[str, str], ids: Collection[str] | None = None) -> list[str]:
        """Remove the networks carrying all these labels (only those whose id is in ``ids``, when given)."""
        import docker.errors

        removed = []
        for network in self.client.networks.list(filters={"label": _selector(labels)}):
            if ids is not None and not L.proven(ids, network.id, network.attrs.get("Labels")):
                continue
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
            return self.client.containers.create(**create_kwargs(spec, cdi=self.takes_cdi(spec))).id
        except docker.errors.APIError as exc:
            raise errors.create_error(spec.name or spec.engine, spec.image, str(exc.explanation or exc)) from None

    @_translating("start a container")
    def start(self, container_id: str) -> None:
        """Start a created or stopped container; ContainerRefused with the cause (port taken, no GPU runtime)."""
        import docker.errors

        try:
            self.client.api.start(container_id)
        except docker.errors.APIError as exc:
            found = self._inspect_quietly(container_id)
            name = found.name if found and found.name else container_id[:12]
            raise errors.start_error(name, str(exc.explanation or exc), found.engine if found else None) from None

    @_translating("list containers")
    def list(self, labels: Mapping[str, str]) -> list[Container]:
        """Containers (running or not) carrying all these labels."""
        found = self.client.containers.list(all=True, filters={"label": _selector(labels)}, ignore_removed=True)
        return [container_from(c.attrs) for c in found]

    @_translating("inspect a container")
    def inspect(self, container_id: str) -> Container | None:
        """The container now; None when it is gone."""
        import docker.errors

        try:
            return container_from(self.client.api.inspect_container(container_id))
        except docker.errors.NotFound:
            return None

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
    def top_pids(self, container_id: str) -> builtins.list[int]:
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

    @_translating("run a container")
    def run(self, spec: ContainerSpec, timeout_s: float) -> RunResult:
        """Create, start and wait up to timeout_s for a short-lived container; it is removed whatever happens."""
        import docker.errors
        import requests

        try:
            container_id = self.client.containers.create(**create_kwargs(spec)).id
        except docker.errors.APIError as exc:
            return RunResult(str(exc.explanation or exc), None, "")
        try:
            try:
                self.client.api.start(container_id)
            except docker.errors.APIError as exc:
                return RunResult(str(exc.explanation or exc), None, "")
            try:
                status = self.client.api.wait(container_id, timeout=timeout_s)
            except requests.exceptions.ReadTimeout:  # the command hangs
                return RunResult(None, None, self._output(container_id), timed_out=True)
            return RunResult(None, int(status.get("StatusCode", -1)), self._output(container_id))
        finally:
            self._remove_quietly(container_id)

    def export_files(self, image_id: str) -> Iterator[bytes]:
        """The image's files as a tar stream (`docker create` + `docker export`); the container is removed after."""
        import docker.errors

        # An entrypoint is needed to create a container of an image that has none (FROM scratch); it never runs.
        try:
            container_id = self.client.api.create_container(
                image_id, entrypoint=["/aima-inspect-never-started"], network_disabled=True,
                labels={L.LABEL_INSPECT: image_id})["Id"]
        except docker.errors.APIError as exc:
            raise AimaError(f"could not create a stopped container of {image_id[:19]} to read its files: "
                            f"{exc.explanation or exc}") from None
        except Exception as exc:  # noqa: BLE001 - requests/socket: the daemon went away
            raise errors.daemon_unreachable(self.url, exc) from None
        return self._exported(container_id)

    def _exported(self, container_id: str) -> Iterator[bytes]:
        import docker.errors

        try:
            yield from self.client.api.export(container_id, chunk_size=2 * 1024 * 1024)
        except docker.errors.APIError as exc:
            raise AimaError(f"could not export the files of container {container_id[:12]}: "
                            f"{exc.explanation or exc}") from None
        except (docker.errors.DockerException, OSError) as exc:
            raise errors.daemon_unreachable(self.url, exc) from None
        finally:
            self._remove_quietly(container_id)

    def close(self) -> None:
        """Close the HTTP session."""
        self.client.close()

    def _output(self, container_id: str) -> str:
        raw = self.client.api.logs(container_id, stdout=True, stderr=True)
        return raw.decode("utf-8", errors="replace")

    def _remove_quietly(self, container_id: str) -> None:
        import docker.errors

        try:
            self.client.api.remove_container(container_id, force=True)
        except docker.errors.APIError:
            pass  # already gone; nothing of ours is left
        except Exception:  # noqa: BLE001 - the daemon went away; the caller's error says so
            pass

    def _inspect_quietly(self, container_id: str) -> Container | None:
        try:
            return container_from(self.client.api.inspect_container(container_id))
        except Exception:  # noqa: BLE001 - only for a message
            return None


class _BuildStream:
    """Turns the build API's JSON events into log lines, the current step and the outcome."""

    def __init__(self, on_line: BuildLog) -> None:
        import re

        self.on_line = on_line
        self.partial = ""
        self.step = ""
        self.step_lines: list[str] = []
        self.image_id: str | None = None
        self.error: str | None = None
        self._step = re.compile(r"^Step \d+/\d+ : ")

    def event(self, event: Mapping[str, Any]) -> None:
        if "stream" in event:
            text = self.partial + str(event["stream"])
            *lines, self.partial = text.split("\n")
            for line in lines:
                self._line(line.rstrip("\r"))
        aux = event.get("aux")
        if isinstance(aux, dict) and aux.get("ID"):
            self.image_id = str(aux["ID"])
        if "error" in event or "errorDetail" in event:
            detail = event.get("errorDetail") or {}
            self.fail(str(event.get("error") or detail.get("message") or "the build failed"))

    def _line(self, line: str) -> None:
        if self._step.match(line):
            self.step, self.step_lines = line, []
        elif line.strip() and not line.startswith(" ---> "):
            self.step_lines = (self.step_lines + [line])[-200:]
        self.on_line(line)

    def fail(self, message: str) -> None:
        if self.partial:
            self._line(self.partial)
            self.partial = ""
        self.error = self.error or message.strip()

    def result(self) -> BuildOutput:
        if self.partial:
            self._line(self.partial)
        if self.error is None and self.image_id is None:
            self.error = "the build ended without an image"
        return BuildOutput(self.image_id if self.error is None else None, self.error, self.step,
                           tuple(self.step_lines))
