"""Verify a running stack: targets from the plan and the stack's containers, and the hooks that ask Docker and NVML.

- Timeouts are sized from the plan: an engine on the GPU answers a short request in seconds; on the CPU the
  time grows with the model (a multi-GiB LLM on the CPU is slow, and slow is not broken).
- Placement: a GPU engine that answers correctly while none of its container's processes is in NVML's list of
  GPU processes runs on the CPU; that is a failure of placement. Without NVML nobody can tell, and it is not
  checked.
- Causes: a failed check reads the container's state and log; a known line (the knowledge base) or an exit
  explains the failure (seed 002's pool assert came from requests, and a request is what crashed it).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aima.errors import AimaError
from aima.verify.checks import API_BY_ENGINE, Target
from aima.verify.loop import Hooks

GPU_TIMEOUT_S = 60.0
CPU_BASE_S = 30.0
CPU_S_PER_GIB = {"llm": 60.0, "asr": 40.0, "tts": 30.0}  # a request's worth of work per GiB of model on the CPU


@dataclass(frozen=True)
class Sizing:
    """What a request timeout is sized from: the engine, GPU or CPU, and its model (None: built in or unknown)."""

    engine: str
    gpu: bool
    model: Any = None  # a catalogue ModelChoice: .name, .size_mib


def request_timeout(sizing: Any, cap_s: float | None = None) -> tuple[float, str]:
    """(seconds, why) one request to this engine may take, from its plan (GPU or CPU, model size)."""
    model = sizing.model
    gib = (model.size_mib / 1024) if model is not None and model.size_mib else 0.0
    if sizing.gpu:
        seconds, why = GPU_TIMEOUT_S, f"{sizing.engine} on the GPU"
    else:
        seconds = CPU_BASE_S + CPU_S_PER_GIB.get(sizing.engine, 30.0) * gib
        what = f"{model.name} ({gib:.1f} GiB)" if model is not None and gib else sizing.engine
        why = f"{what} on the CPU" + (": a large model on the CPU is slow, not broken" if gib >= 1 else "")
    if cap_s is not None and cap_s < seconds:
        return cap_s, f"{why}; capped by --timeout"
    return seconds, why


def plan_targets(plan: Any, containers: Sequence[Any], engines: Sequence[str] = (),
                 cap_s: float | None = None) -> list[Target]:
    """One target per running container of the stack (only `engines` when given); AimaError when one is missing."""
    from aima.engine.labels import LABEL_ENDPOINT

    by_engine = {c.engine: c for c in containers}
    wanted = list(engines) or [e.engine for e in plan.engines]
    targets = []
    for name in wanted:
        planned = plan.engine(name)
        container = by_engine.get(name)
        if container is None or planned is None:
            known = ", ".join(sorted(by_engine)) or "none"
            raise AimaError(f"stack {plan.stack} has no container for engine {name!r} (running: {known})",
                            hint="`aima up` starts the stack; `aima verify --endpoint ENGINE=URL` checks an engine "
                                 "aima did not start")
        if not container.running:
            raise AimaError(f"{name}: container {container.name} is {container.state}, not running",
                            hint=f"`aima logs {name}` shows why; `aima up` starts it again")
        url = container.labels.get(LABEL_ENDPOINT) or planned.endpoint
        if not url:
            raise AimaError(f"{name}: its port is not published on this host, so aima cannot reach it",
                            hint="publish the port in the stack file, or check it with --endpoint from where it is")
        # The container may run a fallback candidate: size the timeout for what really runs.
        running = next((p for p in (planned, *planned.fallbacks) if p.candidate == container.candidate), planned)
        seconds, why = request_timeout(running, cap_s)
        targets.append(Target(name, url.rstrip("/"), API_BY_ENGINE.get(name, "?"), seconds, why,
                              model=served_model(running), gpu=running.gpu, container_id=container.id))
    return targets


def endpoint_targets(specs: Sequence[str], candidates: Callable[[str], Sizing | None], candidate_ids: Sequence[str],
                     cap_s: float | None = None) -> list[Target]:
    """Targets from --endpoint ENGINE=URL: the API and timeout of the engine's catalogue default, or --candidate's.

    ``candidates(name)`` answers a candidate id, or an engine name with that engine's default candidate.
    """
    chosen = {}
    for cid in candidate_ids:
        found = candidates(cid)
        if found is None:
            raise AimaError(f"--candidate {cid!r}: no such candidate in the catalogue",
                            hint="`aima plan --json` lists every candidate", exit_code=2)
        chosen[found.engine] = found
    targets = []
    for spec in specs:
        engine, sep, url = spec.partition("=")
        if not sep or not url.startswith(("http://", "https://")):
            raise AimaError(f"--endpoint {spec!r}: expected ENGINE=URL (e.g. llm=http://10.0.0.5:8000)", exit_code=2)
        if engine not in API_BY_ENGINE:
            raise AimaError(f"--endpoint {spec!r}: {engine!r} is not an engine",
                            hint=f"one of {', '.join(API_BY_ENGINE)}", exit_code=2)
        plan = chosen.get(engine) or candidates(engine)
        seconds, why = request_timeout(plan, cap_s) if plan is not None else (cap_s or GPU_TIMEOUT_S, "")
        targets.append(Target(engine, url.rstrip("/"), API_BY_ENGINE[engine], seconds, why,
                              gpu=False))  # aima cannot see the processes of a service it did not start
    return targets


def docker_hooks(docker: Any, nvml: Any = None) -> Hooks:
    """Hooks that ask the container engine (state, log, processes) and NVML (GPU processes) about a target."""
    from aima.launch.status import nvml_usage

    usage_cache: list[dict[int, int] | None] = []

    def usage() -> dict[int, int] | None:
        if not usage_cache:
            usage_cache.append(nvml_usage(nvml))
        return usage_cache[0]

    def placement(target: Target) -> str | None:
        if target.container_id is None:
            return None
        found = usage()
        if found is None:
            return None  # no NVML here: nobody can tell
        pids = docker.top_pids(target.container_id)
        on_gpu = [pid for pid in pids if pid in found]
        if on_gpu:
            return None
        return (f"answered correctly, but none of its container's {len(pids)} processes is in NVML's list of GPU "
                f"processes ({len(found)} there): it runs on the CPU, not on the GPU the plan gave it")

    def explain(target: Target) -> str | None:
        if target.container_id is None:
            return None
        return container_cause(docker, target.container_id, target.engine)

    return Hooks(placement=placement, explain=explain)


def container_cause(docker: Any, container_id: str, engine: str, tail: int = 200, settle_s: float = 3.0,
                    clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep
                    ) -> str | None:
    """What the container's state and log say about a failed request: a known line's diagnosis, or its exit."""
    from aima.knowledge import load_knowledge

    try:
        container = docker.inspect(container_id)
        raw = b"".join(docker.logs(container_id, tail=tail))
    except AimaError:
        return None
    lines = raw.decode("utf-8", "replace").splitlines()
    diagnosis = load_knowledge().first(lines, engine)
    deadline = clock() + settle_s
    # A fatal line was printed: the process is on its way out; give it a moment so the exit is reported too.
    while diagnosis is not None and diagnosis.fatal and container is not None and container.running \
            and clock() < deadline:
        sleep(0.05)
        try:
            container = docker.inspect(container_id)
        except AimaError:
            break
    parts = []
    if container is None:
        parts.append("its container is gone")
    elif not container.running:
        code = f" with code {container.exit_code}" if container.exit_code is not None else ""
        parts.append(f"the engine died on the request: container {container.state}{code}"
                     + (" (killed: out of memory)" if container.oom_killed else ""))
    if diagnosis is not None:
        parts.append(f"its log says: {diagnosis.title} — {diagnosis.remedy}")
    elif parts and lines:
        parts.append(f"last log line: {lines[-1].strip()[:160]}")
    return "; ".join(parts) or None


def served_model(plan: Any) -> str | None:
    """The model name the LLM's requests carry: the name its command serves it under (`{served_model_name}`:
    vLLM --served-model-name, llama.cpp --alias), None (ask /v1/models) for other engines or without a model."""
    if plan.engine != "llm" or plan.model is None:
        return None
    return str(plan.model.served_name)


def up_targets(reports: Sequence[Any], cap_s: float | None = None) -> list[Target]:
    """Targets from `up`'s engine reports (what really runs, after any fallback), for the check that ends `up`."""
    targets = []
    for r in reports:
        plan = r.target
        if not plan.endpoint:
            continue  # not published here: nothing to reach (the up report says so)
        seconds, why = request_timeout(plan, cap_s)
        targets.append(Target(r.engine, plan.endpoint, API_BY_ENGINE.get(r.engine, "?"), seconds, why, gpu=plan.gpu,
                              model=served_model(plan), container_id=r.container_id))
    return targets
