"""The engine's errors turned into AimaErrors that say what happened and what to do (compose's 'is it running?')."""

from __future__ import annotations

import re

from aima.engine.model import ContainerRefused, DaemonUnreachable
from aima.errors import AimaError

_UNREACHABLE = re.compile(r"connection refused|no such host|i/o timeout|no route to host|network is unreachable|"
                          r"TLS handshake timeout|context deadline exceeded|connection reset", re.IGNORECASE)
_NOT_FOUND = re.compile(r"manifest unknown|not found|repository does not exist|name unknown|No such image",
                        re.IGNORECASE)
_PLATFORM = re.compile(r"no matching manifest for (?P<platform>\S+)", re.IGNORECASE)
_AUTH = re.compile(r"unauthorized|authentication required|denied", re.IGNORECASE)
_PORT = re.compile(r"port is already allocated|address already in use", re.IGNORECASE)
_NO_SPACE = re.compile(r"no space left on device|disk quota exceeded", re.IGNORECASE)
_BIND_SOURCE = re.compile(r"bind source path does not exist: (?P<path>\S+)", re.IGNORECASE)


def daemon_unreachable(url: str, exc: BaseException, engine: str = "Docker", timeout_s: float | None = None
                       ) -> AimaError:
    """The daemon did not answer at url: name it, what the library saw, and how to fix it."""
    text = str(exc)
    if engine == "Podman":
        return DaemonUnreachable(f"cannot connect to Podman at {url} — is its API service running?{_cause(exc)}",
                                 hint="start it (`systemctl --user start podman.socket`, or as root "
                                      "`systemctl start podman.socket`; or `podman system service --time=0 &`)")
    if "paramiko" in text:  # the SDK speaks ssh:// only through paramiko, which aima does not install
        return AimaError(f"DOCKER_HOST={url}: an ssh:// address needs the paramiko package, which is not installed",
                         hint="`pip install paramiko` beside aima, or forward the socket: `ssh -nNT -L "
                              "/tmp/docker.sock:/var/run/docker.sock HOST` and DOCKER_HOST=unix:///tmp/docker.sock",
                         exit_code=2)
    if "Permission denied" in text or "PermissionError" in text:
        return AimaError(f"permission denied on the Docker socket at {url}",
                         hint="add yourself to the docker group (`sudo usermod -aG docker $USER`, then log in again) "
                              "or run as root")
    if _TIMED_OUT.search(f"{type(exc).__name__} {text}"):
        waited = f" within {timeout_s:g} s" if timeout_s else ""
        return DaemonUnreachable(f"cannot connect to Docker at {url}: it did not answer{waited} ({_short(text, 160)})",
                                 hint="a hung daemon, or a server that is not Docker; AIMA_CONNECT_TIMEOUT=SECONDS "
                                      "waits longer")
    return DaemonUnreachable(f"cannot connect to Docker at {url} — is it running?{_cause(exc)}",
                             hint="start it (`sudo systemctl start docker`) or point DOCKER_HOST at a running daemon")


def daemon_stalled(url: str, doing: str, timeout_s: float, engine: str = "Docker") -> AimaError:
    """The daemon answered its ping, then did not answer a call within the per-call timeout."""
    return DaemonUnreachable(f"{engine} at {url} answered its ping, then did not {doing} within {timeout_s:g} s",
                             hint=f"a hung or overloaded daemon (check `systemctl status {engine.lower()}`); "
                                  "AIMA_ENGINE_TIMEOUT=SECONDS waits longer per call")


def timed_out(exc: BaseException) -> bool:
    """True when a library error is a read/connect timeout."""
    return bool(_TIMED_OUT.search(f"{type(exc).__name__} {exc}"))


_TIMED_OUT = re.compile(r"ReadTimeout|timed out|ConnectTimeout", re.IGNORECASE)


def _cause(exc: BaseException) -> str:
    """' (what the library said)' for the message, '' when it said nothing."""
    text = _short(str(exc), 160)
    return f" ({text})" if text else ""


def registry_of(image: str) -> str:
    """The registry host an image reference pulls from (Docker Hub when none is named)."""
    first = image.split("/", 1)[0]
    if "/" in image and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


