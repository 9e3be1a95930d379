"""Run the real CLI on a pseudo-terminal, as a user at a terminal would, and read what it drew."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run_on_terminal(*args: str, env: dict[str, str] | None = None, timeout_s: float = 90) -> tuple[int, str]:
    """`python -m aima ARGS` with its stdout and stderr on a pty (COLUMNS 160, TERM xterm): (exit code, output)."""
    main, child = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "aima", *map(str, args)], cwd=REPO, stdin=subprocess.DEVNULL,
                               stdout=child, stderr=child,
                               env={**os.environ, "COLUMNS": "160", "TERM": "xterm", **(env or {})})
    os.close(child)
    seen, deadline = b"", time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            if select.select([main], [], [], 0.5)[0]:
                try:
                    chunk = os.read(main, 65536)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                seen += chunk
            elif process.poll() is not None:
                break
        code = process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(main)
    return code, seen.decode(errors="replace")
