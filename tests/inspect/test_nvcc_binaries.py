"""The reader against libraries nvcc 13 really built: it must report exactly what was compiled.

Each entry is also checked against evidence the reader does not use: the payload itself (after
unpacking zstd with the zstd tool where it is there). A cubin records ptxas' command line
(``-arch sm_90a``) in its .note.nv.tkinfo and its SM number in ELF e_flags bits 8..15; PTX text
says ``.target sm_90a``. That is what proves the 'a' and 'f' flag bits, which no public source
documents.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess

import pytest
from cuda_builds import BUILDS, CudaBinaries, CudaBuild

from aima.inspect import FatbinEntry, scan_binary, scan_path, summarize
from aima.inspect.elf import RELOCATABLE_FATBIN_SECTIONS


@pytest.mark.parametrize("build", BUILDS, ids=[b.name for b in BUILDS])
def test_reader_reports_exactly_what_nvcc_compiled(cuda_binaries: CudaBinaries, build: CudaBuild) -> None:
    summary = summarize(scan_path(str(cuda_binaries.libraries[build.name])))
    assert (summary.sass, summary.ptx, summary.lto) == (build.sass, build.ptx, build.lto)


@pytest.mark.parametrize("build", [b for b in BUILDS if b.compression], ids=lambda b: b.name)
def test_forced_compression_is_reported_on_every_entry(cuda_binaries: CudaBinaries, build: CudaBuild) -> None:
    entries = scan_path(str(cuda_binaries.libraries[build.name]))
    assert entries and all(e.compressed and e.compression == build.compression for e in entries)
    assert all(e.stored_size < e.size for e in entries), "a compressed payload should be smaller than its contents"


def test_uncompressed_sass_is_stored_as_is(cuda_binaries: CudaBinaries) -> None:
    entries = scan_path(str(cuda_binaries.libraries["ampere_to_hopper"]))
    assert entries and all(not e.compressed and e.size == e.stored_size for e in entries)


def test_default_cudart_adds_containers_but_no_targets(cuda_binaries: CudaBinaries) -> None:
    # cudart_static brings its own (here empty) container into .nv_fatbin ahead of ours.
    path = cuda_binaries.libraries["ptx_only_90"]
    data = path.read_bytes()
    assert data.count(struct.pack("<I", 0xBA55ED50)) >= 2
    assert [e.arch for e in scan_path(str(path))] == ["compute_90"]


def test_relocatable_copy_is_read_only_when_asked(cuda_binaries: CudaBinaries) -> None:
    path = str(cuda_binaries.libraries["relocatable"])
    relocatable = scan_path(path, RELOCATABLE_FATBIN_SECTIONS)
    assert [e.arch for e in relocatable] == ["sm_80"]
    assert [e.arch for e in scan_path(path)] == ["sm_80"]


def test_lto_ir_in_an_object_file_is_kind_lto(cuda_binaries: CudaBinaries) -> None:
    entries = scan_path(str(cuda_binaries.lto_object), RELOCATABLE_FATBIN_SECTIONS)
    assert summarize(entries).lto == ("lto_90", "lto_100a")
    assert summarize(entries).sass == summarize(entries).ptx == ()


def test_pascal_entries_packed_by_nvidia_fatbinary(cuda_binaries: CudaBinaries) -> None:
    with open(cuda_binaries.pascal_fatbin, "rb") as bare:
        from_file = scan_binary(bare)
    from_library = scan_path(str(cuda_binaries.pascal_library))
    for entries in (from_file, from_library):
        assert (summarize(entries).sass, summarize(entries).ptx) == (("sm_61",), ("compute_61",))


@pytest.mark.parametrize("name", [b.name for b in BUILDS])
def test_each_entry_matches_the_arch_its_payload_names(cuda_binaries: CudaBinaries, name: str) -> None:
    path = cuda_binaries.libraries[name]
    entries = scan_path(str(path))
    checked = 0
    with open(path, "rb") as f:
        for entry in entries:
            payload = _payload(f, entry)
            if payload is None:
                continue
            assert len(payload) == entry.size
            assert _arch_named_in(payload, entry) == entry.arch.replace("compute_", "sm_")
            if entry.kind == "sass":
                assert payload[8] == 8 and (struct.unpack_from("<I", payload, 48)[0] >> 8) & 0xFF == _number(entry.arch)
            checked += 1
    if not any(e.compression == "lz4" for e in entries):
        assert checked == len(entries) or shutil.which("zstd") is None


def _payload(f, entry: FatbinEntry) -> bytes | None:
    """The entry's unpacked payload, or None where no unpacker is at hand (LZ4 blocks; zstd missing)."""
    f.seek(entry.offset)
    raw = f.read(entry.stored_size)
    if entry.compression is None:
        # Uncompressed payloads are padded to 8 bytes.
        return raw[: entry.size]
    if entry.compression == "zstd" and shutil.which("zstd"):
        return subprocess.run(["zstd", "-d", "-c"], input=raw, capture_output=True, check=True).stdout
    return None


def _arch_named_in(payload: bytes, entry: FatbinEntry) -> str | None:
    pattern = rb"-arch (sm_\w+)" if entry.kind == "sass" else rb"\.target\s+(sm_\w+)"
    match = re.search(pattern, payload)
    return match.group(1).decode() if match else None


def _number(arch: str) -> int:
    return int(re.search(r"\d+", arch).group())
