"""Plan -> Kubernetes manifests: a Deployment and a Service per engine, placed by GPU Feature Discovery labels."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from aima.catalog.model import Catalog
from aima.engine.labels import LABEL_CANDIDATE, LABEL_ENGINE, LABEL_HASH, LABEL_STACK
from aima.errors import AimaError
from aima.export import dump_yaml, ensure_exportable, is_secret
from aima.export.affinity import node_affinity
from aima.models.source import ModelSource
from aima.plan_types import EnginePlan, Plan

GPU_RESOURCE = "nvidia.com/gpu"
PROBE_PERIOD_S = 5
MODELS_VOLUME = "models"
SHM_VOLUME = "dshm"
# The init container that fetches a hub model into the pod (docs/export.md: why curl, not aima: aima has no
# published image or PyPI release). A pinned tag of the curl project's own small image; busybox gives sha256sum.
FETCH_IMAGE = "curlimages/curl:8.11.1"
FETCH_CONTAINER = "fetch-model"
HF_ENDPOINT = "https://huggingface.co"


def object_name(stack: str, engine: str) -> str:
    """aima-<stack>-<engine> as a DNS-1035 label (Deployment, Service and Secret names)."""
    return re.sub(r"[^a-z0-9-]", "-", f"aima-{stack}-{engine}".lower())[:63].rstrip("-")


def secret_name(stack: str) -> str:
    """The Secret the engines' secret-looking env entries are read from (created by the user, never by aima)."""
    return object_name(stack, "secrets")


def k8s_objects(plan: Plan, catalog: Catalog, inspected: Mapping[str, tuple[str, str]] | None = None) -> list[dict]:
    """A Deployment and a Service per engine; refuses a plan with refused engines."""
    ensure_exportable(plan)
    objects: list[dict] = []
    for e in plan.engines:
        candidate = e.chosen  # the plan carries the catalogue entry it chose
        engine = catalog.engine(e.engine)
        if candidate is None or engine is None:
            raise AimaError(f"cannot export {e.engine}: candidate {e.candidate} is not in the plan's catalogue")
        # The physical GPUs (a MIG device's parent): GPU Feature Discovery labels describe whole GPUs.
        affinity = node_affinity(candidate, engine, plan.hardware, tuple(str(i) for i in e.gpus), inspected)
        objects += [_deployment(e, plan, affinity), _service(e, plan)]
    return objects


def _selector(e: EnginePlan, plan: Plan) -> dict[str, str]:
    return {LABEL_STACK: plan.stack, LABEL_ENGINE: e.engine}


def _labels(e: EnginePlan, plan: Plan) -> dict[str, str]:
    # The config hash (64 hex digits) exceeds the 63-character limit of a label value: it is an annotation.
    return {"app.kubernetes.io/name": e.engine, "app.kubernetes.io/instance": object_name(plan.stack, e.engine),
            "app.kubernetes.io/part-of": "aima", "app.kubernetes.io/managed-by": "aima",
            **_selector(e, plan), LABEL_CANDIDATE: e.candidate}


def _deployment(e: EnginePlan, plan: Plan, affinity: dict) -> dict:
    name = object_name(plan.stack, e.engine)
    annotations = {LABEL_HASH: e.config_hash, "aima.reason": e.reason}
    volumes, mounts, init = _volumes(e, plan)
    pod: dict = {"containers": [_container(e, plan, mounts)], "affinity": affinity}
    if init:
        pod["initContainers"] = init
    if volumes:
        pod["volumes"] = volumes
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": _labels(e, plan), "annotations": annotations},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": _selector(e, plan)},
            # A rolling update starts the new pod before the old one stops: a GPU engine would need a second GPU.
            "strategy": {"type": "Recreate" if e.gpu else "RollingUpdate"},
            "template": {"metadata": {"labels": _labels(e, plan), "annotations": annotations}, "spec": pod},
        },
    }


