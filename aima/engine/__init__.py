"""The only code that speaks to a container engine: the adapter, its error translation, the labels.

- ``model``: ContainerSpec (what to create), Container (what exists), EngineInfo, ImageInfo, RunResult and the
  ``ContainerEngine`` Protocol that every adapter implements and the unit tests fake.
- ``spec``: an engine plan -> the ContainerSpec `up` creates, and the same spec as `docker run` argv.
- ``labels``: the aima.* labels and the health-URL rule built from them.
- ``errors``: the engine's errors as AimaErrors that say what to do.
- ``docker_engine``: the Protocol on the docker SDK (the one module that imports ``docker``).

Nothing here is imported by ``aima --help``; adapters import their libraries inside functions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aima.engine.model import ContainerEngine


def connect(environ: Mapping[str, str] | None = None, timeout: int = 60) -> ContainerEngine:
    """The container engine this machine uses, connected; AimaError saying why when none answers."""
    from aima.engine.docker_engine import connect as connect_docker

    return connect_docker(environ, timeout=timeout)
