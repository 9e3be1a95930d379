"""The machine for people: a GPU table, then driver, host and notes."""

from __future__ import annotations

from aima.hardware.model import Hardware
from aima.render import console


def hardware_table(hw: Hardware) -> None:
    """Print the machine: one row per GPU, then driver and host lines, then notes."""
    if hw.gpus:
        rows = []
        for g in hw.gpus:
            memory = f"unified ({hw.ram_mib} MiB host pool)" if g.unified_memory else f"{g.memory_mib} MiB"
            if g.memory_free_mib is not None and not g.unified_memory:
                memory += f" ({g.memory_free_mib} free)"
            mig = "-" if g.mig_enabled is None else ("on" if g.mig_enabled else "off")
            rows.append([str(g.index), g.name, str(g.compute_capability), memory, mig, g.brand or "-", g.uuid or "-"])
        console.table("GPUs", ["#", "name", "compute", "memory", "MIG", "brand", "uuid"], rows)
    else:
        console.out("[bold]No NVIDIA GPU[/]: engines will run on the CPU.")
    cuda = f"CUDA {hw.cuda_driver_version}" if hw.cuda_driver_version else "CUDA unknown"
    driver = (f"{hw.driver_version} ({cuda})" if hw.driver_version
              else f"unknown: NVML cannot say ({cuda})" if hw.gpus else "none")
    console.out(f"driver: {driver}")
    jetson = ", Jetson (Tegra)" if hw.jetson else ""
    avail = f", {hw.ram_available_mib} MiB available" if hw.ram_available_mib is not None else ""
    console.out(f"host: {hw.cpu_arch}, {hw.cpu_cores} cores, {hw.ram_mib} MiB RAM{avail}{jetson}")
    if hw.cpu_features is not None:
        features = ", ".join(hw.cpu_features) or "none of the SIMD extensions engines are built for"
        console.out(f"CPU features: {features}")
    for note in hw.notes:
        console.out(f"[dim]note:[/] {note}")
