"""Engine checks, per engine of the plan: image, presence, platform, CUDA requirement, CUDA archs, ports, model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from aima.diagnose.checks import MIB, Check, NotChecked, Outcome, fail, model_path, ok, warn
from aima.engine.labels import LABEL_ENGINE, LABEL_STACK

if TYPE_CHECKING:
    from aima.catalog.model import Candidate, ModelChoice
    from aima.diagnose.doctor import Facts
    from aima.engine.model import Container, ImageInfo
    from aima.hardware.model import Gpu, Hardware
    from aima.models.source import ModelSource
    from aima.plan_types import EnginePlan, Plan, PortBinding, Refusal

_TRUNCATED = 0.9  # a model file under 90 % of the catalogue's size is an interrupted download


def kb_remedy(signature_id: str, fallback: str, **values: str) -> tuple[str, str]:
    """A knowledge-base signature's remedy (placeholders filled) and its sources, so doctor and logs say the same."""
    from aima.knowledge import load_knowledge

    signature = load_knowledge().get(signature_id)
    if signature is None:
        return fallback, ""
    filled = {name: values.get(name, "?") for name in signature.extract}
    from aima.sources import public_list

    return signature.remedy.format_map(filled), public_list(signature.sources)


def engine_checks(facts: Facts) -> Iterator[Check]:
    """engines.plan, then engine.E.* for every engine of the plan (refused ones get engine.E.image only)."""
    yield Check("engines.plan", "engines", lambda: plan_outcome(facts.plan()))
    try:
        plan = facts.plan()
        catalog, _ = facts.inputs()
    except Exception:  # noqa: BLE001 - engines.plan already reports why
        return

    for refusal in plan.refusals:
        yield Check(f"engine.{refusal.engine}.image", "engines", lambda r=refusal: refusal_outcome(r))
    for e in plan.engines:
        name = f"engine.{e.engine}"
        candidate = e.chosen  # the plan carries the catalogue entry it chose
        yield Check(f"{name}.image", "engines", lambda e=e: image_outcome(e))
        yield Check(f"{name}.image-present", "engines",
                    lambda e=e: present_outcome(e, facts.image(e.image), _cli(facts)))
        yield Check(f"{name}.platform", "engines",
                    lambda e=e, c=candidate: platform_outcome(e, c, _image_or_none(facts, e.image), plan.hardware))
        if candidate is not None and candidate.cpu_features:
            yield Check(f"{name}.cpu-features", "engines",
                        lambda e=e, c=candidate: cpu_features_outcome(e, c, plan.hardware))
        if e.gpu:
            yield Check(f"{name}.cuda-require", "engines",
                        lambda e=e, c=candidate: require_outcome(e, c, _image_or_none(facts, e.image), plan.hardware))
            yield Check(f"{name}.archs", "engines",
                        lambda e=e, c=candidate: archs_outcome(e, c, facts.inspected().get(e.image), plan.hardware))
        for binding in e.ports:
            yield Check(f"{name}.port", "engines", lambda e=e, b=binding: port_outcome(
                e, b, plan.stack, facts.adapters.port_error(b.host_ip, b.host_port), _containers(facts),
                _local(facts)))
        path = model_path(e)
        if path is not None and getattr(e.model, "source", None) is not None:
            yield Check(f"{name}.model", "engines",
                        lambda e=e: source_model_outcome(e, Path(e.mounts[0].source).parent, facts.request.deep))
        elif path is not None:
            yield Check(f"{name}.model", "engines",
                        lambda e=e, p=path: model_outcome(e, p, facts.adapters.path_size(p)))


def _local(facts: Facts) -> bool:
    """True when the chosen engine runs on this machine (its ports are this machine's)."""
    from aima.engine.docker_engine import is_local

    try:
        return is_local(facts.choice().url)
    except Exception:  # noqa: BLE001 - docker.reachable reports a bad choice
        return True


