"""Resolution + stack -> Plan: models by memory, GPU placement, unified-memory budget, limits, ports, command."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

from aima.catalog.model import Candidate, Catalog, Engine, ModelChoice
from aima.hardware.model import Hardware
from aima.hostfit import Demand, Grant, fit_to_host
from aima.plan_types import EnginePlan, Mount, Plan, PlannedLimits, PortBinding, Refusal
from aima.resolve import Fit, Rejection, Resolution, lost_reason, resolve
from aima.stack import EngineSettings, Stack, default_models_dir

UNIFIED_KEEP_ON_CPU = ("unified memory: kept on the CPU so the LLM gets the shared pool "
                       "(seed 004: ASR and TTS on CPU, 4 GiB and 2 CPUs each)")
_GPU_HEADROOM = 0.05  # of each discrete GPU's memory, left for the CUDA context and fragmentation


@dataclass(frozen=True)
class PlanOptions:
    """Choices the user makes on the command line."""

    expose: bool = False  # publish ports on all interfaces instead of 127.0.0.1
    inspected: Mapping[str, tuple[str, str]] | None = None  # image -> (archs, source) from `aima inspect`


def unified_reserve_mib(pool_mib: int, stack: Stack) -> int:
    """Memory kept for the OS on a unified-memory machine."""
    if stack.os_reserve_mib is not None:
        return stack.os_reserve_mib
    return max(8192, pool_mib // 10)


def make_plan(hw: Hardware, catalog: Catalog, stack: Stack, options: PlanOptions = PlanOptions()) -> Plan:
    """Plan every enabled engine of the stack on this hardware; refusals carry the numbers."""
    resolutions: dict[str, Resolution] = {}
    refusals: list[Refusal] = []
    # The LLM is resolved first: on unified memory the others stay on the CPU only when it takes the GPU.
    order = sorted(stack.enabled, key=lambda e: e.name != "llm")
    for settings in order:
        force_cpu = None
        llm = resolutions.get("llm")
        if settings.device == "cpu":
            force_cpu = "the stack asks for the CPU (device: cpu)"
        elif settings.device == "auto" and hw.unified_memory and settings.name != "llm" and llm and llm.gpu_used:
            force_cpu = UNIFIED_KEEP_ON_CPU
        res = _resolve_for(settings, hw, catalog, force_cpu, options)
        if res.chosen is None:
            refusals.append(Refusal(settings.name, res.reason, res.rejected))
            continue
        if settings.device == "gpu" and not res.chosen.gpu:
            refusals.append(Refusal(settings.name, "the stack asks for the GPU (device: gpu) but no GPU image fits",
                                    res.rejected))
            continue
        resolutions[settings.name] = res
    resolutions = {e.name: resolutions[e.name] for e in stack.enabled if e.name in resolutions}
    placement = _place(hw, catalog, stack, resolutions, refusals)
    fit = fit_to_host([_demand(hw, n, p, stack.engine(n)) for n, p in placement.items()], hw.cpu_cores, hw.ram_mib,
                      reserved_mib=unified_reserve_mib(hw.ram_mib, stack) + sum(p.claim or 0 for p in placement.values()
                                   if p.fit.candidate.gpu) if hw.unified_memory else None)
    refusals += [Refusal(n, f"does not fit this host: {why}", resolutions[n].rejected) for n, why in fit.refusals]
    engines: list[EnginePlan] = []
    for name, res in resolutions.items():
        if name not in fit.grants:
            continue
        settings = stack.engine(name)
        p = placement[name]
        rejected = _rejected_after_placement(res, p, catalog.engine(name))
        plan = _engine_plan(p.fit.candidate, res, settings, catalog.engine(name), hw, p.devices, p.model, p.share,
                            p.claim, options, reason=p.fit.reason, rejected=rejected,
                            warnings=res.warnings if not p.skipped else p.fit.warnings, grant=fit.grants[name])
        fallbacks = tuple(_fallback_plan(f, res, settings, catalog.engine(name), hw, plan, options, fit.grants[name])
                          for f in res.fallbacks if f is not p.fit)
        engines.append(replace(plan, fallbacks=tuple(f for f in fallbacks if f is not None)))
    warnings = tuple(w for e in engines for w in e.warnings)
    budget = _budget_rows(hw, stack, engines) if hw.unified_memory else ()
    return Plan(stack.name, hw, tuple(engines), tuple(refusals), warnings, budget)


def _demand(hw: Hardware, name: str, p: Placement, settings: EngineSettings) -> Demand:
    """What one placed engine asks of the host (docs/limits.md): CPU engines need their model's memory."""
    limits = _merged_limits(p.fit.candidate, settings)
    memory = None if p.share is not None and hw.unified_memory else limits.memory_mib
    need = p.model.memory_mib if p.model and not p.fit.candidate.gpu else (memory or 0) // 2
    return Demand(name, limits.cpus, memory, min(need, memory) if memory is not None else 0)


