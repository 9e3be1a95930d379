"""Resolution + stack -> Plan: models by memory, GPU placement, unified-memory budget, limits, ports, command.

Placement is a search: each GPU engine tries its fitting candidates in the resolver's order on every device
that runs them (a whole GPU, or one MIG instance of a GPU in MIG mode), and only when none has room, the
engine's CPU candidate where the catalogue and the stack allow it. Every attempt that failed is kept, so the
plan can say what was tried. Refusals are values (`Refusal`, `NoRoom`), never marked strings.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, TypeVar

from aima.catalog.model import OBTAIN_PULL, Candidate, Catalog, Engine, ModelChoice
from aima.hardware.model import Gpu, Hardware
from aima.hostfit import Demand, Grant, fit_to_host
from aima.plan_types import BuildPlan, EnginePlan, Mount, Plan, PlannedLimits, PortBinding, Refusal
from aima.resolve import CPU, Fit, Rejection, Resolution, lost_reason, resolve
from aima.stack import EngineSettings, Stack, default_models_dir

if TYPE_CHECKING:
    from aima.models.sizing import ModelSize

_N = TypeVar("_N", int, float)

# Seed 004's GB10 stack ran ASR and TTS on the CPU with 4 GiB and 2 CPUs each.
UNIFIED_KEEP_ON_CPU = ("unified memory: kept on the CPU so the LLM gets the shared pool "
                       "(as GB10 field reports run it: ASR and TTS on CPU, 4 GiB and 2 CPUs each)")
# Of each discrete GPU's (or MIG instance's) memory, left for the CUDA context and fragmentation.
GPU_HEADROOM = 0.05
# Unified memory (GB10, Jetson): the OS keeps the larger of 8 GiB and a tenth of the pool. vLLM's own note on
# unified-memory machines and seed 004 put its share at 0.7-0.8 of the pool; with 10 % kept for the OS and
# 8 GiB for the CPU engines on a 128 GB GB10 that is what remains.
UNIFIED_RESERVE_FLOOR_MIB = 8192
UNIFIED_RESERVE_FRACTION = 0.10


@dataclass(frozen=True)
class PlanOptions:
    """Choices the user makes on the command line."""

    expose: bool = False  # publish ports on all interfaces instead of 127.0.0.1
    inspected: Mapping[str, tuple[str, str]] | None = None  # image -> (archs, source) from `aima inspect`
    builds: Mapping[str, BuildPlan] | None = None  # "engine/candidate" -> how aima builds it (aima.build.recipe)
    local_images: frozenset[str] | None = None  # local-only images found here; None: not looked (--hardware)
    latest: bool = False  # pull the moving tag even where the catalogue pins a digest (`up --latest`)
    model_sizes: Mapping[str, ModelSize] | None = None  # hf:// URI -> its files' bytes (aima.models.sizing.measure)


def pull_reference(candidate: Candidate, cpu_arch: str, latest: bool = False) -> str:
    """What `up` pulls for a candidate: ``repo@sha256:…`` when the catalogue pins a digest for this host's platform
    (``verified:``, written by `aima catalog verify --pin`), else (or with ``latest``) the image's tag."""
    if latest or candidate.obtain != OBTAIN_PULL:
        return candidate.image
    from aima.hardware.model import platform_for

    pin = candidate.pin(platform_for(cpu_arch))
    if pin is None:
        return candidate.image
    from aima.registry.reference import parse_reference

    try:
        return parse_reference(candidate.image).with_digest(pin.digest)
    except ValueError:
        return candidate.image


def unified_reserve_mib(pool_mib: int, stack: Stack) -> int:
    """Memory kept for the OS on a unified-memory machine: the stack's figure, else max(8 GiB, 10 % of the pool)."""
    if stack.os_reserve_mib is not None:
        return stack.os_reserve_mib
    return max(UNIFIED_RESERVE_FLOOR_MIB, int(pool_mib * UNIFIED_RESERVE_FRACTION))


def memory_share(left_mib: int, total_mib: int, cap: float) -> float:
    """The fraction of a device's memory an engine sized by fraction (vLLM) may use.

    Rounded DOWN to 0.01, so the engine never claims more than the room left (vLLM refuses to start when free
    memory is below its fraction: vllm issue 35313), capped by the candidate's maximum, and at least 0.01.
    """
    return max(0.01, min(cap, math.floor(100 * left_mib / total_mib) / 100))


