"""Container limits fitted to the host: no engine asks for more CPUs or memory than the machine has, and
all engines together stay within it. A pure function; the planner calls it and keeps what it says.

Docker refuses `--cpus` above the host's CPU count ("Range of CPUs is from 0.01 to 2.00") only when the
container is created, after other engines may already run; the planner must never hand it such a plan.
"""

from __future__ import annotations

from dataclasses import dataclass

MIN_CPUS = 0.1  # below this an engine cannot do useful work; refuse rather than crawl
CPU_STEP = 0.01  # Docker's --cpus resolution


@dataclass(frozen=True)
class Demand:
    """What one engine asks of the host: CPUs and memory (None = unlimited), and the least memory it can run in."""

    engine: str
    cpus: float | None
    memory_mib: int | None
    min_memory_mib: int = 0  # the model's memory need (CPU engines); below it the engine cannot start


@dataclass(frozen=True)
class Grant:
    """What one engine gets: the fitted limits, the threads it should use, and why anything was reduced."""

    engine: str
    cpus: float | None
    memory_mib: int | None
    threads: int
    reductions: tuple[str, ...] = ()


@dataclass(frozen=True)
class HostFit:
    """Grants for the engines that fit, refusals (engine, reason) for those that cannot."""

    grants: dict[str, Grant]
    refusals: tuple[tuple[str, str], ...] = ()


def host_reserve_mib(ram_mib: int) -> int:
    """Memory left to the OS and Docker on a machine with discrete memory: 10 %, at least 1 GiB, at most 8 GiB."""
    return min(8192, max(1024, ram_mib // 10))


def fit_to_host(demands: list[Demand], host_cpus: int, host_ram_mib: int, *,
                reserved_mib: int | None = None) -> HostFit:
    """Fit every engine's CPUs and memory to the host, one at a time and all together; engines that cannot fit
    at their minimum are refused with the numbers. ``reserved_mib`` is memory already promised elsewhere
    (the OS reserve; on unified memory, the GPU engines' pool share)."""
    reserve = host_reserve_mib(host_ram_mib) if reserved_mib is None else reserved_mib
    usable_mib = max(0, host_ram_mib - reserve)
    refusals: list[tuple[str, str]] = []
    kept: list[Demand] = []
    room = usable_mib
    # Memory first: an engine whose model cannot fit in what is left is refused; the others keep their place.
    for d in demands:
        need = d.min_memory_mib
        if need > room:
            others = usable_mib - room
            taken = f"; the engines before it take {others} MiB" if others else ""
            refusals.append((d.engine, f"needs at least {need} MiB of memory; this host has {host_ram_mib} MiB, "
                                       f"{usable_mib} MiB after {reserve} MiB kept for the OS{taken}"))
            continue
        room -= need
        kept.append(d)
    memory = _fit_memory(kept, usable_mib)
    cpus = _fit_cpus(kept, host_cpus)
    grants: dict[str, Grant] = {}
    for d in kept:
        granted_cpus, cpu_reason = cpus[d.engine]
        if granted_cpus is not None and granted_cpus < MIN_CPUS:
            refusals.append((d.engine, f"would get {granted_cpus:.2f} CPUs of this host's {host_cpus}, less than "
                                       f"the {MIN_CPUS} an engine needs; run fewer engines (enabled: false)"))
            continue
        granted_mib, mem_reason = memory[d.engine]
        reductions = tuple(r for r in (cpu_reason, mem_reason) if r)
        threads = max(1, int(granted_cpus if granted_cpus is not None else host_cpus))
        grants[d.engine] = Grant(d.engine, granted_cpus, granted_mib, threads, reductions)
    return HostFit(grants, tuple(refusals))


def _fit_cpus(demands: list[Demand], host_cpus: int) -> dict[str, tuple[float | None, str | None]]:
    """Each at most the host's CPUs; together at most the host's CPUs, shared in proportion to those capped asks
    (one engine asking for 512 CPUs must not starve the others)."""
    out: dict[str, tuple[float | None, str | None]] = {}
    asked = {d.engine: min(d.cpus, float(host_cpus)) for d in demands if d.cpus is not None}
    total = sum(asked.values())
    scale = min(1.0, host_cpus / total) if total else 1.0
    for d in demands:
        if d.cpus is None:
            out[d.engine] = (None, None)
            continue
        granted = _round_down(asked[d.engine] * scale, CPU_STEP)
        reason = None
        if granted < d.cpus:
            why = (f"the engines ask for {_num(sum(x.cpus or 0 for x in demands))} CPUs together and this host "
                   f"has {host_cpus}"
                   if scale < 1.0 and len(asked) > 1 else f"this host has {host_cpus} CPUs")
            reason = f"CPUs {_num(d.cpus)} -> {_num(granted)}: {why}"
        out[d.engine] = (granted, reason)
    return out


def _fit_memory(demands: list[Demand], usable_mib: int) -> dict[str, tuple[int | None, str | None]]:
    """Each engine at most the usable memory; together at most it, sharing what is above each minimum."""
    out: dict[str, tuple[int | None, str | None]] = {}
    limited = [d for d in demands if d.memory_mib is not None]
    for d in demands:
        if d.memory_mib is None:
            out[d.engine] = (None, None)
    asked = {d.engine: max(d.memory_mib or 0, d.min_memory_mib) for d in limited}
    if sum(asked.values()) <= usable_mib:
        for d in limited:
            granted = asked[d.engine]
            out[d.engine] = (granted, None if granted == d.memory_mib else
                             f"memory {d.memory_mib} MiB -> {granted} MiB: the model needs {d.min_memory_mib} MiB")
        return out
    # Over budget: every engine keeps its minimum; what is above the minimums is shared in proportion.
    floors = sum(d.min_memory_mib for d in limited)
    extra_asked = sum(asked[d.engine] - d.min_memory_mib for d in limited)
    extra_room = max(0, usable_mib - floors)
    for d in limited:
        extra = asked[d.engine] - d.min_memory_mib
        granted = d.min_memory_mib + (extra * extra_room // extra_asked if extra_asked else 0)
        granted = max(granted, 6)  # Docker's smallest memory limit is 6 MiB
        reason = None
        if granted < (d.memory_mib or 0):
            reason = (f"memory {d.memory_mib} MiB -> {granted} MiB: the engines ask for {sum(asked.values())} MiB "
                      f"together and {usable_mib} MiB is left after the OS reserve")
        out[d.engine] = (granted, reason)
    return out


def _round_down(value: float, step: float) -> float:
    return round(int(value / step + 1e-9) * step, 2) if value >= step else step


def _num(value: float) -> str:
    return f"{value:g}" if value == int(value) else f"{value:.2f}"
