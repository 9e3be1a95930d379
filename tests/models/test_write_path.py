"""How the downloader puts the bytes on disk: direct I/O (O_DIRECT) where the filesystem takes it, the page cache
where it does not, and the same verified file either way (odd resume offsets, short reads, refusals)."""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
from pathlib import Path

import pytest

from aima.models.cache import RepoCache
from aima.models.download import _Sink, pull

from .conftest import BIG, COMMIT, settings, whisper_source

ALIGN = _Sink.ALIGN


def _takes_direct_io(folder: Path) -> bool:
    probe = folder / "probe"
    probe.touch()
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_DIRECT))
        return True
    except OSError:
        return False
    finally:
        probe.unlink()


@pytest.fixture
def writes(monkeypatch):
    """Every pwrite the downloader makes: (direct, offset, bytes)."""
    real, log = os.pwrite, []

    def pwrite(fd, data, offset):
        n = real(fd, data, offset)
        log.append((bool(fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT), offset, n))
        return n

    monkeypatch.setattr(os, "pwrite", pwrite)
    return log


def _assert_whole_file(tmp_path: Path, writes: list) -> None:
    assert (RepoCache(tmp_path, "ggerganov/whisper.cpp").snapshot(COMMIT) / "ggml-tiny.bin").read_bytes() == BIG
    spans = sorted((offset, offset + n) for _, offset, n in writes)
    assert spans[0][0] == 0 and spans[-1][1] == len(BIG)
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:], strict=False))  # every byte written once


@pytest.mark.parametrize("fault", ["none", "cut at an odd byte", "slow server (short reads)"])
def test_the_aligned_middle_of_each_buffer_goes_direct_and_the_ends_through_the_page_cache(
        hf, tmp_path, writes, fault):
    if fault == "cut at an odd byte":
        hf.faults.cut_at = 1_000_003  # the resumed part starts mid-block
    elif fault == "slow server (short reads)":
        hf.faults.rate = 6 * 2**20  # buffers handed over every 0.1 s, at sizes that are not block multiples
    pull([whisper_source()], tmp_path, settings(hf))
    _assert_whole_file(tmp_path, writes)
    direct = [(offset, n) for is_direct, offset, n in writes if is_direct]
    buffered = sum(n for is_direct, _, n in writes if not is_direct)
    if not _takes_direct_io(tmp_path):  # this filesystem has no direct I/O: all through the page cache
        assert not direct
        return
    # Direct writes are block-aligned in offset and length (a misaligned one would have failed with EINVAL
    # and quietly fallen back to the page cache), and only the unaligned ends of buffers go buffered.
    assert direct and all(offset % ALIGN == 0 and n % ALIGN == 0 for offset, n in direct)
    pieces = sum(1 for is_direct, _, _ in writes if not is_direct)
    assert buffered < pieces * ALIGN
    if fault == "none":
        assert buffered == len(BIG) % ALIGN  # one buffer: the file's last partial block


def test_a_filesystem_without_direct_io_gets_every_byte_through_the_page_cache(hf, tmp_path, writes,
                                                                                monkeypatch):
    real_open = os.open

    def no_direct(path, flags, *args):
        if flags & os.O_DIRECT:  # what tmpfs before Linux 6.6 and many FUSE filesystems answer
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", no_direct)
    hf.faults.cut_at = 2_000_001
    result = pull([whisper_source()], tmp_path, settings(hf))
    assert result.files[0].outcome == "downloaded" and hf.log.body_bytes == len(BIG)
    _assert_whole_file(tmp_path, writes)
    assert not any(is_direct for is_direct, _, _ in writes)


def test_direct_writes_the_filesystem_refuses_fall_back_to_the_page_cache_for_the_rest(hf, tmp_path,
                                                                                        monkeypatch):
    real, log = os.pwrite, []

    def pwrite(fd, data, offset):
        is_direct = bool(fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT)
        if is_direct:  # opened with O_DIRECT, but the writes are refused (a filesystem with odd block sizes)
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
        n = real(fd, data, offset)
        log.append((is_direct, offset, n))
        return n

    monkeypatch.setattr(os, "pwrite", pwrite)
    hf.faults.rate = 6 * 2**20
    pull([whisper_source()], tmp_path, settings(hf))
    _assert_whole_file(tmp_path, log)
    assert hashlib.sha256(BIG).hexdigest() in {p.name for p in RepoCache(tmp_path, "ggerganov/whisper.cpp")
                                               .blobs.iterdir()}
