"""The CUDA rules: which GPU code runs on which GPU, which toolkit knows which GPU, driver and platform fit.

Pure functions on frozen values; every decision returns the verdict and a reason a user can read.
Facts and sources: shared/research/cuda-facts.md (sections named in the comments below).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from aima.hardware.model import Capability, CudaVersion, Gpu, Hardware, normalise_arch, platform_arch, platform_for

__all__ = ["Capability", "CudaVersion"]  # parsed once in the hardware model; re-exported for the rules

_VARIANTS = ("", "a", "f")


@dataclass(frozen=True)
class Verdict:
    """A yes/no decision with the reason, in words a user can act on."""

    ok: bool
    reason: str
    forward_compat: bool = False  # NVIDIA_REQUIRE_CUDA held only through a CUDA forward-compatibility clause


@dataclass(frozen=True)
class Target:
    """One kind of device code a binary carries: SASS for sm_XY, or PTX for compute_XY.

    ``variant`` is '' (plain), 'a' (architecture-specific: sm_90a) or 'f' (family-specific: sm_100f).
    PTX can carry both suffixes too (nvcc and clang know compute_90a and compute_100f as virtual
    architectures, llvm NVPTXTargetParser.def), with the same reach as the SASS of that name.
    """

    kind: str  # "sass" | "ptx"
    major: int
    minor: int
    variant: str = ""

    def __post_init__(self) -> None:
        if self.kind not in ("sass", "ptx"):
            raise ValueError(f"target kind must be 'sass' or 'ptx', got {self.kind!r}")
        if self.variant not in _VARIANTS:
            raise ValueError(f"target variant must be '', 'a' or 'f', got {self.variant!r}")
        if self.major < 1 or not 0 <= self.minor <= 9:
            raise ValueError(f"not a compute capability: {self.major}.{self.minor}")

    @property
    def capability(self) -> Capability:
        """The compute capability the code was built for."""
        return Capability(self.major, self.minor)

    def runs_on(self, cap: Capability) -> bool:
        """True when this code can execute on a GPU of capability ``cap`` (cuda-facts §1a-1d)."""
        if self.variant == "a":
            # 'a' targets do not follow the onion model: that exact GPU only (§1c, PTX ISA doc).
            return cap == self.capability
        if self.kind == "sass" or self.variant == "f":
            # Cubins run on the same major with an equal or higher minor (§1a); 'f' code on the
            # same family, which is the same rule: sm_100f on 10.0 and 10.3, sm_120f on 12.0 and 12.1 (§1d).
            return cap.major == self.major and cap.minor >= self.minor
        # Plain PTX is JIT-compiled by the driver for any GPU at or above its version (§1b).
        return cap >= self.capability

    def __str__(self) -> str:
        prefix = "sm" if self.kind == "sass" else "compute"
        return f"{prefix}_{self.major}{self.minor}{self.variant}"


@dataclass(frozen=True)
class CodeVerdict:
    """Whether an image's device code runs on a GPU; ``jit`` marks a PTX-only fit (slow first start)."""

    ok: bool
    jit: bool
    reason: str
    matched: Target | None


# --- parsing the ways people write architecture lists ----------------------------------------------

_SPELLINGS = (
    "sm_86 (SASS), compute_86 (PTX), 8.6 or 8.6+PTX (TORCH_CUDA_ARCH_LIST), "
    "86, 86-real or 86-virtual (CMake CUDA_ARCHITECTURES), each with an optional a/f suffix "
    "(sm_90a, compute_100f, 12.0a, 120f-real), separated by ';', ',' or spaces"
)
_UNRESOLVABLE = ("native", "all", "all-major")
_NVCC = re.compile(r"(sm|compute)_(\d{2,3})([af]?)")
_TORCH = re.compile(r"(\d{1,2})\.(\d)([af]?)(\+ptx)?")
_CMAKE = re.compile(r"(\d{2,3})([af]?)(-real|-virtual)?")


def _split_number(digits: str) -> tuple[int, int]:
    """'86' -> (8, 6), '121' -> (12, 1): the last digit is the minor version."""
    return int(digits[:-1]), int(digits[-1])


