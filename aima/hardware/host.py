"""Host facts: CPU architecture, cores, RAM, and Jetson (Tegra) markers."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from pathlib import Path

from aima.hardware.model import normalise_arch


@dataclass(frozen=True)
class HostFacts:
    """The host as the kernel reports it."""

    cpu_arch: str
    cpu_cores: int
    ram_mib: int
    ram_available_mib: int | None
    jetson: bool


def read_host(root: Path = Path("/"), machine: str | None = None) -> HostFacts:
    """Read CPU arch, cores and RAM from the kernel; ``root`` lets tests point at a fake /proc and /etc."""
    mem = _meminfo(root / "proc/meminfo")
    return HostFacts(
        cpu_arch=normalise_arch(machine or platform.machine()),
        cpu_cores=os.cpu_count() or 1,
        ram_mib=mem.get("MemTotal", 0) // 1024,
        ram_available_mib=mem["MemAvailable"] // 1024 if "MemAvailable" in mem else None,
        jetson=is_jetson(root),
    )


def is_jetson(root: Path = Path("/")) -> bool:
    """Jetson is Tegra: /etc/nv_tegra_release exists or soc0's family is Tegra (GB10 is SBSA and has neither)."""
    if (root / "etc/nv_tegra_release").exists():
        return True
    try:
        return (root / "sys/devices/soc0/family").read_text().strip().lower() == "tegra"
    except OSError:
        return False


def _meminfo(path: Path) -> dict[str, int]:
    """/proc/meminfo values in KiB."""
    values: dict[str, int] = {}
    try:
        for line in path.read_text().splitlines():
            key, _, rest = line.partition(":")
            parts = rest.split()
            if parts and parts[0].isdigit():
                values[key.strip()] = int(parts[0])
    except OSError:
        pass
    return values
