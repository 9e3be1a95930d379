"""`aima up`, `down`, `status`, `logs`: the stack's containers on this machine's Docker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from aima.commands.options import EXPOSE, HARDWARE, IMAGES, MODEL, STACK, engine_flag, finite


def up(
    ctx: typer.Context,
    hardware: str = HARDWARE,
    images: Path = IMAGES,
    stack: Path = STACK,
    expose: bool = EXPOSE,
    allow_cpu: bool = typer.Option(False, "--allow-cpu", help="Let a GPU engine fall back to a CPU image."),
    timeout: float = typer.Option(None, "--timeout", min=1, callback=finite,
                                  help="Seconds all engines together may take to get ready "
                                       "(caps each engine's startup allowance)."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON (docs/launch.md)."),
    build: bool = typer.Option(False, "--build", help="Build the images aima builds from recipes when they are "
                                                      "missing or their recipe changed (docs/builds.md)."),
    no_verify: bool = typer.Option(False, "--no-verify", help="Skip the real request through each engine that ends "
                                                              "`up` (docs/verify.md)."),
    verify_timeout: float = typer.Option(None, "--verify-timeout", min=0.1, callback=finite,
                                         help="Cap each verify request's timeout (seconds)."),
    model: list[str] = MODEL,
    no_pull: bool = typer.Option(False, "--no-pull", help="Download no model file: refuse when one is missing."),
    offline: bool = typer.Option(False, "--offline", help="Models from disk only (as HF_HUB_OFFLINE=1)."),
    latest: bool = typer.Option(False, "--latest", help="Pull each image's moving tag, not the digest the catalogue "
                                                        "pins; its CUDA facts are re-read and the plan redone "
                                                        "(docs/launch.md)."),
) -> None:
    """Plan, pull, start every engine in parallel, wait until each is healthy, verify them, print the endpoints."""
    from aima.errors import AimaError
    from aima.launch.lock import stack_lock
    from aima.launch.up import UpOptions, run_up
    from aima.pipeline import PlanRequest, build_plan, connect_engine
    from aima.render import console
    from aima.render import launch as show
    from aima.render.progress import ConsoleReporter, JsonReporter

    request = PlanRequest(hardware=hardware, images=images, stack=stack, expose=expose, models=tuple(model or ()),
                          latest=latest, offline=offline, engine=engine_flag(ctx))
    plan = build_plan(request)
    if not plan.ok:
        raise show.refusals(plan)
    # Check before touching: the engine must answer before any model download or image pull starts.
    docker = connect_engine(request.engine, request.stack)
    docker.ping()
    reporter = JsonReporter() if json_out else ConsoleReporter()
    if plan.latest:
        plan = _replan_with_pulled_facts(plan, request, reporter, docker)
    from aima.launch.ownership import owners_for

    owners = owners_for(docker)
    if not (no_pull or offline) and _to_download(plan):
        from aima.launch.up import check_before_models

        check_before_models(plan, docker, owners)  # a taken port is said before the model download, not after
    plan = _models_in_place(plan, request, no_pull or offline, json_out)
    for warning in plan.warnings:
        reporter.warn(warning)

    with stack_lock(plan.stack, "up"):
        from aima.build.builder import QuietBuilds
        from aima.build.show import ConsoleBuilds

        builds = QuietBuilds() if json_out else ConsoleBuilds()
        options = UpOptions(allow_cpu=allow_cpu, timeout_s=timeout, build=build, down_command=_down_command(stack))
        result = run_up(plan, docker, options, reporter, builds=builds, owners=owners)
    checked = None
    if result.ok and not no_verify:
        checked = _verify_after_up(result, docker, verify_timeout, json_out)
    if json_out:
        console.print_json({**show.up_dict(result), "verify": checked})
    else:
        show.up_result(result)
        if checked is not None:
            from aima.render import verify as shown

            shown.report(checked)
    if checked is not None and not checked["ok"]:
        from aima.render import verify as shown

        raise AimaError(f"stack {result.stack} is up, but verify failed: {shown.failures(checked)}",
                        hint="`aima verify` checks again; `aima logs ENGINE` shows an engine's log; "
                             "`aima up --no-verify` skips the check")
    if not result.ok:
        raise show.not_up(result)


def _replan_with_pulled_facts(plan: Any, request: Any, reporter: Any, docker: Any) -> Any:  # -> Plan
    """`--latest`: pull the moving tags, put each pulled image's CUDA facts in place of the catalogue's, plan again.

    Runs before any network or container exists; a plan the image's facts no longer allow is refused with why.
    """
    from aima.launch.images import pull_latest_facts, with_image_facts
    from aima.pipeline import plan_with_inputs
    from aima.render import launch as show
    from aima.render.console import escape as console_escape

    facts = pull_latest_facts(docker, plan, reporter.pulls)
    for (engine, _), (cuda, require) in facts.items():
        image = next(e.image for e in plan.engines if e.engine == engine)
        reporter.say(f"{engine}: facts read from the pulled {console_escape(image)}: CUDA_VERSION {cuda or 'unset'}, "
                     f"NVIDIA_REQUIRE_CUDA {console_escape(require or 'unset')}")
    replanned = plan_with_inputs(request, lambda catalog: with_image_facts(catalog, facts))[0]
    if not replanned.ok:
        raise show.refusals(replanned)
    for now in replanned.engines:
        before = next((e for e in plan.engines if e.engine == now.engine), None)
        if before is not None and before.candidate != now.candidate:
            lost = next((f"{r.candidate}: {r.reason}" for r in now.rejected if r.candidate == before.candidate), "")
            reporter.warn(f"{now.engine}: with the facts read from the pulled {before.image} the plan now runs "
                          f"{now.candidate} ({now.image}) instead of {before.candidate}"
                          + (f" (rejected {lost})" if lost else ""))
    return replanned


def _verify_after_up(result: Any, docker: Any, cap_s: float | None, quiet: bool) -> dict:
    """The speech loop over the engines `up` just brought up; the result is kept with the stack."""
    from aima.hardware.nvml import load_pynvml
    from aima.verify import store
    from aima.verify.loop import run_loop
    from aima.verify.stack import docker_hooks, up_targets

    if not quiet:
        from aima.render import console

        console.out(f"stack {result.stack}: verifying (a real request through each engine)")
    data = run_loop(up_targets(result.engines, cap_s), docker_hooks(docker, load_pynvml())).as_dict()
    store.save(result.stack, data)
    return data


def _to_download(plan: Any) -> bool:  # plan: Plan
    """Whether some model file of the plan is not in the hub cache yet (a folder not yet listed counts)."""
    from aima.models.cache import hub_dir, presence
    from aima.models.for_plan import sources

    hub = hub_dir()
    return any(not s.files or not all(p.present for p in presence(hub, s)) for s in sources(plan))


def _models_in_place(plan, request, disk_only: bool, json_out: bool):  # -> Plan
    """Fetch the plan's model files before any container starts (--no-pull/--offline: only check they are there);
    a revision the first pull pinned re-plans, so containers get the commit's path."""
    import sys

    from aima.models.cache import hub_dir
    from aima.models.download import pull
    from aima.models.for_plan import sources
    from aima.models.hub import settings_from_env
    from aima.pipeline import build_plan
    from aima.render.pull import JsonReporter, reporter_for

    wanted = sources(plan)
    if not wanted:
        return plan
    # --json: stdout holds the one result document; download events go to stderr with the wait events.
    reporter = JsonReporter(sys.stderr) if json_out else reporter_for(False)
    pull(wanted, hub_dir(), settings_from_env(offline=disk_only), reporter)
    return build_plan(request) if any(not s.pinned for s in wanted) else plan


