"""A plan for people (rich text), for programs (JSON, docs/plan.md) and as equivalent `docker run` lines."""

from __future__ import annotations

from collections.abc import Mapping

from aima.build.show import obtain_dict, obtain_line
from aima.plan_types import EnginePlan, Plan, redact_env
from aima.render import console
from aima.render.console import escape
from aima.resolve import Rejection
from aima.textsafe import printable


def plan_to_dict(plan: Plan, facts: Mapping[str, Mapping[str, str | None]] | None = None) -> dict:
    """The JSON form of a plan (docs/plan.md); secret env values are redacted; ``facts``: engine -> provenance."""
    engines = {}
    for e in plan.engines:
        engines[e.engine] = _engine_dict(e)
        if facts and e.engine in facts:
            engines[e.engine]["facts"] = dict(facts[e.engine])
    for r in plan.refusals:
        engines[r.engine] = {
            "candidate": None, "image": None, "gpu": False, "refused": r.reason,
            "rejected": _rejected(r.rejected),
            "warnings": [],
        }
    return {
        "stack": plan.stack,
        "hardware": plan.hardware.name or "this machine",
        "ok": plan.ok,
        "network": plan.network,
        "engines": engines,
        "warnings": list(plan.warnings),
        "memory_budget_mib": dict(plan.memory_budget) if plan.memory_budget else None,
    }


def _rejected(rejections: tuple[Rejection, ...]) -> list[dict]:
    return [{"candidate": x.candidate, "image": x.image, "reason": x.reason} for x in rejections]


def _engine_dict(e: EnginePlan) -> dict:
    limits = e.limits
    return {
        "candidate": e.candidate, "image": e.image, "gpu": e.gpu, "reason": e.reason,
        "archs_source": e.archs_source, "devices": list(e.devices), "gpus": list(e.gpus), "mode": e.mode,
        "tried": list(e.tried),
        "model": None if e.model is None else {"name": e.model.name, "file": e.model.file,
                                               "gpu_memory_mib": e.model.gpu_memory_mib,
                                               "memory_mib": e.model.memory_mib},
        "limits": {"memory_mib": limits.memory_mib, "cpus": limits.cpus, "shm_mib": limits.shm_mib,
                   "pids": limits.pids, "gpu_memory_mib": limits.gpu_memory_mib,
                   "gpu_memory_utilization": limits.gpu_memory_utilization},
        "ports": [{"host_ip": p.host_ip, "host_port": p.host_port, "container_port": p.container_port}
                  for p in e.ports],
        "mounts": [{"source": m.source, "target": m.target, "read_only": m.read_only} for m in e.mounts],
        "entrypoint": None if e.entrypoint is None else list(e.entrypoint),
        "command": list(e.command),
        "env": redact_env(e.env),
        "concurrency": e.concurrency,
        "health": {"path": e.health.path, "startup_timeout_s": e.health.startup_timeout_s},
        "endpoint": e.endpoint,
        "config_hash": e.config_hash,
        "rejected": _rejected(e.rejected),
        "warnings": list(e.warnings),
        "fallbacks": [f.candidate for f in e.fallbacks],
        **obtain_dict(e),
    }


def docker_run_lines(plan: Plan) -> list[str]:
    """The `docker run` lines of exactly the containers `up` creates (same spec, same labels), secrets redacted."""
    from aima.engine.spec import container_spec, network_argv, run_argv, shell_line

    lines = [shell_line(network_argv(plan.network, plan.stack))]
    return lines + [shell_line(run_argv(container_spec(e, plan))) for e in plan.engines]


def print_plan(plan: Plan, facts: Mapping[str, str] | None = None) -> None:
    """The plan for people: per engine the image, why, what lost, limits, placement, ports, command."""
    hw = plan.hardware
    where = hw.name or "this machine"
    gpus = ", ".join(f"GPU {g.index} {g.name} ({g.compute_capability})" for g in hw.gpus) or "no NVIDIA GPU"
    console.out(f"[bold]Plan for {escape(where)}[/]: {escape(gpus)}; driver CUDA {hw.cuda_driver_version or '-'}; "
                f"{hw.cpu_arch}")
    for e in plan.engines:
        place = f"GPU {','.join(e.devices)}" if e.gpu else "[yellow]CPU[/]"
        console.out(f"\n[bold cyan]{e.engine}[/] -> [bold]{escape(e.candidate)}[/] ({escape(e.image)}) on {place}")
        console.out(f"  why: {escape(e.reason)}")
        if facts and e.engine in facts:
            console.out(f"  facts: {escape(facts[e.engine])}")
        console.out(f"  {escape(obtain_line(e))}")
        if e.archs_source != "catalogue":
            console.out(f"  archs from: {escape(e.archs_source)}")
        if e.model:
            need = e.model.gpu_memory_mib if e.gpu else e.model.memory_mib
            console.out(f"  model: {escape(e.model.name)}" + (f" ({escape(e.model.file)})" if e.model.file else "")
                        + (f", needs {need} MiB of {'GPU memory' if e.gpu else 'memory'}" if need else ""))
        lim = e.limits
        parts = [f"memory {lim.memory_mib} MiB" if lim.memory_mib else "memory unlimited",
                 f"cpus {lim.cpus:g}" if lim.cpus else "cpus unlimited"]
        if lim.shm_mib:
            parts.append(f"shm {lim.shm_mib} MiB")
        if lim.pids:
            parts.append(f"pids {lim.pids}")
        if lim.gpu_memory_utilization is not None:
            parts.append(f"GPU share {lim.gpu_memory_utilization:.2f} ({lim.gpu_memory_mib} MiB)")
        elif lim.gpu_memory_mib:
            parts.append(f"GPU memory ~{lim.gpu_memory_mib} MiB")
        console.out(f"  limits: {', '.join(parts)}")
        bound = ", ".join(f"{p.host_ip}:{p.host_port}" for p in e.ports)
        console.out(f"  endpoint: {e.endpoint} (bound to {bound}, container port {e.container_port}, "
                    f"health {escape(e.health.path)})")
        full = list(e.entrypoint or ()) + list(e.command)
        if full:
            console.out(f"  command: {escape(printable(' '.join(full), newlines=False))}")
        env = redact_env(e.env)
        if env:
            # A value with a newline must not split the line: control characters are shown as escapes.
            console.out(f"  env: {escape(printable(' '.join(f'{k}={v}' for k, v in env.items()), newlines=False))}")
        for r in e.rejected:
            console.out(f"  [dim]rejected {escape(r.candidate)}: {escape(r.reason)}[/]")
        for w in e.warnings:
            console.out(f"  [yellow]warning:[/] {escape(w)}")
    per_engine = {w for e in plan.engines for w in e.warnings}
    for w in plan.warnings:
        if w not in per_engine:  # about the whole plan (the engine could not be asked about local-only images)
            console.out(f"\n[yellow]warning:[/] {escape(w)}")
    for refusal in plan.refusals:
        console.out(f"\n[bold red]{refusal.engine}: REFUSED[/] {escape(refusal.reason)}")
        for x in refusal.rejected:
            console.out(f"  [dim]rejected {escape(x.candidate)}: {escape(x.reason)}[/]")
    if plan.memory_budget:
        rows = ", ".join(f"{name} {mib} MiB" for name, mib in plan.memory_budget)
        console.out(f"\n[bold]unified memory budget[/]: {escape(rows)}")
