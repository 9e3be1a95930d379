"""NVIDIA_REQUIRE_CUDA and friends, parsed and evaluated the way NVIDIA's container toolkit does.

Grammar and semantics follow libnvidia-container (src/cli/dsl.c, src/cli/configure.c), which
nvidia-container-runtime-hook calls with one ``--require=<value>`` per NVIDIA_REQUIRE_* variable:

- alternatives are separated by spaces and ORed; inside one, terms are separated by commas and ANDed;
- a term is ``<key><op><value>``: keys ``cuda``, ``driver``, ``arch``, ``brand`` (case-insensitive),
  operators ``= != < <= > >=``; ``brand`` takes only ``=``/``!=`` and compares case-insensitively, the
  others compare dotted numbers (``580.65.06``) component by component;
- ``cuda`` is the newest CUDA the driver supports (NVML, "major.minor"), ``driver`` the driver version,
  ``arch`` the GPU's compute capability and ``brand`` its NVML brand; a value the host cannot tell
  counts as satisfied, as in the toolkit;
- several NVIDIA_REQUIRE_* variables are ANDed; NVIDIA_REQUIRE_JETPACK* are ignored; an image with
  CUDA_VERSION but no NVIDIA_REQUIRE_CUDA gets ``cuda>=<major.minor>``; NVIDIA_DISABLE_REQUIRE set to a
  true value (Go strconv.ParseBool) skips every check (nvidia-container-toolkit
  internal/config/image/cuda_image.go).

So ``cuda>=12.4 brand=tesla,driver>=535,driver<536`` starts on any driver that supports CUDA 12.4, and on
a Tesla with an R535 driver through CUDA forward compatibility (cuda-facts §4, §4b).

One difference: the toolkit only notices a malformed term when evaluation reaches it; aima rejects it
when parsing, so a bad catalogue entry fails at load time.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from aima.catalog.cuda import Capability, CudaVersion, Verdict
from aima.versions import compare

_KEYS = ("cuda", "driver", "arch", "brand")
_OPERATORS = ("=", "!=", "<", "<=", ">", ">=")
_NUMBER = re.compile(r"\d[\d.]*")


@dataclass(frozen=True)
class Condition:
    """One term such as ``driver>=535``."""

    key: str  # cuda | driver | arch | brand, lower case
    op: str  # = != < <= > >=
    value: str

    def __str__(self) -> str:
        return f"{self.key}{self.op}{self.value}"


@dataclass(frozen=True)
class Requirement:
    """One NVIDIA_REQUIRE_* value: alternatives (ORed), each a tuple of conditions (ANDed)."""

    name: str  # the variable, e.g. NVIDIA_REQUIRE_CUDA
    text: str  # the value as the image wrote it
    alternatives: tuple[tuple[Condition, ...], ...]

    @property
    def toolkit_error(self) -> str:
        """The message nvidia-container-cli prints when this requirement fails (it names the first alternative)."""
        first = next((piece for piece in self.text.split(" ") if piece), "")
        message = f"unsatisfied condition: {first}"
        if first.startswith("cuda>="):
            message += ", please update your driver to a newer version, or use an earlier cuda container"
        return message


def _parse_condition(term: str, text: str) -> Condition:
    m = re.fullmatch(r"([^<>=!]+)([<>=!]+)(.*)", term)
    if not m:
        raise ValueError(f"bad NVIDIA_REQUIRE term {term!r} in {text!r}: expected key<op>value such as cuda>=12.4")
    key, op, value = m.group(1).lower(), m.group(2), m.group(3)
    if key not in _KEYS:
        raise ValueError(f"unknown NVIDIA_REQUIRE key {m.group(1)!r} in {term!r}: the toolkit knows {', '.join(_KEYS)}")
    if op not in _OPERATORS:
        raise ValueError(f"unknown operator {op!r} in {term!r}: use one of {' '.join(_OPERATORS)}")
    if not value:
        raise ValueError(f"missing value in NVIDIA_REQUIRE term {term!r}")
    if key == "brand":
        if op not in ("=", "!="):
            raise ValueError(f"brand takes only = or != in {term!r}")
    elif not _NUMBER.fullmatch(value):
        raise ValueError(f"{key} needs a dotted number in {term!r}, got {value!r}")
    return Condition(key, op, value)


def parse_require_cuda(text: str, *, name: str = "NVIDIA_REQUIRE_CUDA") -> Requirement:
    """Parse one NVIDIA_REQUIRE_* value; ValueError names the bad term."""
    alternatives = []
    for piece in text.split(" "):  # the toolkit splits on single spaces and skips empty pieces
        if not piece:
            continue
        terms = [term for term in piece.split(",") if term]
        if not terms:
            raise ValueError(f"empty alternative {piece!r} in {name}={text!r}")
        alternatives.append(tuple(_parse_condition(term, text) for term in terms))
    return Requirement(name=name, text=text, alternatives=tuple(alternatives))


@dataclass(frozen=True)
class _Host:
    cuda: CudaVersion | None
    driver: str | None
    brand: str | None
    arch: Capability | None

    def value(self, key: str) -> str | None:
        found = {"cuda": self.cuda, "driver": self.driver, "brand": self.brand, "arch": self.arch}[key]
        return None if found is None else str(found)

    def holds(self, cond: Condition) -> bool:
        host = self.value(cond.key)
        if host is None:
            return True  # the toolkit lets a property it cannot read pass
        if cond.key == "brand":
            return (host.lower() == cond.value.lower()) == (cond.op == "=")
        if not _NUMBER.fullmatch(host):
            raise ValueError(f"host {cond.key} must be a dotted number, got {host!r}")
        return compare(host, cond.op, cond.value)  # dotted numbers, as dsl_compare_version compares them

    def describe(self, cond: Condition) -> str:
        host = self.value(cond.key)
        if host is None:
            return f"{cond.key} unknown"
        return {
            "cuda": f"the driver supports CUDA {host}",
            "driver": f"driver {host}",
            "brand": f"GPU brand {host}",
            "arch": f"GPU {host}",
        }[cond.key]


def _summary(alternatives: Iterable[tuple[Condition, ...]]) -> str:
    """'brands unknown, tesla on driver branches 535, 550' for the forward-compatibility clauses."""
    brands: dict[str, None] = {}
    branches: dict[str, None] = {}
    other = 0
    for alt in alternatives:
        for cond in alt:
            if cond.key == "brand" and cond.op == "=":
                brands.setdefault(cond.value)
            elif cond.key == "driver" and cond.op == ">=":
                branches.setdefault(cond.value)
            else:
                other += 1
    parts = []
    if brands:
        parts.append("brands " + ", ".join(brands))
    if branches:
        parts.append("driver branches " + ", ".join(branches))
    if other and not parts:
        parts.append("other conditions")
    return " on ".join(parts)


def evaluate(
    req: Requirement,
    *,
    driver_cuda: CudaVersion | None,
    driver_version: str | None,
    brand: str | None = None,
    arch: Capability | None = None,
) -> Verdict:
    """Decide, as nvidia-container-cli would for one GPU, whether the host satisfies ``req``."""
    host = _Host(driver_cuda, driver_version, brand, arch)
    if not req.alternatives:
        return Verdict(True, f"{req.name} is empty")
    first_failed: Condition | None = None
    for index, alt in enumerate(req.alternatives):
        failed = next((cond for cond in alt if not host.holds(cond)), None)
        if failed is None:
            # Past a failed cuda>= term, only a brand/driver clause let it in: CUDA forward compatibility.
            forward = index > 0 and first_failed is not None and first_failed.key == "cuda"
            return Verdict(True, _satisfied(req, index, alt, first_failed, host), forward_compat=forward)
        if index == 0:
            first_failed = failed
    assert first_failed is not None
    reason = f"{req.name} unsatisfied condition: {first_failed} ({host.describe(first_failed)})"
    rest = req.alternatives[1:]
    if rest:
        words = [w for w in (brand and f"this {brand} GPU", driver_version and f"driver {driver_version}") if w]
        on = " with ".join(words) or "this host"
        reason += f"; none of the {len(rest)} other alternatives ({_summary(rest)}) matches {on}"
    return Verdict(False, reason)


def _satisfied(
    req: Requirement, index: int, alt: tuple[Condition, ...], first_failed: Condition | None, host: _Host
) -> str:
    facts = "; ".join(dict.fromkeys(host.describe(cond) for cond in alt))
    clause = ",".join(str(cond) for cond in alt)
    if index == 0 or first_failed is None:
        return f"{req.name} satisfied: {clause} ({facts})"
    reason = (
        f"{req.name} satisfied by {clause} ({facts}), although {first_failed} is not ({host.describe(first_failed)})"
    )
    if first_failed.key == "cuda":
        reason += ": the image's CUDA is newer than the driver and runs through CUDA forward compatibility"
    return reason


# --- the whole image environment -------------------------------------------------------------------------

_TRUE = ("1", "t", "T", "TRUE", "true", "True")  # Go strconv.ParseBool; anything unparsable is false


def _env_map(env: Mapping[str, str] | Iterable[str]) -> dict[str, str]:
    if isinstance(env, Mapping):
        return dict(env)
    pairs = {}
    for item in env:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"invalid environment variable: {item!r}")
        pairs[key] = value
    return pairs


def disable_require(env: Mapping[str, str] | Iterable[str]) -> bool:
    """True when NVIDIA_DISABLE_REQUIRE is set to a true value, so the toolkit checks nothing."""
    return _env_map(env).get("NVIDIA_DISABLE_REQUIRE", "") in _TRUE


def image_requirements(env: Mapping[str, str] | Iterable[str]) -> tuple[Requirement, ...]:
    """Every requirement the toolkit checks for an image's environment (a mapping or docker's KEY=VALUE list)."""
    values = _env_map(env)
    if disable_require(values):
        return ()
    reqs = [
        parse_require_cuda(value, name=key)
        for key, value in values.items()
        if key.startswith("NVIDIA_REQUIRE_") and not key.startswith("NVIDIA_REQUIRE_JETPACK")
    ]
    legacy = values.get("CUDA_VERSION", "")
    if legacy and not values.get("NVIDIA_REQUIRE_CUDA"):
        m = re.fullmatch(r"v?(\d+)(?:\.(\d+))?(?:\.\d+)?", legacy)
        if not m:
            raise ValueError(f"invalid CUDA_VERSION {legacy!r}")
        implied = f"cuda>={int(m.group(1))}.{int(m.group(2) or 0)}"
        reqs.append(parse_require_cuda(implied, name="CUDA_VERSION"))
    return tuple(reqs)


def evaluate_image(
    env: Mapping[str, str] | Iterable[str],
    *,
    driver_cuda: CudaVersion | None,
    driver_version: str | None,
    brand: str | None = None,
    arch: Capability | None = None,
) -> Verdict:
    """Decide whether the toolkit would start an image with this environment on this host and GPU."""
    if disable_require(env):
        return Verdict(
            True,
            "NVIDIA_DISABLE_REQUIRE is set, so the container toolkit skips its checks; a driver "
            "too old for the image then fails inside it with 'CUDA driver version is "
            "insufficient for CUDA runtime version'",
        )
    reqs = image_requirements(env)
    if not reqs:
        return Verdict(True, "the image declares no NVIDIA_REQUIRE_* constraint")
    verdicts = [
        evaluate(r, driver_cuda=driver_cuda, driver_version=driver_version, brand=brand, arch=arch) for r in reqs
    ]
    failed = next((v for v in verdicts if not v.ok), None)
    return failed or Verdict(True, "; ".join(v.reason for v in verdicts),
                             forward_compat=any(v.forward_compat for v in verdicts))
