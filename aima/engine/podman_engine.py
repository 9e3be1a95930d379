"""The ContainerEngine Protocol on Podman's own REST API (libpod), over httpx on its Unix socket.

Why libpod and not Podman's Docker-compatible socket: on Debian 12's Podman 4.3.1 the compatible API accepts a GPU
device request and silently drops it, and rejects CDI names; libpod takes CDI names (``nvidia.com/gpu=0``) as
devices. Why httpx and not the ``podman`` bindings: httpx is already aima's HTTP client, the calls aima needs are a
dozen plain JSON requests, and the bindings' newest releases target Podman 5 and translate Docker-style arguments of
their own, which would have to be checked call by call against 4.3.1 — one dependency fewer, nothing hidden.
Every error leaves this module as an AimaError, as in the Docker adapter.
"""

from __future__ import annotations

import builtins
import dataclasses
import json
import os
import struct
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote, urlparse

from aima.engine import errors
from aima.engine import labels as L
from aima.engine.cdi import cdi_names
from aima.engine.docker_engine import container_from
from aima.engine.model import (
    BuildLog,
    BuildOutput,
    Container,
    ContainerSpec,
    EngineInfo,
    ImageInfo,
    PullEvents,
    RunResult,
)
from aima.errors import AimaError

API = "/v4.0.0/libpod"
ROOTFUL_SOCKET = "/run/podman/podman.sock"
_STOP_TIMEOUT_S = 5
_STATES = {"configured": "created", "stopped": "exited", "initialized": "created"}


def rootless_socket(environ: Mapping[str, str] | None = None) -> str:
    """Where a user's rootless Podman listens: $XDG_RUNTIME_DIR/podman/podman.sock."""
    env = os.environ if environ is None else environ
    runtime = env.get("XDG_RUNTIME_DIR") or f"/run/user/{os.getuid()}"
    return f"{runtime}/podman/podman.sock"


cdi_devices = cdi_names  # Podman takes GPUs as CDI names, never as device requests


def create_body(spec: ContainerSpec) -> dict[str, Any]:
    """libpod's SpecGenerator for a spec: labels, CDI GPUs, limits, ports, mounts, command."""
    body: dict[str, Any] = {
        "image": spec.image, "labels": dict(spec.labels), "env": dict(spec.env),
        "portmappings": [{"host_ip": p.host_ip, "host_port": p.host_port, "container_port": p.container_port,
                          "protocol": "tcp"} for p in spec.ports],
        "mounts": [{"destination": target, "source": source, "type": "bind",
                    "options": ["rbind", "ro" if ro else "rw"]} for source, target, ro in spec.mounts],
        "devices": [{"path": name} for name in cdi_devices(spec)],
    }
    if spec.name:
        body["name"] = spec.name
    if spec.network == "none":
        body["netns"] = {"nsmode": "none"}
    elif spec.network:
        body["netns"] = {"nsmode": "bridge"}
        body["networks"] = {spec.network: {}}
    if spec.command:
        body["command"] = list(spec.command)
    if spec.entrypoint is not None:
        body["entrypoint"] = list(spec.entrypoint)
    limits: dict[str, Any] = {}
    if spec.memory_mib:
        limits["memory"] = {"limit": spec.memory_mib * 2**20}
    if spec.cpus:
        limits["cpu"] = {"quota": int(spec.cpus * 100_000), "period": 100_000}
    if spec.pids:
        limits["pids"] = {"limit": spec.pids}
    if limits:
        body["resource_limits"] = limits
    if spec.shm_mib:
        body["shm_size"] = spec.shm_mib * 2**20
    return body


def connect(url: str, timeout: float = 60) -> PodmanEngine:
    """A PodmanEngine on a unix:// socket; AimaError when nothing answers there."""
    engine = PodmanEngine(url, timeout)
    engine.ping()
    return engine


class _LogStream:
    """A following log stream that another thread can close."""

    def __init__(self, chunks: Iterator[bytes], response: Any) -> None:
        self._chunks, self._response = chunks, response

    def __iter__(self) -> Iterator[bytes]:
        return self._chunks

    def __next__(self) -> bytes:
        return next(self._chunks)

    def close(self) -> None:
        self._response.close()