# --- where engines can go ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Slot:
    """One place a GPU engine can run: a whole GPU, one MIG instance, or a unified-memory GPU's pool share."""

    gpu: int  # the physical GPU's index
    device: str  # what the device request names: the GPU index, or the MIG instance's UUID
    label: str  # 'GPU 0 (NVIDIA A100 80GB PCIe)', 'MIG 1g.10gb (MIG-…) on GPU 0'
    total_mib: int  # the memory the engine's device has (a MIG instance's own, the pool on unified memory)
    room_mib: int  # what may be claimed before anything is placed
    uuid: str | None = None  # the whole GPU's UUID (a stack may pin a GPU by it)


def slots(hw: Hardware, pool_room_mib: int | None = None) -> tuple[tuple[Slot, ...], tuple[str, ...]]:
    """Every slot of the machine, and why GPUs that offer none are left out (MIG on, no instance)."""
    out: list[Slot] = []
    why: list[str] = []
    for gpu in hw.gpus:
        if gpu.unified_memory or gpu.memory_mib is None:
            room = pool_room_mib if pool_room_mib is not None else hw.ram_mib
            out.append(Slot(gpu.index, str(gpu.index), _gpu_label(gpu), hw.ram_mib, room, gpu.uuid))
        elif gpu.mig_enabled:
            # A GPU in MIG mode exposes no CUDA device as a whole: containers get MIG devices by UUID
            # (libnvidia-container src/nvc_info.c fill_mig_device_info; NVIDIA MIG user guide).
            if not gpu.mig_instances:
                why.append(f"GPU {gpu.index} ({gpu.name}) has MIG enabled and no MIG instance: a container "
                           f"cannot use it as a whole (create instances with nvidia-smi mig -cgi ... -C)")
            for mig in gpu.mig_instances:
                label = f"MIG {mig.profile} ({mig.uuid}) on GPU {gpu.index}"
                out.append(Slot(gpu.index, mig.uuid, label, mig.memory_mib, _usable(mig.memory_mib, None), gpu.uuid))
        else:
            out.append(Slot(gpu.index, str(gpu.index), _gpu_label(gpu), gpu.memory_mib,
                            _usable(gpu.memory_mib, gpu.memory_free_mib), gpu.uuid))
    return tuple(out), tuple(why)


def _gpu_label(gpu: Gpu) -> str:
    return f"GPU {gpu.index} ({gpu.name})"


def _usable(total: int, free: int | None) -> int:
    return int(min(free if free is not None else total, total * (1 - GPU_HEADROOM)))


# --- placement ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Placement:
    """Where one engine runs, with which candidate and model, and its memory claim."""

    fit: Fit
    slot: Slot | None  # None on the CPU
    model: ModelChoice | None
    share: float | None = None  # fraction of the device's memory, for engines sized that way
    claim: int | None = None  # MiB of GPU (or unified) memory
    tried: tuple[Rejection, ...] = ()  # (candidate, where) attempts that did not fit, in the order tried
    pinned_as: str | None = None  # the stack's name for the GPU (its UUID) when it pinned one

    @property
    def devices(self) -> tuple[str, ...]:
        """The device request: () on the CPU."""
        if self.slot is None:
            return ()
        return (self.pinned_as or self.slot.device,)

    @property
    def mode(self) -> str:
        """native, ptx-jit, forward-compat (or both), or cpu."""
        return self.fit.mode_on(self.slot.gpu if self.slot else None)


@dataclass(frozen=True)
class NoRoom:
    """No slot could take an engine: what the first attempt needed and everything that was tried."""

    reason: str
    tried: tuple[Rejection, ...] = ()


@dataclass(frozen=True)
class _Job:
    """One engine being planned: what the planner threads through every step, in one value."""

    name: str
    res: Resolution
    engine: Engine
    settings: EngineSettings
    model_size: ModelSize | None = None  # an hf:// model's bytes (None: not an hf:// model, or not measured)

    @property
    def gpu_fits(self) -> list[Fit]:
        """The chosen GPU candidate, then the other GPU candidates that fit, in resolver order."""
        return [f for f in (self.res.chosen_fit, *self.res.fallbacks) if f.candidate.gpu]

    @property
    def cpu_fits(self) -> list[Fit]:
        """CPU candidates that fit, where the catalogue and the stack allow the CPU."""
        if not self.engine.allow_cpu or self.settings.device == "gpu":
            return []
        return [f for f in self.res.fits if not f.candidate.gpu]

    def min_gpu_need(self) -> int:
        """The least GPU memory any fitting GPU candidate of this engine can run with: the stack's named model
        (a catalogue name or a sized hf:// URI) where it names one, else the smallest of each candidate's format."""
        named = _own_model(self.settings, self.model_size) or next(
            (m for m in self.engine.models if m.name == self.settings.model), None)
        if named is not None:
            needs = [named.gpu_memory_mib for f in self.gpu_fits if f.candidate.model_format == named.format]
        else:
            needs = [m.gpu_memory_mib for f in self.gpu_fits for m in _models_of(self.engine, f.candidate)]
        return min(needs, default=0)


