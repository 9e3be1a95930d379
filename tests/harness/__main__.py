"""Start (or find) the test dockerd and registry for manual use: `python3 -m tests.harness [--stop]`."""

from __future__ import annotations

import sys
import time

from . import HarnessError
from .dockerd import DaemonPaths, ensure_daemon, stop_daemon
from .registry import RegistryPaths, ensure_registry
from .stubs import build_stub


def main(argv: list[str]) -> int:
    """Start the daemon, registry and stub image, print how to reach them; --stop stops the daemon."""
    paths = DaemonPaths.from_env()
    try:
        if "--stop" in argv:
            print("stopped dockerd" if stop_daemon(paths) else "no test dockerd was running")
            return 0
        started = time.monotonic()
        daemon = ensure_daemon(paths)
        registry = ensure_registry(RegistryPaths.from_env())
        client = daemon.client()
        build_stub(client)
        client.close()
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    how = "started" if daemon.started_here else "reused"
    print(f"dockerd {how} (pid {daemon.pid}) in {time.monotonic() - started:.1f}s")
    print(f"export DOCKER_HOST={daemon.base_url}")
    print(f"registry: {registry.host}   stub image: aima-test/stub:latest")
    print(f"stand-in GPU hook log: {daemon.hook_log}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
