"""The only code that speaks to a container engine: the adapter, its error translation, the labels.

- ``model``: ContainerSpec (what to create), Container (what exists), EngineInfo, ImageInfo, RunResult and the
  ``ContainerEngine`` Protocol that every adapter implements and the unit tests fake.
- ``spec``: an engine plan -> the ContainerSpec `up` creates, and the same spec as `docker run` argv.
- ``labels``: the aima.* labels and the health-URL rule built from them.
- ``errors``: the engine's errors as AimaErrors that say what to do.
- ``docker_engine``: the Protocol on the docker SDK (the one module that imports ``docker``).
- ``podman_engine``: the Protocol on Podman's own REST API (libpod) over httpx; GPUs as CDI names.
- ``address``: an engine address parsed, and what answers there (GET /_ping within AIMA_CONNECT_TIMEOUT, 5 s).
- ``select``: which engine (``--engine``, ``AIMA_ENGINE``, the stack's ``engine:``, DOCKER_HOST, CONTAINER_HOST,
  what answers) and why.

Nothing here is imported by ``aima --help``; adapters import their libraries inside functions.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aima.engine.model import ContainerEngine
    from aima.engine.select import Choice


def connect(environ: Mapping[str, str] | None = None, timeout: float | None = None, engine: str | None = None,
            configured: tuple[str, str] | None = None) -> ContainerEngine:
    """The container engine this machine uses (aima.engine.select), connected; AimaError saying why not.

    ``engine`` is the ``--engine`` option; ``configured`` the stack file's ``engine:`` as (value, "file:line");
    ``timeout``: seconds each later call may wait for an answer (default AIMA_ENGINE_TIMEOUT, 60 s)."""
    from aima.engine.select import choose

    return connect_to(choose(environ, explicit=engine, configured=configured), environ, timeout)


def connect_to(choice: Choice, environ: Mapping[str, str] | None = None, timeout: float | None = None
               ) -> ContainerEngine:
    """The adapter for an engine already chosen (doctor reports the choice and then connects)."""
    from aima.engine import address
    from aima.errors import AimaError

    env = dict(os.environ if environ is None else environ)
    if timeout is None:
        timeout = address.call_timeout(env)
    if choice.engine == "podman":
        from aima.engine.podman_engine import connect as connect_podman

        where = address.parse(choice.url, "CONTAINER_HOST")
        if where.scheme != "unix":  # the adapter's httpx transport is a Unix socket; tcp:// would fail as ENOENT
            raise AimaError(f"CONTAINER_HOST={choice.url}: aima speaks to Podman only through a unix:// socket",
                            hint="run aima on the Podman machine, or forward its socket: `ssh -nNT -L "
                                 "/tmp/podman.sock:/run/podman/podman.sock HOST` and CONTAINER_HOST="
                                 "unix:///tmp/podman.sock", exit_code=2)

        # What answers there, in seconds (the adapter's own ping would wait `timeout` on a silent socket).
        address.check(where, min(address.connect_timeout(env), timeout),
                      "Podman")
        return connect_podman(choice.url, timeout)
    from aima.engine.docker_engine import connect as connect_docker

    env["DOCKER_HOST"] = choice.url
    return connect_docker(env, timeout=timeout)
