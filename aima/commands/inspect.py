"""`aima inspect IMAGE`: the CUDA code really inside an image's libraries."""

from __future__ import annotations

from pathlib import Path

import typer

from aima.commands.options import engine_flag


def inspect(
    ctx: typer.Context,
    image: str = typer.Argument(..., help="A local image reference (tag or digest)."),
    json_out: bool = typer.Option(False, "--json", help="Print the inspection as JSON."),
    refresh: bool = typer.Option(False, "--refresh", help="Read the image again even when it is cached."),
    cache_dir: Path = typer.Option(None, "--cache-dir", help="Cache folder (default: ~/.cache/aima/inspect)."),
) -> None:
    """Read the SASS and PTX targets out of an image's libraries without running it; cached by image ID."""
    import dataclasses

    from aima.engine import connect
    from aima.inspect.image import inspect_image
    from aima.render import console
    from aima.render.inspect import inspect_progress, inspection

    engine = connect(engine=engine_flag(ctx))
    progress = inspect_progress(json_out)
    try:
        result = inspect_image(engine, image, cache_dir, refresh=refresh, progress=progress)
    finally:
        progress.close()
    if json_out:
        console.print_json(dataclasses.asdict(result))
        return
    inspection(result)
