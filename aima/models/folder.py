"""A whole repository as a vLLM model folder (hf://ORG/REPO[@REVISION]): which of its files are fetched, and
whether a snapshot on disk is complete (docs/models.md, "A vLLM model folder").

Which files: every file of the repository except what vLLM does not read. vLLM's weight loader
(vllm/model_executor/model_loader/default_loader.py, DefaultModelLoader._prepare_weights) tries the patterns
"*.safetensors", "*.bin", "*.pt" in that order and loads only the first that matches, then drops safetensors that
the index does not name; its LoadConfig.ignore_patterns defaults to "original/**/*" (Llama's consolidated
checkpoints). Config and tokenizer files are read by transformers from the same folder. So: the first weight
format that exists, never the others (nor ONNX, GGUF, TensorFlow, Flax, Core ML copies of the same weights), nothing
under original/, no dot-files.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from aima.errors import AimaError
from aima.models.source import SHA256, ModelFile, ModelSource, check_repo_path

if TYPE_CHECKING:
    from aima.models.hub import Hub, HubSettings

WEIGHT_FORMATS = (".safetensors", ".bin", ".pt")  # vLLM's order of preference
OTHER_WEIGHTS = (".pth", ".ckpt", ".h5", ".msgpack", ".onnx", ".onnx_data", ".gguf", ".tflite", ".ot", ".mlmodel",
                 ".mlpackage", ".nemo", ".keras")
INDEX = "model.safetensors.index.json"
CONFIG = "config.json"


@dataclass(frozen=True)
class Selection:
    """The files a folder model fetches (the small ones first, the weights last), and the weight files' bytes."""

    files: tuple[ModelFile, ...]
    weights: tuple[str, ...]
    weight_bytes: int


def _suffix(path: str) -> str:
    name = path.rsplit("/", 1)[-1].lower()
    return name[name.rfind("."):] if "." in name else ""


def select(repo: str, listed: Iterable[ModelFile]) -> Selection:
    """The rule above applied to a repository's files; AimaError when it is not a model folder vLLM can load."""
    files = [f for f in listed if not any(p.startswith(".") for p in f.path.split("/"))
             and not f.path.startswith("original/")]
    weight_format = next((fmt for fmt in WEIGHT_FORMATS if any(_suffix(f.path) == fmt for f in files)), None)
    paths = {f.path for f in files}
    if CONFIG not in paths or weight_format is None:
        ggufs = sorted(f.path for f in files if _suffix(f.path) == ".gguf")
        lacks = " and no ".join(x for x in (CONFIG if CONFIG not in paths else "",
                                            "*.safetensors weights" if weight_format is None else "") if x)
        hint = (f"name one GGUF file instead (llama.cpp): hf://{repo}/{ggufs[0]}" if ggufs else
                "an hf://ORG/REPO URI names a Hugging Face transformers model (config.json and *.safetensors) for "
                "vLLM; name one file with hf://ORG/REPO/PATH/FILE")
        raise AimaError(f"hf://{repo} is not a vLLM model folder: the repository has no {lacks}", hint=hint)
    has_index = INDEX in paths

    def kept(f: ModelFile) -> bool:
        suffix = _suffix(f.path)
        if suffix in OTHER_WEIGHTS or (suffix in WEIGHT_FORMATS and suffix != weight_format):
            return False
        # Mistral's own format beside the transformers shards: the same weights again, which the index leaves out.
        name = f.path.rsplit("/", 1)[-1]
        return not (suffix == ".safetensors" and has_index and name.startswith("consolidated"))

    chosen = [f for f in files if kept(f)]
    weights = [f for f in chosen if _suffix(f.path) == weight_format]
    small = sorted((f for f in chosen if _suffix(f.path) != weight_format), key=lambda f: f.path)
    ordered = (*small, *sorted(weights, key=lambda f: f.path))
    return Selection(ordered, tuple(f.path for f in weights), sum(f.size or 0 for f in weights))


