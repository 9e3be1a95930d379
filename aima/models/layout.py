"""Where an engine's model is on the host and at which path the engine opens it inside the container."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from aima.models.cache import RepoCache, hub_dir
from aima.models.source import ModelSource, parse_hf_uri

if TYPE_CHECKING:
    from aima.catalog.model import ModelChoice
    from aima.models.sizing import ModelSize


def source_mount(source: ModelSource, model_dir: str, hub: Path | None = None) -> tuple[str, str]:
    """(host folder, container path): the repository's cache folder is mounted whole at model_dir, so the
    snapshot's relative symlinks into blobs/ resolve inside the container; the engine opens
    model_dir/snapshots/COMMIT/ENTRY (or the snapshot folder for a safetensors set)."""
    cache = RepoCache(hub or hub_dir(), source.repo)
    # a folder the hub listed is pulled at that commit; an unpinned ref is pinned by the first pull
    commit = source.listed_at or cache.commit_of(source.revision) or source.revision
    inside = f"{model_dir}/snapshots/{commit}"
    return str(cache.root), f"{inside}/{source.entry}" if source.entry else inside


def uri_choice(uri: str, model_format: str | None, size: ModelSize | None = None,
               max_model_len: int = 8192) -> ModelChoice:
    """A model the catalogue does not list, from an hf:// URI, with memory figures from its files' size where
    known (0: unknown; the plan warns); ValueError says what is wrong with the URI."""
    from aima.catalog.model import ModelChoice
    from aima.models.sizing import memory_figures

    source = parse_hf_uri(uri)
    fmt = source_format(source) or model_format or "gguf"
    if size is not None and size.refused:
        raise ValueError(size.refused)
    if source.folder and size is not None and size.files:
        # what the hub listed (or the snapshot holds): plan, doctor, export; and the commit the hub listed them at
        source = replace(source, files=size.files, listed_at=size.commit)
    size_mib = gpu_mib = ram_mib = 0
    if size is not None and size.bytes is not None:
        size_mib, gpu_mib, ram_mib = memory_figures(size.bytes, fmt, max_model_len)
    return ModelChoice(name=uri, format=fmt, file=source.entry, size_mib=size_mib, gpu_memory_mib=gpu_mib,
                       memory_mib=ram_mib, source=source)


def host_path(source: ModelSource, hub: Path | None = None) -> Path:
    """The host path the engine's model resolves to: snapshots/COMMIT/ENTRY, or the snapshot folder."""
    cache = RepoCache(hub or hub_dir(), source.repo)
    snapshot = cache.snapshot(cache.commit_of(source.revision) or source.revision)
    return snapshot / source.entry if source.entry else snapshot


def source_format(source: ModelSource) -> str | None:
    """The format an hf:// source names: a folder is a transformers model (vLLM, "hf"); a file says it by its name."""
    return "hf" if source.folder else format_of(source.entry)


def format_of(path: str | None) -> str | None:
    """The model format a file name says (.gguf, .safetensors, whisper.cpp's ggml-*.bin), or None."""
    name = (path or "").rsplit("/", 1)[-1].lower()
    if name.endswith(".gguf"):
        return "gguf"
    if name.endswith(".safetensors"):
        return "hf"
    if name.startswith("ggml") and name.endswith(".bin"):
        return "ggml"
    return None
