"""Host facts: CPU architecture, cores, RAM, and Jetson (Tegra) markers."""

from __future__ import annotations

import os
import platform
import re
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
    l4t_release: str | None = None  # Jetson Linux release, e.g. "36.4" (from /etc/nv_tegra_release)


def read_host(root: Path = Path("/"), machine: str | None = None) -> HostFacts:
    """Read CPU arch, cores and RAM from the kernel; ``root`` lets tests point at a fake /proc and /etc."""
    mem = _meminfo(root / "proc/meminfo")
    return HostFacts(
        cpu_arch=normalise_arch(machine or platform.machine()),
        cpu_cores=os.cpu_count() or 1,
        ram_mib=mem.get("MemTotal", 0) // 1024,
        ram_available_mib=mem["MemAvailable"] // 1024 if "MemAvailable" in mem else None,
        jetson=is_jetson(root),
        l4t_release=l4t_release(root),
    )


_TEGRA_RELEASE = re.compile(r"#\s*R(\d+)\s*\(release\),\s*REVISION:\s*([\d.]+)")


def l4t_release(root: Path = Path("/")) -> str | None:
    """The Jetson Linux release from /etc/nv_tegra_release: '# R36 (release), REVISION: 4.0, ...' -> '36.4'.

    The file's first line is how NVIDIA's own tools name the release (Jetson Linux Developer Guide, "Quick
    Start": `cat /etc/nv_tegra_release`; jetson_stats reads the same line). None when absent or unreadable.
    """
    try:
        first = (root / "etc/nv_tegra_release").read_text(errors="replace").splitlines()[0]
    except (OSError, IndexError):
        return None
    m = _TEGRA_RELEASE.match(first.strip())
    if not m:
        return None
    revision = m.group(2).strip(".")
    if revision.endswith(".0"):
        revision = revision[:-2]
    return f"{m.group(1)}.{revision}"


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
