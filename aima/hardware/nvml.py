"""NVML adapter: reads GPUs and the driver through nvidia-ml-py (module ``pynvml``), translating its errors."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from aima.hardware.model import Capability, CudaVersion, Gpu, MigInstance

# NVML brand enum -> the brand word NVIDIA_REQUIRE_CUDA uses (nvml.h nvmlBrandType_t; container-images' brand=...).
_BRANDS = {
    "NVML_BRAND_UNKNOWN": "unknown", "NVML_BRAND_QUADRO": "quadro", "NVML_BRAND_TESLA": "tesla",
    "NVML_BRAND_NVS": "nvs", "NVML_BRAND_GRID": "grid", "NVML_BRAND_GEFORCE": "geforce",
    "NVML_BRAND_TITAN": "titan", "NVML_BRAND_NVIDIA_VAPPS": "vapps", "NVML_BRAND_NVIDIA_VPC": "vpc",
    "NVML_BRAND_NVIDIA_VCS": "vcs", "NVML_BRAND_NVIDIA_VWS": "vws", "NVML_BRAND_NVIDIA_CLOUD_GAMING": "cloudgaming",
    "NVML_BRAND_QUADRO_RTX": "quadrortx", "NVML_BRAND_NVIDIA_RTX": "nvidiartx", "NVML_BRAND_NVIDIA": "nvidia",
    "NVML_BRAND_GEFORCE_RTX": "geforcertx", "NVML_BRAND_TITAN_RTX": "titanrtx",
}
# nvml.h NVML_DEVICE_ARCH_* values.
_ARCHES = {2: "kepler", 3: "maxwell", 4: "pascal", 5: "volta", 6: "turing", 7: "ampere", 8: "ada",
           9: "hopper", 10: "blackwell", 13: "rubin"}
_MIB = 1024 * 1024


@dataclass(frozen=True)
class NvmlReading:
    """What NVML said: driver, driver CUDA version, GPUs, and notes on what it could not say."""

    driver_version: str | None = None
    cuda_driver_version: CudaVersion | None = None
    gpus: tuple[Gpu, ...] = ()
    notes: tuple[str, ...] = field(default=())
    available: bool = False  # NVML initialised


def load_pynvml() -> Any:
    """Import the real pynvml module, or None when nvidia-ml-py is not installed."""
    try:
        import pynvml
    except ImportError:
        return None
    return pynvml


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _init_failure_note(nvml: Any, exc: Exception) -> str:
    if isinstance(exc, nvml.NVMLError_LibraryNotFound):
        return "NVML library not found (no NVIDIA driver installed): treating this machine as CPU-only"
    if isinstance(exc, nvml.NVMLError_DriverNotLoaded):
        return "NVIDIA driver is installed but not loaded: treating this machine as CPU-only"
    if isinstance(exc, nvml.NVMLError_NoPermission):
        return "no permission to open the NVIDIA driver (NVML): treating this machine as CPU-only"
    return f"NVML failed to start ({exc}): treating this machine as CPU-only"


def read(nvml: Any, *, jetson: bool = False) -> NvmlReading:
    """Read driver and GPUs through ``nvml`` (pynvml or a stand-in with the same API); never raises NVML errors."""
    if nvml is None:
        return NvmlReading(notes=("nvidia-ml-py is not installed: treating this machine as CPU-only",))
    try:
        nvml.nvmlInit()
    except nvml.NVMLError as exc:
        return NvmlReading(notes=(_init_failure_note(nvml, exc),))
    notes: list[str] = []
    try:
        driver = _driver_version(_optional(nvml, lambda: _text(nvml.nvmlSystemGetDriverVersion())), notes)
        cuda_int = _optional(nvml, nvml.nvmlSystemGetCudaDriverVersion)
        cuda = CudaVersion.from_nvml(int(cuda_int)) if cuda_int else None
        if cuda is None:
            notes.append("NVML did not say which CUDA the driver supports: driver checks pass as the container "
                         "toolkit lets an unknown value pass")
        try:
            count = nvml.nvmlDeviceGetCount()
        except nvml.NVMLError as exc:
            notes.append(f"NVML could not count GPUs ({exc})")
            count = 0
        gpus = []
        for index in range(count):
            try:
                gpus.append(_read_gpu(nvml, index, jetson, notes))
            except nvml.NVMLError as exc:
                notes.append(f"GPU {index} skipped: NVML said {exc}")
        if count == 0 and not notes:
            notes.append("NVML found no GPU: treating this machine as CPU-only")
        return NvmlReading(driver, cuda, tuple(gpus), tuple(notes), available=True)
    finally:
        try:
            nvml.nvmlShutdown()
        except nvml.NVMLError:
            pass


_DRIVER = re.compile(r"\d{3,4}(\.\d{1,3}){1,2}")


def _driver_version(text: str | None, notes: list[str]) -> str | None:
    """The driver version, or None with a note where NVML answers something else (Jetson's "N/A")."""
    if text is None:
        notes.append("NVML did not report the driver version: driver checks pass as the container toolkit "
                     "lets an unknown value pass")
        return None
    if not _DRIVER.fullmatch(text.strip()):
        # JetPack 6 (L4T 36) Orin: nvidia-smi prints "Driver Version: N/A" (cuda-facts §5c, OE4T/linux-tegra-5.10#17).
        notes.append(f"NVML reports the driver version as {text.strip()!r}: driver checks pass as the container "
                     f"toolkit lets an unknown value pass")
        return None
    return text.strip()


def _optional(nvml: Any, call: Any) -> Any:
    """Call an NVML query whose answer may legitimately be 'not supported'."""
    try:
        return call()
    except (nvml.NVMLError_NotSupported, nvml.NVMLError_FunctionNotFound):
        return None


def _read_gpu(nvml: Any, index: int, jetson: bool, notes: list[str]) -> Gpu:
    handle = nvml.nvmlDeviceGetHandleByIndex(index)
    name = _text(nvml.nvmlDeviceGetName(handle))
    major, minor = nvml.nvmlDeviceGetCudaComputeCapability(handle)
    uuid = _optional(nvml, lambda: _text(nvml.nvmlDeviceGetUUID(handle)))
    pci = _optional(nvml, lambda: _text(nvml.nvmlDeviceGetPciInfo(handle).busId))
    memory = _optional(nvml, lambda: nvml.nvmlDeviceGetMemoryInfo(handle))
    # GB10 answers "Not Supported" for memory: its GPU has no memory of its own (DGX Spark known issues).
    unified = jetson or memory is None or int(memory.total) == 0
    if memory is None:
        notes.append(f"GPU {index} ({name}): NVML reports no dedicated memory; using the host's unified memory pool")
    mig = _optional(nvml, lambda: nvml.nvmlDeviceGetMigMode(handle))
    instances = _mig_instances(nvml, handle, index, notes) if mig is not None and mig[0] else ()
    brand = _optional(nvml, lambda: nvml.nvmlDeviceGetBrand(handle))
    arch = _optional(nvml, lambda: nvml.nvmlDeviceGetArchitecture(handle))
    return Gpu(
        index=index,
        name=name,
        compute_capability=Capability(int(major), int(minor)),
        memory_mib=None if unified else int(memory.total) // _MIB,
        memory_free_mib=None if unified else int(memory.free) // _MIB,
        unified_memory=unified,
        uuid=uuid,
        pci_bus_id=pci,
        mig_enabled=None if mig is None else bool(mig[0]),
        brand=None if brand is None else _brand_name(nvml, brand),
        architecture=None if arch is None else _ARCHES.get(int(arch), "unknown"),
        mig_instances=instances,
    )


def _mig_instances(nvml: Any, handle: Any, index: int, notes: list[str]) -> tuple[MigInstance, ...]:
    """The MIG devices of a GPU in MIG mode: UUID, profile (from the MIG device's name) and its own memory.

    NVML: nvmlDeviceGetMaxMigDeviceCount, then nvmlDeviceGetMigDeviceHandleByIndex for each slot (NotFound where
    no compute instance exists); UUID and memory info are read on the MIG device handle (nvml.h, "MIG device
    handles can be used ... at a per-compute instance granularity"). A MIG device's name is the GPU's name with
    " MIG <profile>", e.g. "NVIDIA A100 80GB PCIe MIG 1g.10gb".
    """
    found = []
    count = _optional(nvml, lambda: nvml.nvmlDeviceGetMaxMigDeviceCount(handle)) or 0
    for slot in range(int(count)):
        try:
            mig = nvml.nvmlDeviceGetMigDeviceHandleByIndex(handle, slot)
        except nvml.NVMLError_NotFound:
            continue
        except nvml.NVMLError as exc:
            notes.append(f"GPU {index}: MIG device {slot} skipped: NVML said {exc}")
            continue
        try:
            uuid = _text(nvml.nvmlDeviceGetUUID(mig))
            name = _text(nvml.nvmlDeviceGetName(mig))
            memory = nvml.nvmlDeviceGetMemoryInfo(mig)
        except nvml.NVMLError as exc:
            notes.append(f"GPU {index}: MIG device {slot} skipped: NVML said {exc}")
            continue
        profile = name.rsplit(" MIG ", 1)[1].strip() if " MIG " in name else f"slot {slot}"
        found.append(MigInstance(uuid=uuid, profile=profile, memory_mib=int(memory.total) // _MIB))
    if not found:
        notes.append(f"GPU {index}: MIG is enabled but NVML lists no MIG device, so no container can use this GPU")
    return tuple(found)


def _brand_name(nvml: Any, value: int) -> str:
    for constant, word in _BRANDS.items():
        if getattr(nvml, constant, None) == value:
            return word
    return "unknown"


def process_memory(nvml: Any) -> dict[int, int]:
    """GPU memory (MiB) held by each host PID across all GPUs; empty when NVML is unavailable."""
    if nvml is None:
        return {}
    try:
        nvml.nvmlInit()
    except nvml.NVMLError:
        return {}
    usage: dict[int, int] = {}
    try:
        for index in range(nvml.nvmlDeviceGetCount()):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            for proc in _optional(nvml, lambda h=handle: nvml.nvmlDeviceGetComputeRunningProcesses(h)) or []:
                used = getattr(proc, "usedGpuMemory", None) or 0
                usage[int(proc.pid)] = usage.get(int(proc.pid), 0) + int(used) // _MIB
    except nvml.NVMLError:
        pass
    finally:
        try:
            nvml.nvmlShutdown()
        except nvml.NVMLError:
            pass
    return usage
