"""Where a container engine listens, checked in seconds before the first API call, and what was found there in words.

``parse`` reads a DOCKER_HOST / CONTAINER_HOST value and names the part that is wrong; ``check`` connects once and
sends ``GET /_ping`` (the Docker Engine API's liveness call, which Podman serves too) under one deadline, and tells
apart: no socket file, nothing listening (connection refused), silence (accepted but no answer within the timeout),
an answer that is not HTTP, an HTTP server that is not Docker (its status and the start of its body), and Docker.
Plain sockets only: no library is imported, so the check costs one round trip.
"""

from __future__ import annotations

import errno
import math
import os
import socket
import stat
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlparse

from aima.engine.model import DaemonUnreachable
from aima.errors import AimaError

CONNECT_TIMEOUT_S = 5.0  # connect + GET /_ping together; AIMA_CONNECT_TIMEOUT overrides it
TIMEOUT_ENV = "AIMA_CONNECT_TIMEOUT"
CALL_TIMEOUT_S = 60.0  # every later call (list, create, logs, ...): the docker SDK's own default, stated
CALL_TIMEOUT_ENV = "AIMA_ENGINE_TIMEOUT"
SCHEMES = ("unix", "tcp", "http", "https", "ssh", "npipe")
_USE = "unix:///PATH, tcp://HOST:PORT or ssh://[USER@]HOST"
_HEAD_LIMIT = 16384


@dataclass(frozen=True)
class Address:
    """A parsed engine address: ``scheme`` is unix, tcp, ssh or npipe (http/https are tcp; https means TLS)."""

    url: str
    scheme: str
    host: str = ""
    port: int = 0
    path: str = ""
    tls: bool = False


def connect_timeout(environ: Mapping[str, str]) -> float:
    """Seconds one connection attempt may take: AIMA_CONNECT_TIMEOUT when set (a number above 0), else 5."""
    return _seconds(environ, TIMEOUT_ENV, CONNECT_TIMEOUT_S)


def call_timeout(environ: Mapping[str, str]) -> float:
    """Seconds one engine call may wait for an answer: AIMA_ENGINE_TIMEOUT when set, else 60."""
    return _seconds(environ, CALL_TIMEOUT_ENV, CALL_TIMEOUT_S)


