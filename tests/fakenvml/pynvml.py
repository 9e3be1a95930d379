"""A stand-in ``pynvml`` that replays a hardware profile through the calls aima's NVML adapter makes.

Put this folder first on ``sys.path`` (or PYTHONPATH) and set ``AIMA_FAKE_NVML`` to a profile path, or to
one of the failure modes ``missing-library``, ``driver-not-loaded``, ``no-permission``. ``AIMA_FAKE_NVML_FAIL``
injects errors per call: ``nvmlDeviceGetMemoryInfo=NotSupported,nvmlDeviceGetUUID=GpuIsLost``.

Faithfulness: the error classes and constants are the real nvidia-ml-py ones, loaded from the installed
``pynvml.py`` under another name, so ``except pynvml.NVMLError_NotSupported`` behaves exactly as on a real
driver. Unified-memory GPUs (GB10, Jetson) raise NVML_ERROR_NOT_SUPPORTED for memory info, as nvml.h documents
for SoC iGPUs; GPUs with no MIG mode raise NotSupported for nvmlDeviceGetMigMode, as consumer GPUs do.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import SimpleNamespace


def _load_real():
    here = Path(__file__).resolve()
    for entry in sys.path:
        candidate = Path(entry or ".") / "pynvml.py"
        if candidate.is_file() and candidate.resolve() != here:
            spec = importlib.util.spec_from_file_location("_real_pynvml", candidate)
            module = importlib.util.module_from_spec(spec)
            sys.modules["_real_pynvml"] = module  # its error-class factory looks itself up there
            spec.loader.exec_module(module)
            return module
    raise ImportError("the fake pynvml needs the real nvidia-ml-py installed for its error classes")


_real = _load_real()
for _name in dir(_real):
    if _name.startswith(("NVML_", "NVMLError")):
        globals()[_name] = getattr(_real, _name)
NVMLError = _real.NVMLError

_state = SimpleNamespace(initialised=0, profile=None)
_BRAND_CONSTANTS = {
    "unknown": "NVML_BRAND_UNKNOWN", "quadro": "NVML_BRAND_QUADRO", "tesla": "NVML_BRAND_TESLA",
    "nvs": "NVML_BRAND_NVS", "grid": "NVML_BRAND_GRID", "geforce": "NVML_BRAND_GEFORCE", "titan": "NVML_BRAND_TITAN",
    "nvidia": "NVML_BRAND_NVIDIA", "geforcertx": "NVML_BRAND_GEFORCE_RTX", "titanrtx": "NVML_BRAND_TITAN_RTX",
    "nvidiartx": "NVML_BRAND_NVIDIA_RTX", "quadrortx": "NVML_BRAND_QUADRO_RTX",
}
_ARCH_NUMBERS = {"kepler": 2, "maxwell": 3, "pascal": 4, "volta": 5, "turing": 6, "ampere": 7, "ada": 8,
                 "hopper": 9, "blackwell": 10, "rubin": 13}
_MODES = {
    "missing-library": _real.NVML_ERROR_LIBRARY_NOT_FOUND,
    "driver-not-loaded": _real.NVML_ERROR_DRIVER_NOT_LOADED,
    "no-permission": _real.NVML_ERROR_NO_PERMISSION,
}


def _raise(code: int):
    raise NVMLError(code)  # NVMLError.__new__ returns the matching NVMLError_* subclass, as in the real module


def _injected(call: str) -> None:
    for item in filter(None, os.environ.get("AIMA_FAKE_NVML_FAIL", "").split(",")):
        name, _, error = item.partition("=")
        if name.strip() == call:
            # GpuIsLost -> GPU_IS_LOST
            snake = "".join("_" + c if c.isupper() else c for c in error).lstrip("_").upper()
            code = getattr(_real, "NVML_ERROR_" + snake)
            _raise(code)


def _profile() -> dict:
    if _state.initialised <= 0:
        _raise(_real.NVML_ERROR_UNINITIALIZED)
    return _state.profile


def nvmlInit():
    _injected("nvmlInit")
    spec = os.environ.get("AIMA_FAKE_NVML", "missing-library")
    if spec in _MODES:
        _raise(_MODES[spec])
    import yaml

    _state.profile = yaml.safe_load(Path(spec).read_text())
    _state.initialised += 1


def nvmlShutdown():
    if _state.initialised <= 0:
        _raise(_real.NVML_ERROR_UNINITIALIZED)
    _state.initialised -= 1


def nvmlSystemGetDriverVersion():
    _injected("nvmlSystemGetDriverVersion")
    driver = _profile()["driver_version"]
    # Jetson Orin on JetPack 6: NVML (nvidia-smi) answers "N/A" for the driver version (cuda-facts §5c,
    # OE4T/linux-tegra-5.10 issue #17); a profile with a null driver replays that answer.
    return "N/A" if driver is None else driver


def nvmlSystemGetCudaDriverVersion():
    _injected("nvmlSystemGetCudaDriverVersion")
    cuda = _profile()["cuda_driver_version"]
    if cuda is None:
        _raise(_real.NVML_ERROR_NOT_SUPPORTED)
    major, minor = str(cuda).split(".")
    return int(major) * 1000 + int(minor) * 10


def nvmlDeviceGetCount():
    _injected("nvmlDeviceGetCount")
    return len(_profile()["gpus"] or [])


def nvmlDeviceGetHandleByIndex(index):
    _injected("nvmlDeviceGetHandleByIndex")
    gpus = _profile()["gpus"] or []
    if not 0 <= index < len(gpus):
        _raise(_real.NVML_ERROR_INVALID_ARGUMENT)
    return SimpleNamespace(gpu=gpus[index])


def nvmlDeviceGetName(handle):
    _injected("nvmlDeviceGetName")
    if getattr(handle, "mig", None) is not None:
        return f"{handle.gpu['name']} MIG {handle.mig['profile']}"  # as NVML names a MIG device
    return handle.gpu["name"]


def nvmlDeviceGetUUID(handle):
    _injected("nvmlDeviceGetUUID")
    if getattr(handle, "mig", None) is not None:
        return handle.mig["uuid"]
    return handle.gpu.get("uuid") or f"GPU-fake-{handle.gpu['index']:04d}"


def nvmlDeviceGetPciInfo(handle):
    _injected("nvmlDeviceGetPciInfo")
    return SimpleNamespace(busId=handle.gpu.get("pci_bus_id") or f"00000000:{handle.gpu['index'] + 1:02x}:00.0")


def nvmlDeviceGetCudaComputeCapability(handle):
    _injected("nvmlDeviceGetCudaComputeCapability")
    major, minor = str(handle.gpu["compute_capability"]).split(".")
    return int(major), int(minor)


def nvmlDeviceGetMemoryInfo(handle, version=None):
    _injected("nvmlDeviceGetMemoryInfo")
    if getattr(handle, "mig", None) is not None:
        total = handle.mig["memory_mib"] * 1024 * 1024  # a MIG device reports its own memory
        return SimpleNamespace(total=total, free=total, used=0)
    gpu = handle.gpu
    if gpu.get("unified_memory"):
        _raise(_real.NVML_ERROR_NOT_SUPPORTED)  # nvml.h: iGPUs without a framebuffer answer NOT_SUPPORTED
    total = gpu["memory_mib"] * 1024 * 1024
    free = (gpu.get("memory_free_mib") if gpu.get("memory_free_mib") is not None else gpu["memory_mib"]) * 1024 * 1024
    return SimpleNamespace(total=total, free=free, used=total - free)


def nvmlDeviceGetMigMode(handle):
    _injected("nvmlDeviceGetMigMode")
    if handle.gpu.get("mig_enabled") is None:
        _raise(_real.NVML_ERROR_NOT_SUPPORTED)
    mode = int(bool(handle.gpu["mig_enabled"]))
    return [mode, mode]


def nvmlDeviceGetMaxMigDeviceCount(handle):
    _injected("nvmlDeviceGetMaxMigDeviceCount")
    if not handle.gpu.get("mig_enabled"):
        return 0  # "Returns zero if MIG is not supported or enabled" (NVML API reference)
    return 7  # an A100/H100 has seven MIG slots; unused ones answer NotFound


def nvmlDeviceGetMigDeviceHandleByIndex(handle, index):
    _injected("nvmlDeviceGetMigDeviceHandleByIndex")
    instances = handle.gpu.get("mig_instances") or []
    if not handle.gpu.get("mig_enabled") or not 0 <= index < 7:
        _raise(_real.NVML_ERROR_INVALID_ARGUMENT)
    if index >= len(instances):
        _raise(_real.NVML_ERROR_NOT_FOUND)
    return SimpleNamespace(gpu=handle.gpu, mig=instances[index])


def nvmlDeviceGetBrand(handle):
    _injected("nvmlDeviceGetBrand")
    brand = handle.gpu.get("brand") or "unknown"
    return getattr(_real, _BRAND_CONSTANTS.get(brand, "NVML_BRAND_UNKNOWN"))


def nvmlDeviceGetArchitecture(handle):
    _injected("nvmlDeviceGetArchitecture")
    arch = handle.gpu.get("architecture")
    if arch is None:
        _raise(_real.NVML_ERROR_NOT_SUPPORTED)
    return _ARCH_NUMBERS.get(arch, 0xFFFFFFFF)


def nvmlDeviceGetComputeRunningProcesses(handle):
    _injected("nvmlDeviceGetComputeRunningProcesses")
    return [SimpleNamespace(pid=int(p["pid"]), usedGpuMemory=int(p["used_mib"]) * 1024 * 1024)
            for p in handle.gpu.get("processes", [])]
