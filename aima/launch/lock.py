"""One `up` or `down` per stack at a time: an flock'ed file per stack in $XDG_RUNTIME_DIR (or /tmp)."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from aima.errors import AimaError


def lock_dir(environ: Mapping[str, str] | None = None) -> Path:
    """$XDG_RUNTIME_DIR/aima, else /tmp/aima-<uid> (per user, so one user cannot block another; aima.paths)."""
    from aima.paths import runtime_dir

    return runtime_dir(environ)


@contextmanager
def stack_lock(stack: str, command: str = "up", directory: Path | None = None) -> Iterator[Path]:
    """Hold the stack's lock for the block; AimaError at once when another aima process holds it."""
    folder = directory or lock_dir()
    path = folder / f"{stack}.lock"
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise AimaError(f"cannot create the stack lock {path}: {exc.strerror or exc}",
                        hint="set XDG_RUNTIME_DIR to your own writable folder (usually /run/user/<uid>)") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another aima process"
            raise AimaError(f"stack {stack} is busy: {holder} is working on it",
                            hint=f"wait for it to finish, or stop it (Ctrl-C) before `aima {command}` again") from None
        # The file stays (removing it would race with a waiting process); its content only names the holder.
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"`aima {command}` (pid {os.getpid()})".encode(), 0)
        yield path
    finally:
        os.close(fd)  # closing releases the flock