def _cli(facts: Facts) -> str:
    """The chosen engine's command (docker or podman), for remedies."""
    try:
        return facts.choice().engine
    except Exception:  # noqa: BLE001 - docker.reachable reports a bad choice
        return "docker"


def _image_or_none(facts: Facts, ref: str) -> ImageInfo | None:
    try:
        return facts.image(ref)
    except Exception:  # noqa: BLE001 - without Docker these checks fall back on the catalogue
        return None


def _containers(facts: Facts) -> list[Container] | None:
    try:
        return facts.containers()
    except Exception:  # noqa: BLE001 - without Docker the port check cannot name aima's own holder
        return None


def _gpus_of(e: EnginePlan, hw: Hardware) -> list[Gpu]:
    """The GPUs an engine is placed on (all when the plan names none)."""
    # EnginePlan.gpus names the physical GPUs (a MIG device's parent); devices may be indexes or UUIDs.
    chosen = [g for g in hw.gpus if g.index in getattr(e, "gpus", ()) or str(g.index) in e.devices
              or (g.uuid and g.uuid in e.devices)]
    return chosen or list(hw.gpus)


# --- decisions on observations ---------------------------------------------------------------------------

def plan_outcome(plan: Plan) -> Outcome:
    """The plan could be made: which image each engine gets, on which device."""
    where = plan.hardware.name or "this machine"
    parts = [f"{e.engine} -> {e.candidate} ({'GPU ' + ','.join(e.devices) if e.gpu else 'CPU'})" for e in plan.engines]
    parts += [f"{r.engine} refused" for r in plan.refusals]
    return ok(f"stack {plan.stack} on {where}: {'; '.join(parts) or 'no engines enabled'}", stack=plan.stack,
              hardware=where, warnings=list(plan.warnings))


def refusal_outcome(refusal: Refusal) -> Outcome:
    """An engine the plan cannot run here, with the resolver's reason."""
    rejected = {r.candidate: r.reason for r in refusal.rejected}
    return fail(f"no image can run {refusal.engine} here: {refusal.reason}",
                "`aima plan` lists every candidate and why it lost; change the stack (a smaller model, `device: cpu`,"
                " another GPU) or add a candidate that fits to your images.yaml", rejected=rejected)


def image_outcome(e: EnginePlan) -> Outcome:
    """The image the plan resolved for an engine, and why it won."""
    where = f"GPU {','.join(e.devices)}" if e.gpu else "CPU"
    return ok(f"{e.image} ({e.candidate}, {where}): {e.reason}", image=e.image, candidate=e.candidate, gpu=e.gpu,
              devices=list(e.devices), warnings=list(e.warnings),
              rejected={r.candidate: r.reason for r in e.rejected})


def present_outcome(e: EnginePlan, image: ImageInfo | None, cli: str = "docker") -> Outcome:
    """Is the image already pulled? (cli: the engine's command, docker or podman, for the remedy)"""
    build = getattr(e, "build", None)
    if image is None and build is not None:
        return warn(f"{e.image} is not built here yet: aima builds it from recipes/{build.recipe} "
                    f"(about {build.minutes} min, {build.disk_gib:g} GiB of disk)",
                    f"`aima build {e.engine}` or `aima up --build` (docs/builds.md)", image=e.image)
    if image is None:
        return warn(f"{e.image} is not pulled yet; `aima up` pulls it",
                    f"`{cli} pull {e.image}` now finds registry or network problems before `aima up`", image=e.image)
    return ok(f"{e.image} is here ({image.id[:19]}, {image.size_bytes / MIB:.0f} MiB)", image=e.image,
              image_id=image.id, size_bytes=image.size_bytes)


