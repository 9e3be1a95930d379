"""`status` and `down` over the labels: what runs in a stack, is it healthy, how much GPU memory it holds."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from aima.engine.labels import LABEL_ENDPOINT, LABEL_STACK
from aima.engine.model import Container, ContainerEngine
from aima.errors import AimaError
from aima.launch.ownership import Owners


@dataclass(frozen=True)
class EngineStatus:
    """One container of a stack as `status` shows it."""

    engine: str
    container: str
    candidate: str
    image: str
    state: str
    health: str  # "ok", "HTTP 503 …", "ConnectError …", or "-" when not running
    endpoint: str | None
    gpu_memory_mib: int | None  # None where NVML is not available
    model: str = ""  # the aima.model label; '' when the container predates it
    model_source: str = ""  # the aima.model-source label (hf://…@REVISION); '' for hand-placed files


def nvml_usage(nvml: Any) -> dict[int, int] | None:
    """PID -> GPU MiB from NVML, or None when NVML cannot be used here (no driver, no library)."""
    from aima.hardware.nvml import process_memory

    if nvml is None:
        return None
    try:
        nvml.nvmlInit()
        nvml.nvmlShutdown()
    except Exception:  # noqa: BLE001 - any NVML failure means "no GPU memory column", not an error
        return None
    return process_memory(nvml)


def stack_status(docker: ContainerEngine, stack: str, nvml: Any = None, probe_timeout_s: float = 1.0
                 ) -> list[EngineStatus]:
    """Every container of the stack with its state, health probe, endpoint and GPU memory."""
    from aima.launch.reach import http_probe

    usage = nvml_usage(nvml)
    rows = []
    for c in sorted(docker.list({LABEL_STACK: stack}), key=lambda c: c.engine):
        endpoint = c.labels.get(LABEL_ENDPOINT)
        health = "-"
        url = c.health_url
        if c.running and url:
            result = http_probe(url, probe_timeout_s)
            health = "ok" if result.ok else result.seen
        gpu = None
        if usage is not None:
            gpu = sum(usage.get(pid, 0) for pid in docker.top_pids(c.id)) if c.running else 0
        rows.append(EngineStatus(c.engine, c.name, c.candidate, c.image, c.state, health, endpoint, gpu,
                                 c.model, c.model_source))
    return rows


def stack_problems(rows: list[EngineStatus], engines: list[str]) -> list[str]:
    """What keeps the stack from being healthy, one phrase each: an engine of the stack with no container, a
    container that does not run, a health probe that fails. Empty when all is well."""
    problems = [f"{e}: no container" for e in engines if not any(r.engine == e for r in rows)]
    for r in rows:
        who = f"{r.engine or '?'} ({r.container})"
        if r.state != "running":
            problems.append(f"{who}: {r.state}")
        elif r.health not in ("ok", "-"):
            problems.append(f"{who}: not healthy: {r.health}")
    return problems


def remove_stack(docker: ContainerEngine, stack: str, owners: Owners | None = None,
                 ) -> tuple[list[str], list[str], list[str]]:
    """Remove this stack's containers (in parallel) and networks that aima created; return (containers, networks
    removed, look-alikes left alone). Without ``owners`` the labels alone decide (tests, embedding)."""
    containers: list[Container] = docker.list({LABEL_STACK: stack})
    look_alikes: list[Container] = []
    if owners is not None:
        containers, look_alikes = owners.split(stack, containers)
    errors: list[AimaError] = []

    def remove(container_id: str) -> None:
        try:
            docker.remove(container_id)
        except AimaError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=remove, args=(c.id,), daemon=True) for c in containers]
    for t in threads:
        t.start()
    for t in threads:
        while t.is_alive():
            t.join(0.2)
    if errors:
        raise errors[0]
    ids = None if owners is None else owners.owned(stack)
    networks = [] if look_alikes else docker.remove_networks({LABEL_STACK: stack}, ids=ids)
    if owners is not None:
        owners.forget(stack, [c.id for c in containers])
        if not look_alikes:
            owners.forget(stack, owners.owned(stack))
    return [c.name for c in containers], networks, [c.name for c in look_alikes]
