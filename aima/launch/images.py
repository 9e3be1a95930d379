"""Images before containers: refuse a local image built for another platform, pull the missing ones in parallel."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Protocol

from aima.engine.model import ContainerEngine, DaemonUnreachable, PullEvents
from aima.errors import AimaError
from aima.hardware.model import Gpu, Hardware
from aima.plan_types import EnginePlan, Plan

if TYPE_CHECKING:
    from aima.catalog.model import Catalog


class PullDisplay(Protocol):
    """Shows pulls as they stream; the command gives a rich one, --json a silent one."""

    def events(self, image: str) -> PullEvents:
        """The callback for one image's streamed status events."""

    def done(self, image: str, ok: bool) -> None:
        """One image finished pulling (ok: it worked)."""


def platform_problem(image: str, image_platform: str, host_platform: str) -> str | None:
    """Why a local image cannot run on this Docker host, or None when its platform matches."""
    if image_platform.split("/")[:2] == host_platform.split("/")[:2]:
        return None
    return f"image {image} is built for {image_platform}, but this Docker host is {host_platform}"


def missing_images(docker: ContainerEngine, images: Iterable[str]) -> list[str]:
    """The images that are not on this machine; AimaError when a present one has the wrong platform."""
    host = docker.info().platform
    missing = []
    for image in dict.fromkeys(images):
        found = docker.image(image)
        if found is None:
            missing.append(image)
            continue
        problem = platform_problem(image, found.platform, host)
        if problem:
            raise AimaError(problem, hint=f"remove it (`docker rmi {image}`) so that aima pulls the {host} build, "
                                          "or pick a candidate that lists this platform")
    return missing


def ensure_images(docker: ContainerEngine, images: Iterable[str], pulls: Callable[[], PullDisplay]) -> list[str]:
    """Make every image present and runnable here, pulling missing ones in parallel; return those pulled."""
    missing = missing_images(docker, images)
    if not missing:
        return []
    display = pulls()  # only now: a progress display costs an import that most runs do not need
    errors: dict[str, AimaError] = {}

    def pull(image: str) -> Callable[[], None]:
        def run() -> None:
            try:
                docker.pull(image, display.events(image))
            except AimaError as exc:
                errors[image] = exc
            finally:
                display.done(image, image not in errors)

        return run

    threads = [threading.Thread(target=pull(image), name=f"aima-pull-{i}", daemon=True)
               for i, image in enumerate(missing)]
    for thread in threads:
        thread.start()
    for thread in threads:
        while thread.is_alive():
            thread.join(0.2)  # short joins keep Ctrl-C deliverable to the main thread
    if errors:
        gone = [e for e in errors.values() if isinstance(e, DaemonUnreachable)]
        if gone:
            raise gone[0]  # not an image's problem: the daemon went away
        first = next(iter(errors.values()))
        if len(errors) == 1:
            raise first
        raise AimaError(f"{len(errors)} images could not be pulled: " + "; ".join(str(e) for e in errors.values()),
                        hint=first.hint)
    missing_images(docker, missing)  # a single-platform image of the wrong platform pulls without complaint
    return missing


def pulled_image_problems(docker: ContainerEngine, targets: Iterable[EnginePlan], hw: Hardware) -> list[str]:
    """Why a pulled GPU image cannot start on the GPUs its engine will see, judged by the image's own Env.

    The catalogue's cuda/require_cuda may be stale (a moving tag, issue #17); the image's NVIDIA_REQUIRE_CUDA and
    CUDA_VERSION are what the NVIDIA runtime checks at start, per visible GPU, so they are checked here first.
    """
    from aima.catalog.require import evaluate_image

    problems = []
    for target in targets:
        if not target.gpu:
            continue
        image = docker.image(target.image)
        if image is None:
            continue
        for gpu in _visible_gpus(target, hw):
            try:
                verdict = evaluate_image(list(image.env), driver_cuda=hw.cuda_driver_version,
                                         driver_version=hw.driver_version, brand=gpu.brand, arch=gpu.compute_capability)
            except ValueError as exc:
                problems.append(f"{target.engine}: the pulled image {target.image} has an unreadable CUDA "
                                f"requirement: {exc}")
                break
            if not verdict.ok:
                problems.append(f"{target.engine}: the pulled image {target.image} cannot start on GPU {gpu.index} "
                                f"({gpu.name}): {verdict.reason}")
                break
    return problems


def _visible_gpus(target: EnginePlan, hw: Hardware) -> list[Gpu]:
    chosen = [g for g in hw.gpus if g.index in getattr(target, "gpus", ()) or str(g.index) in target.devices
              or (g.uuid and g.uuid in target.devices)]
    return chosen or list(hw.gpus)


def check_pulled(docker: ContainerEngine, targets: Iterable[EnginePlan], hw: Hardware) -> None:
    """AimaError before any container is created when a pulled image contradicts the plan (its own Env decides)."""
    problems = pulled_image_problems(docker, targets, hw)
    if problems:
        raise AimaError("; ".join(problems) + " — nothing was created",
                        hint="the image moved since the catalogue was written: `aima catalog verify` shows what "
                             "changed; pin its digest or choose another candidate (--images)")


def image_facts(env: Iterable[str]) -> tuple[str | None, str | None]:
    """(CUDA_VERSION, NVIDIA_REQUIRE_CUDA) from an image's Env lines; None where the image does not set one."""
    values = dict(line.split("=", 1) for line in env if "=" in line)
    return values.get("CUDA_VERSION") or None, values.get("NVIDIA_REQUIRE_CUDA") or None


def with_image_facts(catalog: Catalog, facts: dict[tuple[str, str], tuple[str | None, str | None]]) -> Catalog:
    """The catalogue with each (engine, candidate)'s cuda/require_cuda replaced by what its pulled image says.

    An image without CUDA_VERSION keeps no catalogue cuda (its facts are the image's, not the catalogue's).
    AimaError when an image's CUDA_VERSION cannot be read as a version.
    """
    from dataclasses import replace

    from aima.hardware.model import CudaVersion

    engines = []
    for engine in catalog.engines:
        candidates = []
        for c in engine.candidates:
            if (engine.name, c.id) in facts:
                cuda_text, require = facts[(engine.name, c.id)]
                try:
                    cuda = CudaVersion.parse(".".join(cuda_text.split(".")[:2])) if cuda_text else None
                except ValueError as exc:
                    raise AimaError(f"{engine.name}: the pulled image {c.image} has an unreadable CUDA_VERSION "
                                    f"{cuda_text!r}: {exc} — nothing was created") from exc
                c = replace(c, cuda=cuda, require_cuda=require, pins=())
            candidates.append(c)
        engines.append(replace(engine, candidates=tuple(candidates)))
    return replace(catalog, engines=tuple(engines))


def pull_latest_facts(docker: ContainerEngine, plan: Plan, pulls: Callable[[], PullDisplay],
                      ) -> dict[tuple[str, str], tuple[str | None, str | None]]:
    """`up --latest`: pull the plan's GPU images by their moving tags and read each one's CUDA facts from its Env.

    Returns (engine, candidate) -> (CUDA_VERSION, NVIDIA_REQUIRE_CUDA) for the catalogue to be replanned with, before
    anything is created. Images aima builds or finds locally are left alone (nothing moved under them).
    """
    targets = [e for e in plan.engines if e.gpu and e.obtain == "pull"]
    ensure_images(docker, [t.image for t in targets], pulls)
    facts = {}
    for target in targets:
        image = docker.image(target.image)
        if image is not None:
            facts[(target.engine, target.candidate)] = image_facts(image.env)
    return facts
