"""`aima pull`: the plan's model files into the shared Hugging Face cache, resumable and verified."""

from __future__ import annotations

from pathlib import Path

import typer

from aima.commands.options import HARDWARE, IMAGES, MODEL, STACK, engine_flag


def pull(
    ctx: typer.Context,
    engines: list[str] = typer.Argument(None, help="Only these engines (asr, llm, tts); default: every planned one."),
    hardware: str = HARDWARE,
    images: Path = IMAGES,
    stack: Path = STACK,
    model: list[str] = MODEL,
    offline: bool = typer.Option(False, "--offline", help="Use only what is on disk (as HF_HUB_OFFLINE=1); name "
                                                          "what is missing."),
    json_out: bool = typer.Option(False, "--json", help="Progress and result as JSON lines (docs/models.md)."),
) -> None:
    """Download the models the plan needs (resumable, SHA-256 verified) into the Hugging Face hub cache."""
    from aima.models.cache import hub_dir
    from aima.models.download import pull as fetch
    from aima.models.for_plan import needs, sources
    from aima.models.hub import settings_from_env
    from aima.pipeline import PlanRequest, build_plan
    from aima.render import console
    from aima.render.pull import reporter_for

    plan = build_plan(PlanRequest(hardware=hardware, images=images, stack=stack, models=tuple(model or ()),
                                  offline=offline, engine=engine_flag(ctx)))
    chosen = tuple(engines or ())
    wanted = needs(plan, chosen)
    hub = hub_dir()
    reporter = reporter_for(json_out)
    if not json_out:
        for need in wanted:
            if need.source is None:
                console.out(f"{need.engine}: {need.model or '-'}: {need.note}")
    result = fetch(sources(plan, chosen), hub, settings_from_env(offline=offline), reporter)
    if json_out:
        import json
        import sys

        sys.stdout.write(json.dumps({"event": "summary", "hub": str(hub), "fetched_bytes": result.fetched_bytes,
                                 "engines": [{"engine": n.engine, "model": n.model, "note": n.note or None,
                                              "source": n.source.uri if n.source else None} for n in wanted],
                                 "files": [vars(f) for f in result.files]}) + "\n")
        return
    fetched = sum(1 for f in result.files if f.outcome in ("downloaded", "resumed"))
    console.out(f"models ready in {hub}: {len(result.files)} file(s), {fetched} downloaded "
                f"({result.fetched_bytes / 2**20:.1f} MiB over the network)")
