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
from aima.models.download import DIRECT_IO_FILESYSTEMS, _Sink, filesystem_of, pull

from .conftest import BIG, COMMIT, settings, whisper_source

ALIGN = _Sink.ALIGN


def _takes_direct_io(folder: Path) -> bool:
    return filesystem_of(folder) in DIRECT_IO_FILESYSTEMS


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
    if not _takes_direct_io(tmp_path):  # not a local disk's filesystem: all through the page cache
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


def test_on_a_memory_filesystem_every_byte_goes_through_the_page_cache(hf, tmp_path, writes, monkeypatch):
    import subprocess

    from aima.models import download

    from .test_pull import _mount_tmpfs

    small = tmp_path / "small"
    mounted = _mount_tmpfs(small, "16m")  # a real tmpfs where the machine lets us mount one (root; CI is)
    if not mounted:  # else the mount table says it is one
        table = tmp_path / "mountinfo"
        table.write_text(f"27 1 254:0 / / rw - ext4 /dev/vda rw\n44 27 0:44 / {small} rw - tmpfs tmpfs rw\n")
        real = download.filesystem_of
        monkeypatch.setattr(download, "filesystem_of", lambda path, mountinfo=str(table): real(path, mountinfo))
    try:
        assert download.filesystem_of(small) == "tmpfs"
        pull([whisper_source()], small / "hub", settings(hf))
        _assert_whole_file(small / "hub", writes)
        assert not any(is_direct for is_direct, _, _ in writes)
    finally:
        if mounted:
            subprocess.run(["umount", str(small)], check=False)


MOUNTINFO = r"""22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
40 27 0:40 / /mnt/models rw - nfs4 server:/export rw
41 27 0:41 / /mnt/models\040two rw - xfs /dev/sdb rw
42 40 0:42 / /mnt/models/fast rw - btrfs /dev/sdc rw
43 40 0:43 / /mnt/models/fast rw - fuse.sshfs host:/x rw
44 27 0:44 / /mnt/modelsx rw - tmpfs tmpfs rw
"""


@pytest.mark.parametrize("path,fs", [
    ("/home/u/.cache/huggingface/hub", "ext4"),
    ("/mnt/models/hub", "nfs4"),
    ("/mnt/models two/hub", "xfs"),  # mountinfo writes a space as \040
    ("/mnt/models/fast/hub", "fuse.sshfs"),  # the last mount on a point hides the one below
    ("/mnt/modelsx/hub", "tmpfs"),  # a prefix of the name is not a parent folder
    ("/mnt/models", "nfs4"),
])
def test_the_filesystem_is_found_as_df_finds_it(tmp_path, path, fs):
    info = tmp_path / "mountinfo"
    info.write_text(MOUNTINFO)
    assert filesystem_of(Path(path), str(info)) == fs
    assert filesystem_of(Path(path), str(tmp_path / "missing")) is None
