"""Which Kubernetes nodes can run an engine's image, as node affinity on GPU Feature Discovery (GFD) labels.

The set of GPUs is not written by hand: every compute capability the project accepts (majors 3-15, minors
0-9) is put through the resolver's own `evaluate`, on the plan's machine with only the GPU's capability
changed, and the accepted ones are folded into `nvidia.com/gpu.compute.major|minor` expressions. So SASS
sm_86 gives major 8 with minor > 5, PTX compute_90 gives every capability from 9.0 up, arch-specific
sm_121a exactly 12.1, and a run-time compiler that does not know a GPU (seed 004) excludes it. When the
plan runs the image natively, nodes where it would only run through PTX JIT are left out.

Labels (NVIDIA/k8s-device-plugin, docs/gpu-feature-discovery/README.md): `nvidia.com/cuda.runtime-version.*`
is the newest CUDA the node's driver supports (NVML's CUDA driver version), `nvidia.com/cuda.driver-version.*`
the driver's own version, `nvidia.com/gpu.product` the NVML name with spaces as '-'. `nvidia.com/gpu.memory`
is never used: GFD omits it where NVML cannot report memory (GB10).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace

from aima.catalog.cuda import Capability, CudaVersion
from aima.catalog.model import Candidate, Engine
from aima.hardware.model import Gpu, Hardware, oci_arch
from aima.resolve import Fit, evaluate

COMPUTE_MAJOR = "nvidia.com/gpu.compute.major"
COMPUTE_MINOR = "nvidia.com/gpu.compute.minor"
RUNTIME_MAJOR = "nvidia.com/cuda.runtime-version.major"
RUNTIME_MINOR = "nvidia.com/cuda.runtime-version.minor"
DRIVER_MAJOR = "nvidia.com/cuda.driver-version.major"
PRODUCT = "nvidia.com/gpu.product"
ARCH = "kubernetes.io/arch"

_MAJORS = range(3, 16)  # the compute capability majors a hardware profile may name
_MINORS = frozenset(range(10))  # a capability's minor is one digit

Expr = dict  # one nodeSelectorRequirement: {key, operator, values}
Term = list  # expressions that must all hold (one nodeSelectorTerm)


def _expr(key: str, operator: str, *values: int | str) -> Expr:
    return {"key": key, "operator": operator, "values": [str(v) for v in values]}


def accepted_capabilities(candidate: Candidate, engine: Engine, hw: Hardware, gpu: Gpu,
                          inspected: Mapping[str, tuple[str, str]] | None = None) -> set[tuple[int, int]]:
    """Every (major, minor) on which the resolver accepts the candidate as it did for the planned GPU."""
    def verdict(major: int, minor: int) -> Fit | None:
        probe = replace(gpu, index=0, compute_capability=Capability(major, minor))
        found = evaluate(candidate, engine, replace(hw, gpus=(probe,)), inspected=inspected)
        return found if isinstance(found, Fit) else None

    planned = verdict(gpu.compute_capability.major, gpu.compute_capability.minor)
    allow_jit = planned is not None and planned.jit
    accepted = set()
    for major in _MAJORS:
        for minor in _MINORS:
            fit = verdict(major, minor)
            if fit is not None and (allow_jit or not fit.jit):
                accepted.add((major, minor))
    return accepted


def capability_terms(accepted: set[tuple[int, int]]) -> list[Term]:
    """Fold a set of capabilities into ORed terms on gpu.compute.major/minor."""
    minors = {major: frozenset(n for m, n in accepted if m == major) for major in _MAJORS}
    # A run of fully accepted majors up to the top is PTX that also runs on GPUs newer than any known: Gt.
    open_from = None
    for major in reversed(_MAJORS):
        if minors[major] != _MINORS:
            break
        open_from = major
    groups: dict[frozenset[int], list[int]] = {}
    for major in _MAJORS:
        if minors[major] and (open_from is None or major < open_from):
            groups.setdefault(minors[major], []).append(major)
    terms: list[Term] = []
    for group, majors in groups.items():
        term = [_expr(COMPUTE_MAJOR, "In", *majors)]
        low = min(group)
        if group == frozenset(range(low, 10)):
            if low > 0:
                term.append(_expr(COMPUTE_MINOR, "Gt", low - 1))
        else:
            term.append(_expr(COMPUTE_MINOR, "In", *sorted(group)))
        terms.append(term)
    if open_from is not None:
        terms.append([_expr(COMPUTE_MAJOR, "Gt", open_from - 1)])
    return terms


def needed_cuda(candidate: Candidate) -> CudaVersion | None:
    """The CUDA the node's driver must support: the `cuda>=` of NVIDIA_REQUIRE_CUDA, else the image's CUDA."""
    if candidate.require_cuda:
        from aima.catalog.require import parse_require_cuda

        alternatives = parse_require_cuda(candidate.require_cuda).alternatives
        for cond in alternatives[0] if alternatives else ():
            if cond.key == "cuda" and cond.op in (">=", ">"):
                version = CudaVersion.parse(cond.value)
                return version if cond.op == ">=" else CudaVersion(version.major, version.minor + 1)
        return None
    return candidate.cuda


def cuda_terms(candidate: Candidate, hw: Hardware, gpus: tuple[Gpu, ...]) -> list[Term]:
    """ORed terms for the driver: it supports the image's CUDA, or it is the forward-compatible branch the plan used."""
    need = needed_cuda(candidate)
    if need is None:
        return [[]]
    if need.minor == 0:
        terms = [[_expr(RUNTIME_MAJOR, "Gt", need.major - 1)]]
    else:
        terms = [[_expr(RUNTIME_MAJOR, "Gt", need.major)],
                 [_expr(RUNTIME_MAJOR, "In", need.major), _expr(RUNTIME_MINOR, "Gt", need.minor - 1)]]
    have = hw.cuda_driver_version
    compat = _forward_compat_term(candidate, hw, gpus) if have is not None and have < need else None
    return terms + ([compat] if compat else [])


