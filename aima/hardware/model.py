"""The hardware model: plain frozen data that detect produces and profiles describe."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

CPU_ARCHES = ("x86_64", "aarch64")
_CC = re.compile(r"^(\d{1,2})\.(\d)$")
_CUDA = re.compile(r"^(\d{1,2})\.(\d{1,2})$")


def parse_capability(text: str) -> tuple[int, int]:
    """'8.6' -> (8, 6); raises ValueError for anything else."""
    m = _CC.match(text.strip())
    if not m:
        raise ValueError(f"compute capability must look like 8.6, got {text!r}")
    return int(m.group(1)), int(m.group(2))


def parse_cuda_version(text: str) -> tuple[int, int]:
    """'12.4' -> (12, 4); raises ValueError for anything else."""
    m = _CUDA.match(text.strip())
    if not m:
        raise ValueError(f"CUDA version must look like 12.4, got {text!r}")
    return int(m.group(1)), int(m.group(2))


def cuda_version_from_nvml(value: int) -> str:
    """NVML's integer (1000*major + 10*minor, e.g. 12040) -> '12.4' (nvml.h NVML_CUDA_DRIVER_VERSION_MAJOR/MINOR)."""
    return f"{value // 1000}.{(value % 1000) // 10}"


@dataclass(frozen=True)
class Gpu:
    """One GPU as NVML reports it."""

    index: int
    name: str
    compute_capability: str  # "X.Y"
    memory_mib: int | None  # total; None where NVML cannot say (GB10's unified memory)
    unified_memory: bool = False  # shares one pool with the CPU (GB10, Jetson)
    memory_free_mib: int | None = None
    uuid: str | None = None
    pci_bus_id: str | None = None
    mig_enabled: bool | None = None  # None: the GPU has no MIG mode
    brand: str | None = None  # NVML brand in NVIDIA_REQUIRE_CUDA spelling: geforce, tesla, nvidia, ...
    architecture: str | None = None  # NVML architecture name: pascal, ampere, blackwell, ...

    @property
    def capability(self) -> tuple[int, int]:
        """The compute capability as (major, minor)."""
        return parse_capability(self.compute_capability)


@dataclass(frozen=True)
class Hardware:
    """A whole machine: its GPUs, driver and host, as detect sees it or a profile describes it."""

    gpus: tuple[Gpu, ...]
    driver_version: str | None  # "580.65.06"; None without NVML
    cuda_driver_version: str | None  # "13.0": the newest CUDA the driver supports
    cpu_arch: str  # x86_64 | aarch64
    cpu_cores: int
    ram_mib: int
    ram_available_mib: int | None = None
    jetson: bool = False  # Tegra SoC (Jetson); GB10 is SBSA, not Tegra
    name: str | None = None  # the profile's name, e.g. "gb10"
    description: str | None = None
    notes: tuple[str, ...] = field(default=())  # one-line observations, e.g. "NVML library not found"

    @property
    def has_gpu(self) -> bool:
        """True when at least one NVIDIA GPU is present."""
        return bool(self.gpus)

    @property
    def unified_memory(self) -> bool:
        """True when the GPU shares one memory pool with the CPU."""
        return any(gpu.unified_memory for gpu in self.gpus)

    def gpu_memory_mib(self, gpu: Gpu) -> int:
        """Memory a GPU can use: its own, or the shared host pool on unified-memory machines."""
        if gpu.unified_memory or gpu.memory_mib is None:
            return self.ram_mib
        return gpu.memory_mib