def _parse_token(token: str) -> list[Target]:
    t = token.lower()
    if t in _UNRESOLVABLE:
        raise ValueError(
            f"CUDA architecture {token!r} cannot be resolved statically: it depends on the machine or the "
            f"CUDA version that built the image; list the architectures instead, e.g. '75;80;86;89;90;120'"
        )
    if m := _NVCC.fullmatch(t):
        major, minor = _split_number(m.group(2))
        kinds = ["sass"] if m.group(1) == "sm" else ["ptx"]
        variant = m.group(3)
    elif m := _TORCH.fullmatch(t):
        # TORCH_CUDA_ARCH_LIST: '8.6' is SASS only, '+PTX' adds PTX of the same arch (torch cpp_extension).
        major, minor = int(m.group(1)), int(m.group(2))
        kinds = ["sass", "ptx"] if m.group(4) else ["sass"]
        variant = m.group(3)
    elif m := _CMAKE.fullmatch(t):
        # CMake: "If no suffix is given then code is generated for both real and virtual architectures."
        major, minor = _split_number(m.group(1))
        kinds = {"-real": ["sass"], "-virtual": ["ptx"]}.get(m.group(3) or "", ["sass", "ptx"])
        variant = m.group(2)
    else:
        raise ValueError(f"unknown CUDA architecture {token!r}; accepted spellings: {_SPELLINGS}")
    if major < 1:
        raise ValueError(f"unknown CUDA architecture {token!r}: no compute capability {major}.{minor}")
    return [Target(kind, major, minor, variant) for kind in kinds]


def parse_targets(spec: str | Iterable[str]) -> tuple[Target, ...]:
    """Read an architecture list in any common spelling into targets, deduplicated, in first-seen order."""
    pieces = [spec] if isinstance(spec, str) else list(spec)
    tokens = [tok for piece in pieces for tok in re.split(r"[;,\s]+", piece) if tok]
    if not tokens:
        raise ValueError(f"no CUDA architectures given; accepted spellings: {_SPELLINGS}")
    seen: dict[Target, None] = {}
    for token in tokens:
        for target in _parse_token(token):
            seen.setdefault(target)
    return tuple(seen)


def describe_targets(targets: Sequence[Target]) -> str:
    """'sm_75, sm_80 SASS and no PTX' — what a binary carries, in one phrase."""
    sass = ", ".join(str(t) for t in targets if t.kind == "sass") or "no"
    ptx = ", ".join(str(t) for t in targets if t.kind == "ptx") or "no"
    return f"{sass} SASS and {ptx} PTX"


# --- will the code run on this GPU? ------------------------------------------------------------------

_VARIANT_RANK = {"": 0, "f": 1, "a": 2}  # among equal archs prefer the most specific code


def _needs(cap: Capability) -> str:
    """What code would run on ``cap``, e.g. 'sm_60 or sm_61 SASS, or PTX of compute_61 or lower'."""
    sass = [f"sm_{cap.major}{m}" for m in range(cap.minor + 1)]
    listed = sass[0] if len(sass) == 1 else ", ".join(sass[:-1]) + f" or {sass[-1]}"
    return f"it needs {listed} SASS, or PTX of compute_{cap.sm} or lower"


def _refusal_notes(targets: Sequence[Target], cap: Capability) -> list[str]:
    notes = []
    for t in targets:
        if t.variant == "a" and t.major == cap.major:
            notes.append(f"{t} runs only on exactly {t.capability}")
        elif t.variant == "f" and t.major != cap.major:
            notes.append(f"{t} runs only on the {t.major}.x family")
    return notes


def check_code(targets: Sequence[Target], cap: Capability) -> CodeVerdict:
    """Decide whether device code built for ``targets`` runs on a GPU of capability ``cap``."""
    if not targets:
        return CodeVerdict(False, False, f"carries no CUDA device code; GPU is {cap}", None)
    carried = describe_targets(targets)
    sass = [t for t in targets if t.kind == "sass" and t.runs_on(cap)]
    if sass:
        best = max(sass, key=lambda t: (t.minor, _VARIANT_RANK[t.variant]))
        return CodeVerdict(True, False, f"{best} SASS runs on this {cap} GPU (carries {carried})", best)
    ptx = [t for t in targets if t.kind == "ptx" and t.runs_on(cap)]
    if ptx:
        best = max(ptx, key=lambda t: (t.major, t.minor, _VARIANT_RANK[t.variant]))
        reason = (
            f"slow first start: the driver JIT-compiles {best} PTX for this {cap} GPU, "
            f"which has no SASS in the image (carries {carried})"
        )
        if best.major < cap.major:
            # Seed 000: ggml picks kernels for the real GPU, but JIT code still sees __CUDA_ARCH__ of the
            # PTX (§1b, §8.1), so it may trap with "no device code compatible with CUDA arch 520".
            reason += (
                f"; code compiled as {best} sees __CUDA_ARCH__={best.major}{best.minor}0, and programs that "
                f"choose kernels by the real GPU (ggml) can still fail with 'no device code compatible with "
                f"CUDA arch {best.major}{best.minor}0'"
            )
        return CodeVerdict(True, True, reason, best)
    reason = f"carries {carried}; GPU is {cap}: {_needs(cap)}"
    notes = _refusal_notes(targets, cap)
    if notes:
        reason += " (" + "; ".join(notes) + ")"
    return CodeVerdict(False, False, reason, None)


