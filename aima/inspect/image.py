"""Read the CUDA code inside a container image without running it, and cache the answer by image ID.

The image's filesystem comes from the Docker API as one tar stream (``docker create`` + ``docker
export``: the container is created, never started, and removed afterwards). Every regular file that
begins like an ELF64 file or a bare fatbin is copied to a spool file (memory up to a few MiB, disk
beyond) because its section table sits at its end, then read with aima.inspect.elf.
"""

from __future__ import annotations

import dataclasses
import io
import json
import shutil
import tarfile
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from aima.errors import AimaError
from aima.inspect.cache import cache_path, default_cache_dir, record_ref, write_json_atomically
from aima.inspect.elf import is_elf64, is_fatbin, scan_binary
from aima.inspect.fatbin import BinaryFormatError, arch_sort_key, summarize

# Bump when the reader would now report something different for the same bytes: old cache files
# are then ignored rather than trusted.
CACHE_FORMAT = 1
_HEAD = 64  # an ELF64 header; also enough to recognise a fatbin
_SPOOL_IN_MEMORY = 8 * 1024 * 1024
_COPY_CHUNK = 1024 * 1024
_TAR_BUFFER = 1024 * 1024


@dataclass(frozen=True)
class LibraryInspection:
    """The GPU code of one file in an image; ``other`` holds LTO IR or kinds this reader does not know."""

    path: str
    sass: tuple[str, ...] = ()
    ptx: tuple[str, ...] = ()
    other: tuple[str, ...] = ()
    entries: int = 0
    error: str | None = None


@dataclass(frozen=True)
class ImageInspection:
    """The CUDA code an image carries: per library (only those with GPU code or a read error) and in all."""

    image_ref: str
    image_id: str
    sass: tuple[str, ...]
    ptx: tuple[str, ...]
    libraries: tuple[LibraryInspection, ...]
    elf_files: int
    elf_bytes: int


@dataclass(frozen=True)
class ScanProgress:
    """How far the read of an image's files is: bytes of the export stream against the image's size."""

    image: str
    read_bytes: int
    total_bytes: int  # the image's size (docker image inspect Size); the tar stream runs a little over it
    files: int  # regular files passed
    elf_files: int  # of those, ELF or fatbin files read in full
    path: str  # the file being read
    final: bool = False


Progress = Callable[[ScanProgress], None]


@dataclass(frozen=True)
class StreamScan:
    """What a tar stream held: libraries with GPU code (or errors) and how much ELF data was read."""

    libraries: tuple[LibraryInspection, ...]
    elf_files: int
    elf_bytes: int


def inspect_image(
    engine: Any, image_ref: str, cache_dir: Path | None = None, *, refresh: bool = False, spool_dir: str | None = None,
    progress: Progress | None = None,
) -> ImageInspection:
    """Report the SASS and PTX targets in a local image's files, from the cache when it has this image ID.

    ``progress`` hears after every file of the stream how many bytes of the image were read (not for a cache hit).
    """
    image_id, size = _image_id(engine, image_ref)
    cache_dir = default_cache_dir() if cache_dir is None else cache_dir
    if not refresh:
        cached = load_cached(image_id, cache_dir)
        if cached is not None:
            record_ref(image_ref, image_id, cache_dir)
            return dataclasses.replace(cached, image_ref=image_ref)
    scan = _scan_image_files(engine, image_ref, image_id, spool_dir, progress, size)
    inspection = ImageInspection(
        image_ref=image_ref,
        image_id=image_id,
        sass=_union(lib.sass for lib in scan.libraries),
        ptx=_union(lib.ptx for lib in scan.libraries),
        libraries=scan.libraries,
        elf_files=scan.elf_files,
        elf_bytes=scan.elf_bytes,
    )
    save_cached(inspection, cache_dir)
    return inspection


def scan_tar_stream(stream: IO[bytes], spool_dir: str | None = None,
                    on_file: Callable[[str, int, int], None] | None = None) -> StreamScan:
    """Read every ELF64 or fatbin file in a (non-seekable) tar stream and report its GPU code.

    ``on_file(path, files, elf_files)`` is called as each regular file begins (progress displays).
    """
    libraries = []
    files = elf_files = elf_bytes = 0
    try:
        with tarfile.open(fileobj=stream, mode="r|", bufsize=_TAR_BUFFER) as tar:
            for member in tar:
                if not member.isreg():
                    continue
                files += 1
                if on_file is not None:
                    on_file(_absolute(member.name), files, elf_files)
                if member.size < _HEAD:
                    continue
                source = tar.extractfile(member)
                if source is None:
                    continue
                head = source.read(_HEAD)
                if not (is_elf64(head) or is_fatbin(head)):
                    continue
                elf_files += 1
                elf_bytes += member.size
                library = _scan_member(_absolute(member.name), head, source, spool_dir)
                if library.entries or library.error:
                    libraries.append(library)
    except tarfile.TarError as error:
        raise AimaError(f"could not read the image's files as a tar stream: {error}") from error
    libraries.sort(key=lambda lib: lib.path)
    return StreamScan(libraries=tuple(libraries), elf_files=elf_files, elf_bytes=elf_bytes)