def _rejected_after_placement(res: Resolution, placement: Placement, engine: Engine) -> tuple[Rejection, ...]:
    """The resolver's losers, re-judged when placement had to move on to another candidate."""
    if placement.fit.candidate is res.chosen:
        return res.rejected
    skipped = {r.candidate: r for r in placement.skipped}
    by_fit = {f.candidate.id: f for f in res.fits}
    out = []
    for r in res.rejected + (Rejection(res.chosen.id, res.chosen.image, ""),):
        if r.candidate == placement.fit.candidate.id:
            continue
        if r.candidate in skipped:
            out.append(skipped[r.candidate])
        elif r.candidate in by_fit:
            out.append(Rejection(r.candidate, r.image, lost_reason(by_fit[r.candidate], placement.fit)))
        else:
            out.append(r)
    return tuple(sorted(out, key=lambda r: engine.position(r.candidate)))


def _resolve_for(settings: EngineSettings, hw: Hardware, catalog: Catalog, force_cpu: str | None,
                 options: PlanOptions) -> Resolution:
    exclude: frozenset[str] = frozenset()
    engine = catalog.engine(settings.name)
    if settings.candidate and engine is not None:
        ids = {c.id for c in engine.candidates}
        if settings.candidate not in ids:
            return Resolution(settings.name, None, (),
                              f"the stack pins candidate {settings.candidate!r}, which the catalogue does not have "
                              f"(has: {', '.join(sorted(ids))})", ())
        exclude = frozenset(ids - {settings.candidate})
    return resolve(settings.name, hw, catalog, force_cpu=force_cpu, inspected=options.inspected, exclude=exclude)


# --- models and placement -------------------------------------------------------------------------------

def _models_of(engine: Engine, candidate: Candidate) -> list[ModelChoice]:
    """The engine's models of the candidate's format, largest need first."""
    return sorted(engine.models_of(candidate.model_format), key=lambda m: _need(m, candidate.gpu), reverse=True)


def _need(model: ModelChoice | None, gpu: bool) -> int:
    if model is None:
        return 0
    return model.gpu_memory_mib if gpu else model.memory_mib


def _pick_model(engine: Engine, candidate: Candidate, settings: EngineSettings, room_mib: int | None,
                ) -> tuple[ModelChoice | None, str | None]:
    """The named model, or (auto) the largest that fits in room_mib; the second value is a refusal."""
    if candidate.model_format is None:
        return None, None
    models = _models_of(engine, candidate)
    if not models:
        return None, f"the catalogue lists no {candidate.model_format} model for {engine.name}"
    if settings.model != "auto":
        named = next((m for m in engine.models if m.name == settings.model), None)
        if named is None:
            names = ", ".join(m.name for m in models)
            return None, f"the stack asks for model {settings.model!r}; {candidate.id} can serve: {names}"
        if named.format != candidate.model_format:
            return None, (f"model {named.name} is {named.format}; {candidate.id} needs a "
                          f"{candidate.model_format} model")
        if room_mib is not None and _need(named, candidate.gpu) > room_mib:
            where = "GPU memory" if candidate.gpu else "memory"
            return None, (f"model {named.name} needs {_need(named, candidate.gpu)} MiB of {where}; "
                          f"only {room_mib} MiB is left for {engine.name}")
        return named, None
    for model in models:
        if room_mib is None or _need(model, candidate.gpu) <= room_mib:
            return model, None
    smallest = models[-1]
    where = "GPU memory" if candidate.gpu else "memory"
    return None, (f"its smallest model ({smallest.name}) needs {_need(smallest, candidate.gpu)} MiB of {where}; "
                  f"only {room_mib} MiB is left for {engine.name}")


