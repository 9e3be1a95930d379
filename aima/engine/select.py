"""Which container engine aima talks to, and why: a pure decision on the environment and what answers.

Order: ``--engine`` (the global option), else ``AIMA_ENGINE``, else the stack file's ``engine:``, else
``DOCKER_HOST`` (Docker), else ``CONTAINER_HOST`` (Podman), else a Docker daemon answering on its default socket,
else Podman rootful, else Podman rootless.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from aima.errors import AimaError

ENGINES = ("docker", "podman")
DOCKER_SOCKET = "unix:///var/run/docker.sock"


@dataclass(frozen=True)
class Choice:
    """The engine, where it listens, and the reason in words (doctor prints it)."""

    engine: str  # docker | podman
    url: str
    why: str


def _podman_sockets(env: Mapping[str, str]) -> list[tuple[str, str]]:
    from aima.engine.podman_engine import ROOTFUL_SOCKET, rootless_socket

    return [(f"unix://{ROOTFUL_SOCKET}", "rootful Podman answers"),
            (f"unix://{rootless_socket(env)}", "rootless Podman answers")]


def requested(environ: Mapping[str, str] | None = None, explicit: str | None = None,
              configured: tuple[str, str] | None = None) -> tuple[str, str] | None:
    """The engine the user named, and where: ``--engine``, else ``AIMA_ENGINE``, else the stack file's ``engine:``
    (``configured`` is its value and file:line); None when nobody named one. AimaError for a name that is no engine."""
    env = os.environ if environ is None else environ
    if explicit is not None:
        wanted, source = explicit.strip().lower(), f"--engine {explicit}"
    elif env.get("AIMA_ENGINE", "").strip():
        wanted, source = env["AIMA_ENGINE"].strip().lower(), f"AIMA_ENGINE={env['AIMA_ENGINE'].strip()}"
    elif configured is not None:
        wanted, source = configured[0], f"engine: {configured[0]} in stack file {configured[1]}"
    else:
        return None
    if wanted not in ENGINES:
        raise AimaError(f"{source}: not a container engine aima knows", hint="use docker or podman", exit_code=2)
    return wanted, source


def choose(environ: Mapping[str, str] | None = None, answers: Callable[[str], bool] | None = None,
           explicit: str | None = None, configured: tuple[str, str] | None = None) -> Choice:
    """The engine to use; AimaError naming what was tried when none is found or the choice is not an engine.

    ``explicit`` is ``--engine``; ``configured`` the stack file's ``engine:`` as (value, "file:line")."""
    env = os.environ if environ is None else environ
    answers = answers or _answers
    named = requested(env, explicit, configured)
    if named is not None and named[0] == "docker":
        return Choice("docker", env.get("DOCKER_HOST") or DOCKER_SOCKET, named[1])
    if named is not None:
        source = named[1]
        if env.get("CONTAINER_HOST"):
            return Choice("podman", env["CONTAINER_HOST"], f"{source}, CONTAINER_HOST")
        for url, _ in _podman_sockets(env):
            if answers(url):
                return Choice("podman", url, f"{source}, socket {url}")
        return Choice("podman", _podman_sockets(env)[-1 if os.getuid() else 0][0], source)
    if env.get("DOCKER_HOST"):
        return Choice("docker", env["DOCKER_HOST"], "DOCKER_HOST is set")
    if env.get("CONTAINER_HOST"):
        return Choice("podman", env["CONTAINER_HOST"], "CONTAINER_HOST is set")
    if answers(DOCKER_SOCKET):
        return Choice("docker", DOCKER_SOCKET, "Docker answers on its default socket")
    for url, why in _podman_sockets(env):
        if answers(url):
            return Choice("podman", url, why)
    # Nothing answers: Docker, whose connect error says how to start it.
    return Choice("docker", DOCKER_SOCKET, "no engine answers; Docker is the default")


def _answers(url: str) -> bool:
    """True when something accepts a connection on a unix:// socket (no request is sent)."""
    import socket

    if not url.startswith("unix://"):
        return False
    path = url[len("unix://"):]
    if not os.path.exists(path):
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        try:
            sock.connect(path)
        except OSError:
            return False
    return True
