"""Host facts: CPU architecture, cores, instruction-set extensions, RAM, and Jetson (Tegra) markers."""

from __future__ import annotations

import os
import platform
import re
from dataclasses import dataclass
from pathlib import Path

from aima.hardware.model import normalise_arch

# The /proc/cpuinfo flags that decide whether a compiled engine runs here: the SIMD extensions that
# ggml, CTranslate2 and PyTorch CPU kernels are built for (x86 "flags", arm64 "Features"). A binary built
# for one of these dies with SIGILL (exit code 132) on a CPU without it.
CPU_FEATURES = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx_vnni", "avx512f", "avx512bw", "avx512vl",
                "avx512_vnni", "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16",
                "asimd", "asimdhp", "asimddp", "i8mm", "bf16", "sve", "sve2")


@dataclass(frozen=True)
class HostFacts:
    """The host as the kernel reports it."""

    cpu_arch: str
    cpu_cores: int
    ram_mib: int
    ram_available_mib: int | None
    jetson: bool
    l4t_release: str | None = None  # Jetson Linux release, e.g. "36.4" (from /etc/nv_tegra_release)
    cpu_features: tuple[str, ...] | None = None  # None: /proc/cpuinfo could not be read


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
        cpu_features=read_cpu_features(root),
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


def read_cpu_features(root: Path = Path("/")) -> tuple[str, ...] | None:
    """The CPU_FEATURES the first processor in /proc/cpuinfo lists (x86 ``flags``, arm64 ``Features``)."""
    try:
        text = (root / "proc/cpuinfo").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() in ("flags", "features"):
            present = set(value.split())
            return tuple(f for f in CPU_FEATURES if f in present)
    return None


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