def _seconds(environ: Mapping[str, str], variable: str, default: float) -> float:
    raw = (environ.get(variable) or "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0 < value <= 3600):
        raise AimaError(f"{variable}={raw!r}: not a number of seconds between 0 and 3600",
                        hint=f"unset it (default {default:g} s) or give seconds, e.g. {variable}=15",
                        exit_code=2)
    return value


def parse(url: str, variable: str = "DOCKER_HOST", tls: bool = False) -> Address:
    """The address in ``url`` (Docker's DOCKER_HOST grammar); AimaError naming the part that is wrong."""
    text = url.strip()

    def bad(why: str) -> AimaError:
        return AimaError(f"{variable}={url!r} is not an address aima can connect to: {why}",
                         hint=f"use {_USE}, or unset {variable}", exit_code=2)

    if not text:
        raise bad("it is empty")
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise bad("it holds a control character")
    if "://" not in text:
        if text.startswith("/"):
            raise bad(f"a path without a scheme (a socket is unix://{text})")
        text = "tcp://" + text  # Docker reads a bare HOST:PORT as tcp://HOST:PORT
    scheme = text.split("://", 1)[0].lower()
    if scheme not in SCHEMES:
        raise bad(f"unknown scheme {scheme!r} (known: {', '.join(SCHEMES)})")
    try:
        parsed = urlparse(text)
        port = parsed.port
    except ValueError as exc:  # a port that is not a number or out of range, a bad IPv6 literal
        raise bad(f"bad host or port ({exc})") from None
    if parsed.query or parsed.fragment or parsed.params:
        raise bad("a query or fragment (?…, #…) has no place in an engine address")
    if scheme == "unix":
        # unix://path is read as unix:///path (Docker's legacy form); unix:// alone is Docker's default socket.
        path = (f"/{parsed.netloc}{parsed.path}" if parsed.netloc else parsed.path) or "/var/run/docker.sock"
        return Address(url, "unix", path=path)
    if scheme == "npipe":
        return Address(url, "npipe", path=parsed.path)
    if not parsed.hostname:
        raise bad("no host name")
    if parsed.password is not None:
        raise bad("a password in the address (use SSH keys or TLS certificates)")
    if scheme == "ssh":
        if parsed.path not in ("", "/"):
            raise bad(f"a path ({parsed.path}) after an ssh:// host")
        return Address(url, "ssh", host=parsed.hostname, port=port or 22)
    if parsed.path not in ("", "/"):
        raise bad(f"a path ({parsed.path}) after the host: a tcp:// address is HOST:PORT only")
    if not port:
        raise bad("no port (Docker listens on 2375, or 2376 with TLS)")
    return Address(url, "tcp", host=parsed.hostname, port=port, tls=tls or scheme == "https")


def check(address: Address, timeout_s: float, engine: str = "Docker") -> None:
    """Connect and GET /_ping within timeout_s; DaemonUnreachable (or AimaError) saying what was found instead.

    ssh:// and npipe:// are left to the SDK; a TLS address gets the connect check only.
    """
    if address.scheme in ("ssh", "npipe"):
        return
    deadline = time.monotonic() + timeout_s
    where = f"cannot connect to {engine} at {address.url}"
    sock = _connect(address, timeout_s, where, engine)
    with sock:
        if address.tls:
            return
        try:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            sock.sendall(b"GET /_ping HTTP/1.1\r\nHost: docker\r\nUser-Agent: aima\r\nConnection: close\r\n\r\n")
        except OSError as exc:
            raise DaemonUnreachable(f"{where}: the connection broke when aima sent GET /_ping "
                                    f"({_os_reason(exc)})", hint=_hint(address, engine)) from None
        head, silent = _read_answer(sock, deadline)
    if not head:
        if silent:
            raise DaemonUnreachable(
                f"{where}: something accepted the connection but did not answer GET /_ping within {timeout_s:g} s",
                hint=f"a hung {engine} or a server that is not {engine}: check what listens there "
                     f"({_who_listens(address)}); {TIMEOUT_ENV}=SECONDS waits longer")
        raise DaemonUnreachable(f"{where}: something accepted the connection and closed it without answering "
                                f"GET /_ping, so it is not the {engine} API", hint=_hint(address, engine))
    problem = not_the_api(head)
    if problem:
        raise DaemonUnreachable(f"{address.url} answers, but it is not {engine}: {problem}",
                                hint=f"point {'CONTAINER_HOST' if engine == 'Podman' else 'DOCKER_HOST'} at the "
                                     f"{engine} API's socket or port ({_who_listens(address)} shows what listens "
                                     "there)")


def not_the_api(answer: bytes) -> str | None:
    """None when ``answer`` is Docker's reply to GET /_ping (200 with API-Version or body OK); else what it is."""
    if not answer.startswith(b"HTTP/"):
        return f"it answered GET /_ping with something that is not HTTP: {_shown(answer[:80])}"
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status_line = lines[0]
    parts = status_line.split(" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    if status == 200 and ("api-version" in headers or body.strip() == b"OK"):
        return None
    kind = headers.get("content-type", "no content type").split(";")[0]
    server = f", Server: {_printable(headers['server'])}" if headers.get("server") else ""
    text = " ".join(body.decode("utf-8", "replace").split())[:80]
    return f"GET /_ping → {_printable(status_line)} ({_printable(kind)}{server}{', ' + _shown(text) if text else ''})"


def _connect(address: Address, timeout_s: float, where: str, engine: str) -> socket.socket:
    if address.scheme == "unix":
        return _connect_unix(address, timeout_s, where, engine)
    try:
        return socket.create_connection((address.host, address.port), timeout=timeout_s)
    except socket.gaierror as exc:
        raise DaemonUnreachable(f"{where}: host name {address.host!r} does not resolve ({exc.strerror})",
                                hint="check the host name in the address") from None
    except TimeoutError:
        raise DaemonUnreachable(f"{where}: no answer to the connection attempt within {timeout_s:g} s (a host that "
                                "is down, or a firewall dropping it)", hint=_hint(address, engine)) from None
    except ConnectionRefusedError:
        raise DaemonUnreachable(f"{where}: nothing listens on {address.host}:{address.port} (connection refused) "
                                f"— is {engine} running?", hint=_hint(address, engine)) from None
    except OSError as exc:
        raise DaemonUnreachable(f"{where}: {_os_reason(exc)}", hint=_hint(address, engine)) from None


def _connect_unix(address: Address, timeout_s: float, where: str, engine: str) -> socket.socket:
    path = address.path
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise DaemonUnreachable(f"{where}: there is no socket {path} (no such file) — is {engine} running?",
                                hint=_hint(address, engine)) from None
    except OSError as exc:
        raise DaemonUnreachable(f"{where}: cannot look at {path} ({_os_reason(exc)})",
                                hint=_hint(address, engine)) from None
    if not stat.S_ISSOCK(mode):
        kind = "a directory" if stat.S_ISDIR(mode) else "a regular file" if stat.S_ISREG(mode) else "not a socket"
        raise DaemonUnreachable(f"{where}: {path} is {kind}, not a socket", hint=_hint(address, engine))
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout_s)
    try:
        sock.connect(path)
    except ConnectionRefusedError:
        sock.close()
        raise DaemonUnreachable(f"{where}: nothing listens on {path} (connection refused: a socket file left "
                                f"behind) — is {engine} running?", hint=_hint(address, engine)) from None
    except PermissionError:
        sock.close()
        raise _permission(address, engine) from None
    except TimeoutError:
        sock.close()
        raise DaemonUnreachable(f"{where}: the socket did not accept the connection within {timeout_s:g} s "
                                f"(a {engine} that hangs)", hint=_hint(address, engine)) from None
    except OSError as exc:
        sock.close()
        raise DaemonUnreachable(f"{where}: {_os_reason(exc)}", hint=_hint(address, engine)) from None
    return sock


def _read_answer(sock: socket.socket, deadline: float) -> tuple[bytes, bool]:
    """What the server sent until it closed, its headers were in, or the deadline passed (then silent is True)."""
    data = b""
    while len(data) < _HEAD_LIMIT:
        left = deadline - time.monotonic()
        if left <= 0:
            return data, True
        sock.settimeout(left)
        try:
            chunk = sock.recv(4096)
        except TimeoutError:
            return data, True
        except OSError:  # reset by the peer: what it sent (maybe nothing) is the answer
            return data, False
        if not chunk:
            return data, False
        data += chunk
        head, sep, body = data.partition(b"\r\n\r\n")
        if sep and len(body) >= min(_content_length(head), 512):
            return data, False
        if not data.startswith(b"HTTP/"[: len(data)]):  # not HTTP: the first bytes say enough
            return data, False
    return data, False


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and value.strip().isdigit():
            return int(value.strip())
    return 0


def _permission(address: Address, engine: str) -> AimaError:
    if engine == "Podman":
        return AimaError(f"permission denied on the Podman socket at {address.url}",
                         hint="use your own rootless socket (unset CONTAINER_HOST), or run as root")
    return AimaError(f"permission denied on the Docker socket at {address.url}",
                     hint="add yourself to the docker group (`sudo usermod -aG docker $USER`, then log in again) "
                          "or run as root")


def _hint(address: Address, engine: str) -> str:
    if engine == "Podman":
        return ("start its API service (`systemctl --user start podman.socket`, or as root `systemctl start "
                "podman.socket`; or `podman system service --time=0 &`), or point CONTAINER_HOST at it")
    return "start it (`sudo systemctl start docker`) or point DOCKER_HOST at a running daemon"


def _who_listens(address: Address) -> str:
    return f"`ss -lxp | grep {address.path}`" if address.scheme == "unix" else f"`ss -ltnp 'sport = :{address.port}'`"


def _os_reason(exc: OSError) -> str:
    if exc.errno:
        return f"{os.strerror(exc.errno)} ({errno.errorcode.get(exc.errno, exc.errno)})"
    return str(exc) or type(exc).__name__


def _printable(text: str) -> str:
    """Text from an unknown server with every control character written as \\xNN."""
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)


def _shown(raw: bytes | str) -> str:
    """Bytes from an unknown server as one printable line in quotes."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    return '"' + _printable(text) + '"'
