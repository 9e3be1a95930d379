"""Options shared by the commands that plan: one definition, the same help everywhere."""

from __future__ import annotations

from dataclasses import dataclass

import typer

HARDWARE = typer.Option(None, "--hardware",
                        help="Plan for a hardware profile (a file or a shipped name) instead of this machine.")
IMAGES = typer.Option(None, "--images", help="A catalogue file that extends or overrides the shipped images.yaml.")
STACK = typer.Option(None, "--stack", help="A stack file (default: ./aima.yaml, else the built-in stack).")
EXPOSE = typer.Option(False, "--expose", help="Publish ports on all interfaces, not only 127.0.0.1.")
MODEL = typer.Option(None, "--model", metavar="ENGINE=MODEL",
                     help="Use this model for an engine: a catalogue name or hf://ORG/REPO[/PATH/FILE][@REVISION] "
                          "(repeatable; overrides the stack file).")


def finite(value: float | None) -> float | None:
    """Refuse nan and inf for a seconds option (a range check lets nan through: every comparison with it is false)."""
    import math

    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(f"{value} is not a number of seconds (give a finite number)")
    return value


@dataclass(frozen=True)
class Globals:
    """The options given before the command (``aima --engine podman up``); the root callback sets them."""

    engine: str | None = None  # --engine docker|podman


def engine_flag(ctx: typer.Context) -> str | None:
    """The global ``--engine``, or None when it was not given."""
    return ctx.obj.engine if isinstance(ctx.obj, Globals) else None