def make_plan(hw: Hardware, catalog: Catalog, stack: Stack, options: PlanOptions = PlanOptions()) -> Plan:
    """Plan every enabled engine of the stack on this hardware; refusals carry the numbers."""
    if stack.latest and not options.latest:
        options = replace(options, latest=True)
    jobs: dict[str, _Job] = {}
    refusals: list[Refusal] = []
    # The LLM is resolved first: on unified memory the others stay on the CPU only when it takes the GPU.
    for settings in sorted(stack.enabled, key=lambda e: e.name != "llm"):
        llm = jobs.get("llm")
        found = _resolve_for(settings, hw, catalog, _force_cpu(settings, hw, llm), options)
        if isinstance(found, Refusal):
            refusals.append(found)
        else:
            jobs[settings.name] = found
    jobs = {e.name: jobs[e.name] for e in stack.enabled if e.name in jobs}
    placed = _place(hw, stack, jobs)
    ok = {n: p for n, p in placed.items() if isinstance(p, Placement)}
    # Limits fitted to the host's CPUs and RAM (aima/hostfit.py); on unified memory the GPU engines' pool
    # shares and the OS reserve are already promised.
    reserved = (unified_reserve_mib(hw.ram_mib, stack) + sum(p.claim or 0 for p in ok.values() if p.fit.candidate.gpu)
                if hw.unified_memory else None)
    host = fit_to_host([_demand(hw, n, p, jobs[n].settings) for n, p in ok.items()], hw.cpu_cores, hw.ram_mib,
                       reserved_mib=reserved)
    host_refused = dict(host.refusals)
    engines: list[EnginePlan] = []
    for name, job in jobs.items():
        placement = placed[name]
        if isinstance(placement, NoRoom):
            refusals.append(Refusal(name, placement.reason, _rejected(job, None, placement.tried)))
            continue
        if name in host_refused:
            refusals.append(Refusal(name, f"does not fit this host: {host_refused[name]}", job.res.rejected))
            continue
        grant = host.grants[name]
        plan = _engine_plan(job, placement, hw, options, grant)
        fallbacks = (_fallback_plan(job, fit, plan, hw, options, grant) for fit in job.res.fallbacks
                     if fit is not placement.fit)
        engines.append(replace(plan, fallbacks=tuple(f for f in fallbacks if f is not None)))
    engines, clashes = _port_clashes(engines)
    refusals.extend(clashes)
    refusals.sort(key=lambda r: [e.name for e in stack.enabled].index(r.engine)
                  if r.engine in [e.name for e in stack.enabled] else 0)
    warnings = tuple(w for e in engines for w in e.warnings)
    budget = _budget_rows(hw, stack, engines) if hw.unified_memory else ()
    return Plan(stack.name, hw, tuple(engines), tuple(refusals), warnings, budget, latest=options.latest)


def _port_clashes(engines: list[EnginePlan]) -> tuple[list[EnginePlan], list[Refusal]]:
    """An engine whose host port another engine already publishes (a stack port on another engine's catalogue
    default) could never start: refuse it in the plan rather than let `up` start half the stack."""
    taken: dict[int, str] = {}
    kept: list[EnginePlan] = []
    refused: list[Refusal] = []
    for e in engines:
        clash = next(((p.host_port, taken[p.host_port]) for p in e.ports if p.host_port in taken), None)
        if clash is not None:
            port, other = clash
            refused.append(Refusal(e.engine, f"host port {port} is also {other}'s; give {e.engine} or {other} "
                                             "another `port:` in the stack file"))
            continue
        taken.update({p.host_port: e.engine for p in e.ports if p.host_port})
        kept.append(e)
    return kept, refused


