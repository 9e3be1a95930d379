"""The hardware model: plain frozen data that detect produces and profiles describe.

Values are parsed once, where they enter (NVML, a profile file, the catalogue): a GPU holds a `Capability`,
the driver's CUDA is a `CudaVersion`, and the CPU architecture is one of `CPU_ARCHES`. The one table of CPU
architecture names (the kernel's ``x86_64``/``aarch64`` and the OCI/Docker/Kubernetes ``amd64``/``arm64``)
and the one rule that reads an image platform (``linux/arm64/v8``) live here too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# --- versions ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Capability:
    """A GPU's compute capability, e.g. 8.6 (RTX 30xx) or 12.1 (GB10)."""

    major: int
    minor: int

    @classmethod
    def parse(cls, text: str) -> Capability:
        """'8.6' -> Capability(8, 6); ValueError for anything else."""
        m = re.fullmatch(r"(\d{1,2})\.(\d)", str(text).strip())
        if not m or int(m.group(1)) == 0:
            raise ValueError(f"compute capability must look like 8.6, got {text!r}")
        return cls(int(m.group(1)), int(m.group(2)))

    @property
    def sm(self) -> str:
        """The digits nvcc uses: '86' for 8.6, '121' for 12.1."""
        return f"{self.major}{self.minor}"

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"