def _down_command(stack: Path | None) -> str:
    """`aima down` as the user would type it for this stack."""
    import shlex

    return f"aima down --stack {shlex.quote(str(stack))}" if stack else "aima down"


def _up_command(stack: Path | None) -> str:
    """`aima up` as the user would type it for this stack."""
    import shlex

    return f"aima up --stack {shlex.quote(str(stack))}" if stack else "aima up"


def _stack(stack: Path | None) -> Any:  # -> Stack
    from aima.stack import find_stack_file, load_stack

    return load_stack(find_stack_file(stack))


def down(ctx: typer.Context, stack: Path = STACK) -> None:
    """Remove this stack's containers and network (only those aima labelled; model files stay)."""
    from aima.launch.lock import stack_lock
    from aima.launch.ownership import look_alike_note, owners_for
    from aima.launch.status import remove_stack
    from aima.pipeline import connect_engine
    from aima.render import launch as show

    loaded = _stack(stack)
    name = loaded.name
    with stack_lock(name, "down"):
        docker = connect_engine(engine_flag(ctx), loaded)
        containers, networks, look_alikes = remove_stack(docker, name, owners_for(docker))
    from aima.verify import store

    store.forget(name)
    show.removed(name, containers, networks, look_alike_note(name, look_alikes) if look_alikes else None)


