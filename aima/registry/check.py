"""`aima catalog verify`: read every catalogue entry's image from its registry and compare the stated facts."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from aima.catalog.model import Candidate, Catalog
from aima.catalog.verify import Drift, compare
from aima.errors import AimaError
from aima.registry.client import RegistryClient, RegistryUnreachable
from aima.registry.facts import ImageFacts, read_image
from aima.registry.reference import parse_reference

AGREES, DRIFT, UNREADABLE, SKIPPED = "agrees", "drift", "unreadable", "skipped"


@dataclass(frozen=True)
class Read:
    """One platform image that was read: its digest and config's created time."""

    platform: str
    digest: str
    created: str | None


@dataclass(frozen=True)
class EntryReport:
    """One catalogue entry's outcome."""

    entry: str  # engine/id
    image: str
    status: str  # agrees | drift | unreadable | skipped
    drifts: tuple[Drift, ...] = ()
    reason: str | None = None  # why unreadable or skipped
    read: tuple[Read, ...] = ()


@dataclass
class VerifyReport:
    """Every entry's outcome and the exit code they add up to."""

    entries: list[EntryReport] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """0 every fact read and agrees, 1 any fact differs, 2 nothing differs but some image was not read."""
        if any(e.status == DRIFT for e in self.entries):
            return 1
        return 2 if any(e.status == UNREADABLE for e in self.entries) else 0


def built_locally(image: str) -> bool:
    """``localhost/...`` images are built on the machine from a recipe: no registry holds them."""
    return image.startswith("localhost/")


def verify_catalog(catalog: Catalog, client: RegistryClient, *, archs: bool = False,
                   layer_cache: Path | None = None, progress: object = None) -> VerifyReport:
    """Compare every candidate with its image's registry facts (and layer archs); registries are read once per image."""
    report = VerifyReport()
    facts_by_image: dict[str, ImageFacts | AimaError] = {}
    for engine in catalog.engines:
        for candidate in engine.candidates:
            entry = f"{engine.name}/{candidate.id}"
            if callable(progress):
                progress(entry, candidate.image)
            report.entries.append(_verify_one(entry, candidate, client, facts_by_image, archs, layer_cache))
    return report


def _verify_one(entry: str, c: Candidate, client: RegistryClient, cache: dict[str, ImageFacts | AimaError],
                archs: bool, layer_cache: Path | None) -> EntryReport:
    if c.build is not None or c.local_only or built_locally(c.image):
        why = "built from a recipe" if c.build is not None else (c.local_only or "a local image")
        return EntryReport(entry, c.image, SKIPPED, reason=f"{why}; no registry holds it")
    if c.image not in cache:
        try:
            cache[c.image] = read_image(client, c.image)
        except ValueError as exc:
            cache[c.image] = AimaError(f"not an image reference: {exc}")
        except AimaError as exc:
            cache[c.image] = exc
    facts = cache[c.image]
    if isinstance(facts, AimaError):
        prefix = "registry unreachable: " if isinstance(facts, RegistryUnreachable) else ""
        return EntryReport(entry, c.image, UNREADABLE, reason=prefix + str(facts))
    read_archs = None
    if archs and c.gpu:
        try:
            read_archs = _layer_archs(client, c, facts, layer_cache)
        except AimaError as exc:
            return EntryReport(entry, c.image, UNREADABLE, reason=f"layers: {exc}", read=_reads(c, facts))
    drifts = tuple(compare(entry, c, facts, read_archs))
    return EntryReport(entry, c.image, DRIFT if drifts else AGREES, drifts, read=_reads(c, facts))


def _reads(c: Candidate, facts: ImageFacts) -> tuple[Read, ...]:
    return tuple(Read(i.platform, i.digest, i.config.created) for i in facts.images if i.platform in c.platforms)


def _layer_archs(client: RegistryClient, c: Candidate, facts: ImageFacts,
                 layer_cache: Path | None) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    from aima.registry.layers import image_archs

    ref = parse_reference(c.image)
    out = {}
    for platform in c.platforms:
        image = facts.platform(platform)
        if image is not None:
            sass, ptx, _ = image_archs(client, ref, image, layer_cache)
            out[platform] = (sass, ptx)
    return out


def report_to_dict(report: VerifyReport) -> dict:
    """The --json form (docs/catalog.md)."""
    return {
        "exit_code": report.exit_code,
        "counts": {s: sum(e.status == s for e in report.entries) for s in (AGREES, DRIFT, UNREADABLE, SKIPPED)},
        "entries": [
            {"entry": e.entry, "image": e.image, "status": e.status, "reason": e.reason,
             "read": [{"platform": r.platform, "digest": r.digest, "created": r.created} for r in e.read],
             "drift": [{"field": d.field, "platform": d.platform, "catalogue": d.catalogue, "image": d.image,
                        "digest": d.digest, "line": d.line()} for d in e.drifts]}
            for e in report.entries
        ],
    }
