"""The last verify result of a stack, kept with it so that `aima status` shows it and when it ran.

One JSON file per stack: ``$XDG_STATE_HOME/aima/stacks/<stack>/verify.json`` (else ``~/.local/state/...``),
written atomically; `aima down` removes it with the stack.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def result_path(stack: str, environ: Mapping[str, str] | None = None) -> Path:
    """Where the stack's last verify result lives."""
    environ = os.environ if environ is None else environ
    base = Path(environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return base / "aima" / "stacks" / stack / "verify.json"


def save(stack: str, result: dict[str, Any], environ: Mapping[str, str] | None = None) -> Path | None:
    """Write the result; None (and nothing written) when the state folder cannot be written."""
    path = result_path(stack, environ)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps({"stack": stack, **result}, indent=1))
        temporary.replace(path)
    except OSError:
        return None  # a read-only home must not fail `up`; status then says "never verified"
    return path


def load(stack: str, environ: Mapping[str, str] | None = None) -> dict[str, Any] | None:
    """The stack's last verify result, or None when there is none (or it cannot be read)."""
    try:
        data = json.loads(result_path(stack, environ).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def forget(stack: str, environ: Mapping[str, str] | None = None) -> None:
    """Remove the stack's result (after `down`)."""
    path = result_path(stack, environ)
    try:
        path.unlink()
        path.parent.rmdir()
    except OSError:
        pass
