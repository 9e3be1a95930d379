"""Container checks for the containers of the plan's stack (label aima.stack): state, health endpoint, and their
logs against the knowledge base; and the same log diagnosis for a saved log file (`aima doctor --logs FILE`)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from aima.diagnose.checks import Check, Outcome, fail, ok, warn
from aima.engine.labels import DEFAULT_HEALTH_PATH, LABEL_ENGINE, LABEL_HEALTH, LABEL_STACK, health_url

if TYPE_CHECKING:
    from aima.diagnose.doctor import Facts
    from aima.engine.model import Container
    from aima.knowledge import Diagnosis

HEALTH_TIMEOUT_S = 1.5


def container_checks(facts: Facts) -> Iterator[Check]:
    """containers.found, then container.NAME.state / .health / .logs for each container of the plan's stack."""
    stack = _stack_name(facts)
    yield Check("containers.found", "containers", lambda: found_outcome(facts.containers(), stack))
    try:
        containers = facts.containers()
    except Exception:  # noqa: BLE001 - containers.found reports why
        return
    for c in (c for c in containers if stack is None or c.labels.get(LABEL_STACK) == stack):
        name = f"container.{c.name or c.id[:12]}"
        engine = c.labels.get(LABEL_ENGINE, "")
        yield Check(f"{name}.state", "containers", lambda c=c: state_outcome(c))
        if c.state == "running":
            yield Check(f"{name}.health", "containers", lambda c=c: _health(facts, c))
        yield Check(f"{name}.logs", "containers", lambda c=c, e=engine: log_outcome(
            facts.log_lines(c.id, facts.request.log_tail), e, f"the last {facts.request.log_tail} "
            f"lines of {c.name}'s log"))


def _stack_name(facts: Facts) -> str | None:
    """The plan's stack, whose containers are checked; None (every stack) when there is no plan."""
    try:
        return facts.plan().stack
    except Exception:  # noqa: BLE001 - engines.plan reports why; then every aima container is looked at
        return None


def _health(facts: Facts, c: Container) -> Outcome:
    docker = facts.docker_or_skip()
    if not docker.local():
        return ok(f"not probed: Docker runs on another machine ({docker.url})")
    published = [p for p in c.ports if p.host_port]
    if not published:
        return warn("no published port to probe", "`aima up` publishes each engine's port; recreate the container")
    p = published[0]
    host = "127.0.0.1" if p.host_ip in ("", "0.0.0.0", "::") else p.host_ip
    labels = dict(c.labels)
    if not labels.get(LABEL_HEALTH):
        labels[LABEL_HEALTH] = _planned_health_path(facts, c) or DEFAULT_HEALTH_PATH
    url = health_url(labels, f"http://{host}:{p.host_port}") or ""
    result = facts.adapters.http_probe(url, HEALTH_TIMEOUT_S)
    return health_outcome(c, url, result.status, result.body)


def _planned_health_path(facts: Facts, c: Container) -> str | None:
    try:
        plan = facts.plan()
    except Exception:  # noqa: BLE001 - the label or the default serves
        return None
    engine = plan.engine(c.labels.get(LABEL_ENGINE, "")) if plan.stack == c.labels.get(LABEL_STACK) else None
    return engine.health.path if engine else None


# --- decisions on observations ---------------------------------------------------------------------------

def found_outcome(containers: list[Container], stack: str | None) -> Outcome:
    """Which of aima's containers exist: those of the plan's stack are checked, others are named."""
    mine = [c for c in containers if stack is None or c.labels.get(LABEL_STACK) == stack]
    others = sorted({c.labels.get(LABEL_STACK, "?") for c in containers} - ({stack} if stack else set()))
    elsewhere = (f"; other stacks have containers too ({', '.join(others)}): `aima doctor --stack FILE` checks "
                 f"them" if others else "")
    details = {"stack": stack, "containers": [c.name for c in mine], "other_stacks": others}
    where = f"stack {stack}" if stack else "any stack"
    if not mine:
        return ok(f"no containers of {where} (label aima.stack); `aima up` creates them{elsewhere}", **details)
    names = [f"{c.name} ({c.state})" for c in mine]
    return ok(f"{len(mine)} container(s) of {where}: {', '.join(names)}{elsewhere}", **details)