@dataclass(frozen=True, order=True)
class CudaVersion:
    """A CUDA major.minor version (toolkit, image runtime, or the newest one a driver supports)."""

    major: int
    minor: int

    @classmethod
    def parse(cls, text: str) -> CudaVersion:
        """'12.4' or '12.4.1' -> CudaVersion(12, 4); ValueError for anything else."""
        m = re.fullmatch(r"(\d{1,3})\.(\d{1,2})(?:\.\d+)?", str(text).strip())
        if not m:
            raise ValueError(f"CUDA version must look like 12.4 or 12.4.1, got {text!r}")
        return cls(int(m.group(1)), int(m.group(2)))

    @classmethod
    def from_nvml(cls, value: int) -> CudaVersion:
        """NVML's integer (1000*major + 10*minor, e.g. 12040) -> 12.4 (nvml.h NVML_CUDA_DRIVER_VERSION_MAJOR/MINOR)."""
        return cls(value // 1000, (value % 1000) // 10)

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"


# --- CPU architectures and image platforms ---------------------------------------------------------------

# The one table of CPU architecture names: the kernel's name (uname -m, what aima stores) -> the OCI image
# spec's GOARCH name that Docker platforms and Kubernetes' kubernetes.io/arch use (OCI image-spec config.md
# "architecture"; GOARCH values).
CPU_ARCH_TABLE = {"x86_64": "amd64", "aarch64": "arm64"}
CPU_ARCHES = tuple(CPU_ARCH_TABLE)
_ALIASES = {**{k: k for k in CPU_ARCH_TABLE}, **{v: k for k, v in CPU_ARCH_TABLE.items()}}


def normalise_arch(name: str) -> str:
    """'amd64'/'x86_64' -> 'x86_64', 'arm64'/'aarch64' -> 'aarch64'; other names pass through, lower-cased."""
    return _ALIASES.get(name.strip().lower(), name.strip().lower())


def oci_arch(cpu_arch: str) -> str:
    """The OCI/Docker/Kubernetes name of a CPU architecture: 'x86_64' -> 'amd64', 'aarch64' -> 'arm64'."""
    canonical = normalise_arch(cpu_arch)
    return CPU_ARCH_TABLE.get(canonical, canonical)


def platform_arch(platform: str) -> str | None:
    """The CPU architecture an image platform runs on: 'linux/arm64/v8' -> 'aarch64', 'amd64' -> 'x86_64'.

    None for another OS ('windows/amd64'). The variant (v8) does not matter on the two architectures aima knows.
    """
    parts = platform.strip().lower().split("/")
    if len(parts) > 1 and parts[0] != "linux":
        return None
    return normalise_arch(parts[1] if len(parts) > 1 else parts[0])


def platform_for(cpu_arch: str) -> str:
    """The Docker platform string for a host: 'aarch64' -> 'linux/arm64'."""
    return f"linux/{oci_arch(cpu_arch)}"


# --- GPUs and machines ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MigInstance:
    """One MIG device of a GPU in MIG mode, as NVML lists it (nvmlDeviceGetMigDeviceHandleByIndex).

    A container is given it by UUID (NVIDIA_VISIBLE_DEVICES=MIG-…; libnvidia-container nvc_info.c
    fill_mig_device_info) and sees only its memory, never the whole card's.
    """

    uuid: str  # MIG-…
    profile: str  # the GPU instance profile, e.g. 1g.10gb
    memory_mib: int  # nvmlDeviceGetMemoryInfo on the MIG device handle


@dataclass(frozen=True)
class Gpu:
    """One GPU as NVML reports it."""

    index: int
    name: str
    compute_capability: Capability
    memory_mib: int | None  # total; None where NVML cannot say (GB10's unified memory)
    unified_memory: bool = False  # shares one pool with the CPU (GB10, Jetson)
    memory_free_mib: int | None = None
    uuid: str | None = None
    pci_bus_id: str | None = None
    mig_enabled: bool | None = None  # None: the GPU has no MIG mode
    brand: str | None = None  # NVML brand in NVIDIA_REQUIRE_CUDA spelling: geforce, tesla, nvidia, ...
    architecture: str | None = None  # NVML architecture name: pascal, ampere, blackwell, ...
    mig_instances: tuple[MigInstance, ...] = ()  # when mig_enabled: the MIG devices containers can be given


@dataclass(frozen=True)
class Hardware:
    """A whole machine: its GPUs, driver and host, as detect sees it or a profile describes it."""

    gpus: tuple[Gpu, ...]
    driver_version: str | None  # "580.65.06"; None without NVML or where NVML says "N/A" (Jetson)
    cuda_driver_version: CudaVersion | None  # 13.0: the newest CUDA the driver supports
    cpu_arch: str  # x86_64 | aarch64
    cpu_cores: int
    ram_mib: int
    ram_available_mib: int | None = None
    jetson: bool = False  # Tegra SoC (Jetson); GB10 is SBSA, not Tegra
    l4t_release: str | None = None  # Jetson Linux release from /etc/nv_tegra_release, e.g. "36.4" (JetPack 6.1)
    name: str | None = None  # the profile's name, e.g. "gb10"
    description: str | None = None
    notes: tuple[str, ...] = field(default=())  # one-line observations, e.g. "NVML library not found"
    cpu_features: tuple[str, ...] | None = None  # SIMD extensions (host.CPU_FEATURES); None: not known

    @property
    def has_gpu(self) -> bool:
        """True when at least one NVIDIA GPU is present."""
        return bool(self.gpus)

    @property
    def unified_memory(self) -> bool:
        """True when the GPU shares one memory pool with the CPU."""
        return any(gpu.unified_memory for gpu in self.gpus)

    @property
    def cuda_userspace(self) -> str | None:
        """Which CUDA userspace an arm64 GPU container needs here: 'l4t' (Jetson Linux up to R36) or 'sbsa'.

        NVIDIA ships arm64 CUDA twice: SBSA for servers (Grace, GB10/DGX Spark) and L4T for Jetson; images of one
        do not run on the other (CUDA installation guide, "Linux aarch64 SBSA" vs "Jetson/L4T"; JetPack 6 images
        are nvcr.io/nvidia/l4t-*). "With the JetPack 7 series, Jetson software aligns with the Server Base System
        Architecture (SBSA)" and installs the same CUDA 13.0 as every Arm target (JetPack 7.1 / Jetson Linux 38.4
        notes, developer.nvidia.com/embedded/jetpack/downloads/archive-7.1), so Jetson Linux R38 and later
        count as SBSA.
        A Jetson whose release is unknown counts as L4T. None on x86_64 and on machines without a GPU.
        """
        if self.cpu_arch != "aarch64" or not self.gpus:
            return None
        if not self.jetson:
            return "sbsa"
        major = self.l4t_release.split(".")[0] if self.l4t_release else ""
        return "sbsa" if major.isdigit() and int(major) >= 38 else "l4t"

    def device_memory_mib(self, gpu: Gpu) -> int:
        """The most memory one container can get on this GPU: its own, the pool, or its largest MIG instance."""
        if gpu.mig_enabled and not (gpu.unified_memory or gpu.memory_mib is None):
            return max((m.memory_mib for m in gpu.mig_instances), default=0)
        return self.gpu_memory_mib(gpu)

    def gpu_memory_mib(self, gpu: Gpu) -> int:
        """Memory a GPU can use: its own, or the shared host pool on unified-memory machines."""
        if gpu.unified_memory or gpu.memory_mib is None:
            return self.ram_mib
        return gpu.memory_mib
