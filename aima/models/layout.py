"""Where an engine's model is on the host and at which path the engine opens it inside the container."""

from __future__ import annotations

from pathlib import Path

from aima.models.cache import RepoCache, hub_dir
from aima.models.source import ModelSource, parse_hf_uri


def source_mount(source: ModelSource, model_dir: str, hub: Path | None = None) -> tuple[str, str]:
    """(host folder, container path): the repository's cache folder is mounted whole at model_dir, so the
    snapshot's relative symlinks into blobs/ resolve inside the container; the engine opens
    model_dir/snapshots/COMMIT/ENTRY (or the snapshot folder for a safetensors set)."""
    cache = RepoCache(hub or hub_dir(), source.repo)
    commit = cache.commit_of(source.revision) or source.revision  # an unpinned ref is pinned by the first pull
    inside = f"{model_dir}/snapshots/{commit}"
    return str(cache.root), f"{inside}/{source.entry}" if source.entry else inside


def uri_choice(uri: str, model_format: str | None):  # -> ModelChoice (import kept lazy for the catalogue)
    """A model the catalogue does not list, from an hf:// URI; ValueError says what is wrong with it."""
    from aima.catalog.model import ModelChoice

    source = parse_hf_uri(uri)
    return ModelChoice(name=uri, format=model_format or "gguf", file=source.entry, source=source)


def host_path(source: ModelSource, hub: Path | None = None) -> Path:
    """The host path the engine's model resolves to: snapshots/COMMIT/ENTRY, or the snapshot folder."""
    cache = RepoCache(hub or hub_dir(), source.repo)
    snapshot = cache.snapshot(cache.commit_of(source.revision) or source.revision)
    return snapshot / source.entry if source.entry else snapshot