def platform_outcome(e: EnginePlan, candidate: Candidate | None, image: ImageInfo | None, hw: Hardware) -> Outcome:
    """The pulled image's platform (or the catalogue's, before a pull) against the host CPU."""
    from aima.catalog.cuda import check_platform

    if image is None:
        platforms = list(candidate.platforms) if candidate else []
        verdict = check_platform(platforms, hw.cpu_arch)
        if verdict.ok:
            return ok(f"from the catalogue: {verdict.reason}", platforms=platforms, source="catalogue")
        return fail(f"from the catalogue: {verdict.reason}", _PLATFORM_REMEDY, platforms=platforms, source="catalogue")
    verdict = check_platform([image.platform], hw.cpu_arch)
    if verdict.ok:
        return ok(f"the local image is {image.platform}; {hw.cpu_arch} host", platform=image.platform,
                  source="image")
    return fail(f"the local image is {image.platform} but this host is {hw.cpu_arch}: it would fail with "
                f"'exec format error'", _PLATFORM_REMEDY, platform=image.platform, source="image")


_PLATFORM_REMEDY = ("pull the right build (`docker pull --platform linux/<arch> IMAGE`) or use the candidate for this "
                    "CPU (`aima plan` shows each candidate's platforms)")


def cpu_features_outcome(e: EnginePlan, candidate: Candidate, hw: Hardware) -> Outcome:
    """The CPU extensions the catalogue says the image's binaries need, against this host's (SIGILL otherwise)."""
    needed = ", ".join(candidate.cpu_features)
    if hw.cpu_features is None:
        return warn(f"{e.image} needs {needed}; this host's CPU extensions are not known",
                    "run `aima detect` on the machine itself (a hardware profile may omit cpu_features)")
    missing = [f for f in candidate.cpu_features if f not in hw.cpu_features]
    if not missing:
        return ok(f"{e.image} needs {needed}: this CPU has them")
    remedy, source = kb_remedy("illegal-instruction", "use an image built with -DGGML_NATIVE=OFF")
    return fail(f"{e.image} is built for {needed}, but this CPU lacks {', '.join(missing)}: it would die with "
                "SIGILL (exit code 132) at start", remedy, missing=missing, source=source)


def require_outcome(e: EnginePlan, candidate: Candidate | None, image: ImageInfo | None,
                    hw: Hardware) -> Outcome:
    """The image's NVIDIA_REQUIRE_CUDA (from the pulled image, else the catalogue) against the driver."""
    from aima.catalog.require import disable_require, evaluate_image

    if image is not None:
        env, source = list(image.env), "image"
    elif candidate is not None and candidate.require_cuda:
        env, source = [f"NVIDIA_REQUIRE_CUDA={candidate.require_cuda}"], "catalogue"
    elif candidate is not None and candidate.cuda:
        env, source = [f"CUDA_VERSION={candidate.cuda}"], "catalogue"
    else:
        return ok("the catalogue declares no CUDA requirement; checked from the image's environment once it is pulled")
    driver_cuda = hw.cuda_driver_version
    texts = []
    for gpu in _gpus_of(e, hw):
        try:
            verdict = evaluate_image(env, driver_cuda=driver_cuda, driver_version=hw.driver_version,
                                     brand=gpu.brand, arch=gpu.compute_capability)
        except ValueError as exc:
            return fail(f"the {source}'s CUDA requirement cannot be read: {exc}",
                        "fix the image's NVIDIA_REQUIRE_CUDA (or the catalogue's require_cuda)", source=source)
        if not verdict.ok:
            condition = verdict.reason.split("condition: ", 1)[-1].split(" ", 1)[0]
            remedy, sources = kb_remedy("nvidia-require-cuda-unsatisfied", "upgrade the driver or use an older-CUDA "
                                        "image", condition=condition)
            return fail(f"GPU {gpu.index}: {verdict.reason}: the NVIDIA runtime will refuse to start it", remedy,
                        source=source, signature="nvidia-require-cuda-unsatisfied", sources=sources)
        texts.append(verdict.reason)
    summary = f"from the {source}: {texts[0] if texts else 'no GPU to check against'}"
    if disable_require(env) or any("forward compatibility" in t for t in texts):
        return warn(summary, "prefer an image whose CUDA the driver supports natively (upgrade the driver, or an "
                    "older-CUDA tag)", source=source)
    return ok(summary, source=source)