def load_cached(image_id: str, cache_dir: Path) -> ImageInspection | None:
    """Return the cached inspection of an image ID, or None when there is none or it is unreadable or stale."""
    path = cache_path(image_id, cache_dir)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != CACHE_FORMAT or data.get("image_id") != image_id:
            return None
        return _from_json(data)
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        # A cache is a convenience: a broken file means "inspect again", never an error.
        return None


def save_cached(inspection: ImageInspection, cache_dir: Path) -> Path:
    """Write an inspection to the cache and index its reference; return the file's path."""
    path = cache_path(inspection.image_id, cache_dir)
    write_json_atomically(path, {"format": CACHE_FORMAT, **dataclasses.asdict(inspection)})
    record_ref(inspection.image_ref, inspection.image_id, cache_dir)
    return path


def _scan_member(path: str, head: bytes, source: IO[bytes], spool_dir: str | None) -> LibraryInspection:
    """Spool one file from the stream and read its fatbin entries; a malformed file is reported, not raised."""
    with tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY, dir=spool_dir) as spool:
        spool.write(head)
        shutil.copyfileobj(source, spool, _COPY_CHUNK)
        try:
            entries = scan_binary(spool)
        except BinaryFormatError as error:
            return LibraryInspection(path=path, error=str(error))
    summary = summarize(entries)
    other = tuple(sorted({e.arch for e in entries if e.kind not in ("sass", "ptx")}, key=arch_sort_key))
    return LibraryInspection(path=path, sass=summary.sass, ptx=summary.ptx, other=other, entries=len(entries))


def _image_id(engine: Any, image_ref: str) -> tuple[str, int]:
    found = engine.image(image_ref)
    if found is None:
        raise AimaError(f"image {image_ref} is not on this machine", hint=f"docker pull {image_ref}")
    return str(found.id), int(getattr(found, "size_bytes", 0) or 0)


def _scan_image_files(engine: Any, image_ref: str, image_id: str, spool_dir: str | None,
                      progress: Progress | None = None, size: int = 0) -> StreamScan:
    """Stream the image's filesystem (a created, never started container the engine removes) through the scanner."""
    chunks = engine.export_files(image_id)
    reader = ChunkReader(chunks)
    last = [""]

    def on_file(path: str, files: int, elf_files: int) -> None:
        last[0] = path
        if progress is not None:
            progress(ScanProgress(image_ref, reader.read_bytes, size, files, elf_files, path))

    try:
        scan = scan_tar_stream(io.BufferedReader(reader, _TAR_BUFFER), spool_dir, on_file)
        if progress is not None:
            progress(ScanProgress(image_ref, reader.read_bytes, size, 0, scan.elf_files, last[0], final=True))
        return scan
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()  # ends the export early on an error; the engine removes its container either way


class ChunkReader(io.RawIOBase):
    """A read-only file over an iterator of byte chunks (the HTTP body of ``docker export``)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._view = memoryview(b"")
        self.read_bytes = 0  # of the stream so far, for progress

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not len(self._view):
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._view = memoryview(chunk)
            self.read_bytes += len(chunk)
        n = min(len(buffer), len(self._view))
        buffer[:n] = self._view[:n]
        # A memoryview slice, not a bytes slice: no copy of the rest of a 2 MiB chunk on every read.
        self._view = self._view[n:]
        return n


def _absolute(name: str) -> str:
    """Tar member names come as ``usr/lib/x.so`` or ``./usr/lib/x.so``; report them as ``/usr/lib/x.so``."""
    if name.startswith("./"):
        name = name[2:]
    return "/" + name.lstrip("/")


def _union(groups: Iterable[tuple[str, ...]]) -> tuple[str, ...]:
    return tuple(sorted({arch for group in groups for arch in group}, key=arch_sort_key))


def _from_json(data: dict) -> ImageInspection:
    libraries = tuple(
        LibraryInspection(
            path=str(lib["path"]),
            sass=tuple(lib["sass"]),
            ptx=tuple(lib["ptx"]),
            other=tuple(lib["other"]),
            entries=int(lib["entries"]),
            error=lib["error"],
        )
        for lib in data["libraries"]
    )
    return ImageInspection(
        image_ref=str(data["image_ref"]),
        image_id=str(data["image_id"]),
        sass=tuple(data["sass"]),
        ptx=tuple(data["ptx"]),
        libraries=libraries,
        elf_files=int(data["elf_files"]),
        elf_bytes=int(data["elf_bytes"]),
    )