def _demand(hw: Hardware, name: str, p: Placement, settings: EngineSettings) -> Demand:
    """What one placed engine asks of the host (docs/limits.md): CPU engines need their model's memory."""
    limits = _merged_limits(p.fit.candidate, settings)
    memory = None if p.share is not None and hw.unified_memory else limits.memory_mib
    need = p.model.memory_mib if p.model and not p.fit.candidate.gpu else (memory or 0) // 2
    return Demand(name, limits.cpus, memory, min(need, memory) if memory is not None else 0)


def _smaller(a: _N | None, b: _N | None) -> _N | None:
    return b if a is None else a if b is None else min(a, b)


def _force_cpu(settings: EngineSettings, hw: Hardware, llm: _Job | None) -> str | None:
    if settings.device == "cpu":
        return "the stack asks for the CPU (device: cpu)"
    if (settings.device == "auto" and hw.unified_memory and settings.name != "llm" and llm is not None
            and llm.res.gpu_used):
        return UNIFIED_KEEP_ON_CPU
    return None


def _resolve_for(settings: EngineSettings, hw: Hardware, catalog: Catalog, force_cpu: str | None,
                 options: PlanOptions) -> _Job | Refusal:
    engine = catalog.engine(settings.name)
    exclude: frozenset[str] = frozenset()
    if settings.candidate and engine is not None:
        ids = {c.id for c in engine.candidates}
        if settings.candidate not in ids:
            return Refusal(settings.name, f"the stack pins candidate {settings.candidate!r}, which the catalogue "
                                          f"does not have (has: {', '.join(sorted(ids))})")
        exclude = frozenset(ids - {settings.candidate})
    size = (options.model_sizes or {}).get(settings.model)
    res = resolve(settings.name, hw, catalog, force_cpu=force_cpu, inspected=options.inspected, exclude=exclude,
                  local_images=options.local_images, model=_own_model(settings, size))
    if res.chosen is None or engine is None:
        return Refusal(settings.name, res.reason, res.rejected)
    if settings.device == "gpu" and not res.chosen.gpu:
        return Refusal(settings.name, "the stack asks for the GPU (device: gpu) but no GPU image fits", res.rejected)
    return _Job(settings.name, res, engine, settings, size)


def _own_model(settings: EngineSettings, size: ModelSize | None) -> ModelChoice | None:
    """The stack's hf:// model, sized, when its file name says its format (the resolver checks GPUs against it)."""
    if not settings.model.startswith("hf://"):
        return None
    from aima.models.layout import source_format, uri_choice
    from aima.models.source import parse_hf_uri

    try:
        if source_format(parse_hf_uri(settings.model)) is None:
            return None
        return uri_choice(settings.model, None, size, settings.max_model_len)
    except ValueError:
        return None  # the planner says what is wrong with it


def _rejected(job: _Job, placement: Placement | None, tried: tuple[Rejection, ...]) -> tuple[Rejection, ...]:
    """The resolver's losers, re-judged when placement moved on from the resolver's choice."""
    res = job.res
    chosen_fit = placement.fit if placement else None
    if chosen_fit is not None and chosen_fit is res.chosen_fit and not tried:
        return res.rejected
    first_try: dict[str, Rejection] = {}
    for attempt in tried:
        first_try.setdefault(attempt.candidate, attempt)
    by_fit = {f.candidate.id: f for f in res.fits}
    out = []
    chosen = res.chosen_fit.candidate
    for r in (*res.rejected, Rejection(chosen.id, chosen.image, "")):
        if chosen_fit is not None and r.candidate == chosen_fit.candidate.id:
            continue
        if r.candidate in first_try:
            out.append(first_try[r.candidate])
        elif r.candidate in by_fit:
            out.append(Rejection(r.candidate, r.image, lost_reason(by_fit[r.candidate], chosen_fit)))
        else:
            out.append(r)
    return tuple(sorted(out, key=lambda r: job.engine.position(r.candidate)))


# --- models -------------------------------------------------------------------------------------------------

def _models_of(engine: Engine, candidate: Candidate) -> list[ModelChoice]:
    """The engine's models of the candidate's format, largest need first."""
    return sorted(engine.models_of(candidate.model_format), key=lambda m: _need(m, candidate.gpu), reverse=True)


def _need(model: ModelChoice | None, gpu: bool) -> int:
    if model is None:
        return 0
    return model.gpu_memory_mib if gpu else model.memory_mib


@dataclass(frozen=True)
class _NoModel:
    reason: str


