"""How much memory a model the catalogue does not list (an hf:// URI) needs: its files' sizes, plus the engine's
overhead for that format (docs/models.md, "Memory of an hf:// model").

The catalogue's own models carry measured figures; these rules are estimates on the safe side, so that the
planner refuses a model that cannot fit instead of treating it as 0 MiB.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from aima.models.source import ModelFile, ModelSource, parse_hf_uri

if TYPE_CHECKING:
    from aima.models.hub import Hub, HubSettings

MIB = 2**20
WEIGHTS_FACTOR = 1.2  # compute buffers, scratch and allocator slack on top of the weights
KV_MIB_PER_8K = 1024  # llama.cpp: KV cache for 8192 tokens of context (a 7-14B GQA model in f16 needs 0.4-1.5 GiB)
VLLM_OVERHEAD_MIB = 3072  # vLLM: CUDA graphs, activations and the least KV cache it starts with
GGML_FACTOR = 1.3  # whisper.cpp: encoder/decoder work buffers grow with the model
GGML_OVERHEAD_MIB = 1536  # whisper.cpp: CUDA context, mel and beam-search buffers
CPU_EXTRA_MIB = 512  # on the CPU the process's own heap and the page cache of the mapped weights count too
HEAD_TIMEOUT_S = 3.0  # `aima plan` must not hang on a hub that does not answer


@dataclass(frozen=True)
class ModelSize:
    """The bytes of a model's weights, or why they are not known; for a folder (hf://ORG/REPO) also its files."""

    bytes: int | None
    how: str  # "on disk" | "from the server" | the reason it is unknown
    files: tuple[ModelFile, ...] = ()  # a folder's files (aima.models.folder), for the plan to show and doctor to check
    refused: str | None = None  # a folder that is no vLLM model (no config.json or no weights): the planner says so
    commit: str | None = None  # the commit the hub listed a folder's files at


def memory_figures(size_bytes: int, model_format: str, max_model_len: int) -> tuple[int, int, int]:
    """(size_mib, gpu_memory_mib, memory_mib) for size_bytes of weights in an engine of this format."""
    weights = size_bytes / MIB
    if model_format == "gguf":
        need = weights * WEIGHTS_FACTOR + KV_MIB_PER_8K * max_model_len / 8192
    elif model_format == "hf":
        need = weights * WEIGHTS_FACTOR + VLLM_OVERHEAD_MIB
    else:  # ggml (whisper.cpp) and anything else: weights and fixed buffers
        need = weights * GGML_FACTOR + GGML_OVERHEAD_MIB
    gpu = math.ceil(need)
    return math.ceil(weights), gpu, gpu + CPU_EXTRA_MIB


def rule_text(model_format: str, max_model_len: int) -> str:
    """The rule, in words, for plan output and docs."""
    if model_format == "gguf":
        return (f"weights x {WEIGHTS_FACTOR} + KV cache for {max_model_len} tokens "
                f"({math.ceil(KV_MIB_PER_8K * max_model_len / 8192)} MiB)")
    if model_format == "hf":
        return f"weights x {WEIGHTS_FACTOR} + {VLLM_OVERHEAD_MIB} MiB (CUDA graphs, activations, least KV cache)"
    return f"weights x {GGML_FACTOR} + {GGML_OVERHEAD_MIB} MiB"


def measure(uris: Iterable[str], hub: Path, settings: HubSettings) -> dict[str, ModelSize]:
    """The size of each hf:// model: from the cache where its files are on disk, else HEAD on the hub (unless
    offline); a model whose size cannot be had is ModelSize(None, why)."""
    out: dict[str, ModelSize] = {}
    client: Hub | None = None
    try:
        for uri in dict.fromkeys(uris):
            try:
                source = parse_hf_uri(uri)
            except ValueError:
                continue  # the stack's own validation says what is wrong with it
            if source.folder:
                found = _folder_on_disk(source, hub)
                if found.bytes is not None or settings.offline:
                    out[uri] = found
                    continue
            else:
                local = _on_disk(source, hub)
                if local is not None:
                    out[uri] = ModelSize(local, "on disk")
                    continue
                if settings.offline:
                    out[uri] = ModelSize(None, "offline and not on disk")
                    continue
            if client is None:
                from aima.models.hub import Hub

                client = Hub(replace(settings, timeout_s=min(settings.timeout_s, HEAD_TIMEOUT_S)))
            out[uri] = _folder_from_server(client, source) if source.folder else _from_server(client, source)
    finally:
        if client is not None:
            client.close()
    return out


def _on_disk(source: ModelSource, hub: Path) -> int | None:
    from aima.models.cache import presence

    found = presence(hub, source)
    if found and all(p.size is not None for p in found):
        return sum(p.size or 0 for p in found)
    return None


def _from_server(client: Hub, source: ModelSource) -> ModelSize:
    from aima.errors import AimaError

    total = 0
    for f in source.files:
        try:
            total += client.head(source.repo, source.revision, f.path).size
        except AimaError as exc:
            return ModelSize(None, f"the hub did not say ({exc})")
    return ModelSize(total, "from the server")


def _folder_on_disk(source: ModelSource, hub: Path) -> ModelSize:
    """A folder's weights from its snapshot when that is complete; else unknown, naming what is missing."""
    from aima.models.cache import RepoCache
    from aima.models.folder import on_disk

    cache = RepoCache(hub, source.repo)
    commit = cache.commit_of(source.revision)
    if commit is None:
        return ModelSize(None, f"offline and no snapshot of {source.revision} on disk")
    disk = on_disk(source.repo, cache.snapshot(commit))
    if disk.missing:
        return ModelSize(None, f"offline and the snapshot on disk lacks {', '.join(disk.missing)}", disk.files)
    return ModelSize(disk.weight_bytes, "on disk", disk.files)


def _folder_from_server(client: Hub, source: ModelSource) -> ModelSize:
    """A folder's weights from the hub's file listing (one or a few requests, nothing downloaded)."""
    from aima.errors import AimaError
    from aima.models.folder import select

    try:
        listing = client.listing(source.repo, source.revision)
    except AimaError as exc:
        return ModelSize(None, f"the hub did not say ({exc})")
    try:
        selection = select(source.repo, (ModelFile(f.path, f.size, f.lfs_sha256) for f in listing.files))
    except AimaError as exc:
        return ModelSize(None, str(exc), refused=f"{exc}" + (f" ({exc.hint})" if exc.hint else ""))
    return ModelSize(selection.weight_bytes, "from the server", selection.files, commit=listing.commit)
