"""detect: NVML + host facts -> Hardware."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aima.hardware import nvml as nvml_adapter
from aima.hardware.host import HostFacts, read_host
from aima.hardware.model import Hardware


def detect(nvml: Any = None, host: HostFacts | None = None, *, use_real_nvml: bool = True) -> Hardware:
    """Describe this machine; with no NVML or no GPU, a CPU-only Hardware with a note, never an exception."""
    host = host or read_host(Path("/"))
    if nvml is None and use_real_nvml:
        nvml = nvml_adapter.load_pynvml()
    return assemble(nvml_adapter.read(nvml, jetson=host.jetson), host)


def assemble(reading: nvml_adapter.NvmlReading, host: HostFacts) -> Hardware:
    """A Hardware from what NVML and the kernel said."""
    return Hardware(
        gpus=reading.gpus,
        driver_version=reading.driver_version,
        cuda_driver_version=reading.cuda_driver_version,
        cpu_arch=host.cpu_arch,
        cpu_cores=host.cpu_cores,
        ram_mib=host.ram_mib,
        ram_available_mib=host.ram_available_mib,
        jetson=host.jetson,
        l4t_release=host.l4t_release,
        notes=reading.notes,
        cpu_features=host.cpu_features,
    )
