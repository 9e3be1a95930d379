"""Preflight: every check that can fail without side effects, for every engine, before the first image pull,
network or container. One call returns every problem, so a user fixes them all in one go.

Checked: model folders (absolute, present, a directory, readable) and the model files the command names
(present, not truncated), env values (no NUL: Docker cannot pass it), container names held by containers that
are not this stack's, host ports, limits against what the Docker host has, what a rootless engine cannot grant
(limits without their delegated cgroup controller, ports below ip_unprivileged_port_start: aima.launch.rootless),
and whether each image is here or its registry has it. Model downloads (`aima pull`, which `up` runs first)
come before: they make the files checked here.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from aima.engine.model import Container, ContainerEngine
from aima.errors import AimaError
from aima.launch.ownership import Owners
from aima.launch.reach import port_in_use
from aima.launch.rootless import rootless_findings, unprivileged_port_start
from aima.plan_types import EnginePlan, Plan, PortBinding

TRUNCATED_BELOW = 0.9  # a file smaller than this share of the catalogue's size_mib is a cut-short download


@dataclass(frozen=True)
class Problem:
    """One thing that would fail, for one engine (or '' for the stack), in words with what to do."""

    engine: str
    text: str

    def __str__(self) -> str:
        return f"{self.engine}: {self.text}" if self.engine else self.text


class PreflightFailed(AimaError):
    """Preflight found problems; nothing was pulled or created."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
        super().__init__(f"preflight found {count}, nothing was pulled or created: "
                         + "; ".join(f"({i}) {p}" for i, p in enumerate(problems, 1)),
                         hint="fix them all, then `aima up` again")
        self.problems = tuple(problems)


def model_problems(engine: EnginePlan) -> list[Problem]:
    """Model folders and the files the engine's command names, checked on the host's file system."""
    out: list[Problem] = []
    for mount in engine.mounts:
        where = f"model folder {mount.source}"
        if not os.path.isabs(mount.source):
            out.append(Problem(engine.engine, f"{where} is not an absolute path; Docker would take it as a volume "
                                              "name (give models_dir as /full/path or ~/path in the stack file)"))
            continue
        try:
            info = os.stat(mount.source)
        except FileNotFoundError:
            out.append(Problem(engine.engine, f"{where} does not exist (create it and put the model there, or "
                                              "`aima pull`)"))
            continue
        except OSError as exc:
            out.append(Problem(engine.engine, f"{where} cannot be read: {exc.strerror}"))
            continue
        if not stat.S_ISDIR(info.st_mode):
            out.append(Problem(engine.engine, f"{where} is not a directory"))
            continue
        if not os.access(mount.source, os.R_OK | os.X_OK):
            out.append(Problem(engine.engine, f"{where} is not readable by this user"))
            continue
        out += _model_file_problems(engine, mount.source, mount.target)
    return out


def _model_file_problems(engine: EnginePlan, source: str, target: str) -> list[Problem]:
    """The model path in the command, mapped from the container's mount target back to the host folder."""
    model = engine.model
    if model is not None and model.source is not None:  # in the hub cache, mounted at its repository folder
        return _hub_file_problems(engine, Path(source).parent)
    if model is None or not model.file:
        return []
    prefix = target.rstrip("/") + "/"
    paths = [arg[len(prefix):] for arg in engine.command + (engine.entrypoint or ()) if arg.startswith(prefix)]
    relative = next((p for p in paths if p.endswith(model.file) or Path(p).name == Path(model.file).name),
                    model.file)
    host = Path(source) / relative
    if not host.exists():
        return [Problem(engine.engine, f"model file {host} is missing (model {model.name}); put it there or "
                                       "`aima pull`")]
    if host.is_file() and model.size_mib:
        size = host.stat().st_size
        if size < TRUNCATED_BELOW * model.size_mib * 2**20:
            return [Problem(engine.engine, f"model file {host} is {size // 2**20} MiB, the catalogue says about "
                                           f"{model.size_mib} MiB: the download looks cut short; fetch it again")]
    return []


def _hub_file_problems(engine: EnginePlan, hub: Path) -> list[Problem]:
    """Every file of the model's source (each shard of a split GGUF, each file of a folder) is in the snapshot,
    at the size the catalogue gives where it gives one: doctor's file check without hashing. A file is linked
    there only after its SHA-256 matched (`aima doctor --deep` hashes again); the model's size_mib, the sum over
    the files, says nothing about any one of them."""
    from aima.models.check import file_states

    assert engine.model is not None and engine.model.source is not None
    source = engine.model.source
    for state in file_states(source, hub):
        where = f"{state.path} of {source.repo}@{source.revision} in {hub}"
        if state.state in ("missing", "partial"):
            return [Problem(engine.engine, f"model file {where} is missing (model {engine.model.name}); "
                                           "`aima pull` fetches it")]
        if state.state != "ok":
            return [Problem(engine.engine, f"model file {where} is {state.size} bytes, the catalogue says "
                                           f"{state.expected}: it was cut short or changed; `aima pull` fetches it "
                                           "again")]
    return []


