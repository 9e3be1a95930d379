"""`aima verify`: a real request through each engine of the running stack (or of --endpoint URLs): the speech loop."""

from __future__ import annotations

from pathlib import Path

import typer

from aima.commands.options import HARDWARE, IMAGES, STACK, engine_flag, finite


def verify(
    ctx: typer.Context,
    engines: list[str] = typer.Argument(None, help="The engines to check (asr, llm, tts); default: all of them."),
    hardware: str = HARDWARE,
    images: Path = IMAGES,
    stack: Path = STACK,
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON (docs/verify.md)."),
    endpoint: list[str] = typer.Option(None, "--endpoint", help="ENGINE=URL: check an engine aima did not start "
                                                                "(repeatable); the stack is not looked at."),
    candidate: list[str] = typer.Option(None, "--candidate", help="With --endpoint: the catalogue candidate the "
                                                                  "endpoint runs (its CPU/GPU and model size the "
                                                                  "timeouts); default: the engine's first."),
    timeout: float = typer.Option(None, "--timeout", min=0.1, callback=finite,
                                  help="Cap every request's timeout (seconds)."),
) -> None:
    """Send each engine a real request (LLM answers, TTS speaks it, ASR hears it back); exit 1 if one fails."""
    from aima.errors import AimaError
    from aima.render import console
    from aima.render import verify as show

    data, stack_name = run_verify(list(engines or []), hardware, images, stack, list(endpoint or []),
                                  list(candidate or []), timeout, engine_flag(ctx))
    if json_out:
        console.print_json(data)
    else:
        show.report(data)
    if not data["ok"]:
        where = f"stack {stack_name}" if stack_name else "the endpoints"
        raise AimaError(f"verify failed for {where}: {show.failures(data)}",
                        hint="`aima logs ENGINE` shows an engine's log" if stack_name else None)


def run_verify(engines: list[str], hardware: str | None, images: Path | None, stack: Path | None,
               endpoints: list[str], candidates: list[str], timeout: float | None, engine: str | None = None,
               ) -> tuple[dict, str | None]:
    """Run the loop on the stack's containers (or on --endpoint URLs); return (the JSON result, the stack or None)."""
    from aima.engines import ENGINES
    from aima.errors import AimaError
    from aima.verify.loop import run_loop

    for name in engines:
        if name not in ENGINES:
            raise AimaError(f"{name!r} is not an engine", hint=f"one of {', '.join(ENGINES)}", exit_code=2)
    if candidates and not endpoints:
        raise AimaError("--candidate only applies to --endpoint", hint="aima verify --endpoint llm=URL --candidate "
                        "llama-cpp-cpu", exit_code=2)
    if endpoints:
        from aima.verify.stack import endpoint_targets

        targets = endpoint_targets(endpoints, _catalogue_sizing(images, stack), candidates, timeout)
        if engines:
            targets = [t for t in targets if t.engine in engines]
        return run_loop(targets).as_dict(), None
    from aima.engine.labels import stack_selector
    from aima.hardware.nvml import load_pynvml
    from aima.pipeline import PlanRequest, build_plan, connect_engine
    from aima.verify import store
    from aima.verify.stack import docker_hooks, plan_targets

    plan = build_plan(PlanRequest(hardware=hardware, images=images, stack=stack, engine=engine))
    docker = connect_engine(engine, stack)
    targets = plan_targets(plan, docker.list(stack_selector(plan.stack)), engines, timeout)
    data = run_loop(targets, docker_hooks(docker, load_pynvml())).as_dict()
    store.save(plan.stack, data)
    return data, plan.stack


def _catalogue_sizing(images: Path | None, stack: Path | None):
    """candidate id or engine name -> Sizing from the catalogue (an engine's first candidate and first model)."""
    from aima.pipeline import load_catalog_and_stack
    from aima.verify.stack import Sizing

    catalog, _ = load_catalog_and_stack(images, stack)

    def find(name: str) -> Sizing | None:
        for engine in catalog.engines:
            model = engine.models[0] if engine.models else None
            if engine.name == name and engine.candidates:
                return Sizing(engine.name, engine.candidates[0].gpu, model)
            for c in engine.candidates:
                if c.id == name:
                    return Sizing(engine.name, c.gpu, model)
        return None

    return find
