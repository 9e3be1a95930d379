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
    from aima.paths import state_home

    return state_home(environ) / "aima" / "stacks" / stack / "verify.json"


def save(stack: str, result: dict[str, Any], environ: Mapping[str, str] | None = None) -> Path | None:
    """Write the result; None (and nothing written, with a warning) when the state folder cannot be written."""
    from aima.errors import AimaError
    from aima.paths import warn_once

    try:
        path = result_path(stack, environ)
    except AimaError as exc:
        warn_once(f"{exc}; the verify result is not kept")
        return None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps({"stack": stack, **result}, indent=1))
        temporary.replace(path)
    except OSError as exc:
        # A read-only home must not fail `up`; status then says "never verified".
        warn_once(f"cannot keep the verify result in {path.parent} ({exc.strerror or exc}): `aima status` will not "
                  "show it (set XDG_STATE_HOME to a writable absolute path)")
        return None
    return path


def load(stack: str, environ: Mapping[str, str] | None = None) -> dict[str, Any] | None:
    """The stack's last verify result, or None when there is none (or it cannot be read)."""
    from aima.errors import AimaError

    try:
        data = json.loads(result_path(stack, environ).read_text())
    except (OSError, ValueError, AimaError):  # AimaError: no usable home folder, so nothing was kept there
        return None
    return data if isinstance(data, dict) else None


def forget(stack: str, environ: Mapping[str, str] | None = None) -> None:
    """Remove the stack's result (after `down`)."""
    from aima.errors import AimaError

    try:
        path = result_path(stack, environ)
        path.unlink()
        path.parent.rmdir()
    except (OSError, AimaError):
        pass
