"""`aima export`: the plan as a Compose file or Kubernetes manifests."""

from __future__ import annotations

from pathlib import Path

import typer

from aima.cli import app
from aima.commands.plan import HARDWARE, IMAGES, STACK

FORMATS = ("compose", "k8s")


@app.command()
def export(
    fmt: str = typer.Option(..., "--format", help="compose (a Compose file) or k8s (Deployments and Services)."),
    hardware: str = HARDWARE,
    images: Path = IMAGES,
    stack: Path = STACK,
    expose: bool = typer.Option(False, "--expose", help="Publish ports on all interfaces, not only 127.0.0.1."),
    output: Path = typer.Option(None, "-o", "--output", help="Write to this file instead of stdout."),
) -> None:
    """Write the plan as a Compose file or Kubernetes manifests; refuses when an engine cannot be planned."""
    from aima.commands.matrix import write_output
    from aima.errors import AimaError
    from aima.pipeline import PlanRequest, cached_inspections, load_inputs
    from aima.plan import PlanOptions, make_plan

    if fmt not in FORMATS:
        raise AimaError(f"unknown --format {fmt!r}", hint=f"choose one of: {', '.join(FORMATS)}")
    hw, catalog, stack_value = load_inputs(PlanRequest(hardware=hardware, images=images, stack=stack))
    inspected = cached_inspections(catalog)
    plan = make_plan(hw, catalog, stack_value, PlanOptions(expose=expose, inspected=inspected))
    if fmt == "compose":
        from aima.export.compose import dump_compose

        text = dump_compose(plan)
    else:
        from aima.export.k8s import dump_k8s

        text = dump_k8s(plan, catalog, inspected)
    write_output(text, output)
