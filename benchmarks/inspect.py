"""How fast aima.inspect reads a large CUDA library, and how much memory it needs.

Builds a synthetic ELF64 library (default ~500 MB: big non-CUDA sections around a .nv_fatbin of
thousands of entries, like libcublasLt), then times two paths and prints MB/s and peak memory:

- file: ``scan_path`` on the file on disk (seek + small reads);
- tar stream: ``scan_tar_stream`` over a one-way stream of tar chunks, the path ``inspect_image``
  takes with ``docker export`` (the file is spooled, then read as above).

Usage: python benchmarks/inspect.py [--size-mb 500] [--library PATH ...] [--tmp DIR]
"""

from __future__ import annotations

import os
import sys

# Run as a script, this file's folder comes first on sys.path, where its name would hide the standard
# library's inspect module (which dataclasses imports): take the folder off before importing more.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import argparse  # noqa: E402
import io  # noqa: E402
import resource  # noqa: E402
import tarfile  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests" / "inspect")]

import fatbin_builder as fb  # noqa: E402 - the tests' writer of the documented layout

from aima.inspect import scan_path, scan_tar_stream  # noqa: E402
from aima.inspect.image import _ChunkReader  # noqa: E402 - the adapter inspect_image puts over docker export

MB = 1024 * 1024
CHUNK = 2 * MB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=500, help="size of the synthetic library")
    parser.add_argument("--library", action="append", default=[], help="also time a real library")
    parser.add_argument("--tmp", default=None, help="directory for the synthetic library and spool files")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        path = Path(tmp) / "libsynthetic_cuda.so"
        started = time.perf_counter()
        written = build_library(path, args.size_mb * MB)
        print(
            f"built {path.name}: {path.stat().st_size / MB:.0f} MB, {written} fatbin entries "
            f"in {time.perf_counter() - started:.1f} s"
        )
        for library in [str(path), *args.library]:
            report(library, tmp)
    print(f"process peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


def report(library: str, spool_dir: str) -> None:
    size = os.path.getsize(library)
    print(f"\n{library} ({size / MB:.0f} MB)")
    entries = len(scan_path(library))  # also warms the page cache, so both paths read from memory
    paths: dict[str, Callable[[], object]] = {
        "file": lambda: scan_path(library),
        "tar stream": lambda: scan_tar_stream(io.BufferedReader(_ChunkReader(tar_chunks(library)), MB), spool_dir),
    }
    for name, run in paths.items():
        seconds = min(timed(run) for _ in range(3))
        peak = traced_peak(run)
        print(
            f"  {name:<10} {size / MB / seconds:>9.0f} MB/s  ({seconds * 1000:.0f} ms, {entries} entries, "
            f"Python peak {peak / MB:.1f} MB)"
        )


def timed(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def traced_peak(run: Callable[[], object]) -> int:
    """Peak Python heap of one run; traced separately because tracemalloc slows the run itself."""
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def tar_chunks(path: str) -> Iterator[bytes]:
    """A one-member tar stream in CHUNK-sized pieces, like the body of ``docker export``."""
    info = tarfile.TarInfo("usr/lib/x86_64-linux-gnu/" + os.path.basename(path))
    info.size = os.path.getsize(path)
    yield info.tobuf(format=tarfile.GNU_FORMAT)
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            yield chunk
    yield b"\0" * (-info.size % 512) + b"\0" * 1024


def build_library(path: Path, total: int) -> int:
    """Write ~``total`` bytes: 30% .text, 50% .nv_fatbin, 20% .rodata; return the number of entries."""
    counter = [0]
    sections = [
        (".text", filler(total * 3 // 10, 0x90), total * 3 // 10),
        (".nv_fatbin", fatbin_containers(total // 2, counter), None),
        (".rodata", filler(total // 5, 0x41), total // 5),
    ]
    with open(path, "wb") as out:
        fb.write_elf64(out, sections)
    return counter[0]


def fatbin_containers(size: int, counter: list[int]) -> Iterator[bytes]:
    """Containers of six entries each (SASS for five archs, one PTX), payloads 8..72 KiB, until ``size``.

    A generator, so the benchmark's own memory does not hide the reader's in the peak RSS.
    """
    archs = [(75, 0), (80, 0), (86, 0), (90, fb.ARCH_SPECIFIC), (120, 0)]
    written = n = 0
    while written < size:
        parts = []
        for arch, suffix in archs:
            payload = b"\x7fELF" + bytes([n % 251]) * (8192 * (1 + n % 9) - 4)
            parts.append(
                fb.entry(fb.ELF, arch, payload, flags=fb.FLAGS_LINUX64 | suffix, header_size=112 if arch >= 100 else 64)
            )
            n += 1
        parts.append(
            fb.entry(
                fb.PTX,
                120,
                b".target sm_120\n" * 64,
                flags=fb.FLAGS_LINUX64 | fb.ZSTD,
                header_size=80,
                uncompressed_size=4096,
            )
        )
        container = fb.container(*parts)
        written += len(container)
        counter[0] += len(parts)
        yield container


def filler(size: int, byte: int) -> Iterator[bytes]:
    block = bytes([byte]) * CHUNK
    for start in range(0, size, CHUNK):
        yield block[: min(CHUNK, size - start)]


if __name__ == "__main__":
    main()
