"""`aima build`: the images the catalogue builds from recipes/, proven by reading their CUDA code."""

from __future__ import annotations

from pathlib import Path

import typer

from aima.commands.options import HARDWARE, IMAGES, STACK, engine_flag


def build(
    ctx: typer.Context,
    names: list[str] = typer.Argument(None, metavar="[CANDIDATE ...]",
                                      help="Candidate ids, or engines (asr, llm, tts) for the plan's choice; "
                                           "default: every image of the plan that aima builds."),
    hardware: str = HARDWARE,
    images: Path = IMAGES,
    stack: Path = STACK,
    force: bool = typer.Option(False, "--force", help="Build again even when an image of this recipe hash exists."),
    check: bool = typer.Option(False, "--check", help="Only check the recipes against the catalogue; no Docker."),
    json_out: bool = typer.Option(False, "--json", help="Print the results as JSON (docs/builds.md)."),
) -> None:
    """Build images from the shipped recipes; each is tagged by recipe hash and proven by its SASS/PTX."""
    from aima.build.builder import QuietBuilds, ensure_built, require_built
    from aima.build.recipe import build_plan, check_recipe
    from aima.build.show import ConsoleBuilds, result_to_dict
    from aima.catalog.model import Candidate
    from aima.errors import AimaError
    from aima.pipeline import PlanRequest, load_catalog_and_stack, plan_with_inputs
    from aima.render import console

    catalog, _ = load_catalog_and_stack(images, stack)
    builders = [c for e in catalog.engines for c in e.candidates if c.build is not None]
    chosen: list[Candidate] = []
    if names:
        plan = None
        for name in names:
            found = [c for c in builders if name in (c.id, f"{c.engine}/{c.id}")]
            if not found and name in ("asr", "llm", "tts"):
                plan = plan or plan_with_inputs(PlanRequest(hardware=hardware, images=images, stack=stack,
                                                            engine=engine_flag(ctx)))[0]
                engine = plan.engine(name)
                found = [c for c in builders if engine is not None and engine.build is not None
                         and c.engine == name and c.id == engine.candidate]
                if not found:
                    what = f"runs {engine.candidate} ({engine.obtain})" if engine else "is refused"
                    raise AimaError(f"the plan's {name} engine {what}; nothing to build for it",
                                    hint="name a candidate instead: " + ", ".join(c.id for c in builders))
            if not found:
                raise AimaError(f"{name!r} is not a candidate aima builds",
                                hint="candidates with a recipe: " + ", ".join(c.id for c in builders))
            chosen.extend(c for c in found if c not in chosen)
    else:
        plan = plan_with_inputs(PlanRequest(hardware=hardware, images=images, stack=stack,
                                            engine=engine_flag(ctx)))[0]
        wanted = {(e.engine, e.candidate) for e in plan.engines if e.build is not None}
        chosen = [c for c in builders if (c.engine, c.id) in wanted]
    # The gate before a build skips the nvidia/cuda base rules: a user's recipe may build on another base.
    problems = [f"{c.id}: {p}" for c in chosen for p in check_recipe(c, cuda_bases=check)]
    if check:
        if json_out:
            console.print_json({"checked": [c.id for c in chosen], "problems": problems})
        for problem in problems if not json_out else []:
            console.out(problem)
        if problems:
            raise typer.Exit(1)
        if not json_out and not chosen:
            console.out("nothing checked: the plan pulls every image, so no recipe is in it; name candidates to "
                        f"check theirs ({', '.join(c.id for c in builders) or 'the catalogue has none'})")
        elif not json_out:
            console.out(f"{len(chosen)} recipe(s) agree with the catalogue: {', '.join(c.id for c in chosen)}")
        return
    if problems:
        raise AimaError("the recipe does not match the catalogue: " + "; ".join(problems),
                        hint="`aima build --check` lists every problem; docs/builds.md")
    if not chosen:
        if json_out:
            console.print_json({"results": []})
        else:
            console.out("nothing to build: the plan pulls every image (name a candidate to build one anyway)")
        return
    from aima.pipeline import connect_engine

    docker = connect_engine(engine_flag(ctx), stack)
    host = docker.info().platform
    for c in chosen:
        if host not in c.platforms:
            raise AimaError(f"{c.id} is built for {', '.join(c.platforms)}; this Docker host is {host}",
                            hint="build it on a machine of that platform and push it (docs/builds.md)")
    display = QuietBuilds() if json_out else ConsoleBuilds()
    results = [ensure_built(docker, build_plan(c), display, force=force) for c in chosen]
    if json_out:
        console.print_json({"results": [result_to_dict(r) for r in results]})
        if not all(r.ok for r in results):
            raise typer.Exit(1)
        return
    require_built(results)