def env_problems(engine: EnginePlan) -> list[Problem]:
    """Env values Docker cannot pass (NUL); the value itself is never repeated, it may be a secret."""
    return [Problem(engine.engine, f"env {key} contains a NUL character, which no process environment can hold; "
                                   "fix the value where it is set (stack file or environment)")
            for key, value in engine.env if "\x00" in value or "\x00" in key]


def name_problems(engines: Iterable[EnginePlan], stack: str, docker: ContainerEngine,
                  ours: Collection[str] = ()) -> list[Problem]:
    """Container names this stack will create that a container aima did not create for it holds."""
    out = []
    for engine in engines:
        name = engine.container_name(stack)
        found = docker.inspect(name)
        if found is not None and found.id not in ours:
            owner = (f"stack {found.stack!r}" if found.stack != stack else "a look-alike with this stack's labels "
                     "that aima has no record of creating") if found.stack else "no aima stack"
            out.append(Problem(engine.engine, f"container name {name} is taken by container {found.id[:12]} "
                                              f"({owner}); aima does not remove what it did not create — remove or "
                                              "rename it (`docker rm`), or give the stack another name"))
    return out


def port_problems(ports: Sequence[tuple[str, PortBinding]], port_check: Callable[[str, int], str | None],
                  holders: Sequence[Container]) -> list[Problem]:
    """Host ports that something already listens on, with the container that holds it when there is one."""
    owners = {port: c.name for c in holders for port in c.host_ports}
    out = []
    for engine, p in ports:
        error = port_check(p.host_ip, p.host_port)
        if error is not None:
            held = f" (held by container {owners[p.host_port]})" if p.host_port in owners else ""
            what = "is already in use" if port_in_use(error) else f"cannot be bound: {error}"
            out.append(Problem(engine, f"host port {p.host_ip}:{p.host_port} {what}{held}; stop what "
                                       "holds it or give the engine another port (engines: <engine>: port:)"))
    return out


def limit_problems(engines: Iterable[EnginePlan], cpus: int, memory_mib: int) -> list[Problem]:
    """Limits the Docker host cannot grant (its own CPU count and memory; 0 = unknown)."""
    out = []
    for e in engines:
        if cpus and e.limits.cpus is not None and e.limits.cpus > cpus:
            out.append(Problem(e.engine, f"asks for {e.limits.cpus:g} CPUs; the Docker host has {cpus}"))
        if memory_mib and e.limits.memory_mib is not None and e.limits.memory_mib > memory_mib:
            out.append(Problem(e.engine, f"asks for {e.limits.memory_mib} MiB of memory; the Docker host has "
                                         f"{memory_mib} MiB"))
    return out


def image_problems(engines: Iterable[EnginePlan], docker: ContainerEngine) -> list[Problem]:
    """Images neither on this machine nor known to their registry (asked without pulling)."""
    out = []
    checked: set[str] = set()
    for e in engines:
        if e.image in checked or getattr(e, "build", None) is not None:
            continue  # an image aima builds from a recipe is checked by the build step, not a registry
        checked.add(e.image)
        if docker.image(e.image) is not None:
            continue
        why = docker.obtainable(e.image)
        if why:
            out.append(Problem(e.engine, why))
    return out


def preflight(plan: Plan, creating: Sequence[EnginePlan], docker: ContainerEngine,
              port_check: Callable[[str, int], str | None], ports: Sequence[tuple[str, PortBinding]],
              observed: Sequence[Container] = (), owners: Owners | None = None, models: bool = True) -> list[str]:
    """Run every check for the engines this `up` creates; PreflightFailed lists every problem at once.
    models=False leaves out the model files (run before they are downloaded).

    Returns warnings: what would run but not as planned (limits a rootless engine on cgroup v1 cannot set)."""
    problems: list[Problem] = []
    if owners is not None:
        unwritable = owners.unwritable()
        if unwritable:
            problems.append(Problem("", unwritable))
    for engine in plan.engines:
        problems += (model_problems(engine) if models else []) + env_problems(engine)
    names = {c.name for c in observed}
    problems += name_problems([e for e in creating if e.container_name(plan.stack) not in names], plan.stack, docker,
                              {c.id for c in observed})
    if docker.local():
        problems += port_problems(ports, port_check, docker.list({}) if ports else ())
    info = docker.info()
    problems += limit_problems(creating, info.cpus, info.memory_mib)
    rootless = rootless_findings(info, creating, ports, unprivileged_port_start() if docker.local() else None)
    problems += [Problem(engine, text) for engine, text in rootless.refusals]
    problems += image_problems(creating, docker)
    if problems:
        raise PreflightFailed(problems)
    return list(rootless.warnings)
