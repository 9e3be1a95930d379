"""Small process and file helpers shared by the test daemon and the test registry."""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def tail(path: Path, lines: int = 30) -> str:
    """Return the last lines of a log file, or why it cannot be read."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(cannot read: {exc})"


def read_pid(pidfile: Path) -> int | None:
    """Return the pid recorded in pidfile, or None when there is none."""
    try:
        return int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None


def alive(pid: int) -> bool:
    """Say whether a process with this pid exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    # A dead child of this process stays a zombie until we exit; it counts as gone.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return True


def runs(pid: int, program: str) -> bool:
    """Say whether pid is alive and runs program (a pid file can outlive a reboot and be reused)."""
    if not alive(pid):
        return False
    try:
        argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
    except OSError:
        return True  # cannot look (another user's process); trust the pid file
    return Path(argv0).name == program


def which(tool: str) -> str | None:
    """Find tool on PATH or in the sbin dirs, which a non-login PATH often lacks."""
    return shutil.which(tool, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")


@contextmanager
def locked(lockfile: Path) -> Iterator[None]:
    """Hold an exclusive lock on lockfile, so concurrent test sessions start things only once."""
    with open(lockfile, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
