"""What the cache holds of a model, file by file, for `aima doctor`: presence, size, and (deep) the SHA-256."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from aima.models.cache import RepoCache
from aima.models.source import SHA256, ModelSource


@dataclass(frozen=True)
class FileState:
    """One file's state: ok | missing | partial | truncated | corrupt, with the numbers."""

    path: str
    state: str
    size: int | None = None  # bytes on disk
    expected: int | None = None  # bytes the catalogue says
    detail: str = ""


def file_states(source: ModelSource, hub: Path, deep: bool = False) -> list[FileState]:
    """Each file of the source as the cache holds it; deep: hash every present file against its SHA-256."""
    cache = RepoCache(hub, source.repo)
    commit = cache.commit_of(source.revision)
    out = []
    for f in source.files:
        link = cache.snapshot(commit) / f.path if commit else None
        if link is None or not link.exists():
            partial = cache.partial(f.sha256) if f.sha256 else None
            have = partial.stat().st_size if partial is not None and partial.exists() else 0
            out.append(FileState(f.path, "partial" if have else "missing", have or None, f.size,
                                 f"{have} bytes of an interrupted download" if have else ""))
            continue
        size = link.stat().st_size
        if f.size is not None and size != f.size:
            out.append(FileState(f.path, "truncated", size, f.size, f"{size} of {f.size} bytes"))
            continue
        want = f.sha256 or (link.resolve().name if SHA256.match(link.resolve().name) else None)
        if deep and want:
            digest = hashlib.sha256()
            with open(link, "rb") as handle:
                while chunk := handle.read(1 << 22):
                    digest.update(chunk)
            if digest.hexdigest() != want:
                out.append(FileState(f.path, "corrupt", size, f.size,
                                     f"SHA-256 {digest.hexdigest()}, expected {want}; blob {link.resolve()}"))
                continue
        out.append(FileState(f.path, "ok", size, f.size))
    return out