@dataclass(frozen=True)
class OnDisk:
    """A snapshot folder as the cache holds it: its files (missing ones without a size) and what is missing."""

    files: tuple[ModelFile, ...]
    missing: tuple[str, ...]
    weight_bytes: int


def on_disk(repo: str, snapshot: Path) -> OnDisk:
    """Whether a snapshot is complete enough to serve: config.json, and every shard the index names (or, without
    an index, some weights). Present files carry their size (and SHA-256 when the blob is named by it)."""
    present: list[ModelFile] = []
    if snapshot.is_dir():
        for item in sorted(snapshot.rglob("*")):
            if item.is_dir() or not item.exists():  # a link to a blob that is gone counts as missing
                continue
            blob = item.resolve().name
            present.append(ModelFile(item.relative_to(snapshot).as_posix(), item.stat().st_size,
                                     blob if SHA256.match(blob) else None))
    have = {f.path for f in present}
    missing: list[str] = []
    if CONFIG not in have:
        missing.append(CONFIG)
    if INDEX in have:
        try:
            shards = sorted(set(json.loads((snapshot / INDEX).read_text())["weight_map"].values()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            missing.append(f"{INDEX} (unreadable: {exc})")
            shards = []
        for shard in shards:
            if not isinstance(shard, str) or check_repo_path(shard):
                missing.append(f"{INDEX} (names {str(shard)[:80]!r})")
            elif shard not in have:
                missing.append(shard)
    try:
        selection = select(repo, present)
        files, weight_bytes = selection.files, selection.weight_bytes
    except AimaError:
        if not any(_suffix(p) in WEIGHT_FORMATS for p in have):
            missing.append("the weights (*.safetensors)")
        files, weight_bytes = tuple(present), 0
    files += tuple(ModelFile(p) for p in missing if p not in have and not p.startswith(("the ", INDEX)))
    return OnDisk(files, tuple(missing), weight_bytes)


def from_listing(source: ModelSource, listed: Iterable[ModelFile]) -> tuple[ModelSource, int]:
    """The folder source with its files from a listing, and the weights' bytes; AimaError when not a vLLM folder."""
    selection = select(source.repo, listed)
    return replace(source, files=selection.files), selection.weight_bytes


def expand(source: ModelSource, hub_dir: Path, settings: HubSettings, hub: Hub | None = None) -> ModelSource:
    """A folder source with the files to fetch: the complete snapshot on disk (no network), else the plan's listing
    (the source's files and listed_at), else the hub's listing at the commit the revision names now (that commit
    becomes the source's revision and refs/REVISION)."""
    from aima.models.cache import RepoCache

    cache = RepoCache(hub_dir, source.repo)
    commit = cache.commit_of(source.revision)
    disk = on_disk(source.repo, cache.snapshot(commit)) if commit else None
    if disk is not None and not disk.missing:
        return replace(source, files=disk.files)
    if settings.offline:
        what = f"{', '.join(disk.missing)} in {cache.snapshot(str(commit))}" if disk else \
            f"no snapshot of {source.revision} in {cache.root}"
        raise AimaError(f"offline (HF_HUB_OFFLINE or --offline): the model folder {source.uri} is not complete on "
                        f"disk: missing {what}", hint="run `aima pull` with the network, or copy the snapshot into "
                                                      "the Hugging Face cache")
    if source.listed_at and source.files:  # the plan listed it moments ago (sizing): those files, at that commit
        cache.write_ref(source.revision, source.listed_at)
        return replace(source, revision=source.listed_at)
    from aima.models.hub import Hub

    client = hub or Hub(settings)
    try:
        listing = client.listing(source.repo, source.revision)
    finally:
        if hub is None:
            client.close()
    listed = (ModelFile(f.path, f.size, f.lfs_sha256) for f in listing.files)
    expanded, _ = from_listing(replace(source, revision=listing.commit), listed)
    cache.write_ref(source.revision, listing.commit)
    return expanded
