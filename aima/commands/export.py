"""`aima export`: the plan as a Compose file or Kubernetes manifests."""

from __future__ import annotations

from pathlib import Path

import typer

from aima.commands.options import EXPOSE, HARDWARE, IMAGES, STACK

FORMATS = ("compose", "k8s")


def export(
    fmt: str = typer.Option(..., "--format", help="compose (a Compose file) or k8s (Deployments and Services)."),
    hardware: str = HARDWARE,
    images: Path = IMAGES,
    stack: Path = STACK,
    expose: bool = EXPOSE,
    output: Path = typer.Option(None, "-o", "--output", help="Write to this file instead of stdout."),
) -> None:
    """Write the plan as a Compose file or Kubernetes manifests; refuses when an engine cannot be planned."""
    from aima.errors import AimaError
    from aima.pipeline import PlanRequest, plan_with_inputs
    from aima.render.console import write_output

    if fmt not in FORMATS:
        raise AimaError(f"unknown --format {fmt!r}", hint=f"choose one of: {', '.join(FORMATS)}")
    plan, catalog, inspected = plan_with_inputs(PlanRequest(hardware=hardware, images=images, stack=stack,
                                                            expose=expose))
    if fmt == "compose":
        from aima.export.compose import dump_compose

        text = dump_compose(plan)
    else:
        from aima.export.k8s import dump_k8s

        text = dump_k8s(plan, catalog, inspected)
    write_output(text, output)
