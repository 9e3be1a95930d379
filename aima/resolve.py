"""(engine, Hardware, Catalog) -> Resolution: the chosen candidate and every other one with its reason."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field

from aima.catalog.cuda import (
    check_code,
    check_driver,
    check_platform,
    check_runtime_compiler,
    parse_targets,
)
from aima.catalog.model import Candidate, Catalog, Engine
from aima.hardware.model import Hardware


@dataclass(frozen=True)
class Rejection:
    """A candidate that lost, and why."""

    candidate: str
    image: str
    reason: str


@dataclass(frozen=True)
class Fit:
    """A candidate whose needs this machine meets."""

    candidate: Candidate
    gpus: tuple[int, ...]  # indexes of the GPUs that can run it; () for CPU candidates
    jit: bool  # runs only through PTX JIT
    reason: str
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Resolution:
    """The resolver's answer for one engine."""

    engine: str
    chosen: Candidate | None
    gpus: tuple[int, ...]
    reason: str
    rejected: tuple[Rejection, ...]
    warnings: tuple[str, ...] = ()
    fallbacks: tuple[Fit, ...] = ()  # other fitting candidates, in the order `up` may fall back to them
    archs_source: str = "catalogue"  # or "inspected <image id>" when a cached inspection was used
    fits: tuple[Fit, ...] = field(default=(), repr=False)

    @property
    def chosen_fit(self) -> Fit:
        """The Fit of the chosen candidate (only when one was chosen)."""
        return next(f for f in self.fits if f.candidate is self.chosen)

    @property
    def gpu_used(self) -> bool:
        """True when the chosen candidate runs on a GPU."""
        return self.chosen is not None and self.chosen.gpu


def evaluate(candidate: Candidate, engine: Engine, hw: Hardware, *, force_cpu: str | None = None,
             inspected: Mapping[str, tuple[str, str]] | None = None) -> Fit | Rejection:
    """Check one candidate against the machine; the answer says why in words."""
    platform = check_platform(candidate.platforms, hw.cpu_arch)
    if not platform.ok:
        return Rejection(candidate.id, candidate.image, platform.reason)
    if not candidate.gpu:
        return Fit(candidate, (), False, f"CPU image for {hw.cpu_arch}")
    if not hw.gpus:
        return Rejection(candidate.id, candidate.image, "needs an NVIDIA GPU; this machine has none")
    if force_cpu:
        return Rejection(candidate.id, candidate.image, force_cpu)
    refusal = _driver_refusal(candidate, hw)
    if refusal:
        return Rejection(candidate.id, candidate.image, refusal)
    archs, source = (inspected or {}).get(candidate.image, (candidate.archs or "", "catalogue"))
    targets = _targets(archs)
    reasons: list[str] = []
    good: list[tuple[int, bool, str]] = []
    for gpu in hw.gpus:
        cap = gpu.compute_capability
        code = check_code(targets, cap)
        if code.ok and code.jit and not candidate.ptx_jit:
            reasons.append(f"GPU {gpu.index}: {code.reason}; this engine's kernels trap when JIT-compiled from "
                           f"older PTX (ggml 'no device code', seed 000), so PTX does not count")
            continue
        if not code.ok:
            reasons.append(f"GPU {gpu.index}: {code.reason}")
            continue
        if candidate.runtime_compiler_cuda:
            compiler = check_runtime_compiler(cap, candidate.runtime_compiler_cuda)
            if not compiler.ok:
                reasons.append(f"GPU {gpu.index}: {compiler.reason}")
                continue
        good.append((gpu.index, code.jit, code.reason))
    if not good:
        suffix = f" [archs from {source}]" if source != "catalogue" else ""
        return Rejection(candidate.id, candidate.image, "; ".join(reasons) + suffix)
    native = [g for g in good if not g[1]]
    chosen = native or good
    gpus = tuple(index for index, _, _ in chosen)
    memory = _model_refusal(candidate, engine, hw, gpus)
    if memory:
        return Rejection(candidate.id, candidate.image, memory)
    jit = not native
    reason = chosen[0][2] if len(chosen) == 1 else f"{chosen[0][2]} (GPUs {', '.join(map(str, gpus))})"
    warnings = (f"{engine.name}: {reason}",) if jit else ()
    if source != "catalogue":
        reason += f" [archs from {source}]"
    return Fit(candidate, gpus, jit, reason, warnings)


@functools.lru_cache(maxsize=512)
def _targets(archs: str) -> tuple:
    """Parsed arch lists, cached: the same few catalogue strings are parsed for every machine."""
    return parse_targets(archs) if archs else ()


@functools.lru_cache(maxsize=256)
def _requirement(text: str):
    """Parsed NVIDIA_REQUIRE_CUDA values, cached like the arch lists."""
    from aima.catalog.require import parse_require_cuda

    return parse_require_cuda(text)


