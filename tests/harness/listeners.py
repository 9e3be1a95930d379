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


def refused_port() -> int:
    """A loopback TCP port nothing listens on (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
