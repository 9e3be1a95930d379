"""Host and GPU checks: CPU and memory, model disk space, NVML, the driver, and every GPU's capability, memory, MIG."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, cast

from aima.diagnose.checks import GIB, MIB, Check, NotChecked, Outcome, fail, model_path, ok, warn

if TYPE_CHECKING:
    from aima.catalog.model import ModelChoice
    from aima.diagnose.doctor import Adapters, Facts
    from aima.hardware.host import HostFacts
    from aima.hardware.model import Gpu, Hardware
    from aima.hardware.nvml import NvmlReading
    from aima.plan_types import Plan

CPU_ONLY = "engines will run on the CPU"
NO_GPU = f"no GPU: {CPU_ONLY}"
NO_PLAN = NotChecked("the plan could not be made (see engines.plan)", "fix engines.plan first")
_CUDA13_FLOOR = (7, 5)  # CUDA 13.0 dropped Maxwell, Pascal and Volta (cuda-facts §2)
_CUDA12_FLOOR = (5, 0)  # CUDA 12 targets nothing older than Maxwell
_BUSY_MIB = 1024  # memory held by others before a GPU is worth a warning (a desktop's display takes ~500 MiB)


def plan_or_skip(facts: Facts) -> Plan:
    """The plan, or NotChecked for checks that need one."""
    try:
        return facts.plan()
    except Exception:  # noqa: BLE001 - engines.plan reports the cause once
        raise NO_PLAN from None


def host_checks(facts: Facts) -> Iterator[Check]:
    """host.platform, host.memory, host.disk.models, host.files."""
    from aima.diagnose.check_files import files_outcome

    yield Check("host.platform", "host", lambda: platform_outcome(facts.host(), facts.hardware()))
    yield Check("host.memory", "host", lambda: memory_outcome(plan_or_skip(facts), facts.host()))
    yield Check("host.disk.models", "host", lambda: models_disk_outcome(plan_or_skip(facts), facts.adapters))
    yield Check("host.files", "host", files_outcome)


def gpu_checks(facts: Facts) -> Iterator[Check]:
    """gpu.nvml, gpu.driver, then gpu.N.capability, gpu.N.memory, gpu.N.mig for every GPU."""
    yield Check("gpu.nvml", "gpu", lambda: nvml_outcome(facts.nvml(), facts.request.hardware,
                                                        _pci(facts), facts.host().jetson))
    hw = facts.hardware()
    if hw.gpus or hw.driver_version:
        yield Check("gpu.driver", "gpu", lambda: driver_outcome(hw))
    for gpu in hw.gpus:
        yield Check(f"gpu.{gpu.index}.capability", "gpu", lambda g=gpu: capability_outcome(g))
        yield Check(f"gpu.{gpu.index}.memory", "gpu", lambda g=gpu: gpu_memory_outcome(g, hw))
        yield Check(f"gpu.{gpu.index}.mig", "gpu", lambda g=gpu: mig_outcome(g))


def _pci(facts: Facts) -> list[str]:
    try:
        return facts.adapters.nvidia_pci()
    except Exception:  # noqa: BLE001 - sysfs is only a hint for the remedy
        return []


# --- decisions on observations ---------------------------------------------------------------------------

def platform_outcome(host: HostFacts, hw: Hardware) -> Outcome:
    """The CPU the images must be built for, and the machine the plan is for when that is a profile."""
    facts = f"{host.cpu_arch}, {host.cpu_cores} cores, {host.ram_mib} MiB RAM"
    if host.ram_available_mib is not None:
        facts += f" ({host.ram_available_mib} MiB available)"
    if host.jetson:
        facts += ", Jetson (Tegra)"
    details = {"cpu_arch": host.cpu_arch, "cpu_cores": host.cpu_cores, "ram_mib": host.ram_mib}
    if hw.name:
        return ok(f"this machine: {facts}; checking the plan for hardware profile {hw.name} ({hw.cpu_arch})",
                  profile=hw.name, **details)
    return ok(facts, **details)


def memory_outcome(plan: Plan, host: HostFacts) -> Outcome:
    """Do the engines' memory limits fit in the RAM that is free now (on unified memory: in the pool)?"""
    hw = plan.hardware
    claims = {e.engine: (e.limits.gpu_memory_mib if e.gpu and hw.unified_memory else e.limits.memory_mib) or 0
              for e in plan.engines if not e.gpu or hw.unified_memory}
    claims = {engine: mib for engine, mib in claims.items() if mib}
    need = sum(claims.values())
    available = host.ram_available_mib if not hw.name else hw.ram_available_mib
    if not claims:
        return ok("no engine of the plan sets a memory limit on this machine's RAM", claims_mib=claims)
    if available is None:
        return ok(f"the engines' memory limits add up to {need} MiB", claims_mib=claims)
    text = ", ".join(f"{k} {v} MiB" for k, v in claims.items())
    if need > available:
        return warn(f"the engines may use {need} MiB ({text}) but only {available} MiB of RAM is free now",
                    "stop other programs, or give engines smaller models or limits in the stack file "
                    "(`aima plan` shows the budget)", claims_mib=claims, available_mib=available)
    return ok(f"{need} MiB for the engines ({text}) fits in {available} MiB free", claims_mib=claims,
              available_mib=available)


