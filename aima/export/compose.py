"""Plan -> a Compose file for docker-compose 1.29 and Compose v2 (the Compose Specification: no `version:`), or for
podman-compose when the target engine is Podman.

podman-compose (1.0.3 in Debian 12) turns a service into `podman run` options and ignores
`deploy.resources.reservations.devices`: a GPU engine would start without its GPU. For Podman the planned GPUs are
therefore `devices: [nvidia.com/gpu=N]`, CDI names that `podman run --device` takes (as `aima up` asks Podman).
"""

from __future__ import annotations

from aima.export import dump_yaml, ensure_exportable, is_secret
from aima.plan_types import EnginePlan, Plan

# Docker runs the first check one interval after start; start_period (the engine's own startup timeout) keeps
# failures during model loading from counting.
HEALTH_INTERVAL = "5s"
HEALTH_TIMEOUT = "3s"
HEALTH_RETRIES = 3


def health_test(port: int, path: str) -> list[str]:
    """A CMD-SHELL check that works whether the image has busybox/GNU wget, curl, or only Python."""
    url = f"http://127.0.0.1:{port}{path}"
    # Engine images differ: llama.cpp's and whisper.cpp's ship curl, busybox images wget, Python images
    # (vLLM, Kokoro) at least python3. A missing tool exits 127 and the next one is tried; an HTTP error fails all.
    # No `wget -T`: Debian's static busybox 1.35 wget segfaults with it; Docker's own timeout bounds the check.
    return ["CMD-SHELL",
            f"wget -q -O /dev/null {url} || curl -fsS -m 3 -o /dev/null {url} || "
            f"python3 -c \"import urllib.request; urllib.request.urlopen('{url}', timeout=3)\""]


def compose_dict(plan: Plan, engine: str = "docker") -> dict:
    """The Compose file as a mapping for Docker Compose or (engine "podman") podman-compose; refuses a plan with
    refused engines."""
    ensure_exportable(plan)
    network = plan.network
    services = {e.engine: _service(e, plan, engine) for e in plan.engines}
    return {
        "services": services,
        "networks": {network: {"name": network, "labels": {"aima.stack": plan.stack}}},
    }


def _service(e: EnginePlan, plan: Plan, engine: str = "docker") -> dict:
    service: dict = {"image": e.image, "container_name": e.container_name(plan.stack)}
    if e.entrypoint is not None:
        service["entrypoint"] = [_escape(part) for part in e.entrypoint]
    if e.command:
        service["command"] = [_escape(part) for part in e.command]
    if e.env:
        service["environment"] = {key: _env_value(key, value) for key, value in e.env}
    limits = e.limits
    if limits.memory_mib:
        service["mem_limit"] = f"{limits.memory_mib}m"
    if limits.cpus:
        service["cpus"] = float(limits.cpus)
    if limits.shm_mib:
        service["shm_size"] = f"{limits.shm_mib}m"
    if limits.pids:
        service["pids_limit"] = limits.pids
    service["ports"] = [f"{p.host_ip}:{p.host_port}:{p.container_port}" for p in e.ports]
    if e.mounts:
        # Long syntax: a missing model folder is an error at `up`, not an empty folder Docker creates as root.
        service["volumes"] = [{"type": "bind", "source": m.source, "target": m.target, "read_only": m.read_only}
                              for m in e.mounts]
    service["labels"] = e.labels(plan.stack)
    service["networks"] = [plan.network]
    service["healthcheck"] = {
        "test": health_test(e.container_port, e.health.path),
        "interval": HEALTH_INTERVAL,
        "timeout": HEALTH_TIMEOUT,
        "retries": HEALTH_RETRIES,
        "start_period": f"{int(e.health.startup_timeout_s)}s",
    }
    if e.gpu and engine == "podman":
        # podman-compose drops deploy.resources device reservations; CDI names reach `podman run --device`.
        service["devices"] = [f"nvidia.com/gpu={d}" for d in (e.devices or ("all",))]
    elif e.gpu and e.devices:
        # Compose's form of `--gpus device=...`: the planned GPUs, not "all".
        service["deploy"] = {"resources": {"reservations": {"devices": [
            {"driver": "nvidia", "device_ids": list(e.devices), "capabilities": ["gpu"]}]}}}
    return service


def _env_value(key: str, value: str) -> str:
    if is_secret(key, value):
        # Compose refuses to start (":?") rather than run with an empty token when the variable is missing.
        return f"${{{key}:?set {key} in the environment or an .env file}}"
    return _escape(value)


def _escape(text: str) -> str:
    """Compose interpolates $VAR everywhere; '$$' keeps a literal dollar."""
    return text.replace("$", "$$")


def model_comments(plan: Plan) -> list[str]:
    """Header lines naming each engine's model folder: the hub cache path and how to fill it (`aima pull`)."""
    lines = []
    for e in plan.engines:
        if e.model is None or not e.mounts:
            continue
        folder = e.mounts[0].source
        if e.model.source is not None:
            lines.append(f"# {e.engine}: model {e.model.name} ({e.model.source.uri}) from the hub cache folder "
                         f"{folder}; fill it first on the machine that runs this file: aima pull {e.engine}")
        else:
            lines.append(f"# {e.engine}: model {e.model.name}: files placed by hand in {folder} (not pulled by aima)")
    return lines


def dump_compose(plan: Plan, engine: str = "docker", why: str = "") -> str:
    """The Compose file as YAML text, with a header saying where it came from and which engine it is for."""
    where = plan.hardware.name or "this machine"
    secrets = sorted({k for e in plan.engines for k, v in e.env if is_secret(k, v)})
    because = f" ({why})" if why else ""
    header = [f"# Generated by `aima export --format compose` for {where} (stack {plan.stack}).",
              f"# Run: {'podman-compose' if engine == 'podman' else 'docker-compose'} -p aima-{plan.stack} "
              "-f THIS_FILE up -d   (docs/export.md)"]
    if secrets:
        header.append(f"# Secrets are not in this file: set {', '.join(secrets)} in the environment or an .env file.")
    header.append(f"# For {'podman-compose' if engine == 'podman' else 'Docker Compose'}{because}; "
                  f"`aima --engine {'docker' if engine == 'podman' else 'podman'} export ...` writes the other form.")
    header += model_comments(plan)
    body = dump_yaml([compose_dict(plan, engine)])
    return "\n".join(header) + "\n" + body