def status(
    ctx: typer.Context,
    stack: Path = STACK,
    json_out: bool = typer.Option(False, "--json", help="Print the status as JSON."),
) -> None:
    """Show each engine's container: state, health, endpoint, GPU memory where NVML is present, the last verify.

    Exit status 0 when every engine of the stack runs and is healthy, 3 when one is missing, stopped or unhealthy
    (docs/launch.md)."""
    from aima.hardware.nvml import load_pynvml
    from aima.launch.status import stack_problems, stack_status
    from aima.pipeline import connect_engine
    from aima.render import console
    from aima.render import launch as show
    from aima.render.verify import last_result
    from aima.stack import find_stack_file, load_stack
    from aima.verify import store

    settings = load_stack(find_stack_file(stack))
    name = settings.name
    nvml = load_pynvml()
    rows = stack_status(connect_engine(engine_flag(ctx), settings), name, nvml)
    problems = stack_problems(rows, [e.name for e in settings.enabled])
    verified = store.load(name) if rows else None
    if json_out:
        console.print_json({**show.status_dict(rows, name, problems), "verify": verified})
    elif not rows:
        console.out(f"stack {name}: no containers (run `aima up`)")
    else:
        show.status_rows(rows, name, nvml=any(r.gpu_memory_mib is not None for r in rows))
        console.out(console.escape(last_result(verified)))
    if problems:
        raise show.not_healthy(name, problems, _up_command(stack))


def logs(
    ctx: typer.Context,
    engine: str = typer.Argument(..., help="The engine: asr, llm or tts."),
    follow: bool = typer.Option(False, "-f", "--follow", help="Keep printing new lines until Ctrl-C."),
    tail: int = typer.Option(None, "--tail", min=0, help="Only the last N lines."),
    stack: Path = STACK,
) -> None:
    """Print an engine's container log (stdout and stderr)."""
    import sys

    from aima.engine.labels import LABEL_ENGINE, LABEL_STACK
    from aima.engines import ENGINES
    from aima.errors import AimaError
    from aima.pipeline import connect_engine
    from aima.textsafe import printable

    if engine not in ENGINES:
        raise AimaError(f"unknown engine {printable(engine, newlines=False)!r}: aima's engines are "
                        f"{', '.join(ENGINES)}", hint="`aima status` lists the stack's containers", exit_code=2)
    loaded = _stack(stack)
    name = loaded.name
    docker = connect_engine(engine_flag(ctx), loaded)
    found = docker.list({LABEL_STACK: name, LABEL_ENGINE: engine})
    if not found:
        there = sorted({c.engine for c in docker.list({LABEL_STACK: name}) if c.engine})
        raise AimaError(f"stack {name} has no container for engine {engine}"
                        + (f"; it has: {', '.join(there)}" if there else "; it has no containers"),
                        hint="`aima status` lists them; `aima up` starts the stack")
    raw = getattr(sys.stdout, "buffer", None)  # bytes as the engine wrote them, where stdout has a buffer
    for chunk in docker.logs(found[0].id, follow=follow, tail=tail):
        if raw is not None:
            raw.write(chunk)
            raw.flush()
        else:
            sys.stdout.write(chunk.decode("utf-8", "replace"))
            sys.stdout.flush()