# --- which toolkit knows which GPU ---------------------------------------------------------------------

# (major, minor, variant) -> (first CUDA that can target it, last CUDA that can, or None while current).
# First versions: llvm-project llvm/include/llvm/TargetParser/NVPTXTargetParser.def (MIN_VER column;
# clang's floor is CUDA 7.0, so older archs show 7.0), agreeing with cuda-facts §2. Last versions:
# sm_30/32 end with 10.2 and sm_35/37 with 11.8 (same file); Maxwell, Pascal and Volta (5.x-7.2) end with
# 12.9 because "newer toolkits will be unable to target these architectures" (CUDA 13.0 release notes,
# cuda-facts §2); sm_101 is Thor's 12.x name, renamed sm_110 from CUDA 13.0 (§2).
_V = CudaVersion
_TOOLKIT_ARCHS: dict[tuple[int, int, str], tuple[CudaVersion, CudaVersion | None]] = {
    (3, 0, ""): (_V(7, 0), _V(10, 2)),
    (3, 2, ""): (_V(7, 0), _V(10, 2)),
    (3, 5, ""): (_V(7, 0), _V(11, 8)),
    (3, 7, ""): (_V(7, 0), _V(11, 8)),
    (5, 0, ""): (_V(7, 0), _V(12, 9)),
    (5, 2, ""): (_V(7, 0), _V(12, 9)),
    (5, 3, ""): (_V(7, 0), _V(12, 9)),
    (6, 0, ""): (_V(8, 0), _V(12, 9)),
    (6, 1, ""): (_V(8, 0), _V(12, 9)),
    (6, 2, ""): (_V(8, 0), _V(12, 9)),
    (7, 0, ""): (_V(9, 0), _V(12, 9)),
    (7, 2, ""): (_V(9, 1), _V(12, 9)),
    (7, 5, ""): (_V(10, 0), None),
    (8, 0, ""): (_V(11, 0), None),
    (8, 6, ""): (_V(11, 1), None),
    (8, 7, ""): (_V(11, 4), None),
    (8, 8, ""): (_V(13, 0), None),
    (8, 9, ""): (_V(11, 8), None),
    (9, 0, ""): (_V(11, 8), None),
    (9, 0, "a"): (_V(12, 0), None),
    (10, 0, ""): (_V(12, 8), None),
    (10, 0, "a"): (_V(12, 8), None),
    (10, 0, "f"): (_V(12, 9), None),
    (10, 1, ""): (_V(12, 8), _V(12, 9)),
    (10, 1, "a"): (_V(12, 8), _V(12, 9)),
    (10, 1, "f"): (_V(12, 9), _V(12, 9)),
    (10, 3, ""): (_V(12, 9), None),
    (10, 3, "a"): (_V(12, 9), None),
    (10, 3, "f"): (_V(12, 9), None),
    (11, 0, ""): (_V(13, 0), None),
    (11, 0, "a"): (_V(13, 0), None),
    (11, 0, "f"): (_V(13, 0), None),
    (12, 0, ""): (_V(12, 8), None),
    (12, 0, "a"): (_V(12, 8), None),
    (12, 0, "f"): (_V(12, 9), None),
    (12, 1, ""): (_V(12, 9), None),
    (12, 1, "a"): (_V(12, 9), None),
    (12, 1, "f"): (_V(12, 9), None),
}


def first_toolkit_for(cap: Capability, variant: str = "") -> CudaVersion | None:
    """The first CUDA toolkit that can compile for ``cap`` (sm_XY, or sm_XYa/sm_XYf); None if unknown."""
    row = _TOOLKIT_ARCHS.get((cap.major, cap.minor, variant))
    return row[0] if row else None


def toolkit_targets(cuda: CudaVersion) -> tuple[Capability, ...]:
    """Every known capability that toolkit ``cuda`` can compile plain SASS for, lowest first.

    CUDA 13.0 starts at 7.5 (Maxwell, Pascal and Volta were removed); CUDA 12.x starts at 5.0.
    """
    caps = []
    for (major, minor, variant), (first, last) in _TOOLKIT_ARCHS.items():
        if variant == "" and first <= cuda and (last is None or cuda <= last):
            caps.append(Capability(major, minor))
    return tuple(sorted(caps))


