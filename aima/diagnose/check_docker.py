"""Docker checks: the daemon answers, its version, whether it can give containers a GPU, its disk space."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from aima.diagnose.checks import GIB, Check, Outcome, fail, needs_gpu, ok, warn
from aima.engine.cdi import cdi_device_names, nvidia_cdi_specs

if TYPE_CHECKING:
    from aima.diagnose.doctor import Facts
    from aima.engine.model import ContainerEngine, EngineInfo
    from aima.plan_types import EnginePlan, Plan, PortBinding

_DEVICE_REQUESTS_API = "1.40"  # Docker 19.03: the first API with DeviceRequests (`--gpus`)
_LOW_DISK = 20 * GIB  # a CUDA engine image is 5-20 GiB unpacked (vLLM ~20, llama.cpp CUDA ~3-5)
_NO_DISK = 2 * GIB
_NO_SUCH_FILE = "/aima-doctor-probe-does-not-exist"
PROBE_TIMEOUT_S = 3


def docker_checks(facts: Facts) -> Iterator[Check]:
    """docker.reachable, docker.version, docker.rootless, docker.nvidia-runtime, docker.disk."""
    yield Check("docker.reachable", "docker", lambda: _reachable(facts))
    yield Check("docker.version", "docker", lambda: version_outcome(facts.docker_info(), _gpu_needed(facts)))
    yield Check("docker.rootless", "docker", lambda: _rootless(facts))
    yield Check("docker.nvidia-runtime", "docker", lambda: _runtime(facts))
    yield Check("docker.disk", "docker", lambda: _disk(facts))


def _reachable(facts: Facts) -> Outcome:
    """The chosen engine answers; when it does not, the failure says which engine was tried and why it was chosen."""
    from aima.errors import AimaError

    choice = facts.choice()  # a bad --engine/AIMA_ENGINE/engine: fails here with its own one-line message
    try:
        docker = facts.docker()
    except AimaError as exc:
        engine = "Podman" if choice.engine == "podman" else "Docker"
        return fail(f"{exc.message} ({engine} chosen because {choice.why})", exc.hint, engine=choice.engine,
                    url=choice.url, why=choice.why)
    return reachable_outcome(docker, choice.why)


def _rootless(facts: Facts) -> Outcome:
    info = facts.docker_info()
    plan = _plan(facts)
    engines = plan.engines if plan is not None else ()
    ports = [(e.engine, p) for e in engines for p in e.ports]
    port_start = facts.adapters.port_start() if facts.docker_or_skip().local() else None
    return rootless_outcome(info, engines, ports, port_start)


def _plan(facts: Facts) -> Plan | None:
    try:
        return facts.plan()
    except Exception:  # noqa: BLE001 - engines.plan reports it; here the plan is only context
        return None


def _gpu_needed(facts: Facts) -> bool:
    plan = _plan(facts)
    return plan is not None and needs_gpu(plan)


def _runtime(facts: Facts) -> Outcome:
    info = facts.docker_info()
    docker = facts.docker_or_skip()
    gpu_needed = _gpu_needed(facts)
    has_gpu = bool(facts.hardware().gpus)
    if info.name == "podman":
        plan = _plan(facts)
        wanted = sorted({d or "all" for e in (plan.engines if plan else ()) if e.gpu for d in (e.devices or ("",))})
        return cdi_outcome(cdi_device_names(info.cdi_spec_dirs), wanted, gpu_needed=gpu_needed, has_gpu=has_gpu)
    cdi = nvidia_cdi_specs(info.cdi_spec_dirs) if docker.local() else []
    probe_error: str | None = None
    probed_with: str | None = None
    if "nvidia" not in info.runtimes and not cdi and (gpu_needed or has_gpu):
        probed_with = smallest_image(docker)
        if probed_with is not None:
            probe_error = gpu_request_error(docker, probed_with)
    return runtime_outcome(info, gpu_needed=gpu_needed, has_gpu=has_gpu, cdi_specs=cdi, probed_with=probed_with,
                           probe_error=probe_error)


def _disk(facts: Facts) -> Outcome:
    docker = facts.docker_or_skip()
    info = facts.docker_info()
    if not docker.local():
        return ok(f"not measured: Docker runs on another machine ({docker.url})")
    plan = _plan(facts)
    missing = [e.image for e in plan.engines if facts.image(e.image) is None] if plan else []
    return docker_disk_outcome(info.root_dir, facts.adapters.disk_free(info.root_dir or "/var/lib/docker"), missing)


def smallest_image(docker: ContainerEngine) -> str | None:
    """The id of the smallest local image (for probes), or None when there is none."""
    images = docker.images()
    return min(images, key=lambda i: i.size_bytes).id if images else None


def gpu_request_error(docker: ContainerEngine, image: str) -> str | None:
    """Docker's error when it cannot give a container a GPU, or None when it can."""
    from aima.engine.labels import LABEL_DOCTOR
    from aima.engine.model import ContainerSpec

    # Docker picks the GPU device driver when the container starts, before the process runs; an entrypoint
    # that does not exist makes the start fail right after that choice, so nothing ever runs.
    spec = ContainerSpec(name="", engine="doctor", image=image, labels={LABEL_DOCTOR: "probe"}, env={}, command=(),
                         entrypoint=(_NO_SUCH_FILE,), ports=(), mounts=(), devices=(), gpu=True, network="none")
    error = docker.run(spec, PROBE_TIMEOUT_S).start_error or ""
    return error if "could not select device driver" in error else None