def state_outcome(c: Container) -> Outcome:
    """Running is ok; an exit, a restart loop or an OOM kill is a fail with what to do."""
    from aima.knowledge import load_knowledge

    engine = c.labels.get(LABEL_ENGINE, "?")
    details = {"state": c.state, "exit_code": c.exit_code, "oom_killed": c.oom_killed, "image": c.image,
               "stack": c.labels.get(LABEL_STACK), "engine": engine}
    logs = f"`aima logs {engine}` shows its output; container.{c.name}.logs names the cause when aima knows it"
    if c.error:
        d = load_knowledge().match_line(c.error)
        if d is not None:
            return fail(f"Docker could not start it: {d.title} ({c.error.strip()})", d.remedy, signature=d.signature_id,
                        source=d.source, **details)
    if c.oom_killed:
        return fail(f"{c.state}: killed for using more memory than its limit (OOM)",
                    f"give {engine} a smaller model or a higher `limits: memory_mib` in the stack file", **details)
    if c.state == "running":
        return ok(f"running ({c.image})", **details)
    if c.state == "restarting":
        return fail("restarting over and over: the engine keeps crashing", logs, **details)
    if c.state in ("exited", "dead"):
        if c.exit_code == 0 and c.state == "exited":
            return warn("exited cleanly (code 0): stopped, not crashed", "`aima up` starts it again", **details)
        error = f"; Docker says: {c.error.strip()}" if c.error else ""
        known = load_knowledge().match_exit(c.exit_code, engine if engine != "?" else None)
        if known is not None:
            return fail(f"{c.state} with code {c.exit_code}: {known.title}{error}", known.remedy,
                        signature=known.signature_id, source=known.source, **details)
        return fail(f"{c.state} with code {c.exit_code}{error}", logs, **details)
    if c.state == "created":
        return warn("created but never started" + (f": {c.error.strip()}" if c.error else ""),
                    "`aima up` starts it; if it fails again, " + logs, **details)
    return warn(f"{c.state}", "`aima up` brings it back to running", **details)


def health_outcome(c: Container, url: str, status: int | None, body: str) -> Outcome:
    """The engine's own health endpoint (and Docker's HEALTHCHECK, when the image has one)."""
    engine = c.labels.get(LABEL_ENGINE, "?")
    details = {"url": url, "status": status, "docker_health": c.health}
    if c.health == "unhealthy":
        return fail(f"Docker's HEALTHCHECK says unhealthy ({url} answered {status or body})",
                    f"`aima logs {engine}`", **details)
    if status is None:
        return fail(f"nothing answers at {url} ({body})", f"`aima logs {engine}`: the engine may have crashed "
                    f"inside the container, or listens on another port", **details)
    if 200 <= status < 300:
        return ok(f"{url} answers {status}", **details)
    if status == 503:
        return warn(f"{url} answers 503: still loading its model", "wait; `aima status` shows when it is ready",
                    **details)
    return fail(f"{url} answers {status}: {body.strip()[:120]}", f"`aima logs {engine}`", **details)


def _engine_for_kb(engine: str | None) -> str | None:
    from aima.knowledge import ENGINES

    return engine if engine in ENGINES else None


def diagnosis_outcome(d: Diagnosis, what: str) -> Outcome:
    """A recognised log line as a check outcome: fatal is a fail, a warning signature a warn."""
    where = f"line {d.line_number}" if d.line_number else "a line"
    summary = f"{d.title}: {d.meaning} ({where} of {what}: {d.line.strip()[:200]})"
    details = {"signature": d.signature_id, "meaning": d.meaning, "source": d.source, "line": d.line,
               "line_number": d.line_number, "fallback": d.fallback, "severity": d.severity}
    return (fail if d.fatal else warn)(summary, d.remedy, **details)


def log_outcome(lines: Iterable[str], engine: str | None, what: str) -> Outcome:
    """The most telling known failure in a log (others listed in details), or ok when none is known."""
    from aima.knowledge import load_knowledge

    lines = list(lines)
    found = load_knowledge().diagnose(lines, _engine_for_kb(engine))
    if not found:
        return ok(f"no known failure in {what} ({len(lines)} lines)", lines=len(lines))
    outcome = diagnosis_outcome(found[0], what)
    outcome.details["also"] = [d.signature_id for d in found[1:]]
    return outcome


def logfile_checks(name: str, text: str, engine: str | None) -> Iterator[Check]:
    """logs.read, then logs.SIGNATURE for every known failure in a saved log (the most telling first)."""
    from aima.knowledge import load_knowledge

    lines = text.splitlines()
    found = load_knowledge().diagnose(lines, _engine_for_kb(engine))
    for_engine = f" for engine {engine}" if engine else ""
    if found:
        summary = f"{len(lines)} lines read from {name}{for_engine}: {len(found)} known failure(s)"
    else:
        summary = f"no known failure in {len(lines)} lines of {name}{for_engine}"
    yield Check("logs.read", "logs", lambda: ok(summary, file=name, lines=len(lines), engine=engine,
                                                signatures=[d.signature_id for d in found]))
    for d in found:
        yield Check(f"logs.{d.signature_id}", "logs", lambda d=d: diagnosis_outcome(d, name))
