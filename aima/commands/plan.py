"""`aima plan` and `aima images`: what `up` would do, and the catalogue."""

from __future__ import annotations

from pathlib import Path

import typer

from aima.commands.options import EXPOSE, HARDWARE, IMAGES, MODEL, STACK, engine_flag


def plan(
    ctx: typer.Context,
    hardware: str = HARDWARE,
    images: Path = IMAGES,
    stack: Path = STACK,
    expose: bool = EXPOSE,
    json_out: bool = typer.Option(False, "--json", help="Print the plan as JSON (docs/plan.md)."),
    docker_run: bool = typer.Option(False, "--docker-run", help="Print the equivalent docker run lines."),
    model: list[str] = MODEL,
    latest: bool = typer.Option(False, "--latest", help="Show the moving tags `up --latest` pulls instead of the "
                                                        "pinned digests."),
) -> None:
    """Show what `aima up` would run here: images and why, rejected candidates, limits, GPUs, ports, commands."""
    from aima.catalog.verify import provenance, provenance_line
    from aima.models.for_plan import presence_rows
    from aima.pipeline import PlanRequest, plan_with_inputs
    from aima.render import console
    from aima.render import plan as render
    from aima.render.pull import print_models

    result, catalog, _ = plan_with_inputs(PlanRequest(hardware=hardware, images=images, stack=stack, expose=expose,
                                                   models=tuple(model or ()), latest=latest,
                                                   engine=engine_flag(ctx)))
    platform = "linux/arm64" if result.hardware.cpu_arch == "aarch64" else "linux/amd64"
    facts = {e.engine: provenance(c, platform) for e in result.engines
             if (c := catalog.candidate(e.engine, e.candidate)) is not None}
    if json_out:
        console.print_json({**render.plan_to_dict(result, facts), "models": presence_rows(result)})
    elif docker_run:
        for line in render.docker_run_lines(result):
            typer.echo(line)
    else:
        render.print_plan(result, {engine: provenance_line(f) for engine, f in facts.items()})
        print_models(presence_rows(result))
    if not result.ok:
        raise typer.Exit(1)


def images(
    images: Path = IMAGES,
    json_out: bool = typer.Option(False, "--json", help="Print the catalogue as JSON."),
) -> None:
    """List the catalogue: every engine's candidates in priority order."""
    from aima.catalog.load import load_catalog
    from aima.render import console
    from aima.render.catalog import catalog_dict, catalog_tables

    catalog = load_catalog(images)
    if json_out:
        console.print_json(catalog_dict(catalog))
    else:
        catalog_tables(catalog)