# --- decisions on observations ---------------------------------------------------------------------------

def reachable_outcome(docker: ContainerEngine, why: str | None = None) -> Outcome:
    """The engine answered a ping (connect raises an AimaError with the remedy when it does not); which and why."""
    engine = "Podman" if getattr(docker, "name", "docker") == "podman" else "Docker"
    because = f" (chosen because {why})" if why else ""
    return ok(f"{engine} at {docker.url} answers{because}", url=docker.url, local=docker.local(),
              engine=engine.lower(), why=why)


def rootless_outcome(info: EngineInfo, engines: Sequence[EnginePlan], ports: Sequence[tuple[str, PortBinding]],
                     port_start: int | None) -> Outcome:
    """What a rootless engine cannot grant this plan: limits without their cgroup controller, privileged ports."""
    from aima.launch.rootless import DELEGATE_REMEDY, V1_REMEDY, rootless_findings

    engine = "Podman" if info.name == "podman" else "Docker"
    details = {"rootless": info.rootless, "cgroup_version": info.cgroup_version or None,
               "cgroup_controllers": list(info.cgroup_controllers) if info.cgroup_controllers is not None else None,
               "unprivileged_port_start": port_start}
    if not info.rootless:
        return ok(f"{engine} runs rootful", **details)  # every limit and port is its to grant
    found = rootless_findings(info, engines, ports, port_start)
    if found.refusals:
        remedy = (DELEGATE_REMEDY if found.missing else V1_REMEDY if found.warnings
                  else "give each engine a host port at or above net.ipv4.ip_unprivileged_port_start")
        return fail("; ".join([f"{e}: {t}" if e else t for e, t in found.refusals] + list(found.warnings)), remedy,
                    **details)
    if found.warnings:
        return warn("; ".join(found.warnings), V1_REMEDY, **details)
    if info.cgroup_version == "v1":
        return warn(f"rootless {engine} on cgroup v1 cannot set resource limits (this plan sets none)", V1_REMEDY,
                    **details)
    wanted = {"cpu", "memory", "pids"}
    if info.cgroup_controllers is not None and not wanted <= set(info.cgroup_controllers):
        lacking = " ".join(sorted(wanted - set(info.cgroup_controllers)))
        return warn(f"rootless {engine}: the cgroup controllers {lacking} are not delegated to this user; limits "
                    "that need them would fail (this plan sets none)", DELEGATE_REMEDY, **details)
    where = f", ports from {port_start}" if port_start is not None else ""
    return ok(f"rootless {engine}: cgroup {info.cgroup_version or '?'} with "
              f"{' '.join(info.cgroup_controllers or ()) or 'unreported'} controllers{where}; the plan fits", **details)


def _api_too_old(version: str) -> bool:
    from aima.versions import compare

    try:
        return compare(version, "<", _DEVICE_REQUESTS_API)
    except ValueError:  # an API version that is no dotted number cannot be shown to be new enough
        return True


def version_outcome(info: EngineInfo, gpu_needed: bool) -> Outcome:
    """The server version; GPU requests need API 1.40 (Docker 19.03) and Linux containers."""
    engine = "Podman" if getattr(info, "name", "docker") == "podman" else "Docker"
    text = f"{engine} {info.server_version} (API {info.api_version}), {info.os_type}/{info.architecture}"
    if getattr(info, "rootless", False):
        text += ", rootless"
    details = {"server_version": info.server_version, "api_version": info.api_version, "os_type": info.os_type,
               "architecture": info.architecture}
    if info.os_type != "linux":
        return fail(f"{text}: the daemon runs {info.os_type} containers, and every engine image is a Linux image",
                    "switch Docker to Linux containers", **details)
    if _api_too_old(info.api_version):
        result = fail if gpu_needed else warn
        return result(f"{text}: too old for GPU requests (`--gpus` needs Docker 19.03, API 1.40)",
                      "upgrade Docker to a current release", **details)
    return ok(text, **details)


