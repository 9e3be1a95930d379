"""An engine plan -> the one ContainerSpec that `up` creates, and the same spec as `docker run` argv.

`aima plan --docker-run` prints ``run_argv(container_spec(...))`` so the printed lines carry exactly the labels,
devices, limits, ports and mounts that `up` gives the container (ramalama's dry run prints its exec args).
"""

from __future__ import annotations

from aima.engine import labels as L
from aima.engine.model import ContainerSpec
from aima.plan_types import EnginePlan, Plan
from aima.secrets import is_secret


def container_spec(engine: EnginePlan, plan: Plan) -> ContainerSpec:
    """The container an engine plan asks for, labelled so that up/down/status find it again."""
    labels = dict(engine.labels(plan.stack))
    labels[L.LABEL_HEALTH] = engine.health.path
    if engine.endpoint:
        labels[L.LABEL_ENDPOINT] = engine.endpoint
    if engine.model is not None:
        labels[L.LABEL_MODEL] = engine.model.name
        if engine.model.source is not None:
            labels[L.LABEL_MODEL_SOURCE] = engine.model.source.uri
    lim = engine.limits
    return ContainerSpec(
        name=engine.container_name(plan.stack), engine=engine.engine, image=engine.image, labels=labels,
        env=dict(engine.env), command=engine.command, entrypoint=engine.entrypoint, ports=engine.ports,
        mounts=tuple((m.source, m.target, m.read_only) for m in engine.mounts), devices=engine.devices,
        gpu=engine.gpu, memory_mib=lim.memory_mib, cpus=lim.cpus, shm_mib=lim.shm_mib, pids=lim.pids,
        network=plan.network,
    )


def network_argv(name: str, stack: str, cli: str = "docker") -> list[str]:
    """`docker network create` for a stack's network, labelled as `up` labels it."""
    args = [cli, "network", "create"]
    for key, value in L.network_labels(stack).items():
        args += ["--label", f"{key}={value}"]
    return args + [name]


def gpu_flag(spec: ContainerSpec) -> list[str]:
    """`--gpus` as Docker's CLI spells the spec's device request (all GPUs when no device is named)."""
    if not spec.gpu:
        return []
    return ["--gpus", f'"device={",".join(spec.devices)}"' if spec.devices else "all"]


def run_argv(spec: ContainerSpec, *, redact: bool = True, cli: str = "docker") -> list[str]:
    """`docker run -d` for a spec, argument by argument. A secret env entry is printed as `-e KEY` alone, so Docker
    takes its value from the environment of whoever runs the line (never a literal `***` or the secret)."""
    args = [cli, "run", "-d"]
    if spec.name:
        args += ["--name", spec.name]
    if spec.network:
        args += ["--network", spec.network]
    for key, value in spec.labels.items():
        args += ["--label", f"{key}={value}"]
    args += gpu_flag(spec)
    if spec.memory_mib:
        args += ["--memory", f"{spec.memory_mib}m"]
    if spec.cpus:
        args += ["--cpus", f"{spec.cpus:g}"]
    if spec.shm_mib:
        args += ["--shm-size", f"{spec.shm_mib}m"]
    if spec.pids:
        args += ["--pids-limit", str(spec.pids)]
    for p in spec.ports:
        args += ["-p", f"{p.host_ip}:{p.host_port or ''}:{p.container_port}"]
    for source, target, read_only in spec.mounts:
        args += ["-v", f"{source}:{target}{':ro' if read_only else ''}"]
    for key, value in spec.env.items():
        args += ["-e", key if redact and is_secret(key, value) else f"{key}={value}"]
    if spec.entrypoint is not None:
        args += ["--entrypoint", spec.entrypoint[0] if spec.entrypoint else ""]
    args.append(spec.image)
    return args + list(spec.entrypoint[1:] if spec.entrypoint else ()) + list(spec.command)


def shell_line(args: list[str]) -> str:
    """argv as one shell line (the `--gpus "device=0,1"` value stays as Docker's docs quote it)."""
    import shlex

    return " ".join(a if a.startswith('"device=') else shlex.quote(a) for a in args)
