"""After a GPU engine starts: did its GPU really arrive? An engine can accept a GPU request and drop it (Podman's
Docker-compatible API on 4.3.1 does), and then the engine runs on the CPU while `up` would report success.

The check reads the started container's own configuration from this machine: its first process's environment
(NVIDIA_VISIBLE_DEVICES, set by Docker's --gpus and by CDI specs that carry it) and its /dev (the /dev/nvidiaN
nodes a CDI spec or the NVIDIA hook puts there). Nothing runs inside the container.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

from aima.engine.model import ContainerEngine, ContainerSpec

_NODE = re.compile(r"^nvidia\d+$")


def read_process(pid: int, proc: Path = Path("/proc")) -> tuple[dict[str, str], list[str]] | None:
    """(environment, names in /dev) of a host process, or None when this user cannot look (rootless, remote)."""
    try:
        raw = (proc / str(pid) / "environ").read_bytes()
        dev = sorted(p.name for p in (proc / str(pid) / "root" / "dev").iterdir())
    except OSError:
        return None
    env = dict(item.split("=", 1) for item in raw.decode("utf-8", "replace").split("\0") if "=" in item)
    return env, dev


def gpu_problem(spec: ContainerSpec, pids: Sequence[int],
                read: Callable[[int], tuple[dict[str, str], list[str]] | None] = read_process) -> str | None:
    """Why the started container has not got the GPUs it asked for, or None (arrived, or nothing to check)."""
    if not spec.gpu or not pids:
        return None  # a CPU engine; or it exited already, which the wait reports with its log
    seen = read(pids[0])
    if seen is None:
        return None  # cannot look from here; the engine's own log still tells
    env, dev = seen
    nodes = [n for n in dev if _NODE.match(n)]
    visible = env.get("NVIDIA_VISIBLE_DEVICES", "")
    if nodes or visible not in ("", "void", "none"):
        wanted = set(spec.devices)
        named = set(visible.split(",")) if visible else set()
        if wanted and visible and visible != "all" and not wanted <= named:
            return (f"asked for GPU {','.join(spec.devices)} but the container got NVIDIA_VISIBLE_DEVICES={visible}")
        return None
    return ("the engine accepted the GPU request but the container got no GPU (no /dev/nvidiaN, "
            f"NVIDIA_VISIBLE_DEVICES {'unset' if not visible else '=' + visible}): it would run on the CPU")


def check_gpu_arrived(engine: ContainerEngine, container_id: str, spec: ContainerSpec) -> str | None:
    """gpu_problem for a container the engine just started (only where its processes are this machine's)."""
    if not spec.gpu or not engine.local():
        return None
    found = engine.inspect(container_id)
    return gpu_problem(spec, [found.pid] if found is not None and found.pid else [])