def pull_error(image: str, text: str, host_platform: str, engine: str = "Docker") -> AimaError:
    """A failed pull (from the API error or the stream's error event) as a user-facing error; engine names the
    engine (Docker or Podman) in the message and its command in the hint."""
    registry = registry_of(image)
    cli = engine.lower()
    platform = _PLATFORM.search(text)
    if platform:
        return AimaError(f"image {image} has no build for {platform.group('platform')} (this {engine} host is "
                         f"{host_platform})", hint="choose a candidate that lists this platform; `aima plan` "
                                                   "shows the platforms of every candidate")
    if _NO_SPACE.search(text):
        return AimaError(f"cannot pull {image}: the {engine} host ran out of disk space ({_short(text)})",
                         hint=f"free space where {engine} keeps its data (`{cli} system df` shows it; "
                              f"`{cli} image prune` removes unused images), then `aima up` again")
    if _UNREACHABLE.search(text):
        return AimaError(f"cannot pull {image}: registry {registry} is not reachable ({_short(text)})",
                         hint=f"check the network or the registry, or load the image with `{cli} load` first")
    if _AUTH.search(text) and "repository does not exist" not in text:
        return AimaError(f"cannot pull {image}: registry {registry} refused access ({_short(text)})",
                         hint=f"log in with `{cli} login {registry}`, or check the image name")
    if _NOT_FOUND.search(text):
        return AimaError(f"image {image} is not on this machine and registry {registry} does not have it "
                         f"({_short(text)})", hint="check the image reference in the catalogue, or build/tag it "
                                                   "locally (`aima images` lists the references)")
    return AimaError(f"cannot pull {image}: {_short(text)}")


def create_error(name: str, image: str, text: str) -> ContainerRefused:
    """A failed container create as a user-facing error that keeps the engine's words."""
    error = _create_error(name, image, text)
    return ContainerRefused(error.message, text, error.hint)


def _create_error(name: str, image: str, text: str) -> AimaError:
    source = _BIND_SOURCE.search(text)
    if source:
        return AimaError(f"cannot create {name}: the model folder {source.group('path')} does not exist",
                         hint="put the model files there (`aima plan` names the model), or set models_dir for this "
                              "engine in the stack file")
    if "No such image" in text:
        return AimaError(f"cannot create {name}: image {image} is not on this machine")
    if "Conflict" in text or "already in use" in text:
        return AimaError(f"cannot create {name}: a container of that name exists and is not aima's",
                         hint=f"remove or rename it (`docker rm -f {name}`); aima only touches containers it labelled")
    return AimaError(f"cannot create {name}: {_short(text)}")


def start_error(name: str, text: str, engine: str | None = None) -> ContainerRefused:
    """A failed container start as a user-facing error, with the knowledge base's diagnosis when it knows the line."""
    error = _start_error(name, text, engine)
    return ContainerRefused(error.message, text, error.hint)


def _start_error(name: str, text: str, engine: str | None = None) -> AimaError:
    # "Bind for ADDR failed: port is already allocated" when a container holds it; "listen tcp4 ADDR: bind: address
    # already in use" when another process does (docker-proxy could not bind it).
    port = re.search(r"(?:Bind for |listen tcp[46]? )(?P<addr>\S+:\d+)(?=:|\s|$)", text)
    if _PORT.search(text):
        where = port.group("addr") if port else "its host port"
        return AimaError(f"cannot start {name}: {where} is already in use",
                         hint="stop what holds it (`ss -ltnp`, `docker ps`) or give this engine another port in the "
                              "stack file")
    from aima.knowledge import load_knowledge

    found = load_knowledge().match_line(text, engine if engine in ("asr", "llm", "tts") else None)
    if found is not None:
        return AimaError(f"cannot start {name}: {found.title}: {found.meaning}", hint=found.remedy)
    return AimaError(f"cannot start {name}: {_short(text)}")


def _short(text: str, limit: int = 300) -> str:
    one = " ".join(str(text).split())
    return one if len(one) <= limit else one[: limit - 1] + "…"
