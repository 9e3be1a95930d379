"""A Unix-socket HTTP server that answers like libpod (Podman's own API) for /_ping and /info, with a given payload.

Rootless Podman cannot run here (CI is root), so its /info is replayed: the shapes below are what libpod 4.x
returns (host.cgroupVersion, host.cgroupControllers, host.security.rootless; libpod/define/info.go), with the
controller lists Podman reports in each setup (containers/common pkg/cgroups getAvailableControllers: rootless v1
-> none; rootless v2 -> the user's user@UID.service cgroup.controllers; systemd's default delegation is
`memory pids`, Podman troubleshooting.md #26). Every other path answers 404 and is recorded.
"""

from __future__ import annotations

import json
import socketserver
import threading
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any


def info_payload(*, rootless: bool, cgroup_version: str, controllers: list[str]) -> dict[str, Any]:
    """A libpod /info document (only the fields aima reads are filled, in libpod's shape)."""
    return {
        "host": {"arch": "amd64", "os": "linux", "cgroupManager": "systemd" if rootless else "cgroupfs",
                 "cgroupVersion": cgroup_version, "cgroupControllers": controllers,
                 "ociRuntime": {"name": "crun"}, "security": {"rootless": rootless}},
        "store": {"graphRoot": "/home/u/.local/share/containers/storage" if rootless else "/var/lib/containers"},
        "version": {"APIVersion": "4.3.1", "Version": "4.3.1"},
    }


# What this machine's Debian podman 4.3.1 reports (rootful, hybrid cgroup v1), from `podman info --format json`.
ROOTFUL_V1 = info_payload(rootless=False, cgroup_version="v1",
                          controllers=["cpuset", "cpu", "cpuacct", "blkio", "memory", "devices", "freezer", "pids"])
ROOTLESS_V1 = info_payload(rootless=True, cgroup_version="v1", controllers=[])
ROOTLESS_V2_DEFAULT = info_payload(rootless=True, cgroup_version="v2", controllers=["memory", "pids"])
ROOTLESS_V2_DELEGATED = info_payload(rootless=True, cgroup_version="v2",
                                     controllers=["cpuset", "cpu", "io", "memory", "pids"])


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    payload: dict[str, Any]
    seen: list[str]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def _answer(self) -> None:
        self.server.seen.append(f"{self.command} {self.path}")
        path = self.path.split("?", 1)[0]
        if path.endswith("/_ping"):
            body, status = b"OK", 200
        elif path.endswith("/info"):
            body, status = json.dumps(self.server.payload).encode(), 200
        elif path.endswith("/containers/json"):
            body, status = b"[]", 200
        else:
            body, status = json.dumps({"cause": "no such thing", "message": "not found", "response": 404}).encode(), 404
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_DELETE = _answer

    def address_string(self) -> str:  # a Unix socket has no client address
        return "unix"

    def log_message(self, *args: Any) -> None:
        pass


class LibpodStub:
    """Serve ``payload`` as libpod's /info on ``socket``; ``url`` for CONTAINER_HOST, ``seen`` the requests."""

    def __init__(self, socket: Path, payload: dict[str, Any]) -> None:
        socket.unlink(missing_ok=True)  # a stub before this one left its socket file
        self.server = _Server(str(socket), _Handler)
        self.server.payload = payload
        self.server.seen = []
        self.url = f"unix://{socket}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def seen(self) -> list[str]:
        """Every request as 'METHOD PATH'."""
        return self.server.seen

    def __enter__(self) -> LibpodStub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