def cdi_outcome(available: dict[str, str], wanted: list[str], *, gpu_needed: bool, has_gpu: bool) -> Outcome:
    """Podman gives containers GPUs by CDI name only: a spec must name every GPU the plan asks for."""
    details = {"cdi_devices": sorted(available), "wanted": wanted, "cdi_specs": sorted(set(available.values()))}
    remedy = ("generate the spec: `sudo nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml` (NVIDIA Container "
              "Toolkit >= 1.12; again after every driver update); `nvidia-ctk cdi list` shows the names")
    if not gpu_needed and not has_gpu:
        return ok("Podman: no GPU here and every engine runs on the CPU, so no CDI spec is needed", **details)
    missing = [w for w in wanted if f"{w}" not in available]
    if not available:
        text = "Podman gives GPUs by CDI name, and no NVIDIA CDI spec is in /etc/cdi or /var/run/cdi"
        return (fail if gpu_needed else warn)(text, remedy, **details)
    if missing:
        names = ", ".join(f"nvidia.com/gpu={m}" for m in missing)
        return (fail if gpu_needed else warn)(f"the CDI spec does not name {names} (it has "
                                              f"{', '.join(sorted(available))})", remedy, **details)
    return ok(f"NVIDIA CDI spec names every GPU the plan asks for ({', '.join(wanted) or 'none'}): "
              f"{', '.join(sorted(set(available.values())))}", **details)


def runtime_outcome(info: EngineInfo, *, gpu_needed: bool, has_gpu: bool, cdi_specs: list[str], probed_with: str | None,
                    probe_error: str | None) -> Outcome:
    """Can Docker give a container a GPU? Only a fail when the plan needs one."""
    details = {"runtimes": list(info.runtimes), "default_runtime": info.default_runtime, "cdi_specs": cdi_specs}
    if "nvidia" in info.runtimes:
        return ok(f"the nvidia runtime is registered with Docker (runtimes: {', '.join(info.runtimes)})", **details)
    if cdi_specs:
        return ok(f"NVIDIA CDI specs are installed ({', '.join(cdi_specs)})", **details)
    if not gpu_needed and not has_gpu:
        return ok("no NVIDIA runtime, and none is needed: there is no GPU here and every engine runs on the CPU",
                  **details)
    if probed_with is None:
        return warn("cannot tell whether Docker can give containers a GPU: no nvidia runtime in `docker info` and "
                    "no local image to try a GPU request with", "`docker run --rm --gpus all ubuntu nvidia-smi` "
                    "must work; otherwise install and configure the NVIDIA Container Toolkit", **details)
    details["probe_image"] = probed_with[:19]
    if probe_error is None:
        return ok("Docker's nvidia device driver is registered: a container with a GPU request starts", **details)
    from aima.knowledge import load_knowledge

    signature = load_knowledge().get("docker-no-gpu-runtime")
    remedy = signature.remedy if signature else "install and configure the NVIDIA Container Toolkit"
    text = f"Docker cannot give containers a GPU ({probe_error.strip()})"
    from aima.sources import public_list

    details["source"] = public_list(signature.sources) if signature else ""
    if gpu_needed:
        return fail(f"{text}: the GPU engines of the plan will not start", remedy, **details)
    return warn(f"{text}; this plan runs every engine on the CPU, so it does not matter yet", remedy, **details)


def docker_disk_outcome(root_dir: str, measured: tuple[str, int] | None, missing_images: list[str]) -> Outcome:
    """Free space where Docker keeps images, against the images still to pull."""
    if measured is None:
        return warn(f"cannot measure free space at Docker's root {root_dir or '?'}", None, root_dir=root_dir)
    where, free = measured
    details = {"root_dir": root_dir, "measured_at": where, "free_bytes": free, "images_to_pull": missing_images}
    text = f"{free / GIB:.1f} GiB free at {root_dir or where}"
    remedy = ("free space (`docker system prune` removes stopped containers and unused images) or move Docker's "
              "data-root to a larger disk")
    if free < _NO_DISK:
        return fail(f"{text}: too little to pull or even start engines", remedy, **details)
    if missing_images and free < _LOW_DISK:
        return warn(f"{text}, and {len(missing_images)} image(s) still to pull ({', '.join(missing_images)}); "
                    f"GPU engine images take 5-20 GiB each", remedy, **details)
    pulls = f"; {len(missing_images)} image(s) still to pull" if missing_images else ""
    return ok(text + pulls, **details)