def _container(e: EnginePlan, plan: Plan, mounts: list[dict]) -> dict:
    container: dict = {"name": e.engine, "image": e.image}
    if e.entrypoint is not None:
        container["command"] = [_escape(p) for p in e.entrypoint]
    if e.command:
        container["args"] = [_escape(p) for p in e.command]
    container["ports"] = [{"name": "http", "containerPort": e.container_port, "protocol": "TCP"}]
    if e.env:
        container["env"] = [_env(key, value, plan) for key, value in e.env]
    limits: dict = {}
    if e.limits.memory_mib:
        limits["memory"] = f"{e.limits.memory_mib}Mi"
    if e.limits.cpus:
        limits["cpu"] = _cpu(e.limits.cpus)
    if e.gpu and e.devices:
        limits[GPU_RESOURCE] = len(e.devices)
    if limits:
        container["resources"] = {"limits": limits}
    if mounts:
        container["volumeMounts"] = mounts
    probe = {"httpGet": {"path": e.health.path, "port": "http"}, "periodSeconds": PROBE_PERIOD_S,
             "timeoutSeconds": 3, "failureThreshold": 3}
    # The startup probe holds off liveness while the model loads (vLLM: up to 15 minutes), then readiness and
    # liveness take over; without it liveness would restart a pod that is still loading.
    container["startupProbe"] = {**probe, "failureThreshold": max(1, math.ceil(e.health.startup_timeout_s
                                                                              / PROBE_PERIOD_S))}
    container["readinessProbe"] = probe
    container["livenessProbe"] = {**probe, "periodSeconds": 10}
    container["securityContext"] = {"allowPrivilegeEscalation": False}
    return container


def _volumes(e: EnginePlan, plan: Plan) -> tuple[list[dict], list[dict], list[dict]]:
    """(volumes, the engine's mounts, init containers). A hub model (one with an hf source) reaches the pod through
    an emptyDir that an init container fills from the hub; hand-placed model folders stay hostPath mounts."""
    volumes: list[dict] = []
    mounts: list[dict] = []
    init: list[dict] = []
    source = e.model.source if e.model is not None else None
    for index, m in enumerate(e.mounts):
        name = MODELS_VOLUME if index == 0 else f"{MODELS_VOLUME}-{index}"
        if index == 0 and source is not None:
            volumes.append({"name": name, "emptyDir": {}})
            init.append(_fetch_container(source, m.source, m.target, name, plan))
        else:
            volumes.append({"name": name, "hostPath": {"path": m.source, "type": "Directory"}})
        mounts.append({"name": name, "mountPath": m.target, "readOnly": m.read_only})
    if e.limits.shm_mib:
        # Kubernetes has no --shm-size: a memory-backed emptyDir on /dev/shm is the usual stand-in.
        volumes.append({"name": SHM_VOLUME, "emptyDir": {"medium": "Memory", "sizeLimit": f"{e.limits.shm_mib}Mi"}})
        mounts.append({"name": SHM_VOLUME, "mountPath": "/dev/shm"})
    return volumes, mounts, init


def fetch_script(source: ModelSource, host_repo_dir: str, target: str) -> str:
    """The sh script that downloads a source's files to TARGET/snapshots/COMMIT/PATH (the path the engine's command
    names) and checks each against the catalogue's SHA-256 (or SHA-1); a file already there and correct is kept."""
    from pathlib import Path

    from aima.models.cache import RepoCache

    if source.folder and not source.files:  # hf://ORG/REPO whose listing the plan could not get
        from aima.errors import AimaError

        raise AimaError(f"cannot export the model folder {source.uri}: its files are not known (the hub did not list "
                        "them to the plan; `aima plan` says why)",
                        hint="check the network, HF_ENDPOINT and HF_TOKEN, or `aima pull` it once so the snapshot is "
                             "on disk")
    # a folder's files are fetched at the commit the hub listed them at, so the names and digests belong together
    commit = source.listed_at or RepoCache(Path(host_repo_dir).parent, source.repo).commit_of(source.revision) \
        or source.revision
    lines = ["set -eu", 'if [ -n "${HF_TOKEN:-}" ]; then set -- -H "Authorization: Bearer ${HF_TOKEN}"; fi']
    for f in source.files:
        local = f"{target}/snapshots/{commit}/{f.path}"
        url = f"${{HF_ENDPOINT:-{HF_ENDPOINT}}}/{source.repo}/resolve/{commit}/{f.path}"
        fetch = f"curl -fL --retry 5 --retry-all-errors -C - \"$@\" -o '{local}' \"{url}\""
        if f.sha256 or f.sha1:
            tool, digest = ("sha256sum", f.sha256) if f.sha256 else ("sha1sum", f.sha1)
            check = f"echo '{digest}  {local}' | {tool} -c -"
            lines.append(f"mkdir -p '{local.rsplit('/', 1)[0]}'")
            # kept if correct; else resumed (-C -); a full-size wrong file cannot resume: removed and fetched again
            lines.append(f"{check} >/dev/null 2>&1 || {{ {fetch}; {check}; }}"
                         f" || {{ rm -f '{local}'; {fetch}; {check}; }}")
        else:  # a small json file the catalogue gives no digest for (docs/catalog.md): present is enough
            lines.append(f"mkdir -p '{local.rsplit('/', 1)[0]}'")
            lines.append(f"[ -s '{local}' ] || {fetch}")
    return "\n".join(lines)