def _forward_compat_term(candidate: Candidate, hw: Hardware, gpus: tuple[Gpu, ...]) -> Term | None:
    """Nodes like the plan's: same GPU product, same driver branch, when NVIDIA_REQUIRE_CUDA admits the whole branch."""
    if not candidate.require_cuda or not hw.driver_version:
        return None
    from aima.catalog.require import evaluate as holds
    from aima.catalog.require import parse_require_cuda

    requirement = parse_require_cuda(candidate.require_cuda)
    branch = hw.driver_version.split(".")[0]
    driver_cuda = hw.cuda_driver_version
    # GFD labels no brand, so the product stands for it; the branch's lowest and highest versions must both pass.
    for gpu in gpus:
        for version in (branch, f"{branch}.999.999"):
            verdict = holds(requirement, driver_cuda=driver_cuda, driver_version=version, brand=gpu.brand,
                            arch=gpu.compute_capability)
            if not verdict.ok:
                return None
    products = sorted({gfd_product(g.name) for g in gpus})
    return [_expr(DRIVER_MAJOR, "In", branch), _expr(PRODUCT, "In", *products)]


def gfd_product(name: str) -> str:
    """The gpu.product label GFD writes for an NVML name: spaces become '-' (other label-unsafe characters too)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "-", name.strip()).strip("-_.")[:63]


def node_affinity(candidate: Candidate, engine: Engine, hw: Hardware, devices: tuple[str, ...],
                  inspected: Mapping[str, tuple[str, str]] | None = None) -> dict:
    """The pod's required node affinity: CPU architecture, and for GPU engines compute capability and driver."""
    arch = _expr(ARCH, "In", oci_arch(hw.cpu_arch))
    terms: list[Term] = [[arch]]
    if candidate.gpu and devices:
        gpus = tuple(g for g in hw.gpus if str(g.index) in devices or g.uuid in devices)
        # Mixed GPUs: a capability counts only when every planned GPU's verdict accepts it.
        accepted = set.intersection(*(accepted_capabilities(candidate, engine, hw, g, inspected) for g in gpus))
        terms = [[arch, *cap, *drv] for cap in capability_terms(accepted) for drv in cuda_terms(candidate, hw, gpus)]
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": term} for term in terms]}}}
