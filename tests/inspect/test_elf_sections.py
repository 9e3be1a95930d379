"""The ELF64 section reader: finds .nv_fatbin, ignores the rest, refuses what it does not read."""

from __future__ import annotations

import io
import struct

import fatbin_builder as fb
import pytest

from aima.inspect import BinaryFormatError, scan_binary
from aima.inspect.elf import RELOCATABLE_FATBIN_SECTIONS, is_elf64, read_sections

FATBIN = fb.container(fb.entry(fb.ELF, 86, b"a" * 16), fb.entry(fb.PTX, 90, b"p" * 16))


def scan(data: bytes, *args) -> list[str]:
    return [e.arch for e in scan_binary(io.BytesIO(data), *args)]


def test_finds_the_fatbin_among_other_sections() -> None:
    data = fb.elf64([(".text", b"\x90" * 100), (".nv_fatbin", FATBIN), (".rodata", b"\xba\x55\xed\x50" * 8)])
    assert [s.name for s in read_sections(io.BytesIO(data))] == ["", ".text", ".nv_fatbin", ".rodata", ".shstrtab"]
    assert scan(data) == ["sm_86", "compute_90"]


def test_library_without_cuda_code_has_no_entries() -> None:
    assert scan(fb.elf64([(".text", b"\x90" * 64)])) == []


def test_relocatable_fatbin_is_read_only_when_asked() -> None:
    data = fb.elf64([("__nv_relfatbin", FATBIN)])
    assert scan(data) == []
    assert scan(data, RELOCATABLE_FATBIN_SECTIONS) == ["sm_86", "compute_90"]


def test_bare_fatbin_file_is_read_whole() -> None:
    assert scan(FATBIN) == ["sm_86", "compute_90"]


def test_extended_section_numbering_is_followed() -> None:
    # With e_shnum = 0 and e_shstrndx = SHN_XINDEX the counts live in section 0 (gABI "Sections").
    data = bytearray(fb.elf64([(".nv_fatbin", FATBIN)]))
    shoff, shnum, shstrndx = struct.unpack_from("<Q", data, 40)[0], data[60], data[62]
    struct.pack_into("<HH", data, 60, 0, 0xFFFF)
    struct.pack_into("<Q", data, shoff + 32, shnum)  # section 0 sh_size
    struct.pack_into("<I", data, shoff + 40, shstrndx)  # section 0 sh_link
    assert scan(bytes(data)) == ["sm_86", "compute_90"]


def elf(patch=None) -> bytes:
    data = bytearray(fb.elf64([(".nv_fatbin", FATBIN)]))
    if patch:
        patch(data)
    return bytes(data)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"MZ\x90\x00" + b"\0" * 100, "not an ELF file"),
        (elf(lambda d: d.__setitem__(4, 1)), "32-bit little-endian ELF"),
        (elf(lambda d: d.__setitem__(5, 2)), "64-bit big-endian ELF"),
        (elf()[:40], "cut off"),
        (elf(lambda d: struct.pack_into("<H", d, 58, 40)), "section headers are 40 bytes"),
        (elf(lambda d: struct.pack_into("<Q", d, 40, len(d) - 10)), "past the end of the file"),
        (elf(lambda d: struct.pack_into("<H", d, 60, 500)), "runs past the end of the file"),
        (
            elf(lambda d: struct.pack_into("<Q", d, struct.unpack_from("<Q", d, 40)[0] + 64 + 32, 1 << 40)),
            "runs past the end of the file",
        ),
    ],
    ids=[
        "not-elf",
        "elf32",
        "big-endian",
        "header-cut",
        "odd-shentsize",
        "table-past-end",
        "too-many-sections",
        "section-past-end",
    ],
)
def test_files_it_cannot_read_are_refused_with_a_reason(data: bytes, message: str) -> None:
    with pytest.raises(BinaryFormatError, match=message):
        scan_binary(io.BytesIO(data))


def test_a_corrupt_fatbin_inside_an_elf_is_a_format_error() -> None:
    data = fb.elf64([(".nv_fatbin", FATBIN[:-8])])
    with pytest.raises(BinaryFormatError, match="claims"):
        scan_binary(io.BytesIO(data))


def test_is_elf64_reads_only_the_identification_bytes() -> None:
    assert is_elf64(b"\x7fELF\x02\x01") and not is_elf64(b"\x7fELF\x01\x01") and not is_elf64(b"\x7fEL")
