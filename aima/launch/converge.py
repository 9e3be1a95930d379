"""The decisions of `up`, as pure functions: what to do per engine, which ports to check, where to fall back.

The shape is docker-compose's ``Service.convergence_plan``: compare the plan's config hash with the
aima.config-hash label of the containers that exist, answer create / recreate / start / noop (and remove
for containers of engines the plan no longer has). Executing the answer is ``aima.launch.up``'s job.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from aima.engine.model import Container
from aima.plan_types import EnginePlan, Plan, PortBinding

CREATE, RECREATE, START, NOOP, REMOVE = "create", "recreate", "start", "noop", "remove"
# States a plain `docker start` cannot fix (paused, half-removed, dead) or that we never ask for (restarting).
_UNSTARTABLE = ("paused", "restarting", "removing", "dead")


@dataclass(frozen=True)
class Action:
    """One step of convergence: what happens to one engine's container, and why in words."""

    kind: str  # create | recreate | start | noop | remove
    engine: str
    target: EnginePlan | None  # what runs afterwards (the plan or one of its fallbacks); None for remove
    container: Container | None  # the existing container it acts on, if any
    reason: str

    @property
    def runs(self) -> EnginePlan:
        """The engine plan a create, recreate, start or noop leaves running (a remove has none)."""
        if self.target is None:
            raise ValueError(f"a {self.kind} of {self.container.name if self.container else '?'} runs nothing")
        return self.target

    @property
    def creates(self) -> bool:
        """True when a new container is created (create or recreate)."""
        return self.kind in (CREATE, RECREATE)


def convergence_plan(plan: Plan, observed: Sequence[Container]) -> tuple[Action, ...]:
    """Actions that turn the observed containers of this stack into the plan, changing as little as possible."""
    mine = [c for c in observed if c.stack == plan.stack]
    by_engine: dict[str, list[Container]] = {}
    for container in mine:
        by_engine.setdefault(container.engine, []).append(container)
    actions: list[Action] = []
    for engine in plan.engines:
        actions += _converge_engine(engine, by_engine.pop(engine.engine, []))
    for name, containers in sorted(by_engine.items()):
        for c in containers:
            actions.append(Action(REMOVE, name, None, c, f"engine {name or '?'} is not in the plan any more"))
    # Removals first, so that a port or name they hold is free before anything is created.
    return tuple(sorted(actions, key=lambda a: a.kind != REMOVE))


def accepted_targets(engine: EnginePlan) -> dict[str, EnginePlan]:
    """config hash -> plan for every configuration that satisfies this engine: the plan, then its fallbacks."""
    targets = {f.config_hash: f for f in reversed(engine.fallbacks)}
    targets[engine.config_hash] = engine
    return targets


def _converge_engine(engine: EnginePlan, found: list[Container]) -> list[Action]:
    if not found:
        return [Action(CREATE, engine.engine, engine, None, "no container yet")]
    targets = accepted_targets(engine)
    # Prefer a matching running container, then any matching one; the rest are duplicates.
    matching = sorted((c for c in found if c.config_hash in targets), key=lambda c: not c.running)
    keeper = matching[0] if matching else found[0]
    actions = [Action(REMOVE, engine.engine, None, c, f"a second container for {engine.engine}")
               for c in found if c is not keeper]
    if not matching:
        return actions + [Action(RECREATE, engine.engine, engine, keeper, _change(keeper, engine))]
    target = targets[keeper.config_hash]
    kept = "" if target is engine else f" (keeps fallback {target.candidate}, which an earlier up fell back to)"
    if keeper.running:
        return actions + [Action(NOOP, engine.engine, target, keeper, "unchanged and running" + kept)]
    if keeper.state in _UNSTARTABLE:
        return actions + [Action(RECREATE, engine.engine, target, keeper, f"unchanged but {keeper.state}" + kept)]
    return actions + [Action(START, engine.engine, target, keeper, f"unchanged, {keeper.state}" + kept)]


def _change(old: Container, engine: EnginePlan) -> str:
    if old.candidate and old.candidate != engine.candidate:
        return f"candidate changed: {old.candidate} -> {engine.candidate}"
    return f"configuration changed (config hash {old.config_hash[:12] or 'none'} -> {engine.config_hash[:12]})"


def ports_to_check(actions: Iterable[Action], observed: Iterable[Container]) -> list[PortBinding]:
    """Host ports that new containers will publish and that none of this stack's own containers holds now."""
    held = {port for c in observed for port in c.host_ports}
    return [p for a in actions if a.creates and a.target is not None for p in a.target.ports
            if p.host_port not in held]


def next_fallback(engine: EnginePlan, tried: Iterable[str], allow_cpu: bool) -> tuple[EnginePlan | None, str]:
    """The next fallback candidate to try after ``tried`` failed, or None and why not."""
    done = set(tried)
    for fallback in engine.fallbacks:
        if fallback.candidate in done:
            continue
        if engine.gpu and not fallback.gpu and not allow_cpu:
            return None, (f"the next candidate, {fallback.candidate}, runs on the CPU; aima never drops from the "
                          f"GPU to the CPU unless asked (--allow-cpu)")
        return fallback, ""
    return None, "no other candidate fits this machine" if not engine.fallbacks else "every fallback candidate failed"