def check_runtime_compiler(cap: Capability, compiler_cuda: CudaVersion) -> Verdict:
    """Decide whether a run-time kernel compiler (Triton's ptxas) from ``compiler_cuda`` knows this GPU."""
    # Triton asks ptxas for sm_XYa from 9.0 up (triton backends/nvidia/compiler.py sm_arch_from_capability:
    # suffix = "a" if capability >= 90), so GB10 needs sm_121a, first in CUDA 12.9 (cuda-facts §8.3).
    variant = "a" if cap >= Capability(9, 0) else ""
    arch = f"sm_{cap.sm}{variant}"
    row = _TOOLKIT_ARCHS.get((cap.major, cap.minor, variant))
    if row is None:
        return Verdict(
            False,
            f"aima does not know which CUDA first supports {arch}, so it cannot tell whether "
            f"the run-time compiler from CUDA {compiler_cuda} knows this {cap} GPU",
        )
    first, last = row
    ptxas = f"ptxas fatal : Value '{arch}' is not defined for option 'gpu-name'"
    if compiler_cuda < first:
        return Verdict(
            False, f"runtime compiler from CUDA {compiler_cuda} does not know {arch} (first in CUDA {first}): {ptxas}"
        )
    if last is not None and compiler_cuda > last:
        return Verdict(
            False, f"runtime compiler from CUDA {compiler_cuda} no longer targets {arch} (last in CUDA {last})"
        )
    return Verdict(True, f"runtime compiler from CUDA {compiler_cuda} knows {arch} (first in CUDA {first})")


# --- driver and platform ------------------------------------------------------------------------------

# Linux driver bundled with each CUDA GA release (CUDA 13.2 Update 2 release notes, Table 3; cuda-facts §3).
_MIN_DRIVER = {
    _V(11, 8): "520.61.05",
    _V(12, 0): "525.60.13",
    _V(12, 1): "530.30.02",
    _V(12, 2): "535.54.03",
    _V(12, 3): "545.23.06",
    _V(12, 4): "550.54.14",
    _V(12, 5): "555.42.02",
    _V(12, 6): "560.28.03",
    _V(12, 8): "570.26",
    _V(12, 9): "575.51.03",
    _V(13, 0): "580.65.06",
    _V(13, 1): "590.44.01",
    _V(13, 2): "595.45.04",
}


def min_driver_for(cuda: CudaVersion) -> str | None:
    """The Linux driver that ships with CUDA ``cuda`` GA (full features, no compat package); None if unlisted."""
    return _MIN_DRIVER.get(cuda)


def check_driver(image_cuda: CudaVersion, driver_cuda: CudaVersion) -> Verdict:
    """Decide whether a driver that supports CUDA ``driver_cuda`` can run an image built on ``image_cuda``."""
    if driver_cuda >= image_cuda:
        return Verdict(True, f"the driver supports CUDA {driver_cuda}; the image needs CUDA {image_cuda}")
    need = min_driver_for(image_cuda)
    upgrade = f"a driver of {need} or newer" if need else f"a driver that supports CUDA {image_cuda}"
    return Verdict(
        False,
        f"the image needs CUDA {image_cuda} but the driver supports only CUDA {driver_cuda}; "
        f"install {upgrade} or pick an image built for CUDA {driver_cuda} or older",
    )


def check_platform(image_platforms: Sequence[str], cpu_arch: str) -> Verdict:
    """Decide whether an image published for ``image_platforms`` runs on a host CPU of ``cpu_arch``."""
    host = normalise_arch(cpu_arch)
    need = platform_for(host)
    published = ", ".join(image_platforms) or "no platform"
    if any(platform_arch(p) == host for p in image_platforms):
        return Verdict(True, f"the image is published for {need} ({cpu_arch} host)")
    return Verdict(False, f"the image is published for {published} only; this host is {cpu_arch} and needs {need}")


# --- CUDA forward compatibility ---------------------------------------------------------------------------

# NVML brands (nvml.h nvmlBrandType_t, in NVIDIA_REQUIRE_CUDA spelling) of data-centre GPUs and their
# virtual-GPU flavours: the GPUs NVIDIA's forward-compatibility documentation names ("NVIDIA Data Center
# GPUs"). NVML reports Tesla for older data-centre cards and NVIDIA for newer ones (A100, H100, B200).
DATA_CENTRE_BRANDS = ("tesla", "nvidia", "grid", "vapps", "vpc", "vcs", "vws", "cloudgaming")
# Consumer brands: the CUDA runtime fails on them with error 804, "forward compatibility was attempted on
# non supported HW" (CUDA runtime API, cudaErrorCompatNotSupportedOnDevice).
CONSUMER_BRANDS = ("geforce", "geforcertx", "titan", "titanrtx")
# Workstation brands: only "select NGC Server Ready SKUs of RTX cards" are supported, which NVML cannot tell.
WORKSTATION_BRANDS = ("quadro", "quadrortx", "nvidiartx", "nvs")
_FORWARD_DOC = "docs.nvidia.com/deploy/cuda-compatibility/forward-compatibility.html"