def _usable_mib(hw: Hardware, index: int) -> int:
    gpu = hw.gpus[index]
    free = gpu.memory_free_mib if gpu.memory_free_mib is not None else gpu.memory_mib
    return int(min(free, gpu.memory_mib * (1 - _GPU_HEADROOM)))


@dataclass(frozen=True)
class Placement:
    """Where one engine runs, with which candidate and model, and its memory claim."""

    fit: Fit
    devices: tuple[str, ...]
    model: ModelChoice | None
    share: float | None = None  # fraction of GPU (or unified) memory, for engines sized that way
    claim: int | None = None  # MiB of GPU (or unified) memory
    skipped: tuple[Rejection, ...] = ()  # candidates passed over because their models did not fit


def _gpu_options(res: Resolution) -> list[Fit]:
    """The chosen GPU candidate, then the other GPU candidates that fit, in resolver order."""
    return [res.chosen_fit] + [f for f in res.fallbacks if f.candidate.gpu]


def _min_need(engine: Engine, res: Resolution) -> int:
    """The least GPU memory any fitting GPU candidate of this engine can run with."""
    needs = [m.gpu_memory_mib for f in _gpu_options(res) for m in _models_of(engine, f.candidate)]
    return min(needs, default=0)


def _place(hw: Hardware, catalog: Catalog, stack: Stack, resolutions: dict[str, Resolution],
           refusals: list[Refusal]) -> dict[str, Placement]:
    """Choose devices, candidate, model and memory share per engine; unplaceable engines become refusals."""
    placed: dict[str, Placement] = {}
    for name, res in resolutions.items():
        if res.chosen.gpu:
            continue
        limit = _merged_limits(res.chosen, stack.engine(name)).memory_mib
        model, refusal = _pick_model(catalog.engine(name), res.chosen, stack.engine(name), limit)
        if refusal:
            refusals.append(Refusal(name, refusal, res.rejected))
            continue
        placed[name] = Placement(res.chosen_fit, (), model)
    gpu_engines = [n for n, r in resolutions.items() if r.chosen.gpu]
    if not gpu_engines:
        return placed
    if hw.unified_memory:
        pool = hw.ram_mib
        reserve = unified_reserve_mib(pool, stack)
        others = sum(_merged_limits(p.fit.candidate, stack.engine(n)).memory_mib or 0 for n, p in placed.items())
        room = {g.index: pool - reserve - others for g in hw.gpus}
        totals = {g.index: pool for g in hw.gpus}
        context = f"unified pool {pool} MiB - OS reserve {reserve} MiB - CPU engines {others} MiB"
        several = False
    else:
        room = {g.index: _usable_mib(hw, g.index) for g in hw.gpus}
        totals = {g.index: g.memory_mib for g in hw.gpus}
        context = "after 5 % headroom"
        several = len(hw.gpus) > 1
    # On several GPUs the LLM (the largest claim) picks first and keeps its GPU while others are free;
    # on one GPU (or one unified pool) it sizes itself last from what the others leave.
    order = sorted(gpu_engines, key=lambda n: (n != "llm") if several else (n == "llm"))
    taken: set[int] = set()
    llm_gpu: set[int] = set()
    for position, name in enumerate(order):
        res, engine, settings = resolutions[name], catalog.engine(name), stack.engine(name)
        device = _device_for(hw, res, settings, taken, room, avoid=llm_gpu)
        if device.startswith("!"):
            refusals.append(Refusal(name, device[1:], res.rejected))
            continue
        index = _index_of(hw, device)
        # Leave room for the smallest model of every engine still to come on a shared GPU (seed 001).
        later = 0 if several else sum(_min_need(catalog.engine(n), resolutions[n]) for n in order[position + 1:])
        placement, refusal = _fit_engine(res, engine, settings, device, room[index] - later, totals[index])
        if placement is None:
            gpu = hw.gpus[index]
            where = f"GPU {index} ({gpu.name}, {hw.gpu_memory_mib(gpu)} MiB; {room[index]} MiB left {context}"
            where += f"; {later} MiB kept for the engines still to place)" if later else ")"
            refusals.append(Refusal(name, f"{refusal} on {where}", res.rejected))
            continue
        room[index] -= placement.claim or 0
        taken.add(index)
        if name == "llm" and several:
            llm_gpu.add(index)
        placed[name] = placement
    return placed


