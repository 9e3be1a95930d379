"""Carry out a BuildPlan: reuse an image of the same recipe hash, else build it, then prove its CUDA code.

The proof reads the new image with aima's inspect code: the SASS and PTX it carries must contain every
target the catalogue promised, or the image is removed and the build refused with what was found and what
is missing. A proven image gets the catalogue's tag, a record in ``~/.cache/aima/builds.json``, and its
inspection in the inspect cache, so that `aima plan` shows "built here" and uses the inspected archs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from aima.build import records
from aima.build.recipe import LABEL_RECIPE_HASH, build_labels, context_tar, hash_tag, prove
from aima.errors import AimaError
from aima.plan_types import BuildPlan

BUILT, REUSED, REFUSED, FAILED = "built", "reused", "refused", "failed"
_TAIL = 20  # log lines of the failing step shown with a failed build


@dataclass(frozen=True)
class BuildResult:
    """What happened to one build: built, reused, refused (binary proof failed) or failed (a step failed)."""

    engine: str
    candidate: str
    image: str
    outcome: str
    recipe_hash: str
    message: str  # one line for people
    image_id: str | None = None
    seconds: float = 0.0
    found: tuple[str, ...] = ()  # SASS and PTX targets read from the image
    missing: tuple[str, ...] = ()  # promised by the catalogue, absent from the image
    step: str = ""  # the failing build step
    log_tail: tuple[str, ...] = ()  # its last log lines
    remedy: str | None = None  # the knowledge base's remedy for the failure, when it knows the error

    @property
    def ok(self) -> bool:
        """True when the image is here and proven."""
        return self.outcome in (BUILT, REUSED)


class BuildDisplay(Protocol):
    """Shows builds as they stream; the command gives a rich one, --json a silent one."""

    def start(self, plan: BuildPlan) -> None:
        """A build begins."""

    def line(self, plan: BuildPlan, text: str) -> None:
        """One line of its log."""

    def done(self, result: BuildResult) -> None:
        """It finished (any outcome)."""


class QuietBuilds:
    """No display (--json, tests)."""

    def start(self, plan: BuildPlan) -> None:
        """Nothing to show."""

    def line(self, plan: BuildPlan, text: str) -> None:
        """Nothing to show."""

    def done(self, result: BuildResult) -> None:
        """Nothing to show."""


def needs_build(engine: Any, plan: BuildPlan) -> bool:
    """True when this machine has no image of the plan's reference built from this very recipe hash."""
    found = engine.image_labels(plan.image)
    return found is None or found[1].get(LABEL_RECIPE_HASH) != plan.recipe_hash


def ensure_built(engine: Any, plan: BuildPlan, display: BuildDisplay | None = None, *, force: bool = False,
                 cache_dir: Path | None = None, clock: Callable[[], float] = time.monotonic) -> BuildResult:
    """Reuse or build the plan's image and prove its CUDA code; the result says which, and why not."""
    display = display or QuietBuilds()
    existing = engine.image_labels(plan.image)
    if existing is not None and existing[1].get(LABEL_RECIPE_HASH) == plan.recipe_hash and not force:
        return _proven(engine, plan, existing[0], REUSED, 0.0, cache_dir, display)
    started = clock()
    display.start(plan)
    tag = hash_tag(plan.image, plan.recipe_hash)
    output = engine.build(context_tar(plan.recipe_dir), tag, dict(plan.args), build_labels(plan),
                          lambda text: display.line(plan, text))
    seconds = clock() - started
    if not output.ok:
        tail = tuple(output.step_lines[-_TAIL:])
        remedy = _remedy(list(output.step_lines) + [output.error or ""])
        step = output.step or "before the first step"
        result = BuildResult(plan.engine, plan.candidate, plan.image, FAILED, plan.recipe_hash,
                             f"building {plan.image} failed at {step}: {output.error}", seconds=seconds,
                             step=step, log_tail=tail, remedy=remedy)
        display.done(result)
        return result
    return _proven(engine, plan, output.image_id, BUILT, seconds, cache_dir, display, built_tag=tag)


def _proven(engine: Any, plan: BuildPlan, image_id: str, outcome: str, seconds: float, cache_dir: Path | None,
            display: BuildDisplay, built_tag: str | None = None) -> BuildResult:
    """Read the image's CUDA code; tag and record it when it holds what the catalogue promised, else refuse it."""
    from aima.inspect.cache import default_cache_dir, record_ref
    from aima.inspect.image import inspect_image

    folder = default_cache_dir() if cache_dir is None else cache_dir
    inspection = inspect_image(engine, built_tag or plan.image, folder)
    found, missing = prove(plan.archs, inspection.sass, inspection.ptx)
    if missing:
        if built_tag is not None:
            engine.remove_image(built_tag)  # this run built it and nothing else refers to it yet
        result = BuildResult(plan.engine, plan.candidate, plan.image, REFUSED, plan.recipe_hash,
                             f"{plan.image} refused: its binaries carry {', '.join(found) or 'no CUDA code'}; "
                             f"the catalogue promised {plan.archs}, missing {', '.join(missing)}",
                             image_id=image_id, seconds=seconds, found=found, missing=missing)
        display.done(result)
        return result
    if built_tag is not None:
        engine.tag(image_id, plan.image)
    record_ref(plan.image, image_id, folder)
    records.save(plan.image, records.Record(plan.recipe_hash, image_id, found, round(seconds, 1)), folder)
    what = "built" if outcome == BUILT else "already built here"
    result = BuildResult(plan.engine, plan.candidate, plan.image, outcome, plan.recipe_hash,
                         f"{plan.image} {what} ({image_id[:19]}); carries {', '.join(found) or 'no CUDA code'}",
                         image_id=image_id, seconds=seconds, found=found)
    display.done(result)
    return result


def _remedy(lines: Iterable[str]) -> str | None:
    """The knowledge base's remedy for the most telling line of a failed build, if it knows one."""
    from aima.knowledge import load_knowledge

    found = load_knowledge().first(lines)
    return f"{found.title}: {found.remedy}" if found else None


def require_built(results: list[BuildResult]) -> None:
    """Raise one AimaError for every build that did not end with a proven image."""
    bad = [r for r in results if not r.ok]
    if not bad:
        return
    first = bad[0]
    hint = first.remedy or ("see the log lines above; `aima build` runs it again" if first.outcome == FAILED else
                            "fix the recipe's arch list (CUDA_ARCHITECTURES) or the catalogue's archs")
    raise AimaError("; ".join(r.message for r in bad), hint=hint)
