"""`aima doctor --deep`: the speech loop of `aima verify` through the stack's running engines, as doctor checks.

One check per engine of the plan, `engine.E.verify`; the loop runs once (the LLM's answer feeds the TTS engine,
whose speech the ASR engine hears) and each check reports its engine's part. `stack.verify` says why nothing
was sent (no engine of the stack runs, or doctor plans for another machine).
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import TYPE_CHECKING

from aima.diagnose.checks import Check, Outcome, fail, ok, warn

if TYPE_CHECKING:
    from aima.diagnose.doctor import Facts
    from aima.plan_types import Plan
    from aima.verify.loop import Check as VerifyCheck


def verify_checks(facts: Facts) -> Iterator[Check]:
    """stack.verify when nothing can be sent, else engine.E.verify per running engine of the plan."""
    if facts.request.hardware is not None:
        yield Check("stack.verify", "containers", lambda: warn(
            f"--deep verify skipped: doctor plans for profile {facts.request.hardware}, not for the stack running "
            "here", "run `aima doctor --deep` without --hardware, or `aima verify`"))
        return
    plan = facts.plan()
    running = {c.engine: c for c in facts.containers() if c.stack == plan.stack and c.running}
    engines = [e.engine for e in plan.engines if e.engine in running]
    if not engines:
        yield Check("stack.verify", "containers", lambda: warn(
            f"--deep verify: no engine of stack {plan.stack} runs, so no request was sent",
            "`aima up` starts the stack (and verifies it)"))
        return
    loop: dict[str, VerifyCheck] = {}

    def result(engine: str) -> Outcome:
        if not loop:
            loop.update(_run(facts, plan, engines))
        check = loop[engine]
        details = {"sent": check.sent, "got": check.got, "figures": check.figures, "result": check.kind}
        if check.ok:
            return ok(f"{check.got}", **details)
        return fail(f"{check.kind}: {check.reason}", check.cause or f"`aima verify {engine}` checks again; "
                    f"`aima logs {engine}` shows its log", **details)

    for engine in engines:
        yield Check(f"engine.{engine}.verify", "containers", partial(result, engine))


def _run(facts: Facts, plan: Plan, engines: list[str]) -> dict[str, VerifyCheck]:
    from aima.hardware.nvml import load_pynvml
    from aima.verify.loop import run_loop
    from aima.verify.stack import docker_hooks, plan_targets

    docker = facts.docker_or_skip()
    running = [c for c in facts.containers() if c.stack == plan.stack]
    report = run_loop(plan_targets(plan, running, engines), docker_hooks(docker, load_pynvml()))
    return {c.engine: c for c in report.checks}