def models_disk_outcome(plan: Plan, adapters: Adapters) -> Outcome:
    """Is there disk space for the model files that are not downloaded yet?"""

    missing: dict[str, list[tuple[str, int]]] = {}
    for e in plan.engines:
        path = model_path(e)
        source = getattr(e.model, "source", None)
        if path is not None and source is not None:  # in the hub cache: the files not there yet, by their sizes
            lacking = _hub_files_missing_mib(source, e.mounts[0].source)
            if lacking is not None:
                missing.setdefault(e.mounts[0].source, []).append((cast("ModelChoice", e.model).name, lacking))
            continue
        if path is not None and adapters.path_size(path) is None:
            model = cast("ModelChoice", e.model)  # a model path implies a model
            missing.setdefault(e.mounts[0].source, []).append((model.name, model.size_mib))
    if not missing:
        return ok("every planned model file is present (or the engines need none)")
    lines, short = [], []
    for folder, models in missing.items():
        need = sum(size for _, size in models) * MIB
        measured = adapters.disk_free(folder)
        if measured is None:
            lines.append(f"{folder}: free space unknown")
            continue
        where, free = measured
        lines.append(f"{folder}: {need / GIB:.1f} GiB to download, {free / GIB:.1f} GiB free on {where}")
        if free < need:
            short.append(folder)
    details = {"folders": {f: [m for m, _ in ms] for f, ms in missing.items()}}
    if short:
        return fail("not enough disk for the models: " + "; ".join(lines),
                    "free space there, or set models_dir in the stack file to a disk with room", **details)
    return ok("room for the missing models: " + "; ".join(lines), **details)


