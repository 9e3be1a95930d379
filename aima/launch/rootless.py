"""What a rootless engine cannot do for a plan, found before anything is created (issue 18 item 3).

Three limits, each from the engine's own report or the host's sysctl, never guessed:
- cgroup v1: rootless Podman cannot set resource limits at all ("No cgroup V1 Support: cgroup V1 does not safely
  support cgroup delegation", Podman rootless.md); Podman drops them with a warning and runs the container
  unlimited, so aima warns rather than refuses.
- cgroup v2 without delegation: a limit needs its controller (memory, cpu, pids) delegated to the user's systemd
  service; libpod's /info lists the delegated ones in host.cgroupControllers (read from
  /sys/fs/cgroup/user.slice/user-UID.slice/user@UID.service/cgroup.controllers). Without it the container fails
  at start ("the requested cgroup controller `cpu` is not available", Podman troubleshooting.md #26), so aima
  refuses before creating anything. The remedy is systemd's Delegate= (systemd.resource-control(5)) in a drop-in
  for user@.service.
- ports below net.ipv4.ip_unprivileged_port_start: a rootless engine cannot bind them (Podman rootless.md: "Podman
  can not create containers that bind to ports < 1024 ... modify the net.ipv4.ip_unprivileged_port_start sysctl").

Sources: https://github.com/containers/podman/blob/v4.3.1/rootless.md ,
https://github.com/containers/podman/blob/v4.3.1/troubleshooting.md (26: resource limits with rootless),
https://www.freedesktop.org/software/systemd/man/systemd.resource-control.html (Delegate=).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from aima.engine.model import EngineInfo
from aima.plan_types import EnginePlan, PortBinding

DROP_IN = "/etc/systemd/system/user@.service.d/delegate.conf"
DELEGATE = "Delegate=cpu cpuset io memory pids"
DELEGATE_REMEDY = (f"delegate the cgroup controllers to users: write {DROP_IN} with `[Service]` and `{DELEGATE}`, "
                   "run `sudo systemctl daemon-reload`, then log out and in again (Podman troubleshooting.md #26)")
V1_REMEDY = ("boot with cgroup v2 (kernel option systemd.unified_cgroup_hierarchy=1; the default since Debian 11, "
             "Ubuntu 21.10, Fedora 31, RHEL 9), or run the engines with rootful Podman")
PORT_SYSCTL = "/proc/sys/net/ipv4/ip_unprivileged_port_start"

# Which controller each aima limit needs (shm_mib is a tmpfs size, no controller).
_CONTROLLERS = (("memory_mib", "memory", "memory"), ("cpus", "cpu", "CPU"), ("pids", "pids", "process-count"))


@dataclass(frozen=True)
class Findings:
    """What rootless cannot do: refusals (would fail at start) and warnings (would silently not apply)."""

    refusals: tuple[tuple[str, str], ...] = ()  # (engine or "", text)
    warnings: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()  # controllers the plan needs that are not delegated

    @property
    def ok(self) -> bool:
        """True when rootless takes the plan as it is."""
        return not self.refusals and not self.warnings


def limits_used(engines: Iterable[EnginePlan]) -> dict[str, list[str]]:
    """controller -> the engines whose limits need it."""
    used: dict[str, list[str]] = {}
    for e in engines:
        for field, controller, _ in _CONTROLLERS:
            if getattr(e.limits, field) is not None:
                used.setdefault(controller, []).append(e.engine)
    return used


def unprivileged_port_start(path: str = PORT_SYSCTL) -> int | None:
    """The host's net.ipv4.ip_unprivileged_port_start, or None when it cannot be read."""
    try:
        return int(Path(path).read_text().strip())
    except (OSError, ValueError):
        return None


def rootless_findings(info: EngineInfo, engines: Sequence[EnginePlan], ports: Iterable[tuple[str, PortBinding]],
                      port_start: int | None) -> Findings:
    """The limits and ports a rootless engine cannot grant to these engines; empty for a rootful engine."""
    if not info.rootless:
        return Findings()
    refusals: list[tuple[str, str]] = []
    warnings: list[str] = []
    missing: list[str] = []
    used = limits_used(engines)
    if used and info.cgroup_version == "v1":
        names = ", ".join(sorted({e for es in used.values() for e in es}))
        warnings.append(f"rootless {_name(info)} on cgroup v1 cannot set resource limits: the limits of {names} "
                        f"(memory, CPUs, process count) are not applied; {V1_REMEDY}")
    elif used and info.cgroup_version == "v2" and info.cgroup_controllers is not None:
        have = set(info.cgroup_controllers)
        for _, controller, words in _CONTROLLERS:
            if controller in used and controller not in have:
                missing.append(controller)
                for engine in used[controller]:
                    refusals.append((engine, f"its {words} limit needs the cgroup controller `{controller}`, which "
                                             f"is not delegated to this user (rootless {_name(info)} has: "
                                             f"{' '.join(sorted(have)) or 'none'}); {DELEGATE_REMEDY}"))
    if port_start is not None:
        for engine, p in ports:
            if p.host_port < port_start:
                refusals.append((engine, f"host port {p.host_port} is below net.ipv4.ip_unprivileged_port_start="
                                         f"{port_start}, which rootless {_name(info)} cannot bind; give the engine "
                                         f"a port >= {port_start} (engines: {engine}: port:) or "
                                         f"`sudo sysctl net.ipv4.ip_unprivileged_port_start={p.host_port}`"))
    return Findings(tuple(refusals), tuple(warnings), tuple(missing))


def _name(info: EngineInfo) -> str:
    return "Podman" if info.name == "podman" else "Docker"
