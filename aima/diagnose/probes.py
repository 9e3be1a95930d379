"""Small host probes for doctor: how much disk is free, how big a model is, which NVIDIA devices the kernel sees.

Ports and HTTP health are checked with the launcher's own probes (aima.launch.reach), so doctor and `up` agree.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

_NVIDIA_VENDOR = "0x10de"
_GPU_CLASSES = ("0x0300", "0x0302")  # VGA controller, 3D controller (data-centre GPUs)


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