def _driver_refusal(candidate: Candidate, hw: Hardware) -> str | None:
    if hw.cuda_driver_version is None:
        return "needs an NVIDIA driver; NVML reported none"
    driver_cuda = hw.cuda_driver_version
    if candidate.require_cuda:
        from aima.catalog.require import evaluate as evaluate_requirement

        requirement = _requirement(candidate.require_cuda)
        refusals = []
        for gpu in hw.gpus:
            verdict = evaluate_requirement(requirement, driver_cuda=driver_cuda, driver_version=hw.driver_version or "",
                                           brand=gpu.brand, arch=gpu.compute_capability)
            if verdict.ok:
                return None
            refusals.append(verdict.reason)
        return f"NVIDIA_REQUIRE_CUDA not met: {refusals[0]}"
    if candidate.cuda:
        verdict = check_driver(candidate.cuda, driver_cuda)
        if not verdict.ok:
            return verdict.reason
    return None


def _model_refusal(candidate: Candidate, engine: Engine, hw: Hardware, gpus: tuple[int, ...]) -> str | None:
    """A GPU candidate must be able to hold at least the smallest model of its format."""
    if candidate.model_format is None:
        return None
    models = engine.models_of(candidate.model_format)
    if not models:
        return f"the catalogue lists no {candidate.model_format} model for {engine.name}"
    smallest = min(models, key=lambda m: m.gpu_memory_mib)
    largest = max(hw.gpu_memory_mib(hw.gpus[i]) for i in gpus)
    if smallest.gpu_memory_mib > largest:
        return (f"its smallest model ({smallest.name}) needs {smallest.gpu_memory_mib} MiB of GPU memory; "
                f"the largest GPU that runs it has {largest} MiB")
    return None


def resolve(engine_name: str, hw: Hardware, catalog: Catalog, *, force_cpu: str | None = None,
            inspected: Mapping[str, tuple[str, str]] | None = None,
            exclude: frozenset[str] = frozenset()) -> Resolution:
    """Choose a candidate for one engine: native GPU code first, then PTX JIT, then CPU where allowed."""
    engine = catalog.engine(engine_name)
    if engine is None:
        known = ", ".join(e.name for e in catalog.engines)
        return Resolution(engine_name, None, (), f"the catalogue has no engine {engine_name!r} (has: {known})", ())
    results = [evaluate(c, engine, hw, force_cpu=force_cpu, inspected=inspected)
               for c in engine.candidates if c.id not in exclude]
    fits = [r for r in results if isinstance(r, Fit)]
    gpu_native = [f for f in fits if f.candidate.gpu and not f.jit]
    gpu_jit = [f for f in fits if f.candidate.gpu and f.jit]
    cpu = [f for f in fits if not f.candidate.gpu]
    order = gpu_native + gpu_jit + (cpu if engine.allow_cpu else [])
    chosen = order[0] if order else None
    rejected = [r for r in results if isinstance(r, Rejection)]
    for fit in fits:
        if fit is chosen:
            continue
        rejected.append(Rejection(fit.candidate.id, fit.candidate.image, lost_reason(fit, chosen)))
    rejected.sort(key=lambda r: engine.position(r.candidate))
    warnings: list[str] = []
    if chosen is None:
        reason = f"no candidate fits this machine for {engine_name}"
        if cpu and not engine.allow_cpu:
            reason += " (the catalogue does not allow the CPU for this engine)"
        return Resolution(engine_name, None, (), reason, tuple(rejected))
    warnings.extend(chosen.warnings)
    if not chosen.candidate.gpu and hw.gpus:
        why = force_cpu or "no GPU image fits this machine (see the rejected candidates)"
        warnings.append(f"{engine_name} runs on the CPU, NOT on the GPU: {why}")
    elif not hw.gpus:
        warnings.append(f"{engine_name} runs on the CPU: this machine has no NVIDIA GPU")
    if chosen.candidate.unconfirmed:
        warnings.append(f"{engine_name}: {chosen.candidate.id} rests on an unconfirmed fact: "
                        f"{chosen.candidate.unconfirmed}")
    fallbacks = tuple(order[1:])  # `up` drops from GPU to CPU only when the user allows it
    archs_source = "catalogue"
    if inspected and chosen.candidate.image in inspected:
        archs_source = inspected[chosen.candidate.image][1]
    return Resolution(engine_name, chosen.candidate, chosen.gpus, chosen.reason, tuple(rejected), tuple(warnings),
                      fallbacks, archs_source, tuple(fits))


def lost_reason(fit: Fit, chosen: Fit | None) -> str:
    """Why a fitting candidate lost to the chosen one."""
    if chosen is None:
        return "the catalogue does not allow the CPU for this engine"
    if not fit.candidate.gpu and chosen.candidate.gpu:
        return f"not needed: {chosen.candidate.id} runs on the GPU"
    if fit.jit and not chosen.jit:
        return f"fits only through PTX JIT ({fit.reason}); {chosen.candidate.id} has native code for this GPU"
    return f"fits, but {chosen.candidate.id} comes first in the catalogue"
