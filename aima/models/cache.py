"""The shared Hugging Face hub cache: models--ORG--REPO/{blobs,snapshots/REV,refs}, as huggingface_hub lays it out.

vLLM, llama.cpp's -hf and huggingface_hub read this layout, so a model downloaded by any of them is found here and
not fetched again, and what aima downloads is theirs too. Blobs are named by their ETag (the SHA-256 of an LFS
file, the git blob SHA-1 of a small file); snapshots/REV/PATH is a relative symlink to ../../blobs/ETAG, so a
read-only mount of the repository folder resolves it inside a container as well.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from aima.models.source import COMMIT, ModelSource


def hub_dir(env: dict[str, str] | None = None) -> Path:
    """The hub cache: HF_HUB_CACHE, else HF_HOME/hub, else XDG_CACHE_HOME/huggingface/hub, else ~/.cache/... ."""
    env = dict(os.environ) if env is None else env
    if env.get("HF_HUB_CACHE"):
        return Path(env["HF_HUB_CACHE"]).expanduser()
    if env.get("HF_HOME"):
        return Path(env["HF_HOME"]).expanduser() / "hub"
    from aima.paths import cache_home

    return cache_home(env) / "huggingface" / "hub"


def repo_folder(repo: str) -> str:
    """models--ORG--REPO."""
    return "models--" + repo.replace("/", "--")


@dataclass(frozen=True)
class RepoCache:
    """One repository's folder in the hub cache."""

    hub: Path
    repo: str

    @property
    def root(self) -> Path:
        """hub/models--ORG--REPO."""
        return self.hub / repo_folder(self.repo)

    @property
    def blobs(self) -> Path:
        """Where file contents live, named by ETag."""
        return self.root / "blobs"

    def blob(self, etag: str) -> Path:
        """A complete blob."""
        return self.blobs / etag

    def partial(self, etag: str) -> Path:
        """A blob still being downloaded (huggingface_hub's own name for it)."""
        return self.blobs / f"{etag}.incomplete"

    def lock(self, etag: str) -> Path:
        """The file lock two downloads of the same blob share (huggingface_hub's .locks folder)."""
        return self.hub / ".locks" / repo_folder(self.repo) / f"{etag}.lock"

    def snapshot(self, commit: str) -> Path:
        """snapshots/COMMIT."""
        return self.root / "snapshots" / commit

    def commit_of(self, revision: str) -> str | None:
        """The commit a revision names: itself when it is one, else what refs/REVISION recorded, else None."""
        if COMMIT.match(revision):
            return revision
        ref = self.root / "refs" / revision
        try:
            text = ref.read_text().strip()
        except OSError:
            return None
        return text if COMMIT.match(text) else None

    def write_ref(self, revision: str, commit: str) -> None:
        """refs/REVISION -> COMMIT (only for branch and tag names)."""
        if revision == commit:
            return
        ref = self.root / "refs" / revision
        ref.parent.mkdir(parents=True, exist_ok=True)
        tmp = ref.with_name(f"{ref.name}.{_unique()}.tmp")  # two pulls at once must not share it
        tmp.write_text(commit)
        os.replace(tmp, ref)

    def link(self, commit: str, path: str, etag: str) -> Path:
        """snapshots/COMMIT/PATH -> ../../blobs/ETAG (relative, so it resolves inside a mount of the repo folder)."""
        target = self.snapshot(commit) / path
        target.parent.mkdir(parents=True, exist_ok=True)
        depth = len(Path(path).parts) + 1  # up through PATH's folders and COMMIT to the repository folder
        relative = Path(*([".."] * depth)) / "blobs" / etag
        if target.is_symlink() and os.readlink(target) == str(relative):
            return target
        tmp = target.with_name(f"{target.name}.{_unique()}.aima-link")  # two pulls at once must not share it
        if tmp.is_symlink() or tmp.exists():  # left by a process that died here (pids are reused)
            tmp.unlink()
        os.symlink(relative, tmp)
        os.replace(tmp, target)
        return target


def _unique() -> str:
    """A temporary name part no other process or thread uses at the same time."""
    import threading

    return f"{os.getpid()}-{threading.get_ident()}"


@dataclass(frozen=True)
class Presence:
    """What the cache holds of one file."""

    path: str
    local: Path | None  # snapshots/COMMIT/PATH when the revision's commit is known
    present: bool
    size: int | None  # bytes on disk (the complete file), None when absent
    partial_bytes: int = 0  # bytes of an interrupted download found for it


def presence(hub: Path, source: ModelSource) -> list[Presence]:
    """Which of a source's files the cache holds (no network, no hashing): the snapshot link and its size."""
    cache = RepoCache(hub, source.repo)
    commit = cache.commit_of(source.revision)
    out = []
    for f in source.files:
        local = cache.snapshot(commit) / f.path if commit else None
        size = None
        if local is not None and local.exists():
            size = local.stat().st_size
        partial = 0
        if size is None and f.sha256:
            try:
                partial = cache.partial(f.sha256).stat().st_size
            except OSError:
                partial = 0
        out.append(Presence(f.path, local, size is not None, size, partial))
    return out
