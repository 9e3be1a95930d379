"""Small host probes for doctor: can a port be bound, how much disk is free, does an HTTP endpoint answer."""

from __future__ import annotations

import errno
import os
import shutil
import socket
from pathlib import Path

_NVIDIA_VENDOR = "0x10de"
_GPU_CLASSES = ("0x0300", "0x0302")  # VGA controller, 3D controller (data-centre GPUs)


def port_error(host_ip: str, port: int) -> str | None:
    """None when host_ip:port can be bound now, else why not (e.g. 'address already in use')."""
    family = socket.AF_INET6 if ":" in host_ip else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        # docker-proxy sets SO_REUSEADDR too, so a socket in TIME_WAIT is no conflict for it either.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host_ip, port))
    except OSError as exc:
        return os.strerror(exc.errno) if exc.errno else str(exc)
    finally:
        sock.close()
    return None


def port_in_use(reason: str | None) -> bool:
    """True when port_error's answer means another socket holds the port."""
    return reason is not None and reason == os.strerror(errno.EADDRINUSE)


def existing_parent(path: str) -> Path:
    """The path itself or its nearest ancestor that exists and can be looked at (Docker's root is root-only)."""
    current = Path(path).expanduser()
    while True:
        try:
            os.statvfs(current)
            return current
        except OSError:
            if current.parent == current:
                return current
            current = current.parent


def disk_free(path: str) -> tuple[str, int] | None:
    """(the folder measured, free bytes) for the filesystem holding path; None when nothing can be measured."""
    where = existing_parent(path)
    try:
        return str(where), shutil.disk_usage(where).free
    except OSError:
        return None


def path_size(path: str) -> int | None:
    """Bytes in a file, or in every file under a folder; None when the path does not exist."""
    target = Path(path).expanduser()
    try:
        if target.is_file():
            return target.stat().st_size
        if target.is_dir():
            return sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
    except OSError:
        return None
    return None


def http_get(url: str, timeout_s: float) -> tuple[int, str]:
    """GET url with a short timeout: (status, first 200 characters of the body); OSError when nothing answers."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=timeout_s)
    try:
        conn.request("GET", parts.path or "/")
        response = conn.getresponse()
        return response.status, response.read(200).decode("utf-8", errors="replace")
    except http.client.HTTPException as exc:
        raise OSError(f"bad HTTP answer: {type(exc).__name__}") from None
    finally:
        conn.close()


def nvidia_pci_devices(root: Path = Path("/")) -> list[str]:
    """PCI addresses of NVIDIA display/3D controllers the kernel sees, with or without a driver."""
    found = []
    for device in sorted((root / "sys/bus/pci/devices").glob("*")):
        try:
            vendor = (device / "vendor").read_text().strip()
            klass = (device / "class").read_text().strip()
        except OSError:
            continue
        if vendor == _NVIDIA_VENDOR and klass[:6] in _GPU_CLASSES:
            found.append(device.name)
    return found
