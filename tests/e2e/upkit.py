"""Helpers for the `aima up` end-to-end tests: run the real CLI, write test catalogues and stacks with free ports."""

from __future__ import annotations

import json
import os
import socket
import string
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.harness.cli import run_cli

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).resolve().parents[2]
PROFILE_2X3090 = str(REPO / "profiles" / "2x-rtx-3090.yaml")


@dataclass(frozen=True)
class Result:
    """One CLI run: exit status, stdout, stderr."""

    rc: int
    out: str
    err: str

    def json(self) -> dict:
        """stdout parsed as JSON."""
        return json.loads(self.out)


def aima(*args: str) -> Result:
    """Run the real CLI in this process (aima.cli.main, the CLI's own error boundary) and capture its output."""
    return Result(*run_cli(*args))


def aima_process(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start `python -m aima ...` as a child process (for Ctrl-C and lock tests)."""
    command = [sys.executable, "-m", "aima", *map(str, args)]
    return subprocess.Popen(command, cwd=REPO, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def free_port() -> int:
    """A loopback TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def catalog(tmp_path: Path, template: str, image: str) -> Path:
    """A test catalogue from tests/e2e/data/<template> with $image filled in."""
    text = string.Template((DATA / template).read_text()).substitute(image=image)
    path = tmp_path / template
    path.write_text(text)
    return path


def stack(tmp_path: Path, name: str, engines: dict[str, dict] | None = None, file: str = "stack.yaml") -> Path:
    """A stack file: every engine on a free loopback port, plus per-engine settings (env, enabled, candidate...)."""
    settings = {e: {"port": free_port(), **(engines or {}).get(e, {})} for e in ("asr", "llm", "tts")}
    path = tmp_path / file
    path.write_text(yaml.safe_dump({"name": name, "engines": settings}, sort_keys=False))
    return path


def containers(client, stack_name: str) -> dict[str, object]:
    """engine -> container of a stack, as the test's own Docker client sees them."""
    found = client.containers.list(all=True, filters={"label": f"aima.stack={stack_name}"})
    return {c.labels["aima.engine"]: c for c in found}
