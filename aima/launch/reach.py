"""Can an engine be reached: the one HTTP probe and the one port check that up, status and doctor share."""

from __future__ import annotations

import errno
import os
import socket
from dataclasses import dataclass


@dataclass(frozen=True)
class ProbeResult:
    """One health probe: did it pass, and what was seen (for the timeout message); status None: no HTTP answer."""

    ok: bool
    seen: str
    status: int | None = None
    body: str = ""


class HttpProbe:
    """GET the engine's health endpoint; a 2xx answer means ready. One connection pool for repeated polls."""

    def __init__(self, url: str, timeout_s: float = 1.0) -> None:
        import httpx

        self.url = url
        # trust_env=False: an HTTP(S)_PROXY meant for the internet must not swallow a probe of 127.0.0.1.
        self._client = httpx.Client(timeout=timeout_s, trust_env=False)

    def __call__(self) -> ProbeResult:
        """Probe once."""
        import httpx

        try:
            response = self._client.get(self.url)
        except httpx.HTTPError as exc:
            return ProbeResult(False, f"{type(exc).__name__} from {self.url}", None, _reason(exc))
        body = " ".join(response.text.split())[:200]
        return ProbeResult(200 <= response.status_code < 300, f"HTTP {response.status_code} {body[:160]}".strip(),
                           response.status_code, body)

    def close(self) -> None:
        """Release the connection pool."""
        self._client.close()


def http_probe(url: str, timeout_s: float) -> ProbeResult:
    """Probe a health URL once (status and doctor): what HttpProbe sees, with the connection closed after."""
    probe = HttpProbe(url, timeout_s)
    try:
        return probe()
    finally:
        probe.close()


def _reason(exc: BaseException) -> str:
    """The innermost cause of an HTTP client error in words ('[Errno 111] Connection refused'), else its type."""
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return str(exc) or type(exc).__name__


def port_error(host_ip: str, port: int) -> str | None:
    """None when host_ip:port can be bound now, else why not (e.g. 'Address already in use')."""
    family = socket.AF_INET6 if ":" in host_ip else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        # docker-proxy sets SO_REUSEADDR too, so a socket in TIME_WAIT is no conflict for it either.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host_ip or "0.0.0.0", port))
        except OSError as exc:
            return os.strerror(exc.errno) if exc.errno else str(exc)
    return None


def port_in_use(reason: str | None) -> bool:
    """True when port_error's answer means another socket holds the port."""
    return reason is not None and reason == os.strerror(errno.EADDRINUSE)
