"""`aima catalog verify`: the catalogue's stated facts against the registries and the images' own config."""

from __future__ import annotations

from pathlib import Path

import typer

from aima.commands.options import finite

catalog_app = typer.Typer(name="catalog", help="Check the image catalogue against the images themselves.",
                          no_args_is_help=True, add_completion=False, rich_markup_mode=None)


@catalog_app.command("verify")
def verify(
    images: Path = typer.Option(None, "--images", help="The catalogue file to verify (default: shipped images.yaml)."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    archs: bool = typer.Option(False, "--archs", help="Also read the CUDA archs out of each GPU image's layers "
                               "(streamed from the registry, cached by layer digest)."),
    pin: bool = typer.Option(False, "--pin", help="Write each agreeing entry's digests and today's date into the "
                             "file as `verified:` (the entries that differ are left alone)."),
    timeout: float = typer.Option(30.0, "--timeout", min=1, callback=finite,
                                help="Seconds to wait for a registry to answer."),
) -> None:
    """Compare every entry's platforms, CUDA version, require_cuda, entrypoint and port (and --archs) with its registry.

    Exit 0 when every fact was read and agrees, 1 when any differs, 2 when nothing differs but some image
    could not be read (an unreachable registry is reported as such, never as drift).
    """
    import datetime

    from aima.catalog.load import default_catalog_path, read_catalog
    from aima.errors import AimaError
    from aima.registry.check import AGREES, DRIFT, UNREADABLE, report_to_dict, verify_catalog
    from aima.registry.client import RegistryClient
    from aima.render import console

    path = images or default_catalog_path()
    if not path.exists():
        raise AimaError(f"--images {path}: no such file", exit_code=2)
    catalog = read_catalog(path, partial=True)

    def progress(entry: str, image: str) -> None:
        if not json_out:
            _note(f"reading {image} for {entry}")

    with RegistryClient(timeout=timeout) as client:
        report = verify_catalog(catalog, client, archs=archs, progress=progress)
    if pin:
        from aima.catalog.pins import write_pins

        today = datetime.date.today().isoformat()
        pins = {}
        for e in report.entries:
            if e.status == AGREES and e.read:
                engine, cid = e.entry.split("/", 1)
                pins[(engine, cid)] = {r.platform: r.digest for r in e.read}
        changed = write_pins(path, pins, today)
        if not json_out:
            _note(f"pinned {changed} entries in {path}")
    if json_out:
        console.print_json(report_to_dict(report))
        raise typer.Exit(report.exit_code)
    for e in report.entries:
        if e.status == DRIFT:
            for drift in e.drifts:
                print(drift.line())
        elif e.status == UNREADABLE:
            print(f"{e.entry}: not read: {e.reason}")
    counts = {s: sum(e.status == s for e in report.entries) for s in (AGREES, DRIFT, UNREADABLE)}
    skipped = len(report.entries) - sum(counts.values())
    _note(f"{counts[AGREES]} agree, {counts[DRIFT]} differ, {counts[UNREADABLE]} not read"
          + (f", {skipped} built locally (skipped)" if skipped else ""))
    raise typer.Exit(report.exit_code)


def _note(message: str) -> None:
    import sys

    sys.stderr.write(message + "\n")
