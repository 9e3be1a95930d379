"""Servers on 127.0.0.1 that are not Docker, for DOCKER_HOST diagnosis tests: silent, HTML, not HTTP, closing.

Each runs in a daemon thread until the context manager exits; ``url`` is what DOCKER_HOST gets.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass

SILENT = "silent"  # accepts, reads, never answers
HTML_404 = "html-404"  # an ordinary web server: 404 with an HTML body on /_ping
NOT_HTTP = "not-http"  # sends an SSH banner
CLOSES = "closes"  # accepts and closes at once
DOCKER_LIKE = "docker-like"  # answers /_ping as the Docker API does (200, Api-Version, "OK")
PING_THEN_STALL = "ping-then-stall"  # answers /_ping and /version as Docker does, then never answers another call

_ANSWERS = {
    HTML_404: (b"HTTP/1.1 404 Not Found\r\nContent-Type: text/html; charset=utf-8\r\nServer: nginx/1.22.1\r\n"
               b"Content-Length: 62\r\nConnection: close\r\n\r\n"
               b"<html><head><title>404 Not Found</title></head><body></body>\n"),
    NOT_HTTP: b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n",
    DOCKER_LIKE: (b"HTTP/1.1 200 OK\r\nApi-Version: 1.43\r\nContent-Type: text/plain; charset=utf-8\r\n"
                  b"Content-Length: 2\r\n\r\nOK"),
}


@dataclass
class Listener:
    """A running server: where it listens, and how many connections it accepted."""

    url: str
    accepted: int = 0


@contextlib.contextmanager
def listening(kind: str, unix_path: str | None = None) -> Iterator[Listener]:
    """Serve ``kind`` on a free loopback TCP port (or a Unix socket at unix_path) until the block ends."""
    if unix_path:
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(unix_path)
        url = f"unix://{unix_path}"
    else:
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        url = f"tcp://127.0.0.1:{server.getsockname()[1]}"
    server.listen(16)
    listener = Listener(url)
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            listener.accepted += 1
            if kind == CLOSES:
                conn.close()
                continue
            if kind == SILENT:
                held.append(conn)  # kept open, never answered
                continue
            if kind == PING_THEN_STALL:
                threading.Thread(target=_ping_then_stall, args=(conn, held), daemon=True).start()
                continue
            threading.Thread(target=_answer, args=(conn, _ANSWERS[kind]), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener
    finally:
        stop.set()
        thread.join(2)
        for conn in held:
            conn.close()
        server.close()
        if unix_path:
            with contextlib.suppress(OSError):
                os.unlink(unix_path)


def _answer(conn: socket.socket, answer: bytes) -> None:
    with conn:
        conn.settimeout(2)
        with contextlib.suppress(OSError):
            if not answer.startswith(b"SSH"):
                conn.recv(4096)  # the request
            conn.sendall(answer)


_VERSION = b'{"ApiVersion":"1.43","MinAPIVersion":"1.12","Version":"24.0.7","Os":"linux","Arch":"amd64"}'


def _ping_then_stall(conn: socket.socket, held: list[socket.socket]) -> None:
    """Answer GET /_ping and GET /version (keep-alive) like dockerd; hold the connection at any other request."""
    buffer = b""
    with contextlib.suppress(OSError):
        while True:
            while b"\r\n\r\n" not in buffer:
                chunk = conn.recv(4096)
                if not chunk:
                    conn.close()
                    return
                buffer += chunk
            head, buffer = buffer.split(b"\r\n\r\n", 1)
            path = head.split(b"\r\n", 1)[0].split(b" ")[1].split(b"?")[0]
            if path.endswith(b"/_ping"):
                body, kind = b"OK", b"text/plain; charset=utf-8"
            elif path.endswith(b"/version"):
                body, kind = _VERSION, b"application/json"
            else:
                held.append(conn)  # the request is read and never answered
                return
            conn.sendall(b"HTTP/1.1 200 OK\r\nApi-Version: 1.43\r\nContent-Type: " + kind
                         + b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


def refused_port() -> int:
    """A loopback TCP port nothing listens on (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
