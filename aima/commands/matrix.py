"""`aima matrix`: every hardware profile x engine, checked against the profiles' expectations."""

from __future__ import annotations

from pathlib import Path

import typer

from aima.commands.options import IMAGES, STACK

FORMATS = ("table", "json", "junit", "markdown")


def matrix(
    profiles: Path = typer.Option(None, "--profiles", help="A folder of hardware profiles (default: shipped ones)."),
    images: Path = IMAGES,
    stack: Path = STACK,
    fmt: str = typer.Option("table", "--format", help="table, json, junit (JUnit XML for CI) or markdown."),
    output: Path = typer.Option(None, "-o", "--output", help="Write to this file instead of stdout."),
) -> None:
    """Plan every hardware profile x engine (no Docker) and compare with each profile's expect: block."""
    from aima import matrix
    from aima.errors import AimaError
    from aima.hardware.profiles import all_profiles
    from aima.pipeline import load_catalog_and_stack
    from aima.render.console import write_output
    from aima.render.matrix import failures, matrix_table, matrix_text

    if fmt not in FORMATS:
        raise AimaError(f"unknown --format {fmt!r}", hint=f"choose one of: {', '.join(FORMATS)}")
    result = matrix.run_matrix(all_profiles(profiles), *load_catalog_and_stack(images, stack))
    if fmt == "table" and output is None:
        matrix_table(result)
    else:
        write_output(matrix_text(result, fmt), output)
        failures(result)
    if not result.ok:
        raise typer.Exit(1)