class PodmanEngine:
    """aima's view of one Podman service (rootful or rootless), through libpod."""

    name = "podman"

    def __init__(self, url: str, timeout: float = 60) -> None:
        import httpx

        self.url = url
        path = urlparse(url).path if url.startswith("unix://") else url
        self._socket = path
        self._timeout = timeout
        self._http = httpx.Client(transport=httpx.HTTPTransport(uds=path), base_url="http://podman" + API,
                                  timeout=httpx.Timeout(timeout, connect=min(timeout, 5)), trust_env=False)
        self._info: EngineInfo | None = None

    # --- plumbing ---------------------------------------------------------------------------------------------
    def _call(self, method: str, path: str, doing: str, ok: tuple[int, ...] = (200, 201, 204, 304), **kw: Any) -> Any:
        import httpx

        try:
            response = self._http.request(method, path, **kw)
        except httpx.TimeoutException:  # it answered the ping at connect, then went quiet
            raise errors.daemon_stalled(self.url, doing, self._timeout, "Podman") from None
        except httpx.TransportError as exc:
            raise errors.daemon_unreachable(self.url, exc, "Podman") from None
        if response.status_code in ok:
            return response
        raise _APIError(response.status_code, _message(response), doing)

    def _json(self, method: str, path: str, doing: str, **kw: Any) -> Any:
        return self._call(method, path, doing, **kw).json()

    # --- the Protocol -----------------------------------------------------------------------------------------
    def ping(self) -> None:
        """Raise DaemonUnreachable when the service does not answer."""
        self._call("GET", "/_ping", "answer a ping")

    def local(self) -> bool:
        """A Unix socket: always this machine."""
        return True

    def info(self) -> EngineInfo:
        """`podman info`, read once."""
        if self._info is None:
            info = self._json("GET", "/info", "report its version")
            host, store, version = info.get("host") or {}, info.get("store") or {}, info.get("version") or {}
            runtime = (host.get("ociRuntime") or {}).get("name") or "runc"
            self._info = EngineInfo(
                name="podman", server_version=str(version.get("Version") or "?"),
                api_version=str(version.get("APIVersion") or "?"), os_type=str(host.get("os") or "linux"),
                architecture=str(host.get("arch") or ""), root_dir=str(store.get("graphRoot") or ""),
                runtimes=(runtime,), default_runtime=runtime, cdi_spec_dirs=("/etc/cdi", "/var/run/cdi"),
                rootless=bool((host.get("security") or {}).get("rootless")),
                cgroup_version=str(host.get("cgroupVersion") or ""),
                cgroup_controllers=(tuple(str(c) for c in host["cgroupControllers"] or ())
                                    if "cgroupControllers" in host else None),
                # Podman has no daemon ID; its container store (host + graph root) is what the same socket, another
                # path to it or a proxy all reach, so ownership records stay valid whichever way aima connects.
                daemon_id=f"podman:{host.get('hostname') or ''}:{store.get('graphRoot') or ''}",
            )
        return self._info

    def qualified(self, ref: str) -> str:
        """A full reference for Podman, which does not assume Docker Hub: a local localhost/ image, else docker.io."""
        first = ref.split("/", 1)[0]
        if ("/" in ref and ("." in first or ":" in first or first == "localhost")) or ref.startswith("sha256:"):
            return ref
        local = f"localhost/{ref}"
        found = self._call("GET", f"/images/{quote(local, safe='')}/exists", "look up an image", ok=(204, 404))
        if found.status_code == 204:
            return local
        return f"docker.io/{ref}" if "/" in ref else f"docker.io/library/{ref}"

    def image(self, ref: str) -> ImageInfo | None:
        """A local image by reference, or None when it is not here."""
        try:
            attrs = self._json("GET", f"/images/{quote(self.qualified(ref), safe='')}/json", "inspect an image")
        except _APIError as exc:
            if exc.status == 404:
                return None
            raise exc.translated() from None
        return ImageInfo(ref=ref, id=_sha(attrs.get("Id")), os=str(attrs.get("Os") or ""),
                         architecture=str(attrs.get("Architecture") or ""), variant=str(attrs.get("Variant") or ""),
                         env=tuple((attrs.get("Config") or {}).get("Env") or ()),
                         size_bytes=int(attrs.get("Size") or 0))

    def images(self) -> builtins.list[ImageInfo]:
        """Every local image."""
        found = self._guard(lambda: self._json("GET", "/images/json", "list images"))
        return [ImageInfo(ref=_sha(i.get("Id")), id=_sha(i.get("Id")), os="linux", architecture="", variant="",
                          env=(), size_bytes=int(i.get("Size") or 0)) for i in found]

    def pull(self, image: str, on_event: PullEvents) -> None:
        """Pull an image; Podman streams one JSON object per line (stream / images / error)."""
        import httpx

        try:
            params = {"reference": self.qualified(image), "quiet": "false"}
            with self._http.stream("POST", "/images/pull", params=params,
                                   timeout=httpx.Timeout(None, connect=5)) as response:
                if response.status_code != 200:
                    response.read()
                    raise errors.pull_error(image, _message(response), self.info().platform, "Podman")
                for line in response.iter_lines():
                    if not line.strip():
                        continue
                    event = json.loads(line)
                    if event.get("error"):
                        raise errors.pull_error(image, str(event["error"]), self.info().platform, "Podman")
                    if event.get("stream"):
                        on_event({"status": str(event["stream"]).strip(), "id": image})
        except httpx.TransportError as exc:
            raise errors.daemon_unreachable(self.url, exc, "Podman") from None

    def ensure_network(self, name: str, labels: Mapping[str, str]) -> str:
        """Create the stack's bridge network unless it exists; its id when this call created it, else ''."""
        exists = self._call("GET", f"/networks/{quote(name, safe='')}/exists", "look up a network", ok=(204, 404))
        if exists.status_code == 204:
            return ""
        created = self._guard(lambda: self._call("POST", "/networks/create", "create a network",
                                                 json={"name": name, "driver": "bridge", "labels": dict(labels)}))
        try:
            body = created.json()
        except ValueError:
            body = {}
        return str(body.get("id") or body.get("Id") or name)

    def obtainable(self, ref: str) -> str | None:
        """None when the registry may have the image, else why not: aima asks the registry for the manifest itself.

        Podman 4.3.1's API has no manifest-only lookup (the compatible /distribution endpoint answers 404), so the
        question goes to the registry from this machine, which is where a local Podman pulls from. Only definite
        answers count (nothing listens there, the name does not resolve, the registry has no such manifest): a
        login or TLS setting only Podman knows (its auth.json, registries.conf) is left to the pull itself.
        """
        from aima.registry.client import RegistryClient, RegistryRefused, RegistryUnreachable
        from aima.registry.reference import parse_reference

        full = self.qualified(ref)
        try:
            wanted = parse_reference(full)
        except ValueError:
            return None  # the pull names what is wrong with the reference
        try:
            with RegistryClient(timeout=10) as registry:
                registry.manifest(wanted)
        except RegistryUnreachable as exc:
            why = errors.pull_error(ref, str(exc), self.info().platform, "Podman")
            return str(why) if "is not reachable" in why.message else None
        except RegistryRefused as exc:
            if f"registry {wanted.registry} has no " not in exc.message:
                return None
            return str(errors.pull_error(ref, f"manifest unknown: {exc.message}", self.info().platform, "Podman"))
        return None

    def remove_networks(self, labels: Mapping[str, str], ids=None) -> builtins.list[str]:
        """Remove the networks carrying all these labels (only those whose id is in ``ids``); return their names."""
        found = self._guard(lambda: self._json("GET", "/networks/json", "list networks",
                                               params={"filters": json.dumps({"label": _selector(labels)})}))
        removed = []
        for network in found:
            name = network.get("name") or network.get("Name")
            if ids is not None and not any(L.proven(ids, key, network.get("labels") or network.get("Labels"))
                                           for key in (network.get("id") or network.get("Id") or "", name)):
                continue
            try:
                self._call("DELETE", f"/networks/{quote(name, safe='')}", "remove a network")
            except _APIError as exc:
                if exc.status == 404:
                    continue
                if "in use" in exc.message or "containers" in exc.message:
                    raise AimaError(f"network {name} is still used by containers that are not aima's",
                                    hint=f"see `podman network inspect {name}`") from None
                raise exc.translated() from None
            removed.append(name)
        return removed

    def create(self, spec: ContainerSpec) -> str:
        """Create (not start) the container of a spec; return its id."""
        try:
            body = {**create_body(spec), "image": self.qualified(spec.image)}
            return str(self._json("POST", "/containers/create", "create a container", json=body)["Id"])
        except _APIError as exc:
            text = exc.message
            if exc.status == 409 or "already in use" in text:
                text = f'Conflict. The container name "/{spec.name}" is already in use ({exc.message})'
            elif exc.status == 404 and "image" in text:
                text = f"No such image: {spec.image} ({exc.message})"
            raise errors.create_error(spec.name or spec.engine, spec.image, text) from None

    def start(self, container_id: str) -> None:
        """Start a created or stopped container; ContainerRefused with the cause."""
        try:
            self._call("POST", f"/containers/{container_id}/start", "start a container")
        except _APIError as exc:
            found = self._inspect_quietly(container_id)
            name = found.name if found and found.name else container_id[:12]
            raise errors.start_error(name, exc.message, found.engine if found else None) from None

    def list(self, labels: Mapping[str, str]) -> builtins.list[Container]:
        """Containers (running or not) carrying all these labels."""
        found = self._guard(lambda: self._json("GET", "/containers/json", "list containers", params={
            "all": "true", "filters": json.dumps({"label": _selector(labels)})}))
        out = []
        for item in found:
            c = self.inspect(str(item["Id"]))
            if c is not None:
                out.append(c)
        return out

    def inspect(self, container_id: str) -> Container | None:
        """The container now; None when it is gone."""
        try:
            attrs = self._json("GET", f"/containers/{container_id}/json", "inspect a container")
        except _APIError as exc:
            if exc.status == 404:
                return None
            raise exc.translated() from None
        c = container_from(attrs)
        return dataclasses.replace(c, state=_STATES.get(c.state, c.state), health=c.health or None,
                                   image=str(attrs.get("ImageName") or c.image))  # the full name Podman resolved

    def remove(self, container_id: str) -> None:
        """Stop (SIGTERM, then SIGKILL after a few seconds) and remove a container; gone already is fine."""
        try:
            self._call("POST", f"/containers/{container_id}/stop", "stop a container", ok=(204, 304, 404),
                       params={"timeout": _STOP_TIMEOUT_S}, timeout=_STOP_TIMEOUT_S + self._timeout)
            self._call("DELETE", f"/containers/{container_id}", "remove a container", ok=(200, 204, 404),
                       params={"force": "true", "v": "false"})
        except _APIError as exc:
            raise exc.translated() from None

    def logs(self, container_id: str, *, follow: bool = False, tail: int | None = None,
             timestamps: bool = False, since: float | None = None) -> Iterator[bytes]:
        """The container's stdout and stderr as chunks (Podman frames them as Docker does)."""
        import httpx

        params: dict[str, Any] = {"stdout": "true", "stderr": "true", "follow": str(follow).lower(),
                                  "timestamps": str(timestamps).lower()}
        if tail is not None:
            params["tail"] = str(tail)
        if since is not None:
            params["since"] = f"{since:.9f}"
        request = self._http.build_request("GET", f"/containers/{container_id}/logs", params=params,
                                           timeout=httpx.Timeout(None, connect=5))
        try:
            response = self._http.send(request, stream=True)
        except httpx.TransportError as exc:
            raise errors.daemon_unreachable(self.url, exc, "Podman") from None
        if response.status_code != 200:
            response.read()
            response.close()
            if tail == 0 or response.status_code == 404:
                return iter(())
            raise _APIError(response.status_code, _message(response), "read container logs").translated()
        return _LogStream(_demux(response, tail == 0), response)

    def close_logs(self, stream: Iterator[bytes]) -> None:
        """Stop a following log stream (from another thread)."""
        try:
            stream.close()  # type: ignore[attr-defined]
        except Exception:  # noqa: BLE001 - closing a stream that ended or broke already is fine
            pass

    def top_pids(self, container_id: str) -> builtins.list[int]:
        """Host PIDs of the container's processes; [] when it does not run."""
        try:
            top = self._json("GET", f"/containers/{container_id}/top", "list container processes",
                             params={"ps_args": "hpid"})  # host PIDs, as NVML reports them
        except (_APIError, ValueError):  # not running: Podman answers with an error, sometimes not as JSON
            return []
        titles = top.get("Titles") or []
        if "HPID" not in titles:
            return []
        column = titles.index("HPID")
        return [int(row[column]) for row in top.get("Processes") or [] if str(row[column]).strip().isdigit()]

    def run(self, spec: ContainerSpec, timeout_s: float) -> RunResult:
        """Create, start and wait up to timeout_s for a short-lived container; it is removed whatever happens."""
        import httpx

        try:
            container_id = self.create(spec)
        except AimaError as exc:
            return RunResult(getattr(exc, "text", str(exc)), None, "")
        try:
            try:
                self.start(container_id)
            except AimaError as exc:
                return RunResult(getattr(exc, "text", str(exc)), None, "")
            try:
                code = self._call("POST", f"/containers/{container_id}/wait", "wait for a container",
                                  params={"condition": "stopped"}, timeout=timeout_s).json()
            except httpx.TimeoutException:
                return RunResult(None, None, self._output(container_id), timed_out=True)
            return RunResult(None, int(code), self._output(container_id))
        finally:
            self._remove_quietly(container_id)

    def export_files(self, image_id: str) -> Iterator[bytes]:
        """The image's files as a tar stream, through a created-never-started container removed afterwards."""
        spec = ContainerSpec(name="", engine="inspect", image=image_id, labels={L.LABEL_INSPECT: image_id}, env={},
                             command=(), entrypoint=("/aima-inspect-never-started",), ports=(), mounts=(),
                             devices=(), gpu=False, network="none")
        container_id = self.create(spec)
        return self._exported(container_id)

    def image_labels(self, image: str) -> tuple[str, dict[str, str]] | None:
        """(image id, labels) of a local image; None when it is not here."""
        try:
            attrs = self._json("GET", f"/images/{quote(self.qualified(image), safe='')}/json", "inspect an image")
        except _APIError as exc:
            if exc.status == 404:
                return None
            raise exc.translated() from None
        return _sha(attrs.get("Id")), dict((attrs.get("Config") or {}).get("Labels") or {})

    def build(self, context: bytes, tag: str, args: Mapping[str, str], labels: Mapping[str, str],
              on_line: BuildLog) -> BuildOutput:
        """Build through Podman's Docker-compatible build endpoint (no GPU is involved in a build)."""
        import httpx

        from aima.engine.docker_engine import _BuildStream

        out = _BuildStream(on_line)
        params = {"t": tag, "buildargs": json.dumps(dict(args)), "labels": json.dumps(dict(labels)), "rm": "1",
                  "forcerm": "1"}
        try:
            with self._http.stream("POST", "http://podman/v1.41/build", params=params, content=context,
                                   headers={"Content-Type": "application/x-tar"},
                                   timeout=httpx.Timeout(None, connect=5)) as response:
                if response.status_code != 200:
                    response.read()
                    out.fail(_message(response))
                    return out.result()
                for line in response.iter_lines():
                    if line.strip():
                        out.event(json.loads(line))
        except httpx.TransportError as exc:
            raise errors.daemon_unreachable(self.url, exc, "Podman") from None
        return out.result()

    def tag(self, image_id: str, reference: str) -> None:
        """Point a reference (repository:tag) at a local image."""
        name = reference.split("@", 1)[0]
        repo, _, tag = name.rpartition(":") if ":" in name.rsplit("/", 1)[-1] else (name, "", "latest")
        self._guard(lambda: self._call("POST", f"/images/{quote(image_id, safe='')}/tag", "tag an image",
                                       params={"repo": repo, "tag": tag or "latest"}))

    def remove_image(self, reference: str) -> None:
        """Remove a local image reference (and the image when nothing else refers to it)."""
        self._guard(lambda: self._call("DELETE", f"/images/{quote(self.qualified(reference), safe='')}",
                                       "remove an image", ok=(200, 404)))

    def close(self) -> None:
        """Close the HTTP connections."""
        self._http.close()

    # --- helpers ----------------------------------------------------------------------------------------------
    def _exported(self, container_id: str) -> Iterator[bytes]:
        import httpx

        try:
            with self._http.stream("GET", f"/containers/{container_id}/export",
                                   timeout=httpx.Timeout(None, connect=5)) as response:
                if response.status_code != 200:
                    response.read()
                    raise AimaError(f"could not export the files of container {container_id[:12]}: "
                                    f"{_message(response)}")
                yield from response.iter_bytes(2 * 1024 * 1024)
        except httpx.TransportError as exc:
            raise errors.daemon_unreachable(self.url, exc, "Podman") from None
        finally:
            self._remove_quietly(container_id)

    def _output(self, container_id: str) -> str:
        return b"".join(self.logs(container_id)).decode("utf-8", errors="replace")

    def _remove_quietly(self, container_id: str) -> None:
        try:
            self._call("DELETE", f"/containers/{container_id}", "remove a container", ok=(200, 204, 404),
                       params={"force": "true"})
        except Exception:  # noqa: BLE001 - gone already, or the service went away; the caller's error says so
            pass

    def _inspect_quietly(self, container_id: str) -> Container | None:
        try:
            return self.inspect(container_id)
        except Exception:  # noqa: BLE001 - only for a message
            return None

    def _guard(self, call: Any) -> Any:
        try:
            return call()
        except _APIError as exc:
            raise exc.translated() from None


