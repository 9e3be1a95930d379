"""The CUDA code in an image's layers, streamed from the registry through the fatbin reader: no daemon, no pull.

Each layer blob is decompressed as it arrives and walked as a tar stream (aima.inspect.image.scan_tar_stream);
the answer is cached per layer digest, so layers shared between images (CUDA base layers) are read once.
A file a later layer deletes still counts: a whiteout is rare for CUDA libraries and only ever adds archs.
"""

from __future__ import annotations

import io
import json
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from aima.registry.client import RegistryClient, RegistryRefused
from aima.registry.facts import Layer, PlatformImage
from aima.registry.reference import Reference

CACHE_FORMAT = 1


@dataclass(frozen=True)
class LayerArchs:
    """The SASS and PTX targets one layer's files carry."""

    digest: str
    sass: tuple[str, ...]
    ptx: tuple[str, ...]
    cached: bool = False


def default_layer_cache() -> Path:
    """``$XDG_CACHE_HOME/aima/layers`` (beside the image inspection cache)."""
    from aima.inspect.cache import default_cache_dir

    return default_cache_dir().parent / "layers"


def image_archs(client: RegistryClient, ref: Reference, image: PlatformImage,
                cache_dir: Path | None = None) -> tuple[tuple[str, ...], tuple[str, ...], list[LayerArchs]]:
    """(SASS, PTX, per layer) for one platform's image, reading only layers not cached yet."""
    from aima.inspect.fatbin import arch_sort_key

    folder = default_layer_cache() if cache_dir is None else cache_dir
    per_layer = [layer_archs(client, ref, layer, folder) for layer in image.layers]
    sass = tuple(sorted({a for la in per_layer for a in la.sass}, key=arch_sort_key))
    ptx = tuple(sorted({a for la in per_layer for a in la.ptx}, key=arch_sort_key))
    return sass, ptx, per_layer


def layer_archs(client: RegistryClient, ref: Reference, layer: Layer, cache_dir: Path) -> LayerArchs:
    """One layer's archs, from the cache by digest or streamed from the registry."""
    from aima.inspect.cache import cache_path, write_json_atomically
    from aima.inspect.image import ChunkReader, scan_tar_stream

    path = cache_path(layer.digest, cache_dir)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") == CACHE_FORMAT and data.get("digest") == layer.digest:
            return LayerArchs(layer.digest, tuple(data["sass"]), tuple(data["ptx"]), cached=True)
    except (OSError, ValueError, KeyError, TypeError):
        pass  # not cached (or unreadable): read it
    compression = _compression(layer.media_type)
    with client.blob_stream(ref, layer.digest) as chunks:
        raw: Iterable[bytes] = chunks if compression == "none" else _gunzip(chunks)
        stream = io.BufferedReader(ChunkReader(raw), 1024 * 1024)
        scan = scan_tar_stream(stream)
    from aima.inspect.fatbin import arch_sort_key

    sass = tuple(sorted({a for lib in scan.libraries for a in lib.sass}, key=arch_sort_key))
    ptx = tuple(sorted({a for lib in scan.libraries for a in lib.ptx}, key=arch_sort_key))
    write_json_atomically(path, {"format": CACHE_FORMAT, "digest": layer.digest, "sass": sass, "ptx": ptx})
    return LayerArchs(layer.digest, sass, ptx)


def _compression(media_type: str) -> str:
    if media_type.endswith(("tar.gzip", "tar+gzip")) or not media_type:
        return "gzip"
    if media_type.endswith(("rootfs.diff.tar", "image.layer.v1.tar")):
        return "none"
    if "zstd" in media_type:
        raise RegistryRefused(f"a zstd-compressed layer ({media_type}) cannot be read without the zstandard module")
    raise RegistryRefused(f"a layer of type {media_type} is not a tar archive aima can read")


def _gunzip(chunks: Iterable[bytes]) -> Iterator[bytes]:
    # wbits 16+MAX_WBITS: a gzip header; a new decompressor per member, as gzip allows concatenated members.
    decomp = zlib.decompressobj(16 + zlib.MAX_WBITS)
    for chunk in chunks:
        data = chunk
        while data:
            out = decomp.decompress(data)
            if out:
                yield out
            data = decomp.unused_data
            if data:
                decomp = zlib.decompressobj(16 + zlib.MAX_WBITS)
    tail = decomp.flush()
    if tail:
        yield tail
