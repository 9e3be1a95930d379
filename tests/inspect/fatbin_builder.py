"""Write fatbin containers and minimal ELF64 files to the documented layout, for tests and the benchmark.

Deliberately independent of aima.inspect: its numbers are typed in again from the sources (the
entry layout of n-eiling/cuda-fatbin-decompression fatbin-decompress.h and jiegec/fatbinary
src/lib.rs; the flag bits measured with nvcc 13.0, see docs/inspect.md), so a test that writes with
this module and reads with aima.inspect checks the reader against the layout, not against itself.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterable
from typing import BinaryIO

MAGIC = 0xBA55ED50
PTX, ELF, LTO_IR = 1, 2, 8
# 64-bit | Linux host: what nvcc 13.0 writes on every x86_64 entry.
FLAGS_LINUX64 = 0x11
LZ4, ZSTD = 0x2000, 0x8000
ARCH_SPECIFIC, FAMILY = 0x100000, 0x200000


def entry(
    kind: int,
    arch: int,
    payload: bytes = b"",
    *,
    flags: int = FLAGS_LINUX64,
    header_size: int = 64,
    version: tuple[int, int] = (1, 8),
    uncompressed_size: int = 0,
    payload_size: int | None = None,
) -> bytes:
    """One entry header (padded to ``header_size``) and its payload padded to 8 bytes.

    ``payload_size`` overrides the size field, to write entries that lie about their length.
    """
    padded = payload + b"\0" * (-len(payload) % 8)
    compressed_size = len(payload) if flags & (LZ4 | ZSTD) else 0
    major, minor = version
    head = struct.pack(
        "<HHIQIIHHIIIQQQ",
        kind,
        0x0101,
        header_size,
        len(padded) if payload_size is None else payload_size,
        compressed_size,
        0,
        minor,
        major,
        arch,
        0,
        0,
        flags,
        0,
        uncompressed_size,
    )
    return head + b"\0" * (header_size - len(head)) + padded


def container(*entries: bytes, version: int = 1, fat_size: int | None = None) -> bytes:
    """A container header followed by the given entries."""
    body = b"".join(entries)
    return struct.pack("<IHHQ", MAGIC, version, 16, len(body) if fat_size is None else fat_size) + body


def elf64(sections: Iterable[tuple[str, bytes]]) -> bytes:
    """A minimal little-endian ELF64 shared object holding the given sections (no segments)."""
    out = io.BytesIO()
    write_elf64(out, ((name, [data], len(data)) for name, data in sections))
    return out.getvalue()


def write_elf64(out: BinaryIO, sections: Iterable[tuple[str, Iterable[bytes], int | None]]) -> int:
    """Stream an ELF64 file to a seekable ``out``: each section is (name, chunks, size or None); return its size.

    Layout as GNU ld leaves it: header, section contents, .shstrtab, then the section header table.
    """
    start = out.tell()
    out.write(b"\0" * 64)
    placed = []  # (name, offset, size)
    for name, chunks, size in sections:
        _pad(out, 8)
        offset = out.tell() - start
        written = 0
        for chunk in chunks:
            out.write(chunk)
            written += len(chunk)
        if size is not None and written != size:
            raise ValueError(f"section {name} wrote {written} bytes, said {size}")
        placed.append((name, offset, written))
    names = b"\0" + b"".join(n.encode() + b"\0" for n, _, _ in placed) + b".shstrtab\0"
    name_offsets, cursor = [], 1
    for name, _, _ in placed:
        name_offsets.append(cursor)
        cursor += len(name) + 1
    strtab_offset = out.tell() - start
    out.write(names)
    _pad(out, 8)
    shoff = out.tell() - start
    out.write(b"\0" * 64)  # section 0, SHT_NULL
    for (_, offset, size), name_off in zip(placed, name_offsets, strict=True):
        # SHT_PROGBITS, SHF_ALLOC, 8-byte aligned: what nvcc's .nv_fatbin looks like.
        out.write(struct.pack("<IIQQQQIIQQ", name_off, 1, 2, 0, offset, size, 0, 0, 8, 0))
    out.write(struct.pack("<IIQQQQIIQQ", cursor, 3, 0, 0, strtab_offset, len(names), 0, 0, 1, 0))
    end = out.tell()
    shnum = len(placed) + 2
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + b"\0" * 8
    # e_type ET_DYN, e_machine EM_X86_64, no program headers.
    header = struct.pack("<16sHHIQQQIHHHHHH", ident, 3, 62, 1, 0, 0, shoff, 0, 64, 0, 0, 64, shnum, shnum - 1)
    out.seek(start)
    out.write(header)
    out.seek(end)
    return end - start


def _pad(out: BinaryIO, align: int) -> None:
    out.write(b"\0" * (-out.tell() % align))