def _hub_files_missing_mib(source: Any, repo_dir: str) -> int | None:
    """MiB of a hub source's files the cache does not hold yet (None: all there); a folder counts every listed file,
    so a snapshot folder that exists but lacks a shard is not taken as present."""
    from pathlib import Path

    from aima.models.cache import presence

    absent = [(f.size or 0) for f, p in zip(source.files, presence(Path(repo_dir).parent, source), strict=True)
              if not p.present]
    if not absent and (source.files or not source.folder):
        return None
    return -(-sum(absent) // MIB)


def nvml_outcome(reading: NvmlReading | None, profile: str | None, pci: list[str], jetson: bool) -> Outcome:
    """Did NVML load, and what does its absence mean on this machine?"""
    if reading is None:
        return ok(f"not read: checking against hardware profile {profile} instead of this machine's GPUs")
    if reading.available:
        if reading.gpus:
            return ok(f"NVML loaded: {len(reading.gpus)} GPU(s)", notes=list(reading.notes))
        return warn(f"NVML loaded but found no GPU: {CPU_ONLY}", "`nvidia-smi -L` should list the GPU; in a VM "
                    "or container, pass the GPU through", notes=list(reading.notes))
    note = reading.notes[0] if reading.notes else "NVML did not load"
    details = {"notes": list(reading.notes), "nvidia_pci_devices": pci}
    # The note's wording comes from aima.hardware.nvml, which classifies NVML's init error.
    if "not loaded" in note:
        return warn(f"the NVIDIA driver is installed but not loaded: {CPU_ONLY}",
                    "load it (`sudo modprobe nvidia`) or reboot after installing the driver; `nvidia-smi` must work",
                    **details)
    if "no permission" in note:
        return warn(f"no permission to open the NVIDIA driver: {CPU_ONLY}",
                    "run aima as a user who may open /dev/nvidia* (group video on some distributions)", **details)
    if "nvidia-ml-py" in note:
        return warn(f"the nvidia-ml-py package is missing, so aima cannot see GPUs: {CPU_ONLY}",
                    "pip install nvidia-ml-py", **details)
    if pci or jetson:
        where = ", ".join(pci) or "Tegra SoC"
        return warn(f"an NVIDIA GPU is present ({where}) but NVML did not load ({note.split(':')[0]}): "
                    f"{CPU_ONLY}", "install the NVIDIA driver (`nvidia-smi` must work), then run doctor again",
                    **details)
    return ok(f"{NO_GPU} (NVML not found and no NVIDIA GPU on the PCI bus)", **details)


def driver_outcome(hw: Hardware) -> Outcome:
    """The driver version and the newest CUDA it supports."""
    from aima.catalog.cuda import CudaVersion

    cuda = None if hw.cuda_driver_version is None else str(hw.cuda_driver_version)
    details = {"driver_version": hw.driver_version, "cuda_driver_version": cuda}
    if not hw.driver_version or not hw.cuda_driver_version:
        return warn("NVML did not report the driver version or its CUDA version",
                    "check `nvidia-smi`; reinstall the driver if it cannot say", **details)
    text = f"driver {hw.driver_version}, supports CUDA up to {hw.cuda_driver_version}"
    if hw.cuda_driver_version < CudaVersion(12, 0):
        return warn(f"{text}: CUDA 12 images will not start", "install a driver of 525.60.13 or newer", **details)
    return ok(text, **details)


def capability_outcome(gpu: Gpu) -> Outcome:
    """The GPU's compute capability, and which CUDA generations can still target it."""
    cap = gpu.compute_capability
    arch = f", {gpu.architecture}" if gpu.architecture else ""
    text = f"{gpu.name}: compute capability {cap} (sm_{cap.sm}{arch})"
    details = {"name": gpu.name, "compute_capability": str(cap), "architecture": gpu.architecture}
    if (cap.major, cap.minor) < _CUDA12_FLOOR:
        return warn(f"{text}: too old for CUDA 12 and newer, so GPU images cannot run on it",
                    "use a GPU of compute capability 5.0 or newer (7.5 for CUDA 13 images); engines run on the CPU",
                    **details)
    if (cap.major, cap.minor) < _CUDA13_FLOOR:
        return ok(f"{text}; CUDA 13 images cannot target it, so aima picks CUDA 12 builds", **details)
    return ok(text, **details)


def gpu_memory_outcome(gpu: Gpu, hw: Hardware) -> Outcome:
    """The GPU's memory (or the unified pool) and how much others hold."""
    if gpu.unified_memory or gpu.memory_mib is None:
        return ok(f"unified memory: the GPU shares the host's {hw.ram_mib} MiB pool (NVML reports no memory of "
                  f"its own)", unified=True, pool_mib=hw.ram_mib)
    details = {"unified": False, "total_mib": gpu.memory_mib, "free_mib": gpu.memory_free_mib}
    if gpu.memory_free_mib is None:
        return ok(f"{gpu.memory_mib} MiB", **details)
    used = gpu.memory_mib - gpu.memory_free_mib
    text = f"{gpu.memory_mib} MiB, {gpu.memory_free_mib} MiB free"
    if used > max(_BUSY_MIB, gpu.memory_mib // 10):
        return warn(f"{text}: {used} MiB is held by other processes, so aima plans smaller models",
                    "`nvidia-smi` lists the processes; stop the ones you do not need and plan again", **details)
    return ok(text, **details)


def mig_outcome(gpu: Gpu) -> Outcome:
    """MIG mode: with MIG on, only the GPU's MIG instances can be given to containers (aima plans on them)."""
    if gpu.mig_enabled is None:
        return ok("this GPU has no MIG mode", mig=None)
    instances = getattr(gpu, "mig_instances", ())
    if gpu.mig_enabled and instances:
        listed = ", ".join(f"{m.profile} ({m.memory_mib} MiB)" for m in instances)
        return ok(f"MIG mode is on: aima plans engines on its {len(instances)} MIG instance(s): {listed}", mig=True,
                  instances=[m.uuid for m in instances])
    if gpu.mig_enabled:
        return warn("MIG mode is on and no MIG instance exists: no container can use this GPU",
                    f"turn MIG off (`sudo nvidia-smi -i {gpu.index} -mig 0`, then reset the GPU), or pin the engine "
                    f"create instances (`sudo nvidia-smi mig -i {gpu.index} -cgi 1g.10gb -C`)", mig=True)
    return ok("MIG mode is off", mig=False)