def _pick_model(job: _Job, candidate: Candidate, room_mib: int | None) -> ModelChoice | None | _NoModel:
    """The named model, or (auto) the largest that fits in room_mib; None when the candidate needs no model."""
    engine, settings = job.engine, job.settings
    if candidate.model_format is None:
        return None
    where = "GPU memory" if candidate.gpu else "memory"
    if settings.model.startswith("hf://"):  # a model the catalogue does not list (docs/models.md)
        from aima.models.layout import uri_choice

        try:
            uri = uri_choice(settings.model, candidate.model_format, job.model_size, settings.max_model_len)
        except ValueError as exc:
            return _NoModel(str(exc))
        if uri.format != candidate.model_format:
            return _NoModel(f"model {uri.name} is {uri.format}; {candidate.id} needs a {candidate.model_format} "
                            f"model")
        need = _need(uri, candidate.gpu)
        if room_mib is not None and need > room_mib:
            return _NoModel(f"model {uri.name} ({uri.size_mib} MiB of files) needs {need} MiB of {where}; "
                            f"only {room_mib} MiB is left for {engine.name}")
        return uri
    models = _models_of(engine, candidate)
    if not models:
        return _NoModel(f"the catalogue lists no {candidate.model_format} model for {engine.name}")
    if settings.model != "auto":
        named = next((m for m in engine.models if m.name == settings.model), None)
        if named is None:
            names = ", ".join(m.name for m in models)
            return _NoModel(f"the stack asks for model {settings.model!r}; {candidate.id} can serve: {names}")
        if named.format != candidate.model_format:
            return _NoModel(f"model {named.name} is {named.format}; {candidate.id} needs a "
                            f"{candidate.model_format} model")
        if room_mib is not None and _need(named, candidate.gpu) > room_mib:
            return _NoModel(f"model {named.name} needs {_need(named, candidate.gpu)} MiB of {where}; "
                            f"only {room_mib} MiB is left for {engine.name}")
        return named
    for model in models:
        if room_mib is None or _need(model, candidate.gpu) <= room_mib:
            return model
    smallest = models[-1]
    return _NoModel(f"its smallest model ({smallest.name}) needs {_need(smallest, candidate.gpu)} MiB of {where}; "
                    f"only {room_mib} MiB is left for {engine.name}")


# --- placement ----------------------------------------------------------------------------------------------

def _place(hw: Hardware, stack: Stack, jobs: dict[str, _Job]) -> dict[str, Placement | NoRoom]:
    """Choose slot, candidate, model and memory share per engine."""
    placed: dict[str, Placement | NoRoom] = {}
    for name, job in jobs.items():
        if not job.res.gpu_used:
            placed[name] = _on_cpu(job, job.cpu_fits or [job.res.chosen_fit], ())
    gpu_jobs = [n for n, j in jobs.items() if j.res.gpu_used]
    if not gpu_jobs:
        return placed
    if hw.unified_memory:
        pool = hw.ram_mib
        reserve = unified_reserve_mib(pool, stack)
        others = sum(_merged_limits(p.fit.candidate, jobs[n].settings).memory_mib or 0
                     for n, p in placed.items() if isinstance(p, Placement))
        all_slots, closed = slots(hw, pool - reserve - others)
        context = f"unified pool {pool} MiB - OS reserve {reserve} MiB - CPU engines {others} MiB"
    else:
        all_slots, closed = slots(hw)
        context = f"after {GPU_HEADROOM:.0%} headroom"
    several = len(all_slots) > 1 and not hw.unified_memory
    room = {s.device: s.room_mib for s in all_slots}
    # On several slots the LLM (the largest claim) picks first and keeps its slot while others are free;
    # on one slot (or one unified pool) it sizes itself last from what the others leave.
    order = sorted(gpu_jobs, key=lambda n: (n != "llm") if several else (n == "llm"))
    taken: set[str] = set()
    llm_slot: set[str] = set()
    for position, name in enumerate(order):
        job = jobs[name]
        # Leave room for the smallest model of every engine still to come on a shared device (seed 001).
        later = 0 if several else sum(jobs[n].min_gpu_need() for n in order[position + 1:])
        found = _search(job, all_slots, closed, room, taken, llm_slot, later, context)
        if isinstance(found, NoRoom) and job.cpu_fits and job.settings.gpu is None:
            found = _on_cpu(job, job.cpu_fits, found.tried)
        placed[name] = found
        if isinstance(found, Placement) and found.slot is not None:
            room[found.slot.device] -= found.claim or 0
            taken.add(found.slot.device)
            if name == "llm" and several:
                llm_slot.add(found.slot.device)
    return placed


