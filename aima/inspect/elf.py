"""Find the fatbin sections of an ELF64 file with seek and small reads, and read their GPU code.

Only the ELF header, the section header table and the section-name table are read; the fatbin
sections are then walked header by header (aima.inspect.fatbin), one small read per entry: about
400 KB of a 517 MB libcublasLt with its 5,737 entries. Layout: the System V gABI, "ELF Header" and "Sections" chapters
(Elf64_Ehdr / Elf64_Shdr), including extended numbering (e_shnum = 0, e_shstrndx = SHN_XINDEX).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from aima.inspect.fatbin import FATBIN_MAGIC, BinaryFormatError, FatbinEntry, read_fatbin_region

ELF_MAGIC = b"\x7fELF"
_ELFCLASS64 = 2
_ELFDATA2LSB = 1
_EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
_SHDR = struct.Struct("<IIQQQQIIQQ")
_SHT_NOBITS = 8
_SHN_XINDEX = 0xFFFF
# Section names are short; a name table this big is not a real one.
_MAX_NAME_TABLE = 16 * 1024 * 1024
# Section headers read at a time (256 KiB): files with extended numbering can have millions.
_TABLE_CHUNK = 4096

# The runtime registers the fatbin in .nv_fatbin (CUDA's fatbinary_section.h, FATBIN_DATA_SECTION_NAME;
# clang's CUDA code generation uses the same name). __nv_relfatbin
# (FATBIN_PRELINK_DATA_SECTION_NAME) holds relocatable code kept for a later device link: it is not
# what the driver loads, so it is read only when asked for.
RUNTIME_FATBIN_SECTIONS = (".nv_fatbin",)
RELOCATABLE_FATBIN_SECTIONS = ("__nv_relfatbin",)


@dataclass(frozen=True)
class Section:
    """One ELF section: its name and where its bytes lie in the file (size 0 for SHT_NOBITS)."""

    name: str
    offset: int
    size: int


def is_elf64(head: bytes) -> bool:
    """Say whether the first bytes of a file are those of a little-endian ELF64 file."""
    return len(head) >= 6 and head[:4] == ELF_MAGIC and head[4] == _ELFCLASS64 and head[5] == _ELFDATA2LSB


def is_fatbin(head: bytes) -> bool:
    """Say whether the first bytes of a file are a bare fatbin container (a ``.fatbin`` file)."""
    return len(head) >= 4 and int.from_bytes(head[:4], "little") == FATBIN_MAGIC


def read_sections(f: IO[bytes]) -> list[Section]:
    """Read the section table of a little-endian ELF64 file; anything else is a BinaryFormatError."""
    return list(iter_sections(f))


def iter_sections(f: IO[bytes]) -> Iterator[Section]:
    """Yield the sections of a little-endian ELF64 file, reading its section table in bounded chunks."""
    file_size = f.seek(0, 2)
    f.seek(0)
    raw = f.read(_EHDR.size)
    if raw[:4] != ELF_MAGIC:
        raise BinaryFormatError("not an ELF file (no \\x7fELF magic)")
    if len(raw) < _EHDR.size:
        raise BinaryFormatError(f"ELF header cut off after {len(raw)} bytes")
    if not is_elf64(raw):
        bits = {1: "32-bit", 2: "64-bit"}.get(raw[4], f"class-{raw[4]}")
        order = {1: "little-endian", 2: "big-endian"}.get(raw[5], f"data-{raw[5]}")
        raise BinaryFormatError(f"a {bits} {order} ELF file; only little-endian ELF64 is read")
    fields = _EHDR.unpack(raw)
    shoff, shentsize, shnum, shstrndx = fields[6], fields[11], fields[12], fields[13]
    if shoff == 0:
        return  # no section table (stripped to program headers only): nothing to name
    if shentsize != _SHDR.size:
        raise BinaryFormatError(f"ELF section headers are {shentsize} bytes, not {_SHDR.size}")
    first = _section_header(f, shoff, 0, file_size)
    # Extended numbering: with more than 0xff00 sections the real counts live in section 0.
    if shnum == 0:
        shnum = first[5]
    if shstrndx == _SHN_XINDEX:
        shstrndx = first[6]
    if shoff + shnum * _SHDR.size > file_size:
        raise BinaryFormatError(f"ELF section table ({shnum} entries at offset {shoff}) runs past the end of the file")
    names = _name_table(f, shoff, shnum, shstrndx, file_size)
    for first_index in range(0, shnum, _TABLE_CHUNK):
        count = min(_TABLE_CHUNK, shnum - first_index)
        f.seek(shoff + first_index * _SHDR.size)
        table = f.read(count * _SHDR.size)
        for header in _SHDR.iter_unpack(table):
            name_off, sh_type, offset, size = header[0], header[1], header[4], header[5]
            if sh_type == _SHT_NOBITS:
                size = 0
            elif offset + size > file_size:
                raise BinaryFormatError(f"ELF section at offset {offset} ({size} bytes) runs past the end of the file")
            yield Section(name=_name_at(names, name_off), offset=offset, size=size)


def scan_binary(f: IO[bytes], sections: tuple[str, ...] = RUNTIME_FATBIN_SECTIONS) -> list[FatbinEntry]:
    """Read the GPU code entries of an ELF64 file's fatbin sections, or of a bare fatbin file."""
    f.seek(0)
    head = f.read(6)
    if is_fatbin(head):
        return read_fatbin_region(f, 0, f.seek(0, 2))
    entries: list[FatbinEntry] = []
    for section in iter_sections(f):
        if section.name in sections and section.size:
            entries.extend(read_fatbin_region(f, section.offset, section.size))
    return entries


def scan_path(path: str, sections: tuple[str, ...] = RUNTIME_FATBIN_SECTIONS) -> list[FatbinEntry]:
    """Open a file and return its fatbin entries (see scan_binary)."""
    # Unbuffered: each read fetches the header asked for, not an 8 KiB buffer around it.
    with open(path, "rb", buffering=0) as f:
        return scan_binary(f, sections)


def _section_header(f: IO[bytes], shoff: int, index: int, file_size: int) -> tuple:
    start = shoff + index * _SHDR.size
    if start + _SHDR.size > file_size:
        raise BinaryFormatError(f"ELF section header {index} at offset {start} lies past the end of the file")
    f.seek(start)
    return _SHDR.unpack(f.read(_SHDR.size))


def _name_table(f: IO[bytes], shoff: int, shnum: int, index: int, file_size: int) -> bytes:
    """Return the bytes of the section-name string table, or b"" when the file has none."""
    if not 0 < index < shnum:
        return b""
    header = _section_header(f, shoff, index, file_size)
    offset, size = header[4], header[5]
    if size > _MAX_NAME_TABLE or offset + size > file_size:
        raise BinaryFormatError(f"ELF section-name table ({size} bytes at offset {offset}) is not plausible")
    f.seek(offset)
    return f.read(size)


def _name_at(names: bytes, offset: int) -> str:
    if offset >= len(names):
        return ""
    end = names.find(b"\0", offset)
    return names[offset : end if end >= 0 else len(names)].decode("latin-1")
