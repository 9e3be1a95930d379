"""Walk CUDA fat-binary containers and say which GPU code they carry.

A fatbin is what nvcc embeds in a library's ``.nv_fatbin`` section: one or more containers, each a
16-byte header followed by entries (a header plus a SASS cubin, PTX text or LTO IR payload). NVIDIA
does not document the layout; the facts below come from public readers and were checked against
nvcc 13.0 output (tests/inspect/test_nvcc.py):

- container header ``<I H H Q``: magic 0xBA55ED50, version 1, header size 16, size of the entries
  that follow (n-eiling/cuda-fatbin-decompression fatbin-decompress.h ``fat_elf_header``;
  jiegec/fatbinary src/lib.rs ``FatBinaryHeader``).
- entry header, 64 bytes at least (``header_size`` says how many, 64..120 seen), then the payload of
  ``payload_size`` bytes (padded to 8): kind u16 (1 PTX, 2 ELF/SASS, 8 LTO IR), u16 0x0101,
  header_size u32, payload_size u64, compressed_size u32, options offset u32, code version
  minor/major u16, arch u32 (e.g. 86), object name offset/length u32, flags u64, reserved u64,
  uncompressed size u64 (same sources' ``fat_text_header`` / ``FatBinaryEntryHeader``;
  GrigoryEvko/nvopen-tools fatbin/FORMAT_SPECIFICATION.md for the longer sm_100+ headers).
- flags: 0x1 64-bit, 0x2 debug, 0x10 Linux host, 0x2000 LZ4-compressed (jiegec/fatbinary
  ``FATBINARY_FLAG_COMPRESSED``), 0x8000 zstd-compressed (nvopen-tools, "bit 15"; payload starts
  with the zstd magic 28 b5 2f fd). Found here by compiling with nvcc 13.0 and comparing:
  0x100000 = arch-specific target (``sm_90a``, ``compute_120a``), 0x200000 = family target
  (``sm_100f``); the cubin's own ELF ``e_flags`` do not tell ``sm_90`` from ``sm_90a``.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO

from aima.errors import AimaError

FATBIN_MAGIC = 0xBA55ED50
FATBIN_VERSION = 1

_CONTAINER = struct.Struct("<IHHQ")
# kind, version, header_size, payload_size, compressed_size, options_offset, minor, major, arch,
# name_offset, name_len, flags, reserved, uncompressed_size
_ENTRY = struct.Struct("<HHIQIIHHIIIQQQ")

KIND_PTX = 1
KIND_ELF = 2
KIND_LTO_IR = 8
_KIND_NAMES = {KIND_PTX: "ptx", KIND_ELF: "sass", KIND_LTO_IR: "lto"}
# The text nvcc itself uses for each kind in -gencode code=...
_ARCH_PREFIX = {KIND_PTX: "compute", KIND_ELF: "sm", KIND_LTO_IR: "lto"}

FLAG_COMPRESSED_LZ4 = 0x2000
FLAG_COMPRESSED_ZSTD = 0x8000
FLAG_ARCH_SPECIFIC = 0x100000
FLAG_FAMILY_SPECIFIC = 0x200000

# Real arch numbers run from 10 (sm_10) to 121 today; anything far outside is not a fatbin entry.
_MIN_ARCH, _MAX_ARCH = 10, 999
_ZERO_SKIP_CHUNK = 64 * 1024


class BinaryFormatError(AimaError, ValueError):
    """Bytes that do not follow the ELF or fatbin layout: truncated, corrupt or another format."""


@dataclass(frozen=True)
class FatbinEntry:
    """One piece of GPU code in a fatbin.

    ``kind`` is "sass", "ptx", "lto" or "kind-N" for a kind this reader does not know; ``arch`` is
    nvcc's spelling (``sm_86``, ``sm_90a``, ``sm_100f``, ``compute_90``, ``lto_90``); ``size`` is
    the payload's uncompressed size in bytes, ``stored_size`` what it occupies in the file;
    ``compression`` is "lz4", "zstd" or None; ``offset`` is where the payload starts in the file.
    """

    kind: str
    arch: str
    compressed: bool
    size: int
    stored_size: int = 0
    compression: str | None = None
    offset: int = 0


@dataclass(frozen=True)
class FatbinSummary:
    """The distinct GPU targets found, each tuple sorted oldest architecture first."""

    sass: tuple[str, ...] = ()
    ptx: tuple[str, ...] = ()
    lto: tuple[str, ...] = ()


_ARCH_TEXT = re.compile(r"^(?:sm|compute|lto)_(\d+)([a-z]?)$")


def arch_sort_key(arch: str) -> tuple[int, str, str]:
    """Sort key that puts ``sm_90`` before ``sm_90a`` before ``sm_100`` (numeric, then suffix)."""
    match = _ARCH_TEXT.match(arch)
    if match is None:
        return (1 << 30, "", arch)
    return (int(match.group(1)), match.group(2), arch)


def summarize(entries: Iterable[FatbinEntry]) -> FatbinSummary:
    """Collapse entries into the sorted, de-duplicated SASS, PTX and LTO targets they cover."""
    by_kind: dict[str, set[str]] = {"sass": set(), "ptx": set(), "lto": set()}
    for entry in entries:
        if entry.kind in by_kind:
            by_kind[entry.kind].add(entry.arch)
    ordered = {kind: tuple(sorted(archs, key=arch_sort_key)) for kind, archs in by_kind.items()}
    return FatbinSummary(sass=ordered["sass"], ptx=ordered["ptx"], lto=ordered["lto"])


def read_fatbin_region(f: IO[bytes], start: int, size: int) -> list[FatbinEntry]:
    """Read every container in the ``size`` bytes at ``start`` of a seekable binary file.

    Only headers are read; payloads are skipped with seek, so memory stays small whatever the size.
    """
    end = start + size
    entries: list[FatbinEntry] = []
    pos = start
    while pos < end:
        head = _read_at(f, pos, min(_CONTAINER.size, end - pos))
        if len(head) < 4 or int.from_bytes(head[:4], "little") != FATBIN_MAGIC:
            # Linkers pad between the containers of separate objects with zero bytes.
            pos = _skip_zeros(f, pos, end)
            continue
        if len(head) < _CONTAINER.size:
            raise BinaryFormatError(f"fatbin header at offset {pos} is cut off after {len(head)} bytes")
        _, version, header_size, fat_size = _CONTAINER.unpack(head)
        if version != FATBIN_VERSION or header_size < _CONTAINER.size:
            raise BinaryFormatError(
                f"fatbin at offset {pos} has version {version} and header size {header_size}; "
                f"this reader knows version {FATBIN_VERSION} with a header of at least {_CONTAINER.size} bytes"
            )
        container_end = pos + header_size + fat_size
        if container_end > end:
            raise BinaryFormatError(
                f"fatbin at offset {pos} claims {fat_size} bytes of entries but only "
                f"{max(0, end - pos - header_size)} remain"
            )
        entries.extend(_read_entries(f, pos + header_size, container_end))
        pos = container_end
    return entries


def _read_entries(f: IO[bytes], pos: int, end: int) -> list[FatbinEntry]:
    """Read the entry headers of one container, from ``pos`` up to its end."""
    entries = []
    while pos < end:
        raw = _read_at(f, pos, _ENTRY.size)
        if len(raw) < _ENTRY.size or pos + _ENTRY.size > end:
            raise BinaryFormatError(f"fatbin entry header at offset {pos} is cut off")
        fields = _ENTRY.unpack(raw)
        kind, _, header_size, payload_size, compressed_size = fields[:5]
        arch, flags, uncompressed_size = fields[8], fields[11], fields[13]
        if header_size < _ENTRY.size:
            raise BinaryFormatError(f"fatbin entry at offset {pos} has a header size of {header_size} bytes")
        payload_end = pos + header_size + payload_size
        if payload_end > end:
            raise BinaryFormatError(
                f"fatbin entry at offset {pos} claims a {payload_size}-byte payload that runs past its container"
            )
        if not _MIN_ARCH <= arch <= _MAX_ARCH:
            raise BinaryFormatError(f"fatbin entry at offset {pos} names architecture {arch}, which no GPU has")
        entries.append(_entry(kind, arch, flags, payload_size, compressed_size, uncompressed_size, pos + header_size))
        pos = payload_end
    return entries


def _entry(
    kind: int, arch: int, flags: int, payload: int, compressed: int, uncompressed: int, offset: int
) -> FatbinEntry:
    """Turn raw header fields into a FatbinEntry with nvcc's spelling of the target."""
    compression = None
    if flags & FLAG_COMPRESSED_ZSTD:
        compression = "zstd"
    elif flags & FLAG_COMPRESSED_LZ4:
        compression = "lz4"
    # 'a' is the stricter promise (one exact GPU), so it wins should both bits ever be set.
    suffix = "a" if flags & FLAG_ARCH_SPECIFIC else "f" if flags & FLAG_FAMILY_SPECIFIC else ""
    prefix = _ARCH_PREFIX.get(kind, "arch")
    return FatbinEntry(
        kind=_KIND_NAMES.get(kind, f"kind-{kind}"),
        arch=f"{prefix}_{arch}{suffix}",
        compressed=compression is not None,
        # A compressed entry records its unpacked size; an uncompressed one is its own payload.
        size=uncompressed if compression and uncompressed else payload,
        stored_size=(compressed or payload) if compression else payload,
        compression=compression,
        offset=offset,
    )


def _read_at(f: IO[bytes], pos: int, n: int) -> bytes:
    f.seek(pos)
    return f.read(n)


def _skip_zeros(f: IO[bytes], pos: int, end: int) -> int:
    """Return the offset of the first non-zero byte at or after ``pos``; anything but a fatbin there is an error."""
    while pos < end:
        chunk = _read_at(f, pos, min(_ZERO_SKIP_CHUNK, end - pos))
        if not chunk:
            raise BinaryFormatError(f"file ends at offset {pos}, inside a fatbin section that should run to {end}")
        stripped = chunk.lstrip(b"\0")
        if stripped:
            pos += len(chunk) - len(stripped)
            if len(stripped) >= 4 and int.from_bytes(stripped[:4], "little") == FATBIN_MAGIC:
                return pos
            if len(stripped) < 4 and pos + len(stripped) < end:
                # The magic straddles this chunk's end: look again from here.
                probe = _read_at(f, pos, 4)
                if len(probe) == 4 and int.from_bytes(probe, "little") == FATBIN_MAGIC:
                    return pos
            raise BinaryFormatError(f"expected a fatbin header (magic 0x{FATBIN_MAGIC:08X}) at offset {pos}")
        pos += len(chunk)
    return end