def _tier(slot: Slot, taken: set[str], avoid: set[str]) -> int:
    """0: nothing placed there yet; 1: another engine is there; 2: the LLM's slot on a machine with several."""
    return 2 if slot.device in avoid else 1 if slot.device in taken else 0


def _attempts(job: _Job, all_slots: tuple[Slot, ...], room: dict[str, int], taken: set[str],
              avoid: set[str]) -> tuple[list[tuple[Fit, Slot]], list[Rejection]]:
    """Every (candidate, slot) pair worth trying, best first, and the candidates that have no slot at all.

    A pinned GPU (the stack's `gpu:`) is the only slot. Otherwise free slots come before shared ones and the
    LLM's last, so an engine moves to another GPU with another candidate before it squeezes in next to the
    LLM; within a tier the resolver's candidate order (native first), then the slot with most room.
    """
    pin = job.settings.gpu
    pairs: list[tuple[tuple[int, int, int, int], Fit, Slot]] = []
    none: list[Rejection] = []
    for rank, fit in enumerate(job.gpu_fits):
        usable = [s for s in all_slots if fit.on_gpu(s.gpu) is not None]
        if pin is not None:
            pinned = [s for s in all_slots if pin in (str(s.gpu), s.device, s.uuid)]
            if not pinned:
                names = ", ".join(s.device for s in all_slots) or "no usable GPU"
                none.append(Rejection(fit.candidate.id, fit.candidate.image,
                                      f"the stack pins GPU {pin}; this machine has {names}"))
                continue
            usable = [s for s in pinned if s in usable]
            if not usable:
                none.append(Rejection(fit.candidate.id, fit.candidate.image,
                                      f"the stack pins GPU {pin}, which cannot run {fit.candidate.id}"))
                continue
        if not usable:
            none.append(Rejection(fit.candidate.id, fit.candidate.image,
                                  f"no usable GPU of this machine runs {fit.candidate.id}"))
        for s in usable:
            pairs.append(((_tier(s, taken, avoid), rank, -room[s.device], s.gpu), fit, s))
    pairs.sort(key=lambda p: p[0])
    return [(fit, slot) for _, fit, slot in pairs], none


def _passed_over(job: _Job, chosen: Fit, slot: Slot, pairs: list[tuple[Fit, Slot]], tried: list[Rejection],
                 taken: set[str], avoid: set[str]) -> list[Rejection]:
    """Candidates ranked before the chosen one that were not tried because their devices were already in use."""
    out = []
    seen = {t.candidate for t in tried}
    for fit in job.gpu_fits:
        if fit is chosen:
            break
        if fit.candidate.id in seen:
            continue
        where = sorted({s.label for f, s in pairs if f is fit})
        if where:
            users = ("the LLM already uses" if any(s.device in avoid for f, s in pairs if f is fit)
                     else "other engines already use")
            out.append(Rejection(fit.candidate.id, fit.candidate.image,
                                 f"runs only on {', '.join(where)}, which {users}; {chosen.candidate.id} "
                                 f"runs on {slot.label}, which was free"))
    return out


def _search(job: _Job, all_slots: tuple[Slot, ...], closed: tuple[str, ...], room: dict[str, int],
            taken: set[str], avoid: set[str], later: int, context: str) -> Placement | NoRoom:
    """Every GPU candidate on every slot that runs it, in order; the first whose model fits wins."""
    pairs, none = _attempts(job, all_slots, room, taken, avoid)
    tried: list[Rejection] = list(none)
    for fit, slot in pairs:
        left = room[slot.device] - later
        model = _pick_model(job, fit.candidate, left)
        if isinstance(model, _NoModel):
            where = f"{slot.label}, {slot.total_mib} MiB; {room[slot.device]} MiB left {context}"
            where += f"; {later} MiB kept for the engines still to place" if later else ""
            tried.append(Rejection(fit.candidate.id, fit.candidate.image, f"{model.reason} on {where}"))
            continue
        claim, share = _need(model, True), None
        if fit.candidate.gpu_memory_utilization_max is not None:
            share = memory_share(left, slot.total_mib, fit.candidate.gpu_memory_utilization_max)
            claim = int(share * slot.total_mib)
        pinned_as = job.settings.gpu if job.settings.gpu is not None and job.settings.gpu == slot.uuid else None
        tried += _passed_over(job, fit, slot, pairs, tried, taken, avoid)
        return Placement(fit, slot, model, share, claim, tuple(tried), pinned_as)
    if not pairs and closed:
        chosen = job.res.chosen_fit.candidate
        tried.append(Rejection(chosen.id, chosen.image, "; ".join(closed)))
    first = next((t.reason for t in tried if not t.reason.startswith("no usable GPU")), None)
    return NoRoom(first or (tried[0].reason if tried else "no GPU candidate fits"), tuple(tried))