def archs_outcome(e: EnginePlan, candidate: Candidate | None, inspected: tuple[str, str] | None,
                  hw: Hardware) -> Outcome:
    """The image's CUDA code against the GPU; warn when the catalogue and the inspected binaries disagree (#8)."""
    from aima.catalog.cuda import check_code, describe_targets, parse_targets

    declared = candidate.archs if candidate else None
    found, found_source = inspected if inspected else (None, "catalogue")
    used, source = (found, found_source) if found else (declared, "catalogue")
    if not used:
        return warn("nobody says which CUDA archs this image carries, so aima cannot tell whether it runs on this GPU",
                    f"`aima inspect {e.image}` reads them out of the image (after `docker pull`)")
    try:
        targets = parse_targets(used)
        declared_targets = parse_targets(declared) if declared and found else None
        disagree = declared_targets is not None and set(declared_targets) != set(targets)
    except ValueError as exc:
        return fail(f"the {source} arch list cannot be read: {exc}", "fix `archs` of this candidate in images.yaml")
    details: dict[str, Any] = {"archs": describe_targets(targets), "archs_source": source,
                               "catalogue": declared, "inspected": found}
    verdicts = [(g, check_code(targets, g.compute_capability)) for g in _gpus_of(e, hw)]
    bad = next(((g, v) for g, v in verdicts if not v.ok), None)
    if bad:
        remedy, sources = kb_remedy("cuda-no-kernel-image", "use an image built for this GPU")
        return fail(f"GPU {bad[0].index} ({source}): {bad[1].reason}: expect 'no kernel image is available'", remedy,
                    sources=sources, **details)
    jit = next(((g, v) for g, v in verdicts if v.jit), None)
    if jit and candidate is not None and not candidate.ptx_jit:
        # Seed 000: ggml picks kernels by the real GPU but JIT code sees the PTX's arch, and traps.
        arch = f"{jit[1].matched.major}{jit[1].matched.minor}0" if jit[1].matched else "?"
        remedy, sources = kb_remedy("ggml-no-device-code-for-arch", "use an image built for this GPU", arch=arch)
        return fail(f"GPU {jit[0].index} ({source}): only PTX fits, and this image's kernels trap when JIT-compiled: "
                    f"expect 'no device code compatible with CUDA arch {arch}'. {jit[1].reason}", remedy,
                    sources=sources, **details)
    summary = "; ".join(f"GPU {g.index}: {v.reason}" for g, v in verdicts) or "no GPU to check against"
    if disagree and declared_targets is not None:
        return warn(f"the catalogue says {describe_targets(declared_targets)} but the image's binaries carry "
                    f"{describe_targets(targets)} ({source}); the plan uses the binaries. {summary}",
                    f"correct `archs` of candidate {e.candidate} in images.yaml (`aima inspect {e.image}`)", **details)
    if any(v.jit for _, v in verdicts):
        return warn(f"({source}) {summary}", "expect a slow first start; an image with SASS for this GPU avoids it",
                    **details)
    return ok(f"({source}) {summary}", **details)


