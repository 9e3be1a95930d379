"""`aima export`: the plan as a Compose file, Kubernetes manifests or Podman Quadlet units."""

from __future__ import annotations

from pathlib import Path

import typer

from aima.commands.options import EXPOSE, HARDWARE, IMAGES, STACK, engine_flag

FORMATS = ("compose", "k8s", "quadlet")


def export(
    ctx: typer.Context,
    fmt: str = typer.Option(..., "--format", help="compose (a Compose file), k8s (Deployments and Services) or "
                                                  "quadlet (Podman systemd units: one .container per engine and a "
                                                  ".network)."),
    hardware: str = HARDWARE,
    images: Path = IMAGES,
    stack: Path = STACK,
    expose: bool = EXPOSE,
    output: Path = typer.Option(None, "-o", "--output", help="Write to this file instead of stdout (quadlet: this "
                                                             "folder, one file per unit)."),
) -> None:
    """Write the plan as a Compose file, Kubernetes manifests or Quadlet units; refuses a plan with a refused
    engine."""
    from aima.errors import AimaError
    from aima.pipeline import PlanRequest, plan_with_inputs
    from aima.render.console import write_output

    if fmt not in FORMATS:
        raise AimaError(f"unknown --format {fmt!r}", hint=f"choose one of: {', '.join(FORMATS)}")
    plan, catalog, inspected = plan_with_inputs(PlanRequest(hardware=hardware, images=images, stack=stack,
                                                            expose=expose, engine=engine_flag(ctx)))
    if fmt == "quadlet":
        from aima.export.quadlet import dump_quadlet, secrets_needed, write_units
        from aima.render.console import out

        if output is None:
            write_output(dump_quadlet(plan), None)
            return
        written = write_units(plan, output)
        out(f"wrote {len(written)} Quadlet units to {output}: {', '.join(p.name for p in written)}")
        for key, name in secrets_needed(plan):
            out(f"create the secret first: printf %s \"${key}\" | podman secret create {name} -")
        return
    if fmt == "compose":
        from aima.engine.select import choose
        from aima.export.compose import dump_compose
        from aima.stack import find_stack_file, load_stack

        # The engine the file is for: --engine, AIMA_ENGINE, the stack's engine:, else the one this machine uses.
        target = choose(explicit=engine_flag(ctx), configured=load_stack(find_stack_file(stack)).configured_engine)
        text = dump_compose(plan, target.engine, f"engine {target.engine}: {target.why}")
    else:
        from aima.export.k8s import dump_k8s

        text = dump_k8s(plan, catalog, inspected)
    if output is not None:
        from aima.export import check_overwrite

        check_overwrite(output, f"-o {output}")
    write_output(text, output)
