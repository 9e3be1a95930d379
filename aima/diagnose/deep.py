"""`aima doctor --deep`: run each resolved GPU image on the GPU for a moment, so failures show before `aima up`.

Two runs per GPU engine. ``gpu-run``: `nvidia-smi -L` inside the image with a GPU request, which proves that
Docker, the NVIDIA runtime and the driver give the container a GPU and that the image's NVIDIA_REQUIRE_CUDA
is met. ``trial``: the engine itself, as `up` would start it (unnamed, port on a random loopback port), watched
with `up`'s own wait (aima.launch.wait) until it is healthy, exits, prints a known fatal line (no kernel image,
ptxas fatal, ...) or the time is up.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from aima.diagnose.check_containers import diagnosis_outcome
from aima.diagnose.checks import Check, NotChecked, Outcome, fail, ok, warn

if TYPE_CHECKING:
    from aima.diagnose.doctor import Facts
    from aima.engine.model import ContainerEngine, ContainerSpec, RunResult
    from aima.launch.wait import Outcome as WaitOutcome
    from aima.plan_types import EnginePlan

GPU_LIST = ["nvidia-smi", "-L"]
_NOT_INJECTED = ("executable file not found", "no such file or directory")


def deep_checks(facts: Facts, clock: Callable[[], float] = time.monotonic) -> Iterator[Check]:
    """engines.deep when there is nothing to run, else engine.E.gpu-run and engine.E.trial per GPU engine."""
    if facts.request.hardware is not None:
        yield Check("engines.deep", "engines", lambda: warn(
            f"--deep skipped: it runs images on this machine's GPUs, and doctor checks against profile "
            f"{facts.request.hardware}", "run `aima doctor --deep` without --hardware"))
        return
    hw = facts.hardware()
    if not hw.gpus:
        why = hw.notes[0] if hw.notes else "NVML found no GPU"
        yield Check("engines.deep", "engines", lambda: warn(
            f"--deep skipped: this machine has no NVIDIA GPU ({why}), so there is nothing to run an image on",
            "run it on the machine with the GPU; here every engine runs on the CPU"))
        return
    plan = facts.plan()
    gpu_engines = [e for e in plan.engines if e.gpu]
    if not gpu_engines:
        yield Check("engines.deep", "engines", lambda: ok("--deep: no engine of the plan uses the GPU; nothing to run"))
        return
    for e in gpu_engines:
        yield Check(f"engine.{e.engine}.gpu-run", "engines", lambda e=e: _gpu_run(facts, e))
        yield Check(f"engine.{e.engine}.trial", "engines", lambda e=e: _trial(facts, e, clock))


def _pulled(facts: Facts, e: EnginePlan) -> ContainerEngine:
    docker = facts.docker_or_skip()
    if facts.image(e.image) is None:
        raise NotChecked(f"{e.image} is not pulled, so --deep cannot run it", f"`docker pull {e.image}` first")
    return docker


def _gpu_run(facts: Facts, e: EnginePlan) -> Outcome:
    from aima.engine.labels import LABEL_DOCTOR
    from aima.engine.model import ContainerSpec

    docker = _pulled(facts, e)
    # NVIDIA_DRIVER_CAPABILITIES: utility mounts nvidia-smi, compute the CUDA libraries (the toolkit's switch).
    spec = ContainerSpec(name="", engine=e.engine, image=e.image, labels={LABEL_DOCTOR: "probe"},
                         env={"NVIDIA_DRIVER_CAPABILITIES": "compute,utility"}, command=tuple(GPU_LIST[1:]),
                         entrypoint=tuple(GPU_LIST[:1]), ports=(), mounts=(), devices=e.devices, gpu=True,
                         network="none")
    result = docker.run(spec, facts.request.deep_timeout_s)
    return gpu_run_outcome(e, result, facts.request.deep_timeout_s)


def start_trial(docker: ContainerEngine, spec: ContainerSpec) -> tuple[str, int | None, str | None]:
    """Start an engine's container spec briefly: (container id, loopback host port, the engine's refusal or None)."""
    import dataclasses

    from aima.engine.labels import LABEL_DOCTOR
    from aima.engine.model import ContainerRefused
    from aima.plan_types import PortBinding

    # Exactly what `up` creates (GPU request, limits, mounts, command), but unnamed, off the stack's network,
    # on a random loopback port and without aima.stack labels, so it never meets the stack's own containers.
    port = spec.ports[0].container_port if spec.ports else None
    trial = dataclasses.replace(spec, name="", network="", labels={LABEL_DOCTOR: "trial"},
                                ports=(PortBinding("127.0.0.1", 0, port),) if port else ())
    try:
        container_id = docker.create(trial)
    except ContainerRefused as exc:
        return "", None, exc.text
    try:
        docker.start(container_id)
    except ContainerRefused as exc:
        return container_id, None, exc.text
    found = docker.inspect(container_id)
    bound = next((p.host_port for p in found.ports if p.container_port == port), None) if found else None
    return container_id, bound, None


def _trial(facts: Facts, e: EnginePlan, clock: Callable[[], float]) -> Outcome:
    import threading

    from aima.engine.spec import container_spec
    from aima.knowledge import load_knowledge
    from aima.launch.logwatch import LogWatcher
    from aima.launch.reach import HttpProbe, ProbeResult
    from aima.launch.wait import Waiting, wait_for_engine

    docker = _pulled(facts, e)
    timeout = facts.request.deep_timeout_s
    deadline = clock() + timeout
    container_id, host_port, error = start_trial(docker, container_spec(e, facts.plan()))
    try:
        if error is not None:
            return start_error_outcome(e, error)
        # The same wait as `aima up`: health probe, log watcher that stops at the first fatal line, exit.
        engine = docker
        watcher = LogWatcher(load_knowledge(), e.engine)
        watcher.follow(engine, container_id)
        probe = (HttpProbe(f"http://127.0.0.1:{host_port}{e.health.path}", timeout_s=1.0) if host_port
                 else (lambda: ProbeResult(False, "no published port")))
        try:
            waited = wait_for_engine(engine, Waiting(container_id, probe, watcher, deadline, e.health.interval_s,
                                                     f"--deep-timeout {timeout:g} s"), clock, threading.Event())
        finally:
            watcher.stop()
            if hasattr(probe, "close"):
                probe.close()
        return trial_outcome(e, waited)
    finally:
        if container_id:
            docker.remove(container_id)


def trial_outcome(e: EnginePlan, waited: WaitOutcome) -> Outcome:
    """The launcher's wait outcome for a --deep trial, as a check outcome."""
    from aima.launch.wait import CRASHED, EXITED, READY, TIMEOUT

    what = f"a {waited.waited_s:.0f} s trial of {e.image}"
    if waited.kind == READY:
        return ok(f"{e.image} came up healthy on the GPU in {waited.waited_s:.0f} s ({waited.detail})")
    if waited.diagnosis is not None and (waited.kind in (CRASHED, EXITED) or waited.diagnosis.fatal):
        outcome = diagnosis_outcome(waited.diagnosis, what)
        if waited.kind == EXITED:
            outcome.details["exit_code"] = waited.exit_code
        return outcome
    tail = " | ".join(waited.tail[-3:]) or "no output"
    if waited.kind == TIMEOUT:
        return warn(f"{e.image} ran {waited.waited_s:.0f} s on the GPU with no known failure but was not healthy "
                    f"yet: {waited.detail}", "large models load for minutes: `aima up` waits longer; raise "
                    "--deep-timeout to watch longer here", tail=list(waited.tail))
    return fail(f"{what}: {waited.detail} ({tail})", f"`docker run --rm --gpus all {e.image}` shows the whole "
                "output; no known failure line in it", exit_code=waited.exit_code, tail=list(waited.tail))