def _on_cpu(job: _Job, fits: list[Fit], tried: tuple[Rejection, ...]) -> Placement | NoRoom:
    """The first CPU candidate whose model fits its container memory limit."""
    attempts = list(tried)
    for fit in fits:
        model = _pick_model(job, fit.candidate, _merged_limits(fit.candidate, job.settings).memory_mib)
        if isinstance(model, _NoModel):
            attempts.append(Rejection(fit.candidate.id, fit.candidate.image, model.reason))
            continue
        return Placement(fit, None, model, tried=tuple(attempts))
    first = next((a.reason for a in attempts), "no candidate fits")
    return NoRoom(first, tuple(attempts))


# --- one engine ----------------------------------------------------------------------------------------

def _merged_limits(candidate: Candidate, settings: EngineSettings) -> PlannedLimits:
    base = candidate.limits
    over = settings.limits

    def pick(key: str) -> Any:  # the same field of Limits, from the stack file or the catalogue
        return getattr(over, key) if over is not None and key in settings.limit_keys else getattr(base, key)

    return PlannedLimits(memory_mib=pick("memory_mib"), cpus=pick("cpus"), shm_mib=pick("shm_mib"), pids=pick("pids"))


def _tried_lines(placement: Placement) -> tuple[str, ...]:
    return tuple(f"{a.candidate}: {a.reason}" for a in placement.tried)


def _engine_plan(job: _Job, placement: Placement, hw: Hardware, options: PlanOptions, grant: Grant | None,
                 primary: bool = True) -> EnginePlan:
    """The EnginePlan for one engine at one placement (the primary, or a fallback for `up`)."""
    candidate, engine, settings, model, share = (placement.fit.candidate, job.engine, job.settings,
                                                 placement.model, placement.share)
    limits = _merged_limits(candidate, settings)
    reductions: tuple[str, ...] = ()
    if grant is not None:  # fitted to the host (aima/hostfit.py); fallbacks never ask for more than the grant
        limits = replace(limits, cpus=_smaller(limits.cpus, grant.cpus),
                         memory_mib=_smaller(limits.memory_mib, grant.memory_mib))
        reductions = tuple(f"{engine.name}: {r}" for r in grant.reductions)
    if share is not None and hw.unified_memory:
        # Seed 004: vLLM's container memory is left unlimited; its GPU share caps it inside the pool.
        limits = replace(limits, memory_mib=None)
    limits = replace(limits, gpu_memory_mib=placement.claim, gpu_memory_utilization=share)
    models_dir = settings.models_dir or default_models_dir(engine.name)
    mounts: tuple[Mount, ...] = ()
    if model is not None and model.source is not None and settings.models_dir:
        model = replace(model, source=None)  # the stack names a folder: the user places the files there by hand
    model_path = f"{candidate.model_dir}/{model.file}" if model and model.file else candidate.model_dir
    if candidate.model_format not in (None, "builtin"):
        if model is not None and model.source is not None:  # fetched by `aima pull` into the shared hub cache
            from aima.models.layout import source_mount

            models_dir, model_path = source_mount(model.source, candidate.model_dir)
        mounts = (Mount(models_dir, candidate.model_dir, True),)
    concurrency = settings.concurrency or candidate.concurrency
    values = {
        "port": str(candidate.port),
        "model_dir": candidate.model_dir,
        "model_file": model.file or "" if model else "",
        "model_name": model.name if model else "",
        "served_model_name": model.served_name if model else "",
        "model_path": model_path,
        "gpu_memory_utilization": f"{share:.2f}" if share is not None else "0.90",
        "max_model_len": str(settings.max_model_len),
        "concurrency": str(concurrency or 1),
        "threads": str(max(1, min(int(limits.cpus or hw.cpu_cores), hw.cpu_cores))),
    }
    command = tuple(part.format(**values) for part in candidate.command)
    entrypoint = tuple(part.format(**values) for part in candidate.entrypoint) if candidate.entrypoint else None
    env = dict(candidate.env)
    env.update(dict(settings.env))
    host_ip = "0.0.0.0" if options.expose else "127.0.0.1"
    port = PortBinding(host_ip, settings.port or engine.host_port, candidate.port)
    res = job.res
    chosen_by_resolver = placement.fit is res.chosen_fit
    notes = list(res.warnings if (primary and chosen_by_resolver) else placement.fit.warnings) + list(reductions)
    if model is not None and model.name.startswith("hf://") and not model.size_mib:
        why = job.model_size.how if job.model_size is not None else "its size was not measured"
        notes.append(f"{engine.name}: the memory {model.name} needs is unknown ({why}); it was planned as if it "
                     f"fits")
    if primary and placement.tried:
        where = placement.slot.label if placement.slot else "the CPU"
        notes.append(f"{engine.name}: placed {candidate.id} on {where} after trying: "
                     + "; ".join(_tried_lines(placement)))
        if placement.slot is None and hw.gpus and not any("runs on the CPU" in n for n in notes):
            notes.append(f"{engine.name} runs on the CPU, NOT on the GPU: no GPU had room (see what was tried)")
    if options.expose:
        notes.append(f"{engine.name}: --expose publishes port {port.host_port} on 0.0.0.0, every network interface: "
                     f"other machines can reach this engine, which has no authentication")
    if concurrency == 1 and "ggml-vmm-pool-assert" in candidate.known_failures:
        # Seed 002: GGML_ASSERT(ptr == pool_addr + pool_used) under concurrent requests.
        notes.append(f"{engine.name}: one request at a time: ggml's VMM pool asserts under concurrent use "
                     f"(GGML_ASSERT in the CUDA pool); the real fix is an image built with -DGGML_CUDA_NO_VMM=ON")
    reason = placement.fit.reason
    if placement.slot is not None and placement.slot.device != str(placement.slot.gpu):
        reason += f"; on {placement.slot.label}"
    return EnginePlan(
        engine=engine.name, candidate=candidate.id, image=pull_reference(candidate, hw.cpu_arch, options.latest),
        gpu=candidate.gpu,
        devices=placement.devices, command=command, entrypoint=entrypoint, env=tuple(sorted(env.items())),
        ports=(port,), mounts=mounts, limits=limits, health=candidate.health, model=model, concurrency=concurrency,
        container_port=candidate.port, reason=reason,
        rejected=_rejected(job, placement, placement.tried) if primary else (),
        warnings=tuple(notes), archs_source=res.archs_source, known_failures=candidate.known_failures,
        chosen=candidate, mode=placement.mode, gpus=(placement.slot.gpu,) if placement.slot else (),
        tried=_tried_lines(placement) if primary else (),
        obtain=candidate.obtain, build=(options.builds or {}).get(f"{engine.name}/{candidate.id}"),
    )