def port_outcome(e: EnginePlan, binding: PortBinding, stack: str, error: str | None,
                 containers: list[Container] | None,
                 local: bool) -> Outcome:
    """Can the engine's host port be bound? A port held by aima's own container for this engine is fine."""
    from aima.launch.reach import port_in_use

    addr = f"{binding.host_ip}:{binding.host_port}"
    if not local:
        raise NotChecked(f"Docker runs on another machine, so {addr} is bound there, not here")
    if error is None:
        return ok(f"{addr} is free", port=binding.host_port)
    holder = next((c for c in containers or () if c.state == "running"
                   and binding.host_port in c.host_ports), None)
    if holder is not None:
        labels = holder.labels
        if labels.get(LABEL_ENGINE) == e.engine and labels.get(LABEL_STACK) == stack:
            return ok(f"{addr} is held by aima's own {e.engine} container {holder.name}", port=binding.host_port,
                      container=holder.name)
        return fail(f"{addr} is held by container {holder.name} (stack {labels.get(LABEL_STACK, '?')}, engine "
                    f"{labels.get(LABEL_ENGINE, '?')})", f"stop it (`docker rm -f {holder.name}`, or `aima down` for "
                    f"its stack) or give {e.engine} another port in the stack file", port=binding.host_port,
                    container=holder.name)
    if not port_in_use(error):
        return fail(f"cannot bind {addr}: {error}", "publish on an address this machine has (the stack's port, or "
                    "`--expose`)", port=binding.host_port)
    remedy, sources = kb_remedy("port-in-use", "stop the program that holds it or choose another port")
    return fail(f"{addr} is in use by another program", remedy.replace("PORT", str(binding.host_port)),
                port=binding.host_port, sources=sources)


def model_outcome(e: EnginePlan, path: str, size: int | None) -> Outcome:
    """Is the model file (or folder) there, and complete?"""
    model = cast("ModelChoice", e.model)  # only called for an engine with a model file (model_path)
    details = {"path": path, "model": model.name, "expected_mib": model.size_mib}
    if size is None:
        return fail(f"model {model.name} is missing: no {path}",
                    f"download {model.name} ({model.file}, about {model.size_mib} MiB) into {Path(path).parent}, or "
                    f"set models_dir for {e.engine} in the stack file to where it is", **details)
    details["size_mib"] = size // MIB
    if model.size_mib and size < _TRUNCATED * model.size_mib * MIB:
        return warn(f"{path} has {size // MIB} MiB but {model.name} is about {model.size_mib} MiB: an interrupted "
                    f"download?", "download it again", **details)
    return ok(f"{path} ({size // MIB} MiB)", **details)


def source_model_outcome(e: EnginePlan, hub: Path, deep: bool, token: bool | None = None) -> Outcome:
    """A downloadable model in the hub cache: every file present, of its size, (deep) of its SHA-256; gated: token."""
    from aima.models.check import file_states
    from aima.models.hub import settings_from_env

    # only called for an engine whose model has a hub source (engine_checks)
    model = cast("ModelChoice", e.model)
    source = cast("ModelSource", model.source)
    states = file_states(source, hub, deep)
    bad = [s for s in states if s.state != "ok"]
    details = {"source": f"{source.repo}@{source.revision}", "hub": str(hub), "model": model.name,
               "files": [{"path": s.path, "state": s.state, "size": s.size, "expected": s.expected} for s in states]}
    has_token = settings_from_env().has_token if token is None else token
    if bad:
        worst = bad[0]
        what = {"missing": "is not downloaded", "partial": "was interrupted", "truncated": "is truncated",
                "corrupt": "fails its SHA-256 check"}[worst.state]
        summary = (f"model {model.name}: {worst.path} {what}" + (f" ({worst.detail})" if worst.detail else "")
                   + (f"; {len(bad) - 1} more file(s) not ready" if len(bad) > 1 else ""))
        remedy = f"`aima pull {e.engine}` downloads it into {hub} (resuming what is there)"
        if worst.state == "corrupt":
            remedy = f"delete {worst.detail.rsplit('blob ', 1)[-1]}, then `aima pull {e.engine}`"
        if source.gated and not has_token:
            remedy += f"; {source.repo} is gated: accept its terms on the hub and set HF_TOKEN first"
        return fail(summary, remedy, **details)
    size = sum(s.size or 0 for s in states)
    note = " (gated; no token needed while the files are here)" if source.gated and not has_token else ""
    checked = "size and SHA-256" if deep else "size"
    return ok(f"{model.name}: {len(states)} file(s), {size // MIB} MiB in {hub} ({checked} checked){note}", **details)
