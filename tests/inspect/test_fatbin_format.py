"""The fatbin walker against containers written to the documented layout (fatbin_builder)."""

from __future__ import annotations

import io

import fatbin_builder as fb
import pytest

from aima.errors import AimaError
from aima.inspect import BinaryFormatError, FatbinEntry, arch_sort_key, summarize
from aima.inspect.fatbin import read_fatbin_region


def read(data: bytes) -> list[FatbinEntry]:
    return read_fatbin_region(io.BytesIO(data), 0, len(data))


def archs(data: bytes) -> list[str]:
    return [e.arch for e in read(data)]


@pytest.mark.parametrize(
    ("kind", "arch", "flags", "expected"),
    [
        (fb.ELF, 61, fb.FLAGS_LINUX64, "sm_61"),
        (fb.ELF, 86, fb.FLAGS_LINUX64, "sm_86"),
        (fb.ELF, 90, fb.FLAGS_LINUX64 | fb.ARCH_SPECIFIC, "sm_90a"),
        (fb.ELF, 121, fb.FLAGS_LINUX64 | fb.ARCH_SPECIFIC, "sm_121a"),
        (fb.ELF, 100, fb.FLAGS_LINUX64 | fb.FAMILY, "sm_100f"),
        (fb.PTX, 61, fb.FLAGS_LINUX64, "compute_61"),
        (fb.PTX, 120, fb.FLAGS_LINUX64 | fb.ARCH_SPECIFIC, "compute_120a"),
        (fb.LTO_IR, 90, fb.FLAGS_LINUX64, "lto_90"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_entry_kind_arch_and_suffix_are_spelled_like_nvcc(kind: int, arch: int, flags: int, expected: str) -> None:
    assert archs(fb.container(fb.entry(kind, arch, b"x" * 24, flags=flags))) == [expected]


def test_pascal_sass_entry_written_to_the_documented_layout() -> None:
    # nvcc 13 cannot target sm_61, so this GTX 1080 entry is written by hand to the layout the
    # public readers document: kind 2, arch 61, 64-bit Linux flags, an ELF payload.
    payload = b"\x7fELF" + b"\0" * 60
    [entry] = read(fb.container(fb.entry(fb.ELF, 61, payload)))
    assert entry == FatbinEntry(
        kind="sass", arch="sm_61", compressed=False, size=64, stored_size=64, compression=None, offset=16 + 64
    )


@pytest.mark.parametrize(("flag", "name"), [(fb.ZSTD, "zstd"), (fb.LZ4, "lz4")])
def test_compressed_entry_reports_unpacked_and_stored_sizes(flag: int, name: str) -> None:
    data = fb.container(fb.entry(fb.ELF, 80, b"z" * 13, flags=fb.FLAGS_LINUX64 | flag, uncompressed_size=4000))
    [entry] = read(data)
    assert (entry.compressed, entry.compression, entry.size, entry.stored_size) == (True, name, 4000, 13)


def test_longer_entry_headers_of_sm100_and_later_are_skipped_by_their_size() -> None:
    data = fb.container(
        fb.entry(fb.ELF, 100, b"a" * 8, header_size=112), fb.entry(fb.PTX, 120, b"b" * 8, header_size=80)
    )
    assert archs(data) == ["sm_100", "compute_120"]


def test_concatenated_containers_with_zero_padding_and_an_empty_one() -> None:
    data = (
        fb.container()
        + fb.container(fb.entry(fb.ELF, 80, b"a" * 8))
        + b"\0" * 24
        + fb.container(fb.entry(fb.ELF, 86, b"b" * 8), fb.entry(fb.PTX, 90, b"c" * 8))
    )
    assert archs(data) == ["sm_80", "sm_86", "compute_90"]


def test_region_in_the_middle_of_a_file_reports_file_offsets() -> None:
    data = fb.container(fb.entry(fb.ELF, 75, b"a" * 8))
    blob = b"\xff" * 100 + data + b"\xee" * 100
    [entry] = read_fatbin_region(io.BytesIO(blob), 100, len(data))
    assert (entry.arch, entry.offset) == ("sm_75", 100 + 16 + 64)


def test_unknown_kind_is_kept_but_not_summarised() -> None:
    entries = read(fb.container(fb.entry(0x40, 90, b"q" * 8), fb.entry(fb.ELF, 90, b"s" * 8)))
    assert [e.kind for e in entries] == ["kind-64", "sass"]
    assert summarize(entries).sass == ("sm_90",) and summarize(entries).ptx == ()


def test_summary_is_deduplicated_and_sorted_by_architecture() -> None:
    entries = read(
        fb.container(
            *(
                fb.entry(fb.ELF, a, b"x" * 8, flags=f)
                for a, f in [
                    (120, 0x11),
                    (90, 0x11 | fb.ARCH_SPECIFIC),
                    (100, 0x11),
                    (90, 0x11),
                    (80, 0x11),
                    (90, 0x11),
                ]
            )
        )
    )
    assert summarize(entries).sass == ("sm_80", "sm_90", "sm_90a", "sm_100", "sm_120")
    assert sorted(["compute_100", "sm_89", "sm_100f", "sm_9"], key=arch_sort_key) == [
        "sm_9",
        "sm_89",
        "compute_100",
        "sm_100f",
    ]


GOOD = fb.container(fb.entry(fb.ELF, 86, b"a" * 40))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (GOOD[:10], "cut off"),
        (GOOD[:40], "claims"),
        (fb.container(fb.entry(fb.ELF, 86, b"a" * 40), fat_size=20), "entry header at offset 16 is cut off"),
        (fb.container(fb.entry(fb.ELF, 86, b"a" * 40, payload_size=4096)), "runs past its container"),
        (fb.container(fb.entry(fb.ELF, 86, b"a" * 40, header_size=8)), "header size of 8"),
        (fb.container(fb.entry(fb.ELF, 0, b"a" * 8)), "architecture 0"),
        (fb.container(fb.entry(fb.ELF, 86, b"a" * 8), version=2), "version 2"),
        (GOOD + b"garbage!", "expected a fatbin header"),
        (b"\0" * 32 + b"\x01", "expected a fatbin header"),
    ],
    ids=[
        "header-cut",
        "entries-cut",
        "entry-header-cut",
        "payload-too-long",
        "tiny-entry-header",
        "arch-zero",
        "unknown-version",
        "trailing-garbage",
        "lone-nonzero-byte",
    ],
)
def test_bad_or_truncated_data_is_a_clear_format_error(data: bytes, message: str) -> None:
    with pytest.raises(BinaryFormatError, match=message) as caught:
        read(data)
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, AimaError)


def test_a_region_past_the_end_of_the_file_is_an_error_not_a_loop() -> None:
    with pytest.raises(BinaryFormatError, match="file ends"):
        read_fatbin_region(io.BytesIO(b"\0" * 8), 0, 1 << 20)


def test_magic_split_across_the_zero_skip_chunk_is_found() -> None:
    padding = 64 * 1024 - 2  # the header starts two bytes before a 64 KiB read boundary
    data = b"\0" * padding + fb.container(fb.entry(fb.ELF, 89, b"a" * 8))
    assert archs(data) == ["sm_89"]
