"""(engine, Hardware, Catalog) -> Resolution: the chosen candidate and every other one with its reason.

A candidate is judged on every GPU of the machine on its own, because that is how the container toolkit
judges it: libnvidia-container evaluates each NVIDIA_REQUIRE_* expression once per device the container
will see (src/cli/configure.c, configure_command: "Try evaluating per visible device first"), so a GPU that
fails the requirement cannot be given to the container even when another GPU of the machine passes. The
Fit says which GPUs run the candidate and how (`GpuFit.mode`); the planner then places it on one of them.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field

from aima.catalog.cuda import (
    Target,
    check_code,
    check_driver,
    check_platform,
    check_runtime_compiler,
    check_userspace,
    forward_compat_support,
    parse_targets,
)
from aima.catalog.model import Candidate, Catalog, Engine, ModelChoice
from aima.catalog.require import Requirement
from aima.hardware.model import Gpu, Hardware

NATIVE = "native"  # SASS for the GPU's architecture
PTX_JIT = "ptx-jit"  # only PTX fits: the driver compiles it at the first start
FORWARD_COMPAT = "forward-compat"  # the image's CUDA is newer than the driver: runs on the image's cuda-compat
CPU = "cpu"
MODES = (NATIVE, PTX_JIT, FORWARD_COMPAT, f"{PTX_JIT}+{FORWARD_COMPAT}", CPU)


@dataclass(frozen=True)
class Rejection:
    """A candidate that lost, and why."""

    candidate: str
    image: str
    reason: str


@dataclass(frozen=True)
class GpuFit:
    """How a candidate runs on one GPU."""

    index: int
    jit: bool  # only through PTX JIT
    forward_compat: bool  # only through CUDA forward compatibility
    reason: str
    compat: str = ""  # with forward_compat: which NVIDIA_REQUIRE_CUDA clause let it in, and why that works here

    @property
    def mode(self) -> str:
        """native, ptx-jit, forward-compat or ptx-jit+forward-compat."""
        parts = [m for m, on in ((PTX_JIT, self.jit), (FORWARD_COMPAT, self.forward_compat)) if on]
        return "+".join(parts) or NATIVE


@dataclass(frozen=True)
class Fit:
    """A candidate whose needs this machine meets, with the GPUs that run it (best first)."""

    candidate: Candidate
    on: tuple[GpuFit, ...]  # () for CPU candidates
    reason: str
    warnings: tuple[str, ...] = ()

    @property
    def gpus(self) -> tuple[int, ...]:
        """Indexes of the GPUs that can run it, native ones first."""
        return tuple(g.index for g in self.on)

    @property
    def jit(self) -> bool:
        """True when no GPU runs it natively (PTX JIT only)."""
        return bool(self.on) and all(g.jit for g in self.on)

    @property
    def forward_compat(self) -> bool:
        """True when every GPU runs it only through CUDA forward compatibility."""
        return bool(self.on) and all(g.forward_compat for g in self.on)

    def on_gpu(self, index: int) -> GpuFit | None:
        """How it runs on GPU ``index``, or None when it does not."""
        return next((g for g in self.on if g.index == index), None)

    def mode_on(self, index: int | None) -> str:
        """The mode on one GPU; 'cpu' for a CPU candidate."""
        found = None if index is None else self.on_gpu(index)
        return found.mode if found else CPU


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


def _rank(fit: Fit) -> tuple[int, int]:
    """Native before PTX JIT, plain driver support before forward compatibility."""
    return (fit.jit, fit.forward_compat)


def evaluate(candidate: Candidate, engine: Engine, hw: Hardware, *, force_cpu: str | None = None,
             inspected: Mapping[str, tuple[str, str]] | None = None,
             local_images: frozenset[str] | None = None, model: ModelChoice | None = None) -> Fit | Rejection:
    """Check one candidate against the machine, GPU by GPU; the answer says why in words."""
    platform = check_platform(candidate.platforms, hw.cpu_arch)
    if not platform.ok:
        return Rejection(candidate.id, candidate.image, platform.reason)
    if candidate.local_only and candidate.image not in (local_images or ()):
        looked = "not on this machine" if local_images is not None else "not looked for (planning for another machine)"
        return Rejection(candidate.id, candidate.image, f"{looked}, and aima can neither pull nor build it: "
                                                        f"{candidate.local_only}; used only when already here")
    if not candidate.gpu:
        return Fit(candidate, (), f"CPU image for {hw.cpu_arch}")
    if not hw.gpus:
        return Rejection(candidate.id, candidate.image, "needs an NVIDIA GPU; this machine has none")
    if force_cpu:
        return Rejection(candidate.id, candidate.image, force_cpu)
    userspace = check_userspace(candidate.cuda_platform, hw)
    if not userspace.ok:
        return Rejection(candidate.id, candidate.image, userspace.reason)
    archs, source = (inspected or {}).get(candidate.image, (candidate.archs or "", "catalogue"))
    targets = _targets(archs)
    reasons: list[str] = []
    good: list[GpuFit] = []
    unknown: list[str] = []
    for gpu in hw.gpus:
        found = _on_gpu(candidate, hw, gpu, targets, unknown)
        if isinstance(found, GpuFit):
            good.append(found)
        else:
            reasons.append(f"GPU {gpu.index}: {found}")
    if not good:
        suffix = f" [archs from {source}]" if source != "catalogue" else ""
        return Rejection(candidate.id, candidate.image, "; ".join(reasons) + suffix)
    good.sort(key=lambda g: (g.jit, g.forward_compat))
    memory = _model_refusal(candidate, engine, hw, tuple(g.index for g in good), model)
    if memory:
        return Rejection(candidate.id, candidate.image, memory)
    best = [g for g in good if (g.jit, g.forward_compat) == (good[0].jit, good[0].forward_compat)]
    reason = best[0].reason if len(best) == 1 else f"{best[0].reason} (GPUs {', '.join(str(g.index) for g in best)})"
    if len(best) < len(good):
        reason += "; also runs on GPU " + ", ".join(f"{g.index} ({g.mode})" for g in good[len(best):])
    if reasons:
        reason += "; not on " + "; ".join(reasons)
    warnings = []
    if good[0].jit:
        warnings.append(f"{engine.name}: {good[0].reason}")
    if good[0].forward_compat:
        need = f" CUDA {candidate.cuda}" if candidate.cuda else " its CUDA"
        warnings.append(f"{engine.name}: {candidate.id} runs on GPU {good[0].index} only through CUDA forward "
                        f"compatibility ({good[0].compat}); a driver that supports{need} natively avoids it")
    warnings += [f"{engine.name}: {text}" for text in dict.fromkeys(unknown)]
    if source != "catalogue":
        reason += f" [archs from {source}]"
    return Fit(candidate, tuple(good), reason, tuple(warnings))


def _on_gpu(candidate: Candidate, hw: Hardware, gpu: Gpu, targets: tuple[Target, ...],
            unknown: list[str]) -> GpuFit | str:
    """How the candidate runs on one GPU, or why it does not (driver requirement per device, code, compiler)."""
    if gpu.mig_enabled and not gpu.mig_instances and not gpu.unified_memory:
        # A GPU in MIG mode exposes no CUDA device as a whole (libnvidia-container nvc_info.c; NVIDIA MIG guide).
        return "MIG is enabled and NVML lists no MIG instance, so no container can use this GPU"
    driver = _driver_on(candidate, hw, gpu, unknown)
    if isinstance(driver, str):
        return driver
    cap = gpu.compute_capability
    code = check_code(targets, cap)
    if code.ok and code.jit and not candidate.ptx_jit:
        return (f"{code.reason}; this engine's kernels trap when JIT-compiled from older PTX "
                f"(ggml 'no device code compatible with CUDA arch'), so PTX does not count")
    if not code.ok:
        return code.reason
    if candidate.runtime_compiler_cuda:
        compiler = check_runtime_compiler(cap, candidate.runtime_compiler_cuda)
        if not compiler.ok:
            return compiler.reason
    reason = code.reason if driver is None else f"{code.reason}; {driver.reason}"
    return GpuFit(gpu.index, code.jit, driver is not None, reason, driver.reason if driver else "")


@dataclass(frozen=True)
class _Forward:
    reason: str


def _driver_on(candidate: Candidate, hw: Hardware, gpu: Gpu, unknown: list[str]) -> str | _Forward | None:
    """None: the driver runs the image's CUDA on this GPU; _Forward: only through forward compatibility; else why not.

    An unknown driver or driver CUDA (NVML said "N/A") passes, as libnvidia-container lets a value it cannot
    read pass (src/cli/configure.c check_cuda_version/check_driver_version return true on NULL).
    """
    if hw.cuda_driver_version is None or hw.driver_version is None:
        what = "driver version" if hw.driver_version is None else "CUDA version of the driver"
        if candidate.require_cuda or candidate.cuda:
            unknown.append(f"NVML did not report the {what}, so aima could not check that the driver supports "
                           f"{candidate.id}'s CUDA; the container toolkit lets an unknown value pass too")
    if candidate.require_cuda:
        from aima.catalog.require import evaluate as evaluate_requirement

        verdict = evaluate_requirement(_requirement(candidate.require_cuda), driver_cuda=hw.cuda_driver_version,
                                       driver_version=hw.driver_version, brand=gpu.brand, arch=gpu.compute_capability)
        if not verdict.ok:
            return f"NVIDIA_REQUIRE_CUDA not met: {verdict.reason}"
        if verdict.forward_compat:
            support = forward_compat_support(gpu, hw)
            if not support.ok:
                return (f"the container toolkit would start it ({verdict.reason}), but {support.reason}; "
                        f"it needs a driver that supports its CUDA natively")
            return _Forward(f"{verdict.reason}; {support.reason}")
        return None
    if candidate.cuda and hw.cuda_driver_version is not None:
        verdict = check_driver(candidate.cuda, hw.cuda_driver_version)
        if not verdict.ok:
            return verdict.reason
    return None


@functools.lru_cache(maxsize=512)
def _targets(archs: str) -> tuple[Target, ...]:
    """Parsed arch lists, cached: the same few catalogue strings are parsed for every machine."""
    return parse_targets(archs) if archs else ()


@functools.lru_cache(maxsize=256)
def _requirement(text: str) -> Requirement:
    """Parsed NVIDIA_REQUIRE_CUDA values, cached like the arch lists."""
    from aima.catalog.require import parse_require_cuda

    return parse_require_cuda(text)


def _model_refusal(candidate: Candidate, engine: Engine, hw: Hardware, gpus: tuple[int, ...],
                   model: ModelChoice | None = None) -> str | None:
    """A GPU candidate must be able to hold at least the smallest model of its format somewhere (or the stack's own
    hf:// model, when it names one)."""
    if candidate.model_format is None:
        return None
    if model is not None:
        largest = max(hw.device_memory_mib(hw.gpus[i]) for i in gpus)
        if model.format != candidate.model_format:
            return (f"the stack's model {model.name} is {model.format}; this image serves "
                    f"{candidate.model_format} models")
        if model.gpu_memory_mib > largest:
            return (f"model {model.name} needs {model.gpu_memory_mib} MiB of GPU memory; the largest GPU that runs "
                    f"it has {largest} MiB")
        return None
    models = engine.models_of(candidate.model_format)
    if not models:
        return f"the catalogue lists no {candidate.model_format} model for {engine.name}"
    smallest = min(models, key=lambda m: m.gpu_memory_mib)
    largest = max(hw.device_memory_mib(hw.gpus[i]) for i in gpus)
    if smallest.gpu_memory_mib > largest:
        return (f"its smallest model ({smallest.name}) needs {smallest.gpu_memory_mib} MiB of GPU memory; "
                f"the largest {'MIG instance' if any(hw.gpus[i].mig_enabled for i in gpus) else 'GPU'} that runs it "
                f"has {largest} MiB")
    return None


def resolve(engine_name: str, hw: Hardware, catalog: Catalog, *, force_cpu: str | None = None,
            inspected: Mapping[str, tuple[str, str]] | None = None,
            exclude: frozenset[str] = frozenset(), local_images: frozenset[str] | None = None,
            model: ModelChoice | None = None) -> Resolution:
    """Choose a candidate for one engine: native GPU code first, then PTX JIT / forward compatibility, then CPU.

    ``model``: the stack's own (hf://) model, sized; GPU candidates are then checked against it instead of the
    catalogue's models."""
    engine = catalog.engine(engine_name)
    if engine is None:
        known = ", ".join(e.name for e in catalog.engines)
        return Resolution(engine_name, None, (), f"the catalogue has no engine {engine_name!r} (has: {known})", ())
    results = [evaluate(c, engine, hw, force_cpu=force_cpu, inspected=inspected, local_images=local_images,
                        model=model)
               for c in engine.candidates if c.id not in exclude]
    fits = [r for r in results if isinstance(r, Fit)]
    gpu = sorted((f for f in fits if f.candidate.gpu), key=_rank)  # stable: catalogue order within a rank
    cpu = [f for f in fits if not f.candidate.gpu]
    order = gpu + (cpu if engine.allow_cpu else [])
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
        return Resolution(engine_name, None, (), reason, tuple(rejected), fits=tuple(fits))
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
    if fit.forward_compat and not chosen.forward_compat:
        return (f"fits only through CUDA forward compatibility ({fit.reason}); {chosen.candidate.id} runs on the "
                f"driver's own CUDA")
    return f"fits, but {chosen.candidate.id} comes first in the catalogue"
