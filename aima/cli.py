"""The typer app: parse options, call the pipeline, render. No decisions here."""

from __future__ import annotations

import sys

import typer

from aima import __version__

app = typer.Typer(
    name="aima",
    help="Bring up a local ASR + LLM + TTS stack as containers that really run on this NVIDIA machine.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain click help: typer's rich help costs ~80 ms of imports on every --help
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"aima {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for unexpected errors."),
    engine: str = typer.Option(None, "--engine", metavar="docker|podman",
                               help="The container engine for every command (before the command: "
                                    "aima --engine podman up); else AIMA_ENGINE, the stack file's engine:, "
                                    "else found automatically (docs/launch.md)."),
) -> None:
    """aima: detect, plan, up, status, doctor, down."""
    from aima.commands.options import Globals

    if engine is not None:
        from aima.engine.select import requested

        requested({}, explicit=engine)  # a name that is no engine: one line naming --engine, exit 2
        engine = engine.strip().lower()
    ctx.obj = Globals(engine=engine)


def _register() -> None:
    """Register the command functions; the order is the order `aima --help` lists them: the pipeline's order,
    then the tools around it. The command modules import typer and their options only; each imports what it
    needs when it runs, and none imports this module."""
    from aima.commands import build, catalog, detect, doctor, export, inspect, matrix, plan, pull, up, verify

    for command in (detect.detect, plan.plan, plan.images, pull.pull, up.up, up.down, up.status, up.logs, verify.verify,
                    doctor.doctor, matrix.matrix, export.export, inspect.inspect, build.build):
        app.command()(command)
    app.add_typer(catalog.catalog_app)


_register()


def main(argv: list[str] | None = None) -> int:
    """The one error boundary: AimaError -> one line and a non-zero exit; other errors traceback only with --debug."""
    from aima.errors import AimaError

    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    json_out = "--json" in args
    if json_out:
        from aima.render import console

        console.json_begin()
    try:
        result = app(args=args, prog_name="aima", standalone_mode=False)
    except AimaError as exc:
        from aima.render import console

        console.error(str(exc), exc.hint)
        if json_out:
            console.error_json(str(exc), exc.hint)
        return exc.exit_code
    except KeyboardInterrupt:
        from aima.render import console

        console.error("interrupted")
        return 130
    except SystemExit as exc:  # typer.Exit inside standalone_mode=False surfaces as an int return, but be safe
        return int(exc.code or 0)
    except Exception as exc:  # noqa: BLE001 - the boundary: anything else is a bug
        from aima.render import console

        # typer >= 0.20 vendors click (typer._click); recognise its exceptions by shape, not by module.
        if type(exc).__name__ == "Abort":
            console.error("aborted")
            return 130
        code = getattr(exc, "exit_code", None)
        if hasattr(exc, "show") and isinstance(code, int):
            exc.show()
            if "No such option: --engine" in str(exc):  # the container engine is a global option
                sys.stderr.write("Hint: --engine goes before the command: aima --engine docker|podman COMMAND ...\n")
            if json_out and hasattr(exc, "format_message"):
                console.error_json(exc.format_message(), f"`aima {args[0] if args else ''} --help` lists the options")
            return code
        if debug:
            raise
        message = f"internal error: {type(exc).__name__}: {exc}"
        hint = "run `aima --debug COMMAND ...` for the traceback (--debug goes before the command)"
        console.error(message, hint)
        if json_out:
            console.error_json(message, hint)
        return 70
    return result if isinstance(result, int) else 0


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