def forward_compat_support(gpu: Gpu, hw: Hardware) -> Verdict:
    """Whether CUDA forward compatibility (the image's cuda-compat libraries) works on this GPU and platform.

    NVIDIA: "Forward Compatibility is applicable only for systems with: NVIDIA Data Center GPUs; Select NGC
    Server Ready SKUs of RTX cards; Jetson boards" (_FORWARD_DOC). A DGX Spark (GB10, an SBSA iGPU, not a
    Jetson board) reports "compatibility mode is UNAVAILABLE" on R580 (eugr/spark-vllm-docker#266).
    An unknown brand cannot be judged: it passes with that said, as the toolkit lets unknown values pass.
    """
    brand = (gpu.brand or "").lower()
    if hw.jetson:
        return Verdict(True, f"forward compatibility is supported on Jetson boards ({_FORWARD_DOC})")
    if gpu.unified_memory:
        return Verdict(False, f"CUDA forward compatibility is not available on {gpu.name} (an integrated SBSA GPU "
                              f"such as DGX Spark's GB10 reports 'compatibility mode is UNAVAILABLE'; NVIDIA lists "
                              f"only data-centre GPUs, select NGC-ready RTX boards and Jetson: {_FORWARD_DOC})")
    if brand in DATA_CENTRE_BRANDS:
        return Verdict(True, f"forward compatibility is supported on data-centre GPUs ({gpu.brand} brand; "
                             f"{_FORWARD_DOC})")
    if brand in CONSUMER_BRANDS:
        return Verdict(False, f"CUDA forward compatibility does not work on {gpu.brand} GPUs such as {gpu.name}: the "
                              f"CUDA runtime fails with error 804 'forward compatibility was attempted on non "
                              f"supported HW' (NVIDIA supports it on data-centre GPUs and Jetson only: {_FORWARD_DOC})")
    if brand in WORKSTATION_BRANDS:
        return Verdict(False, f"CUDA forward compatibility works only on select NGC Server Ready SKUs of RTX cards, "
                              f"and NVML cannot tell whether this {gpu.brand} GPU ({gpu.name}) is one "
                              f"({_FORWARD_DOC})")
    return Verdict(True, f"GPU brand {gpu.brand or 'not reported'}: aima cannot tell whether forward compatibility "
                         f"works on {gpu.name} ({_FORWARD_DOC} lists data-centre GPUs, select NGC-ready RTX "
                         f"boards and Jetson)")


# --- Jetson (L4T) and SBSA -------------------------------------------------------------------------------

CUDA_PLATFORMS = ("sbsa", "l4t")  # the two arm64 CUDA userspaces a GPU image can be built on


def check_userspace(image_platform: str | None, hw: Hardware) -> Verdict:
    """Decide whether an arm64 GPU image's CUDA userspace (sbsa or l4t) matches this machine's.

    NVIDIA builds arm64 CUDA twice: SBSA for servers (Grace, GB10/DGX Spark, Jetson Thor from JetPack 7) and
    L4T for Jetson up to JetPack 6 (nvcr.io/nvidia/l4t-* images); one does not run on the other (see
    Hardware.cuda_userspace). An arm64 GPU image that does not say is an SBSA image, as the multi-arch
    nvidia/cuda images are.
    """
    host = hw.cuda_userspace
    if host is None:
        return Verdict(True, "no arm64 CUDA userspace to match")
    image = image_platform or "sbsa"
    if image == host:
        return Verdict(True, f"the image is built on the {image.upper()} CUDA userspace this machine has")
    release = f" (Jetson Linux R{hw.l4t_release})" if hw.l4t_release else ""
    if host == "l4t":
        return Verdict(False, f"the image is built for arm64 SBSA servers (Grace, GB10); this Jetson{release} has "
                              f"the L4T CUDA userspace (JetPack 6 or older), which SBSA CUDA images do not run on: "
                              f"use an l4t image (nvcr.io/nvidia/l4t-*, dustynv/*)")
    return Verdict(False, f"the image is built for Jetson's L4T CUDA userspace; this machine{release} is SBSA "
                          f"(GB10/Grace server, or Jetson on JetPack 7), which L4T images do not run on")
