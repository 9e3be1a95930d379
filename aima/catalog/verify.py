"""A catalogue entry's stated facts against what its image says about itself: one Drift per differing fact.

Pure: the registry facts (and, with ``--archs``, the archs read from the layers) come in as values.
Compared per platform the entry lists: the platform exists, ``cuda`` (CUDA_VERSION), ``require_cuda``
(NVIDIA_REQUIRE_CUDA), ``entrypoint`` where the entry sets one (it restates the image's), ``port`` where
the image EXPOSEs ports, the pinned digest where the entry has one, and ``archs`` when read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from aima.catalog.model import Candidate
from aima.registry.facts import ImageFacts, PlatformImage


@dataclass(frozen=True)
class Drift:
    """One fact the catalogue states differently from the image."""

    entry: str  # "llm/llama-cpp-cuda13"
    field: str  # platforms | cuda | require_cuda | entrypoint | port | digest | archs
    catalogue: str
    image: str
    digest: str  # the image digest the image value was read from
    platform: str | None = None

    def line(self) -> str:
        """The one-line report: entry, field, catalogue value, image value, image digest."""
        where = f"{self.platform} " if self.platform else ""
        return f"{self.entry}: {self.field}: catalogue {self.catalogue}, image {self.image} ({where}{self.digest})"


def compare(entry: str, candidate: Candidate, facts: ImageFacts,
            archs: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]] | None = None) -> list[Drift]:
    """Every stated fact of ``candidate`` that its image contradicts; ``archs``: platform -> (SASS, PTX) read."""
    drifts: list[Drift] = []
    missing = [p for p in candidate.platforms if facts.platform(p) is None]
    if missing:
        drifts.append(Drift(entry, "platforms", ", ".join(candidate.platforms), ", ".join(facts.platforms) or "none",
                            facts.digest))
    for platform in candidate.platforms:
        image = facts.platform(platform)
        if image is not None:
            drifts.extend(_platform_drifts(entry, candidate, image, (archs or {}).get(platform)))
    return drifts


def _platform_drifts(entry: str, c: Candidate, image: PlatformImage,
                     archs: tuple[tuple[str, ...], tuple[str, ...]] | None) -> list[Drift]:
    cfg = image.config
    out = []

    def differ(name: str, stated: str, found: str) -> None:
        if stated != found:
            out.append(Drift(entry, name, stated, found, image.digest, image.platform))

    pin = c.pin(image.platform)
    if pin is not None and pin.digest != image.digest:
        differ("digest", f"pinned {pin.digest} (read {pin.read_at})", f"now {image.digest}")
    if c.cuda or cfg.cuda_version:
        differ("cuda", str(c.cuda) if c.cuda else "none", cfg.cuda_version or "none")
    require = cfg.env_value("NVIDIA_REQUIRE_CUDA")
    if c.require_cuda or require:
        stated, found = _words(c.require_cuda), _words(require)
        if stated != found:
            out.append(Drift(entry, "require_cuda", summarize_require(stated), summarize_require(found),
                             image.digest, image.platform))
    if c.entrypoint is not None:
        differ("entrypoint", _argv(c.entrypoint), _argv(cfg.entrypoint))
    if cfg.tcp_ports and c.port not in cfg.tcp_ports:
        differ("port", str(c.port), ", ".join(str(p) for p in cfg.tcp_ports) + " exposed")
    if archs is not None and c.archs:
        differ("archs", stated_archs(c.archs), " ".join(archs[0] + archs[1]) or "no CUDA code")
    return out


def provenance(candidate: Candidate, platform: str) -> dict[str, str | None]:
    """Whether a candidate's facts for a platform were read from an image digest (verified) or only cited."""
    pin = candidate.pin(platform)
    if pin is not None:
        return {"status": "verified", "digest": pin.digest, "read_at": pin.read_at, "source": _public(candidate.source)}
    return {"status": "cited", "digest": None, "read_at": None, "source": _public(candidate.source)}


def _public(source: str) -> str | None:
    """The candidate's source as users see it (aima.sources: no internal shorthand); None when none is left."""
    from aima.sources import public

    return public(source) or None


def provenance_line(facts: Mapping[str, str | None]) -> str:
    """'verified from sha256:… (read 2026-11-30)' or 'only cited: <source>'."""
    if facts["status"] == "verified":
        return f"verified from {facts['digest']} (read {facts['read_at']})"
    cited = facts["source"] or "no public source given"
    return f"only cited: {cited} (not checked against the image: aima catalog verify)"


def stated_archs(spec: str) -> str:
    """A catalogue arch list in the reader's spelling: SASS then PTX, sorted ("sm_80 sm_86 compute_90")."""
    from aima.catalog.cuda import parse_targets
    from aima.inspect.fatbin import arch_sort_key

    targets = parse_targets(spec)
    sass = sorted({str(t) for t in targets if t.kind == "sass"}, key=arch_sort_key)
    ptx = sorted({str(t) for t in targets if t.kind == "ptx"}, key=arch_sort_key)
    return " ".join(sass + ptx)


def summarize_require(text: str | None) -> str:
    """NVIDIA_REQUIRE_CUDA in a line: its cuda term and the driver branches its brand clauses allow."""
    if not text:
        return "none"
    terms = text.split()
    head = [t for t in terms if "brand=" not in t]
    branches = sorted({int(m.group(1)) for t in terms for m in [re.search(r"driver>=(\d+)", t)] if m})
    brands = sorted({m.group(1) for t in terms for m in [re.search(r"brand=(\w+)", t)] if m})
    summary = " ".join(head) or "no cuda term"
    if branches:
        summary += f" + branches {'/'.join(str(b) for b in branches)} for {len(brands)} brands"
    return summary


def _words(text: str | None) -> str:
    return " ".join((text or "").split())


def _argv(argv: tuple[str, ...] | None) -> str:
    return "[" + ", ".join(argv) + "]" if argv else "none"