def _fit_engine(res: Resolution, engine: Engine, settings: EngineSettings, device: str, room: int,
                total: int) -> tuple[Placement | None, str | None]:
    """The first GPU candidate (chosen, then fallbacks) whose model fits in ``room`` MiB."""
    skipped: list[Rejection] = []
    first_refusal = None
    for fit in _gpu_options(res):
        model, refusal = _pick_model(engine, fit.candidate, settings, room)
        if refusal:
            first_refusal = first_refusal or refusal
            skipped.append(Rejection(fit.candidate.id, fit.candidate.image, refusal))
            continue
        claim, share = _need(model, True), None
        if fit.candidate.gpu_memory_utilization_max is not None:
            share = _share(room, total, fit.candidate.gpu_memory_utilization_max)
            claim = int(share * total)
        return Placement(fit, (device,), model, share, claim, tuple(skipped)), None
    return None, first_refusal


def _share(left_mib: int, total_mib: int, cap: float) -> float:
    """The fraction of total memory an engine sized by fraction may use, rounded down to 0.01."""
    return max(0.01, min(cap, math.floor(100 * left_mib / total_mib) / 100))


def _device_for(hw: Hardware, res: Resolution, settings: EngineSettings, taken: set[int],
                room: dict[int, int] | None = None, avoid: set[int] = frozenset()) -> str:
    """The GPU for one engine: the pinned one, else the free-est allowed one; '!reason' when none."""
    if settings.gpu is not None:
        for gpu in hw.gpus:
            if settings.gpu in (str(gpu.index), gpu.uuid):
                if gpu.index not in res.gpus:
                    return f"!the stack pins GPU {settings.gpu}, which cannot run {res.chosen.id}"
                return settings.gpu
        return f"!the stack pins GPU {settings.gpu}; this machine has GPUs {[g.index for g in hw.gpus]}"
    # An untaken GPU first; then any but the LLM's (it keeps its GPU when there are several); then any.
    allowed = ([i for i in res.gpus if i not in taken] or [i for i in res.gpus if i not in avoid]
               or list(res.gpus))
    best = max(allowed, key=lambda i: ((room or {}).get(i, hw.gpu_memory_mib(hw.gpus[i])), -i))
    return str(best)


def _index_of(hw: Hardware, device: str) -> int:
    return next(g.index for g in hw.gpus if device in (str(g.index), g.uuid))


# --- one engine ----------------------------------------------------------------------------------------

def _merged_limits(candidate: Candidate, settings: EngineSettings) -> PlannedLimits:
    base = candidate.limits
    over = settings.limits
    def pick(key: str) -> float | int | None:
        return getattr(over, key) if over is not None and key in settings.limit_keys else getattr(base, key)

    return PlannedLimits(memory_mib=pick("memory_mib"), cpus=pick("cpus"), shm_mib=pick("shm_mib"), pids=pick("pids"))


