"""host.files: the folders `up` writes (aima.paths) can be written, before `up` finds out."""

from __future__ import annotations

import os
from collections.abc import Mapping

from aima.diagnose.checks import Outcome, fail, ok, warn
from aima.errors import AimaError


def files_outcome(environ: Mapping[str, str] | None = None) -> Outcome:
    """The ownership record's folder must be writable (else `up` refuses); the caches and the lock folder only warn."""
    from aima import paths

    env = os.environ if environ is None else environ
    try:
        state = paths.state_home(env) / "aima"
        cache = paths.cache_home(env) / "aima"
    except AimaError as exc:
        return fail(str(exc), exc.hint)
    locks = paths.runtime_dir(env)
    details = {"state": str(state), "cache": str(cache), "locks": str(locks)}
    problem = paths.unwritable(state)
    if problem is not None:
        return fail(f"aima cannot record what `up` creates in {state}: {problem}; `up` will refuse to start anything",
                    "set XDG_STATE_HOME to a writable absolute path (or fix the home folder)", **details)
    notes = [f"caches in {cache}: {why}" for why in [paths.unwritable(cache)] if why]
    notes += [f"stack locks in {locks}: {why}" for why in [paths.unwritable(locks)] if why]
    if notes:
        return warn("; ".join(notes), "set XDG_CACHE_HOME / XDG_RUNTIME_DIR to writable absolute paths", **details)
    return ok(f"state in {state}, caches in {cache}, stack locks in {locks}", **details)
