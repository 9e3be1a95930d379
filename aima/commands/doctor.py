"""`aima doctor`: every check with ok / warn / fail and a remedy; --logs diagnoses a saved log offline."""

from __future__ import annotations

from pathlib import Path

import typer

from aima.commands.options import HARDWARE, IMAGES, STACK, engine_flag, finite


def doctor(
    ctx: typer.Context,
    hardware: str = HARDWARE,
    images: Path = IMAGES,
    stack: Path = STACK,
    json_out: bool = typer.Option(False, "--json", help="Print every check as JSON (ids: docs/doctor.md)."),
    deep: bool = typer.Option(False, "--deep", help="Also run each GPU image briefly on the GPU (seconds per image)."),
    deep_timeout: float = typer.Option(30.0, "--deep-timeout", min=1.0, callback=finite,
                                      help="Seconds to watch each --deep trial."),
    logs: str = typer.Option(None, "--logs", help="Diagnose a saved log FILE ('-' for stdin) against the knowledge "
                                                  "base, offline; no other checks run."),
    engine: str = typer.Option(None, "--engine", help="With --logs: the engine (asr, llm, tts) the log is from."),
) -> None:
    """Check this machine, Docker, the plan's images, ports, models and running containers; exit 1 if any fail."""
    from aima.diagnose.checks import exit_code
    from aima.render import console
    from aima.render import doctor as report

    if logs is not None:
        results, elapsed = _logfile(logs, engine)
    else:
        if engine is not None:
            from aima.errors import AimaError

            if engine.strip().lower() in ("docker", "podman"):
                raise AimaError(f"doctor's --engine names an aima engine for --logs (asr, llm, tts), not {engine}",
                                hint=f"the container engine goes before the command: aima --engine {engine} doctor",
                                exit_code=2)
            raise AimaError("--engine only applies to --logs", hint="aima doctor --logs FILE --engine llm",
                            exit_code=2)
        from aima.diagnose.doctor import DoctorRequest, run_doctor

        request = DoctorRequest(hardware=hardware, images=images, stack=stack, deep=deep, deep_timeout_s=deep_timeout,
                                engine=engine_flag(ctx))
        results, elapsed = run_doctor(request)
    if json_out:
        console.print_json(report.to_dict(results, elapsed))
    else:
        report.print_report(results, elapsed)
    code = exit_code(results)
    if code:
        raise typer.Exit(code)


def _logfile(logs: str, engine: str | None) -> tuple[list, float]:
    import sys
    import time

    from aima.diagnose.check_containers import logfile_checks
    from aima.diagnose.checks import run_checks
    from aima.errors import AimaError
    from aima.knowledge import ENGINES

    started = time.monotonic()
    if engine is not None and engine not in ENGINES:
        raise AimaError(f"--engine {engine!r}: not an engine", hint=f"one of {', '.join(ENGINES)}", exit_code=2)
    if logs == "-":
        name, text = "stdin", sys.stdin.read()
    else:
        try:
            name, text = logs, Path(logs).read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise AimaError(f"--logs {logs}: {exc.strerror or exc}", exit_code=2) from None
    results = run_checks([("logs", lambda: logfile_checks(name, text, engine))])
    return results, time.monotonic() - started