def _fetch_container(source: ModelSource, host_repo_dir: str, target: str, volume: str, plan: Plan) -> dict:
    token = {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": secret_name(plan.stack), "key": "HF_TOKEN",
                                                                "optional": not source.gated}}}
    return {"name": FETCH_CONTAINER, "image": FETCH_IMAGE, "command": ["sh", "-c"],
            "args": [_escape(fetch_script(source, host_repo_dir, target))], "env": [token],
            "volumeMounts": [{"name": volume, "mountPath": target}],
            "securityContext": {"allowPrivilegeEscalation": False}}


def _env(key: str, value: str, plan: Plan) -> dict:
    if is_secret(key, value):
        return {"name": key, "valueFrom": {"secretKeyRef": {"name": secret_name(plan.stack), "key": key}}}
    return {"name": key, "value": _escape(value)}


def _escape(text: str) -> str:
    """Kubernetes expands $(VAR) in command, args and env values; '$$(' keeps it literal."""
    return text.replace("$(", "$$(")


def _cpu(cpus: float) -> str:
    return str(int(cpus)) if float(cpus).is_integer() else f"{round(cpus * 1000)}m"


def _service(e: EnginePlan, plan: Plan) -> dict:
    port = e.ports[0].host_port if e.ports else e.container_port
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": object_name(plan.stack, e.engine), "labels": _labels(e, plan)},
        "spec": {"type": "ClusterIP", "selector": _selector(e, plan),
                 "ports": [{"name": "http", "port": port, "targetPort": "http", "protocol": "TCP"}]},
    }


def _shared_gpus(plan: Plan) -> str:
    """'asr, tts share GPU 1 in the plan' when engines were planned onto one GPU, else ''."""
    users: dict[str, list[str]] = {}
    for e in plan.engines:
        for device in e.devices:
            users.setdefault(device, []).append(e.engine)
    parts = [f"{', '.join(engines)} share GPU {device}" for device, engines in users.items() if len(engines) > 1]
    return "; ".join(parts) + " in the plan" if parts else ""


def dump_k8s(plan: Plan, catalog: Catalog, inspected: Mapping[str, tuple[str, str]] | None = None) -> str:
    """The manifests as one multi-document YAML text, with a header saying where they came from."""
    objects = k8s_objects(plan, catalog, inspected)
    where = plan.hardware.name or "this machine"
    header = [f"# Generated by `aima export --format k8s` for {where} (stack {plan.stack}).",
              "# Apply: kubectl apply -f THIS_FILE   (docs/export.md: GFD labels, secrets, model volumes)"]
    shared = _shared_gpus(plan)
    if shared:
        header.append(f"# Note: {shared}; here each engine asks for a whole nvidia.com/gpu unless the device "
                      "plugin shares GPUs (time-slicing or MPS).")
    secrets = sorted({k for e in plan.engines for k, v in e.env if is_secret(k, v)})
    if secrets:
        header.append(f"# Secrets are not in this file: create them with  kubectl create secret generic "
                      f"{secret_name(plan.stack)} " + " ".join(f"--from-literal={k}=..." for k in secrets))
    body = dump_yaml(objects)
    return "\n".join(header) + "\n" + body
