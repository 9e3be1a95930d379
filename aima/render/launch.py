"""Results of up, status and down for people (rich) and machines (JSON)."""

from __future__ import annotations

from aima.errors import AimaError
from aima.launch.status import EngineStatus
from aima.launch.up import EngineReport, UpResult
from aima.plan_types import Plan
from aima.render import console
from aima.render.console import escape


def refusals(plan: Plan) -> AimaError:
    """Print why the plan refuses engines (stderr); the error `up` stops with before starting anything."""
    for r in plan.refusals:
        console.error(f"{r.engine}: refused: {r.reason}")
        for x in r.rejected:
            console.warning(f"{r.engine}: rejected {x.candidate}: {x.reason}")
    return AimaError(f"the plan refuses {len(plan.refusals)} engine(s); nothing was started",
                     hint="`aima plan` shows every candidate and why it lost")


def not_up(result: UpResult) -> AimaError:
    """The error `up` ends with when engines did not come up: which, how, what is left and what to run next."""
    failed = [e for e in result.engines if not e.ok]
    left = dict(result.left)
    now = (f"stack {result.stack} now has: " + ", ".join(f"{n} ({s})" for n, s in result.left) if left
           else f"nothing of stack {result.stack} is left")
    logs = next((e.engine for e in failed if e.target.container_name(result.stack) in left), None)
    return AimaError(f"{len(failed)} of {len(result.engines)} engines did not come up: "
                     + ", ".join(f"{e.engine} ({e.outcome.kind if e.outcome else '?'})" for e in failed)
                     + f"; {now}",
                     hint=None if not left else (f"`aima logs {logs}` shows its log; " if logs else "")
                     + "`aima down` removes the stack")


def removed(stack: str, containers: list[str], networks: list[str], look_alikes: str | None = None) -> None:
    """What `down` removed, in one line, after the warning about look-alikes it left alone."""
    if look_alikes:
        console.warning(look_alikes)
    if not containers and not networks:
        console.out(f"stack {stack}: nothing to remove")
        return
    console.out(f"stack {stack}: removed {len(containers)} container(s)"
                + (f" ({', '.join(sorted(containers))})" if containers else "")
                + (f" and network {', '.join(networks)}" if networks else ""))


def engine_dict(e: EngineReport) -> dict:
    """One engine's report as JSON."""
    o, t, d = e.outcome, e.target, e.outcome.diagnosis if e.outcome else None
    return {
        "action": e.action, "reason": e.reason, "candidate": t.candidate, "image": t.image, "gpu": t.gpu,
        "devices": list(t.devices), "container_id": e.container_id, "endpoint": t.endpoint,
        "state": o.kind if o else None, "detail": o.detail if o else None,
        "waited_s": round(o.waited_s, 3) if o else None, "exit_code": o.exit_code if o else None,
        "diagnosis": None if d is None else {
            "signature": d.signature_id, "title": d.title, "meaning": d.meaning, "remedy": d.remedy,
            "line": d.line, "fallback": d.fallback, "severity": d.severity},
        "diagnosis_latency_s": None if o is None or o.latency_s is None else round(o.latency_s, 3),
        "fell_back": [{"candidate": c, "why": why} for c, why in e.fell_back],
        "no_fallback": e.no_fallback or None,
        "log_tail": list(o.tail) if o and not o.ok else [],
    }


def up_dict(result: UpResult) -> dict:
    """The whole `up` result as JSON."""
    return {"stack": result.stack, "network": result.network, "ok": result.ok, "removed": result.removed,
            "engines": {e.engine: engine_dict(e) for e in result.engines},
            "left": [{"container": name, "state": state} for name, state in result.left]}


def up_result(result: UpResult) -> None:
    """Endpoints on stdout; for each failed engine the diagnosis, the remedy and the last log lines on stderr."""
    rows = []
    for e in result.engines:
        o, t = e.outcome, e.target
        where = f"GPU {','.join(t.devices)}" if t.gpu else "CPU"
        state = o.kind if o else "?"
        if e.fell_back:
            state += f" (fell back from {', '.join(c for c, _ in e.fell_back)})"
        rows.append([e.engine, state, t.endpoint or "-", t.candidate, where,
                     f"{o.waited_s:.1f} s" if o else "-"])
    console.table(f"stack {result.stack}", ["engine", "state", "endpoint", "candidate", "on", "waited"], rows,
                  nowrap={"endpoint"})
    for e in result.engines:
        if e.ok or e.outcome is None:
            continue
        o, d = e.outcome, e.outcome.diagnosis
        console.error(f"{e.engine} ({e.target.candidate}): {o.kind}: {o.detail}")
        err = console.rich_console(stderr=True)
        if d is not None:
            latency = f" (diagnosed {o.latency_s:.2f} s after the line)" if o.latency_s is not None else ""
            err.print(f"  [bold]{escape(d.title)}[/]{escape(latency)}")
            err.print(f"  what it means: {escape(d.meaning)}")
            err.print(f"  what to do: {escape(d.remedy)}")
        if e.no_fallback:
            err.print(f"  no fallback: {escape(e.no_fallback)}")
        if o.tail:
            err.print("  last log lines:")
            for line in o.tail:
                err.print(f"    {escape(line)}")


def status_rows(rows: list[EngineStatus], stack: str, nvml: bool) -> None:
    """The status table."""
    columns = ["engine", "container", "state", "health", "endpoint", "candidate", "model"]
    if nvml:
        columns.append("GPU memory")
    table = []
    for r in rows:
        row = [r.engine, r.container, r.state, r.health, r.endpoint or "-", r.candidate, r.model or "-"]
        if nvml:
            row.append("-" if r.gpu_memory_mib is None else f"{r.gpu_memory_mib} MiB")
        table.append(row)
    console.table(f"stack {stack}", columns, table, nowrap={"endpoint"})
    for r in rows:  # the source is long (a commit hash): one line each, not a wrapped table cell
        if r.model_source:
            console.out(f"{console.escape(r.engine)} model {console.escape(r.model)}: "
                        f"{console.escape(r.model_source)}")


def status_dict(rows: list[EngineStatus], stack: str, problems: list[str] | None = None) -> dict:
    """The status as JSON: every container in ``containers``; ``engines`` keeps the first per engine (older
    readers), ``ok`` and ``problems`` say whether every engine of the stack runs and is healthy."""
    def one(r: EngineStatus) -> dict:
        return {"engine": r.engine or None, "container": r.container, "candidate": r.candidate, "image": r.image,
                "state": r.state, "health": r.health, "endpoint": r.endpoint, "gpu_memory_mib": r.gpu_memory_mib,
                "model": r.model or None, "model_source": r.model_source or None}

    engines: dict[str, dict] = {}
    for r in rows:
        engines.setdefault(r.engine or r.container, one(r))
    return {"stack": stack, "ok": not problems, "problems": list(problems or []),
            "containers": [one(r) for r in rows], "engines": engines}


def not_healthy(stack: str, problems: list[str], up_command: str) -> AimaError:
    """The error `status` ends with when an engine of the stack is missing, stopped or unhealthy (exit 3)."""
    return AimaError(f"stack {stack} is not healthy: " + "; ".join(problems),
                     hint=f"`aima logs ENGINE` shows an engine's log; `{up_command}` brings the stack back",
                     exit_code=3)
