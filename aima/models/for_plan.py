"""What a plan needs from the hub, and fetching it: the step between planning and starting containers."""

from __future__ import annotations

from dataclasses import dataclass

from aima.errors import AimaError
from aima.models.cache import hub_dir, presence
from aima.models.source import ModelSource
from aima.plan_types import Plan


@dataclass(frozen=True)
class Need:
    """One engine's model and where it comes from (None: the image bundles it, or it is placed by hand)."""

    engine: str
    model: str | None
    source: ModelSource | None
    note: str = ""


def needs(plan: Plan, engines: tuple[str, ...] = ()) -> list[Need]:
    """Per planned engine (or the named ones), its model's source; an unknown or refused engine name is an error."""
    planned = {e.engine: e for e in plan.engines}
    for name in engines:
        if name.startswith("hf://"):
            from aima.models.source import parse_hf_uri

            try:
                parse_hf_uri(name)
            except ValueError as exc:  # do not suggest a command that fails on the URI next
                raise AimaError(f"{name!r} is a model, not an engine (pull takes engine names: asr, llm, tts), "
                                f"and not a valid one: {exc}", hint="fix the URI, then `aima pull --model "
                                                                    "ENGINE=URI ENGINE`") from None
            raise AimaError(f"{name!r} is a model, not an engine: pull takes engine names (asr, llm, tts)",
                            hint=f"pull an hf:// model for an engine with `aima pull --model llm={name} llm` (or set "
                                 "the engine's model: in the stack file)")
        if name not in planned:
            refused = next((r for r in plan.refusals if r.engine == name), None)
            raise AimaError(f"engine {name!r} is not in the plan" + (f": {refused.reason}" if refused else ""),
                            hint="`aima plan` shows the engines and why any is refused")
    out = []
    for e in plan.engines:
        if engines and e.engine not in engines:
            continue
        if e.model is None:
            out.append(Need(e.engine, None, None, "needs no model file"))
        elif e.model.format == "builtin":
            out.append(Need(e.engine, e.model.name, None, "the image carries its model; nothing to download"))
        elif e.model.source is None:
            out.append(Need(e.engine, e.model.name, None, "no source in the catalogue: place the files by hand"))
        else:
            out.append(Need(e.engine, e.model.name, e.model.source))
    return out


def presence_rows(plan: Plan) -> list[dict]:
    """For `aima plan`: per engine, its files, their source and whether the cache holds them (no network)."""
    hub = hub_dir()
    rows = []
    for need in needs(plan):
        row: dict = {"engine": need.engine, "model": need.model, "note": need.note or None, "files": []}
        if need.source is not None:
            s = need.source
            row.update(source=f"{s.repo}@{s.revision}", hub=str(hub), gated=s.gated)
            if s.folder and not s.files:
                row["note"] = "a model folder: its files are listed by the hub at pull time (not known now)"
            for f, p in zip(s.files, presence(hub, s), strict=True):
                row["files"].append({"path": f.path, "size": f.size, "sha256": f.sha256, "present": p.present,
                                     "partial_bytes": p.partial_bytes, "local": str(p.local) if p.local else None})
        rows.append(row)
    return rows


def sources(plan: Plan, engines: tuple[str, ...] = ()) -> list[ModelSource]:
    """The sources to fetch, once each."""
    out: list[ModelSource] = []
    for need in needs(plan, engines):
        if need.source is not None and need.source not in out:
            out.append(need.source)
    return out
