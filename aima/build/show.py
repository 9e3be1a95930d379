"""Builds for people and machines: a plan's "how is this image obtained" and `aima build`'s output."""

from __future__ import annotations

from typing import Any

from aima.plan_types import BuildPlan, EnginePlan


def build_to_dict(b: BuildPlan) -> dict[str, Any]:
    """The JSON form of a BuildPlan (docs/builds.md)."""
    return {"recipe": b.recipe, "recipe_dir": b.recipe_dir, "args": dict(b.args), "base_images": list(b.base_images),
            "expected_minutes": b.minutes, "disk_gib": b.disk_gib, "recipe_hash": b.recipe_hash,
            "promised_archs": b.archs, "built_here": b.built_here is not None, "image_id": b.built_here}


def obtain_dict(e: EnginePlan) -> dict[str, Any]:
    """How `up` gets an engine plan's image: {"obtain": pull|build|local, "build": {...} or None}."""
    return {"obtain": e.obtain, "build": build_to_dict(e.build) if e.build else None}


def obtain_line(e: EnginePlan) -> str:
    """One line for `aima plan`: pulled, built from which recipe (and whether already built), or local only."""
    if e.obtain == "local":
        return "image: used only because it is already on this machine (published nowhere, no recipe)"
    if e.build is None:
        return "image: pulled from its registry"
    b = e.build
    args = " ".join(f"{k}={v}" for k, v in b.args)
    state = f"built here ({b.built_here[:19]})" if b.built_here else (
        f"not built here yet: about {b.minutes} min and {b.disk_gib:g} GiB of disk; `aima build {e.engine}` "
        f"or `aima up --build`")
    return f"image: built by aima from recipes/{b.recipe} ({args}) on {', '.join(b.base_images)}; {state}"


def result_to_dict(r: Any) -> dict[str, Any]:
    """The JSON form of a BuildResult (docs/builds.md)."""
    return {"engine": r.engine, "candidate": r.candidate, "image": r.image, "outcome": r.outcome, "ok": r.ok,
            "message": r.message, "image_id": r.image_id, "recipe_hash": r.recipe_hash,
            "seconds": round(r.seconds, 1), "found": list(r.found), "missing": list(r.missing),
            "failed_step": r.step or None, "log_tail": list(r.log_tail), "remedy": r.remedy}


class ConsoleBuilds:
    """Streams a build's log to the terminal: each Dockerfile step as a progress line, its output dimmed."""

    def start(self, plan: BuildPlan) -> None:
        """Say what is built, from what, and roughly how long it takes."""
        from rich.markup import escape

        from aima.render import console

        args = " ".join(f"{k}={v}" for k, v in plan.args)
        console.out(f"[bold]building[/] {escape(plan.image)} from recipes/{escape(plan.recipe)} ({escape(args)}); "
                    f"expected about {plan.minutes} min, {plan.disk_gib:g} GiB of disk")

    def line(self, plan: BuildPlan, text: str) -> None:
        """One log line; the builder's "Step N/M" lines are the progress."""
        from rich.markup import escape

        from aima.render import console

        if text.startswith("Step "):
            console.out(f"[cyan]{escape(plan.engine)}[/] {escape(text)}")
        elif text.strip():
            console.out(f"  [dim]{escape(text)}[/]")

    def done(self, result: Any) -> None:
        """The outcome; for a failure the failing step, its last lines and the remedy."""
        from rich.markup import escape

        from aima.render import console

        if result.ok:
            console.out(f"[green]ok[/] {escape(result.message)}"
                        + (f" in {result.seconds:.0f} s" if result.seconds else ""))
            return
        console.out(f"[bold red]{result.outcome}[/] {escape(result.message)}")
        if result.log_tail:
            console.out(f"  last lines of {escape(result.step)}:")
            for line in result.log_tail:
                console.out(f"  | {escape(line)}")
        if result.remedy:
            console.out(f"  [dim]remedy:[/] {escape(result.remedy)}")
