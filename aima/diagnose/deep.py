"""`aima doctor --deep`: run each resolved GPU image on the GPU for a moment, so failures show before `aima up`.

Two runs per GPU engine. ``gpu-run``: `nvidia-smi -L` inside the image with a GPU request, which proves that
Docker, the NVIDIA runtime and the driver give the container a GPU and that the image's NVIDIA_REQUIRE_CUDA
is met. ``trial``: the engine itself, as `up` would start it (unnamed, port on a random loopback port), watched
until it is healthy, exits, prints a known fatal line (no kernel image, ptxas fatal, ...) or the time is up.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from aima.diagnose.check_containers import diagnosis_outcome
from aima.diagnose.checks import Check, NotChecked, Outcome, fail, ok, warn

GPU_LIST = ["nvidia-smi", "-L"]
_NOT_INJECTED = ("executable file not found", "no such file or directory")
_POLL_S = 0.5


def deep_checks(facts: Any, clock: Callable[[], float] = time.monotonic,
                sleep: Callable[[float], None] = time.sleep) -> Iterator[Check]:
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
        yield Check(f"engine.{e.engine}.trial", "engines", lambda e=e: _trial(facts, e, clock, sleep))


def _pulled(facts: Any, e: Any) -> Any:
    docker = facts.docker_or_skip()
    if facts.image(e.image) is None:
        raise NotChecked(f"{e.image} is not pulled, so --deep cannot run it", f"`docker pull {e.image}` first")
    return docker


def _gpu_run(facts: Any, e: Any) -> Outcome:
    docker = _pulled(facts, e)
    result = docker.run_with_gpu(e.image, GPU_LIST, e.devices, facts.request.deep_timeout_s)
    return gpu_run_outcome(e, result, facts.request.deep_timeout_s)


def _trial(facts: Any, e: Any, clock: Callable[[], float], sleep: Callable[[float], None]) -> Outcome:
    from aima.launch.model import container_spec

    docker = _pulled(facts, e)
    started = clock()
    container_id, host_port, error = docker.start_trial(container_spec(e, facts.plan()))
    try:
        if error is not None:
            return start_error_outcome(e, error)
        return watch_trial(docker, facts.adapters.http_get, e, container_id, host_port,
                           started + facts.request.deep_timeout_s, clock, sleep)
    finally:
        if container_id:
            docker.remove(container_id)


def watch_trial(docker: Any, http_get: Callable[[str, float], tuple[int, str]], e: Any, container_id: str,
                host_port: int | None, deadline: float, clock: Callable[[], float],
                sleep: Callable[[float], None]) -> Outcome:
    """Watch a trial until healthy, exited, a known fatal line, or the deadline."""
    from aima.diagnose.knowledge import load_knowledge

    kb = load_knowledge()
    started = clock()
    url = f"http://127.0.0.1:{host_port}{e.health.path}" if host_port else None
    last_seen = "no answer yet"
    while True:
        lines = docker.log_lines(container_id, 2000)
        found = kb.diagnose(lines, e.engine)
        fatal = next((d for d in found if d.fatal), None)
        if fatal is not None:
            return diagnosis_outcome(fatal, f"a {clock() - started:.0f} s trial of {e.image}")
        state, code = docker.status(container_id)
        if state in ("exited", "dead"):
            tail = " | ".join(lines[-3:]) or "no output"
            return fail(f"{e.image} exited with code {code} within {clock() - started:.0f} s of the trial ({tail})",
                        f"`docker run --rm --gpus all {e.image}` shows the whole output; no known failure line in it",
                        exit_code=code)
        if url is not None:
            try:
                status, body = http_get(url, 1.0)
                last_seen = f"{status} {body.strip()[:80]}"
                if 200 <= status < 300:
                    return ok(f"{e.image} came up healthy on the GPU in {clock() - started:.0f} s ({url})")
            except OSError as exc:
                last_seen = str(exc) or type(exc).__name__
        if clock() >= deadline:
            return warn(f"{e.image} ran {clock() - started:.0f} s on the GPU with no known failure but was not "
                        f"healthy yet (last answer: {last_seen})", "large models load for minutes: `aima up` waits "
                        "longer; raise --deep-timeout to watch longer here")
        sleep(_POLL_S)


def start_error_outcome(e: Any, error: str) -> Outcome:
    """Docker refused to create or start the engine: the knowledge base's diagnosis when it knows the message."""
    from aima.diagnose.knowledge import load_knowledge

    d = load_knowledge().match_line(error, e.engine)
    if d is not None:
        return diagnosis_outcome(d, f"Docker's answer when starting {e.image}")
    if "bind source path does not exist" in error:
        return fail(f"Docker cannot mount the model folder: {error.strip()}",
                    f"put {e.model.name if e.model else 'the model'} there, or set models_dir for {e.engine} in the "
                    f"stack file")
    return fail(f"Docker could not start {e.image}: {error.strip()}", f"`aima logs {e.engine}` after `aima up` shows "
                "the same; fix what Docker names")


def gpu_run_outcome(e: Any, result: Any, timeout_s: float) -> Outcome:
    """What `nvidia-smi -L` in the image says about the GPU the container got."""
    from aima.diagnose.knowledge import load_knowledge

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