class _APIError(Exception):
    """A libpod answer that is not a success: its status and message."""

    def __init__(self, status: int, message: str, doing: str) -> None:
        super().__init__(message)
        self.status, self.message, self.doing = status, message, doing

    def translated(self) -> AimaError:
        return AimaError(f"Podman could not {self.doing}: {self.message}")


def _message(response: Any) -> str:
    try:
        body = response.json()
        return str(body.get("message") or body.get("cause") or body)
    except Exception:  # noqa: BLE001 - not JSON: the text itself
        return response.text.strip()[:300] or f"HTTP {response.status_code}"


def _selector(labels: Mapping[str, str]) -> builtins.list[str]:
    return [f"{k}={v}" if v else k for k, v in labels.items()]


def _sha(image_id: Any) -> str:
    text = str(image_id or "")
    return text if text.startswith("sha256:") or not text else f"sha256:{text}"


def _demux(response: Any, empty: bool) -> Iterator[bytes]:
    """Docker-style multiplexed frames (8-byte header: stream, 0, 0, 0, big-endian size) -> payloads."""
    if empty:
        response.close()
        return
    buffer = b""
    try:
        for chunk in response.iter_raw():
            buffer += chunk
            while len(buffer) >= 8:
                size = struct.unpack(">I", buffer[4:8])[0]
                if buffer[0] not in (0, 1, 2) or buffer[1:4] != b"\0\0\0":
                    yield buffer  # not framed (a TTY container): plain bytes
                    buffer = b""
                    break
                if len(buffer) < 8 + size:
                    break
                yield buffer[8:8 + size]
                buffer = buffer[8 + size:]
    except Exception:  # noqa: BLE001 - closed from another thread, or the service went away mid-stream
        return
    finally:
        response.close()
    if buffer:
        yield buffer