def _fallback_plan(job: _Job, fit: Fit, primary: EnginePlan, hw: Hardware, options: PlanOptions,
                   grant: Grant | None) -> EnginePlan | None:
    """The same engine planned with a fallback candidate, on the primary's device (or the CPU)."""
    candidate = fit.candidate
    if candidate.gpu:
        if not primary.gpu or fit.on_gpu(primary.gpus[0]) is None:
            return None
        room = primary.limits.gpu_memory_mib
        model = _pick_model(job, candidate, room)
        share = None
        if candidate.gpu_memory_utilization_max is not None:
            share = primary.limits.gpu_memory_utilization or candidate.gpu_memory_utilization_max
        slot = Slot(primary.gpus[0], primary.devices[0], "", 0, 0)
        placement = Placement(fit, slot, None, share, room, pinned_as=primary.devices[0])
    else:
        model = _pick_model(job, candidate, _merged_limits(candidate, job.settings).memory_mib)
        placement = Placement(fit, None, None)
    if isinstance(model, _NoModel):
        return None
    return _engine_plan(job, replace(placement, model=model), hw, options, grant, primary=False)


def _budget_rows(hw: Hardware, stack: Stack, engines: list[EnginePlan]) -> tuple[tuple[str, int], ...]:
    pool = hw.ram_mib
    rows = [("unified pool", pool), ("OS reserve", unified_reserve_mib(pool, stack))]
    for e in engines:
        claim = e.limits.gpu_memory_mib if e.gpu else e.limits.memory_mib
        rows.append((f"{e.engine} ({'GPU share' if e.gpu else 'container limit'})", claim or 0))
    return tuple(rows)


__all__ = ["CPU", "PlanOptions", "make_plan", "memory_share", "slots", "unified_reserve_mib"]