def start_error_outcome(e: EnginePlan, error: str) -> Outcome:
    """Docker refused to create or start the engine: the knowledge base's diagnosis when it knows the message."""
    from aima.knowledge import load_knowledge

    d = load_knowledge().match_line(error, e.engine)
    if d is not None:
        return diagnosis_outcome(d, f"Docker's answer when starting {e.image}")
    if "bind source path does not exist" in error:
        return fail(f"Docker cannot mount the model folder: {error.strip()}",
                    f"put {e.model.name if e.model else 'the model'} there, or set models_dir for {e.engine} in the "
                    f"stack file")
    return fail(f"Docker could not start {e.image}: {error.strip()}", f"`aima logs {e.engine}` after `aima up` shows "
                "the same; fix what Docker names")


def gpu_run_outcome(e: EnginePlan, result: RunResult, timeout_s: float) -> Outcome:
    """What `nvidia-smi -L` in the image says about the GPU the container got."""
    from aima.knowledge import load_knowledge

    command = " ".join(GPU_LIST)
    if result.start_error is not None:
        if any(text in result.start_error for text in _NOT_INJECTED) and "nvidia-smi" in result.start_error:
            return fail(f"the container got a GPU request but no nvidia-smi: the NVIDIA runtime did not inject the "
                        f"driver's tools ({result.start_error.strip()[:200]})",
                        "check the NVIDIA Container Toolkit (`nvidia-ctk runtime configure --runtime=docker`, restart "
                        "Docker); `docker run --rm --gpus all ubuntu nvidia-smi` must list the GPU")
        return start_error_outcome(e, result.start_error)
    if result.timed_out:
        return fail(f"`{command}` did not finish within {timeout_s:g} s in {e.image}",
                    "`nvidia-smi` on the host should answer at once; a hanging driver needs a reboot")
    gpus = [line.strip() for line in result.output.splitlines() if line.strip().startswith("GPU ")]
    if result.exit_code == 0 and gpus:
        return ok(f"the container sees {'; '.join(gpus)}", gpus=gpus)
    d = load_knowledge().first(result.output.splitlines(), e.engine)
    if d is not None:
        return diagnosis_outcome(d, f"`{command}` in {e.image}")
    tail = " | ".join(result.output.strip().splitlines()[-3:]) or "no output"
    return fail(f"`{command}` in {e.image} exited with code {result.exit_code} and listed no GPU ({tail})",
                "`docker run --rm --gpus all IMAGE nvidia-smi` should list the GPU; check the driver and the toolkit")
