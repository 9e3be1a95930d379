"""Images before containers: refuse a local image built for another platform, pull the missing ones in parallel."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Protocol

from aima.engine.model import ContainerEngine, DaemonUnreachable, PullEvents
from aima.errors import AimaError


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