def _engine_plan(candidate: Candidate, res: Resolution, settings: EngineSettings, engine: Engine, hw: Hardware,
                 devices: tuple[str, ...], model: ModelChoice | None, share: float | None, claim: int | None,
                 options: PlanOptions, reason: str, rejected: tuple[Rejection, ...],
                 warnings: tuple[str, ...], grant: Grant | None = None) -> EnginePlan:
    limits = _merged_limits(candidate, settings)
    if grant is not None:  # fitted to the host (aima/hostfit.py); fallbacks never ask for more than the grant
        limits = replace(limits, cpus=_smaller(limits.cpus, grant.cpus), memory_mib=_smaller(limits.memory_mib,
                                                                                             grant.memory_mib))
        warnings = warnings + tuple(f"{engine.name}: {r}" for r in grant.reductions)
    if share is not None and hw.unified_memory:
        # Seed 004: vLLM's container memory is left unlimited; its GPU share caps it inside the pool.
        limits = replace(limits, memory_mib=None)
    limits = replace(limits, gpu_memory_mib=claim, gpu_memory_utilization=share)
    models_dir = settings.models_dir or default_models_dir(engine.name)
    mounts: tuple[Mount, ...] = ()
    if candidate.model_format not in (None, "builtin"):
        mounts = (Mount(models_dir, candidate.model_dir, True),)
    concurrency = settings.concurrency or candidate.concurrency
    values = {
        "port": str(candidate.port),
        "model_dir": candidate.model_dir,
        "model_file": model.file or "" if model else "",
        "model_name": model.name if model else "",
        "model_path": f"{candidate.model_dir}/{model.file}" if model and model.file else candidate.model_dir,
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
    notes = list(warnings)
    if concurrency == 1 and "ggml-vmm-pool-assert" in candidate.known_failures:
        notes.append(f"{engine.name}: one request at a time: ggml's VMM pool asserts under concurrent use "
                     f"(seed 002); the real fix is an image built with -DGGML_CUDA_NO_VMM=ON")
    return EnginePlan(
        engine=engine.name, candidate=candidate.id, image=candidate.image, gpu=candidate.gpu, devices=devices,
        command=command, entrypoint=entrypoint, env=tuple(sorted(env.items())), ports=(port,), mounts=mounts,
        limits=limits, health=candidate.health, model=model, concurrency=concurrency, container_port=candidate.port,
        reason=reason, rejected=rejected, warnings=tuple(notes), archs_source=res.archs_source,
        known_failures=candidate.known_failures,
    )


def _smaller(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)


def _fallback_plan(fit: Fit, res: Resolution, settings: EngineSettings, engine: Engine, hw: Hardware,
                   primary: EnginePlan, options: PlanOptions, grant: Grant | None = None) -> EnginePlan | None:
    """The same engine planned with a fallback candidate, on the primary's GPU (or the CPU)."""
    candidate = fit.candidate
    if candidate.gpu:
        if not primary.gpu or _index_of(hw, primary.devices[0]) not in fit.gpus:
            return None
        room = primary.limits.gpu_memory_mib
        model, refusal = _pick_model(engine, candidate, settings, room)
        devices = primary.devices
        share = None
        if candidate.gpu_memory_utilization_max is not None:
            share = primary.limits.gpu_memory_utilization or candidate.gpu_memory_utilization_max
    else:
        model, refusal = _pick_model(engine, candidate, settings, _merged_limits(candidate, settings).memory_mib)
        devices, share, room = (), None, None
    if refusal:
        return None
    return _engine_plan(candidate, res, settings, engine, hw, devices, model, share, room, options,
                        reason=fit.reason, rejected=(), warnings=fit.warnings, grant=grant)


def _budget_rows(hw: Hardware, stack: Stack, engines: list[EnginePlan]) -> tuple[tuple[str, int], ...]:
    pool = hw.ram_mib
    rows = [("unified pool", pool), ("OS reserve", unified_reserve_mib(pool, stack))]
    for e in engines:
        claim = e.limits.gpu_memory_mib if e.gpu else e.limits.memory_mib
        rows.append((f"{e.engine} ({'GPU share' if e.gpu else 'container limit'})", claim or 0))
    return tuple(rows)
