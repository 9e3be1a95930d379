"""Ownership: aima removes or replaces only containers and networks it can prove it created.

Labels can be copied (an exported Compose file run by hand, another tool, a user's experiment), so a label
alone proves nothing. Proof is the object's id, which Docker assigns and nobody can copy: every container and
network `up` creates is recorded at creation, per Docker daemon and stack, in
``$XDG_STATE_HOME/aima/owned.json`` (default ``~/.local/state/aima/owned.json``). A container or network is
aima's when it carries the stack's labels *and* its id is in that record. Anything else that looks like the
stack's is a *look-alike*: `up` and `down` report it and leave it alone.

The id exists only once the object does, so a run killed (SIGKILL, power loss) between the create and the
record would leave aima's own object unproven and the next `up` stuck on it. So before creating, `up` records
a *claim*: a random token, which the object then carries as a label (aima.claim). An object whose claim is
recorded is aima's; the next run that sees it records its id and drops the claim. A token is unknown before
aima records it, and a recorded one proves exactly one object (two objects carrying it prove nothing).
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Protocol, TypeVar

from aima.engine.labels import CLAIM, LABEL_CLAIM
from aima.errors import AimaError


class _HasId(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def labels(self) -> Mapping[str, str]: ...


_T = TypeVar("_T", bound=_HasId)


def state_dir(environ: Mapping[str, str] | None = None) -> Path:
    """$XDG_STATE_HOME/aima, else ~/.local/state/aima; a relative XDG_STATE_HOME is ignored (aima.paths)."""
    from aima.paths import state_home

    return state_home(environ) / "aima"


def owners_for(docker) -> Owners:
    """The record for a connected engine, keyed by the daemon's own ID (its URL when it has none)."""
    return Owners(docker.info().daemon_id or docker.url)


class Owners:
    """The record of what aima created, for one daemon: stack -> ids of its containers and networks."""

    def __init__(self, daemon: str, path: Path | None = None) -> None:
        self.daemon = daemon
        self.path = path or state_dir() / "owned.json"
        self._lock = threading.Lock()

    # --- reading -----------------------------------------------------------------------------------------------

    def _load(self) -> dict:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            return {}  # unreadable or damaged: nothing is proven, so nothing is removed
        return data if isinstance(data, dict) else {}

    def owned(self, stack: str) -> set[str]:
        """Ids of the containers and networks aima created for this stack on this daemon."""
        entry = self._load().get(self.daemon, {}).get(stack, [])
        return {str(i) for i in entry} if isinstance(entry, list) else set()

    def split(self, stack: str, objects: Iterable[_T]) -> tuple[list[_T], list[_T]]:
        """(ours, look-alikes) among containers that carry the stack's labels (objects with ``.id``, ``.labels``).

        An object proven by its claim alone (its run was killed before recording the id) gets its id recorded."""
        mine = self.owned(stack)
        objects = list(objects)
        tokens = [obj.labels.get(LABEL_CLAIM) for obj in objects]
        ours: list[_T] = []
        others: list[_T] = []
        claimed: dict[str, str] = {}  # id -> claim, for objects proven by the claim only
        for obj, token in zip(objects, tokens, strict=True):
            if obj.id in mine:
                ours.append(obj)
            elif token and tokens.count(token) == 1 and CLAIM + token in mine:
                ours.append(obj)
                claimed[obj.id] = CLAIM + token
            else:
                others.append(obj)
        if claimed:
            try:
                self._update(stack, lambda ids: (ids | set(claimed)) - set(claimed.values()))
            except AimaError:
                pass  # the claim stays recorded and still proves them next time
        return ours, others

    # --- writing -----------------------------------------------------------------------------------------------

    def claim(self, stack: str) -> str:
        """Record a fresh random token before creating an object that will carry it as its aima.claim label."""
        import secrets

        token = secrets.token_hex(16)
        self._update(stack, lambda ids: ids | {CLAIM + token})
        return token

    def add(self, stack: str, object_id: str, claim: str | None = None) -> None:
        """Record an id aima just created (dropping the claim made for it); AimaError when the record cannot be
        written (say where and why)."""
        self._update(stack, lambda ids: (ids | {object_id}) - ({CLAIM + claim} if claim else set()))

    def drop_claim(self, stack: str, claim: str | None) -> None:
        """Forget a claim whose object was not created (the network existed already, the create failed)."""
        if claim:
            self.forget(stack, [CLAIM + claim])

    def forget(self, stack: str, object_ids: Iterable[str]) -> None:
        """Drop ids of objects that are gone; a failure to write is harmless (a stale id proves nothing)."""
        gone = set(object_ids)
        try:
            self._update(stack, lambda ids: ids - gone)
        except AimaError:
            pass

    def unwritable(self) -> str | None:
        """Why the record cannot be written (checked before anything is created), or None."""
        from aima.paths import unwritable

        problem = unwritable(self.path.parent)
        if problem is not None:
            return (f"aima records what it creates in {self.path}, but {problem}; aima removes only what it "
                    "recorded, so it creates nothing it could not record — set XDG_STATE_HOME to a writable "
                    "absolute path")
        return None

    def _update(self, stack: str, change) -> None:
        with self._lock:
            data = self._load()
            stacks = data.setdefault(self.daemon, {})
            ids = change(set(stacks.get(stack, [])))
            if ids:
                stacks[stack] = sorted(ids)
            else:
                stacks.pop(stack, None)
            if not stacks:
                data.pop(self.daemon, None)
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".owned-", suffix=".json")
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    json.dump(data, handle, indent=1, sort_keys=True)
                os.replace(tmp, self.path)
            except OSError as exc:
                raise AimaError(f"cannot record what aima created in {self.path}: {exc.strerror or exc}",
                                hint="aima removes only what it recorded; make that folder writable or set "
                                     "XDG_STATE_HOME to a writable absolute path") from None


def look_alike_note(stack: str, names: Iterable[str], kind: str = "container") -> str:
    """The words for objects that carry the stack's labels but that aima cannot prove it created."""
    listed = ", ".join(sorted(names))
    return (f"left alone: {kind}(s) {listed} carry stack {stack}'s labels but aima has no record of creating them "
            "(an exported Compose file run by hand, another tool, or another user's aima); remove them with "
            "`docker rm -f` / `docker network rm` if they are yours")
