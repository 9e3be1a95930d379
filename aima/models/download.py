"""Fetch a plan's model files into the shared hub cache: resumable, verified, locked, with the disk checked first.

Why httpx and not huggingface_hub: huggingface_hub 1.x writes every attempt to a fresh temporary file and deletes
it when the attempt fails, so a download killed at 90 % starts from zero in the next process. Here an interrupted
download stays in blobs/ETAG.incomplete and the next run (or the next retry in this run) asks for the rest with
an HTTP Range request; the bytes already on disk are hashed, not fetched again. The layout stays huggingface_hub's,
so its tools (and vLLM, llama.cpp -hf) read what aima wrote.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from aima.errors import AimaError
from aima.models.cache import RepoCache
from aima.models.folder import expand as expand_folder
from aima.models.hub import Hub, HubError, HubSettings, RemoteFile, TransferError, TransferStalled
from aima.models.source import ModelFile, ModelSource

CHUNK = 4 << 20  # receive buffer: 4 MiB measured faster than 1 MiB (fewer queue hand-offs and syscalls)
RETRIES = 5  # connection cuts resumed within one run before giving up


class Reporter(Protocol):
    """Progress: a rich bar per file, plain lines, or JSON events."""

    def begin(self, files: int, to_fetch: int) -> None: ...
    def start(self, label: str, total: int, have: int) -> None: ...
    def advance(self, label: str, nbytes: int) -> None: ...
    def done(self, label: str, outcome: str, size: int) -> None: ...
    def note(self, message: str) -> None: ...
    def close(self) -> None: ...


class SilentReporter:
    """Reports nothing (library use, tests)."""

    def begin(self, files: int, to_fetch: int) -> None: ...
    def start(self, label: str, total: int, have: int) -> None: ...
    def advance(self, label: str, nbytes: int) -> None: ...
    def done(self, label: str, outcome: str, size: int) -> None: ...
    def note(self, message: str) -> None: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class FileResult:
    """What became of one file."""

    repo: str
    revision: str
    path: str
    local: str  # snapshots/COMMIT/PATH
    size: int
    outcome: str  # present | linked | downloaded | resumed
    fetched_bytes: int = 0


@dataclass
class PullResult:
    """Every file of every source, and the commits the revisions resolved to."""

    files: list[FileResult] = field(default_factory=list)
    commits: dict[tuple[str, str], str] = field(default_factory=dict)  # (repo, revision) -> commit

    @property
    def fetched_bytes(self) -> int:
        """Bytes that came over the network in this run."""
        return sum(f.fetched_bytes for f in self.files)


@dataclass(frozen=True)
class _Job:
    source: ModelSource
    file: ModelFile
    remote: RemoteFile
    commit: str
    expected_sha256: str | None

    @property
    def label(self) -> str:
        return f"{self.source.repo}/{self.file.path}"


def _gib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


def pull(sources: list[ModelSource], hub_dir: Path, settings: HubSettings, reporter: Reporter | None = None,
         *, free_bytes: Callable[[Path], int] | None = None, hub: Hub | None = None) -> PullResult:
    """Make every file of every source present in the hub cache, or raise one AimaError that says why not."""
    reporter = reporter or SilentReporter()
    free_bytes = free_bytes or _free_bytes
    result = PullResult()
    unique = list({(s.repo, s.revision, tuple(f.path for f in s.files)): s for s in sources}.values())
    # A folder (hf://ORG/REPO) becomes its files first: the snapshot on disk, else the hub's listing at one commit.
    unique = [expand_folder(s, hub_dir, settings, hub) if s.folder else s for s in unique]
    missing: list[tuple[ModelSource, ModelFile]] = []
    for source in unique:
        cache = RepoCache(hub_dir, source.repo)
        commit = cache.commit_of(source.revision)
        if commit:
            result.commits[(source.repo, source.revision)] = commit
        for f in source.files:
            local = cache.snapshot(commit) / f.path if commit else None
            if local is not None and local.exists() and (f.size is None or local.stat().st_size == f.size):
                result.files.append(FileResult(source.repo, source.revision, f.path, str(local),
                                               local.stat().st_size, "present"))
            else:
                missing.append((source, f))
    if not missing:
        reporter.begin(len(result.files), 0)
        for r in result.files:
            reporter.done(f"{r.repo}/{r.path}", r.outcome, r.size)
        return result
    if settings.offline:
        listed = "; ".join(f"{s.repo}@{s.revision}: {f.path}" + (f" ({_gib(f.size)})" if f.size else "")
                           for s, f in missing)
        raise AimaError(f"offline (HF_HUB_OFFLINE or --offline): {len(missing)} model file(s) are not in "
                        f"{hub_dir}: {listed}", hint="run `aima pull` with the network, or copy the files into the "
                                                     "Hugging Face cache")
    own = hub is None
    hub = hub or Hub(settings)
    try:
        jobs = _resolve(hub, hub_dir, missing, result)
        _check_space(jobs, hub_dir, free_bytes)
        reporter.begin(len(result.files) + len(jobs),
                       sum(j.remote.size - _partial_size(hub_dir, j) for j in jobs))
        for r in result.files:
            reporter.done(f"{r.repo}/{r.path}", r.outcome, r.size)
        for job in jobs:
            result.files.append(_fetch(hub, hub_dir, job, reporter))
    finally:
        reporter.close()
        if own:
            hub.close()
    return result


def _resolve(hub: Hub, hub_dir: Path, missing: list[tuple[ModelSource, ModelFile]], result: PullResult) -> list[_Job]:
    """HEAD every missing file first: a gated model or a wrong catalogue entry stops the run before any download."""
    jobs, refused = [], []
    for source, f in missing:
        try:
            remote = hub.head(source.repo, source.revision, f.path)
        except HubError as exc:
            if exc.status in (401, 403):
                refused.append(exc)
                continue
            raise
        commit = source.revision if source.pinned else (remote.commit or "")
        if not commit:
            raise AimaError(f"{source.repo}@{source.revision}: the server named no commit (X-Repo-Commit) for "
                            f"{f.path}", hint="pin the revision to a commit in the catalogue or the hf:// URI")
        said, stale = (("the hub's file listing says", "the server answers its listing and its files differently; "
                        "try again") if source.folder else ("the catalogue says", "the catalogue's source is stale"))
        if f.size is not None and f.size != remote.size:
            raise AimaError(f"{source.repo}@{source.revision}: {f.path} is {remote.size} bytes on the server, {said} "
                            f"{f.size}", hint=stale)
        if f.sha256 and remote.lfs_sha256 and f.sha256 != remote.lfs_sha256:
            raise AimaError(f"{source.repo}@{source.revision}: {f.path} has SHA-256 {remote.lfs_sha256} on the "
                            f"server, {said} {f.sha256}", hint=stale)
        cache = RepoCache(hub_dir, source.repo)
        cache.write_ref(source.revision, commit)
        result.commits[(source.repo, source.revision)] = commit
        job = _Job(source, f, remote, commit, f.sha256 or remote.lfs_sha256)
        blob = cache.blob(remote.etag)
        if blob.exists() and blob.stat().st_size == remote.size:
            # Another revision (or another tool) already has these bytes: link, do not fetch.
            local = cache.link(commit, f.path, remote.etag)
            result.files.append(FileResult(source.repo, source.revision, f.path, str(local), remote.size, "linked"))
            continue
        jobs.append(job)
    if refused:
        first = refused[0]
        raise AimaError(f"{first.message}; nothing was downloaded", hint=first.hint)
    return jobs


def _partial_size(hub_dir: Path, job: _Job) -> int:
    try:
        return RepoCache(hub_dir, job.source.repo).partial(job.remote.etag).stat().st_size
    except OSError:
        return 0


def _free_bytes(path: Path) -> int:
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free


def _check_space(jobs: list[_Job], hub_dir: Path, free_bytes: Callable[[Path], int]) -> None:
    need = sum(max(0, j.remote.size - _partial_size(hub_dir, j)) for j in jobs)
    free = free_bytes(hub_dir)
    if need > free:
        raise AimaError(f"not enough disk space in {hub_dir}: the models need {_gib(need)} ({need} bytes) more, the "
                        f"filesystem has {_gib(free)} ({free} bytes) free; nothing was downloaded",
                        hint="free space there, or point HF_HUB_CACHE (or HF_HOME) at a larger disk")


@contextmanager
def _locked(path: Path, reporter: Reporter, label: str) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            reporter.note(f"{label}: another download of this file is running; waiting for it")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _fetch(hub: Hub, hub_dir: Path, job: _Job, reporter: Reporter) -> FileResult:
    cache = RepoCache(hub_dir, job.source.repo)
    cache.blobs.mkdir(parents=True, exist_ok=True)
    blob, partial = cache.blob(job.remote.etag), cache.partial(job.remote.etag)
    with _locked(cache.lock(job.remote.etag), reporter, job.label):
        if blob.exists() and blob.stat().st_size == job.remote.size:  # the other download finished it
            local = cache.link(job.commit, job.file.path, job.remote.etag)
            reporter.done(job.label, "present", job.remote.size)
            return FileResult(job.source.repo, job.source.revision, job.file.path, str(local), job.remote.size,
                              "present")
        have = partial.stat().st_size if partial.exists() else 0
        if have > job.remote.size:
            partial.unlink()
            have = 0
        resumed = have > 0
        digests = _Digests(job)
        if have:
            digests.read(partial)  # the bytes on disk are hashed, never fetched again
        fetched = _download(hub, job, partial, have, reporter, digests)
        _verify(job, partial, digests)
        os.replace(partial, blob)
        local = cache.link(job.commit, job.file.path, job.remote.etag)
    outcome = "resumed" if resumed else "downloaded"
    reporter.done(job.label, outcome, job.remote.size)
    return FileResult(job.source.repo, job.source.revision, job.file.path, str(local), job.remote.size, outcome,
                      fetched)


def _download(hub: Hub, job: _Job, partial: Path, have: int, reporter: Reporter, digests: _Digests) -> int:
    """Append the missing bytes to the partial file; connection cuts are resumed with Range, up to RETRIES times."""
    reporter.start(job.label, job.remote.size, have)
    fetched, attempt = 0, 0
    while have < job.remote.size:
        try:
            with hub.get(job.remote.url, have) as body:
                if body.status == 416:  # nothing left to send: verify what is there
                    return fetched
                if body.status >= 400:
                    hub.raise_for(body.status, body.headers, job.source.repo, job.source.revision, job.file.path)
                if have and body.status != 206:  # the server ignored Range: start over
                    have = 0
                    partial.write_bytes(b"")
                    digests.reset()
                    reporter.note(f"{job.label}: the server does not resume; fetching from the start")
                sink = _Sink(partial, digests, have)
                try:
                    while n := body.readinto(sink.buffer()):
                        sink.push(n)
                        have += n
                        fetched += n
                        reporter.advance(job.label, n)
                finally:
                    sink.close()  # what arrived before a cut is written and hashed, then fsync'd
            if have < job.remote.size:
                raise TransferError("the server closed the connection early")
        except TransferStalled as exc:
            raise AimaError(
                f"{job.label}: the server sent nothing for {hub.settings.timeout_s:g} s ({have} of {job.remote.size} "
                f"bytes on disk, kept)", hint="run the same command again to resume; HF_HUB_DOWNLOAD_TIMEOUT sets "
                                              "the wait") from exc
        except TransferError as exc:
            attempt += 1
            if attempt > RETRIES:
                raise AimaError(f"{job.label}: the connection broke {attempt} times ({have} of {job.remote.size} bytes "
                                f"on disk, kept): {exc}", hint="run the same command again to resume") from exc
            reporter.note(f"{job.label}: connection lost at byte {have}; resuming")
            time.sleep(min(2.0, 0.2 * attempt))
        except _DiskError as exc:
            raise _disk_error(job, partial, exc) from exc.cause
    return fetched


def _disk_error(job: _Job, partial: Path, exc: _DiskError) -> AimaError:
    kept = partial.stat().st_size if partial.exists() else 0
    need = job.remote.size - kept
    if exc.cause.errno == errno.ENOSPC:
        return AimaError(f"the disk filled up while writing {job.label}: {partial.parent} needs {_gib(need)} "
                         f"({need} bytes) more, {kept} of {job.remote.size} bytes are kept in "
                         f"{partial.name} (not a usable file)",
                         hint="free space there (or point HF_HUB_CACHE at a larger disk) and run the same command "
                              "again to resume")
    return AimaError(f"cannot write {job.label} into {partial.parent}: {exc.cause.strerror or exc.cause} "
                     f"({kept} of {job.remote.size} bytes kept)", hint="fix the folder and run the command again")


class _DiskError(Exception):
    """Writing or syncing the partial file failed (ENOSPC, EIO, ...)."""

    def __init__(self, cause: OSError) -> None:
        super().__init__(str(cause))
        self.cause = cause


class _Sink:
    """Hashes and writes the received buffers in two threads while the next buffer is being received.

    hashlib and os.write release the GIL on large buffers, so on two cores receiving, hashing and writing
    overlap (what curl does in one loop costs Python three passes otherwise). A few buffers go round: one
    is reused only after both threads are done with it.

    The bytes go to the disk with direct I/O (O_DIRECT) where the filesystem takes it: the device copies them
    from the buffer itself, so there is no copy into the page cache and no writeback left for the fsync
    before the file is verified and renamed (that fsync, not the network, made aima slower than curl, which
    never syncs). Direct I/O wants the file offset, the length and the memory address aligned to the block
    size, so each buffer is received at the offset that lines its bytes up with the file's blocks, and the
    unaligned ends of a buffer (a resumed file's odd size, a short read, the file's last bytes) go through the
    page cache. On filesystems that are not a local disk's (DIRECT_IO_FILESYSTEMS), and where one refuses
    O_DIRECT, every write goes through the page cache, with a thread starting writeback (fdatasync) every
    SYNC_EVERY bytes so the final fsync has little left to do.
    """

    BUFFERS = 4
    ALIGN = 4096  # a multiple of every block size O_DIRECT asks for on the disks aima meets (512 or 4096)
    SYNC_EVERY = 128 << 20  # fewer fdatasync calls (each a journal commit) measured faster than every 32 MiB

    def __init__(self, path: Path, digests: _Digests, offset: int) -> None:
        import mmap
        import queue
        import threading

        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
        self._direct = _open_direct(path)
        self._offset = offset  # where the next received byte goes in the file
        # Anonymous maps are page aligned, as direct I/O wants the memory to be.
        self._maps = [mmap.mmap(-1, CHUNK + self.ALIGN, flags=mmap.MAP_PRIVATE) for _ in range(self.BUFFERS)]
        self._views = [memoryview(m) for m in self._maps]
        self._next = 0
        self._busy = 0
        self._error: Exception | None = None
        self._buffered = 0  # bytes written through the page cache since the last writeback
        self._sync_wanted = threading.Event()
        self._stopping = False
        self._queues = [(queue.Queue[Any](), queue.Queue[None]()) for _ in range(2)]
        steps = (lambda item: digests.update(item[0]), self._write)
        self._threads = [threading.Thread(target=self._work, args=(step, *q), daemon=True)
                         for step, q in zip(steps, self._queues, strict=True)]
        self._threads.append(threading.Thread(target=self._sync, daemon=True))
        for t in self._threads:
            t.start()

    def buffer(self) -> memoryview:
        """The next free buffer to receive into (waits until both threads are done with it)."""
        if self._busy == self.BUFFERS:
            for _, done in self._queues:
                done.get()
            self._busy -= 1
        self._raise()
        start = self._offset % self.ALIGN  # byte k of the buffer lands on a block boundary when k is aligned
        return self._views[self._next][start:start + CHUNK]

    def _raise(self) -> None:
        if isinstance(self._error, OSError):
            raise _DiskError(self._error)
        if self._error is not None:
            raise self._error

    def push(self, n: int) -> None:
        """Hand the first n bytes of the buffer from buffer() to the hashing and writing threads."""
        start = self._offset % self.ALIGN
        item = (self._views[self._next][start:start + n], self._offset)
        for work, _ in self._queues:
            work.put(item)
        self._offset += n
        self._next = (self._next + 1) % self.BUFFERS
        self._busy += 1

    def close(self) -> None:
        """Wait for every pushed buffer to be hashed and written, fsync, close; a write error raises _DiskError."""
        for work, _ in self._queues:
            work.put(None)
        for t in self._threads[:2]:
            t.join()
        self._stopping = True
        self._sync_wanted.set()
        self._threads[2].join()
        try:
            if self._error is None:
                os.fsync(self._fd)  # the page-cache bytes, the file's size and the device's write cache
        except OSError as exc:
            self._error = exc
        finally:
            os.close(self._fd)
            if self._direct is not None:
                os.close(self._direct)
            # The maps go with the last view of them (a slice may still be held by the caller).
        self._raise()

    def _work(self, step: Callable[[Any], None], work: Any, done: Any) -> None:
        while (item := work.get()) is not None:
            if self._error is None:
                try:
                    step(item)
                except Exception as exc:  # noqa: BLE001 - handed to the receiving thread, which raises it
                    self._error = exc
            done.put(None)

    def _write(self, item: tuple[memoryview, int]) -> None:
        """Write one received buffer at its offset: the block-aligned middle directly, the ends buffered."""
        view, offset = item
        direct = self._direct
        head = min(len(view), -offset % self.ALIGN)
        middle = (len(view) - head) // self.ALIGN * self.ALIGN
        if direct is None or not middle:
            head, middle = len(view), 0
        if head:
            self._pwrite(self._fd, view[:head], offset)
        if direct is not None and middle:
            try:
                self._pwrite(direct, view[head:head + middle], offset + head)
            except OSError as exc:
                if exc.errno != errno.EINVAL:
                    raise
                os.close(direct)  # the filesystem takes O_DIRECT at open but not these writes
                self._direct = None
                self._pwrite(self._fd, view[head:head + middle], offset + head)
        if len(view) > head + middle:
            self._pwrite(self._fd, view[head + middle:], offset + head + middle)

    def _pwrite(self, fd: int, view: memoryview, offset: int) -> None:
        while view:
            n = os.pwrite(fd, view, offset)
            view, offset = view[n:], offset + n
            if fd == self._fd:
                self._buffered += n
        if self._buffered >= self.SYNC_EVERY:
            self._buffered = 0
            self._sync_wanted.set()

    def _sync(self) -> None:
        while True:
            self._sync_wanted.wait()
            self._sync_wanted.clear()
            if self._stopping:
                return
            try:
                os.fdatasync(self._fd)
            except OSError:
                return  # the final fsync reports it


# Filesystems on a local disk, where direct I/O hands the bytes straight to the device. Elsewhere it is no gain or
# a loss: on NFS and CIFS every direct write is a synchronous round trip to the server, FUSE, 9p and virtiofs pass
# it on to a daemon or a host, tmpfs copies into memory either way, ZFS before 2.3 ignores it.
DIRECT_IO_FILESYSTEMS = frozenset({"ext2", "ext3", "ext4", "xfs", "btrfs", "f2fs", "bcachefs"})


def filesystem_of(path: Path, mountinfo: str = "/proc/self/mountinfo") -> str | None:
    """The type of the filesystem path is on (as `df --output=fstype` finds it: the mount point that is the
    longest prefix of the real path, the last mounted there), or None where mountinfo cannot be read."""
    real = os.path.realpath(path)
    best, found = -1, None
    try:
        with open(mountinfo, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                left, sep, right = line.partition(" - ")
                fields, after = left.split(), right.split()
                if not sep or len(fields) < 5 or not after:
                    continue
                point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), fields[4])  # \040 is a space
                inside = real == point or real.startswith(point.rstrip("/") + "/")
                if inside and len(point) >= best:
                    best, found = len(point), after[0]
    except OSError:
        return None
    return found


def _open_direct(path: Path) -> int | None:
    """A second descriptor on the file with O_DIRECT where the file is on a local disk's filesystem that takes
    direct I/O, else None."""
    flag = getattr(os, "O_DIRECT", 0)
    if not flag or filesystem_of(path) not in DIRECT_IO_FILESYSTEMS:
        return None
    try:
        return os.open(path, os.O_WRONLY | flag)
    except OSError:  # EINVAL: the filesystem refuses direct I/O after all
        return None


class _Digests:
    """SHA-256 (always), SHA-1 (where the catalogue has one) and the git blob id (a small file's ETag), fed as
    the bytes arrive."""

    def __init__(self, job: _Job) -> None:
        self.job = job
        self.want_sha1 = job.file.sha1 is not None
        self.want_git = job.expected_sha256 is None and len(job.remote.etag) == 40
        self.reset()

    def reset(self) -> None:
        self.sha256 = hashlib.sha256()
        self.sha1 = hashlib.sha1()
        self.git = hashlib.sha1(f"blob {self.job.remote.size}\0".encode())

    def update(self, chunk: bytes | memoryview) -> None:
        self.sha256.update(chunk)
        if self.want_sha1:
            self.sha1.update(chunk)
        if self.want_git:
            self.git.update(chunk)

    def read(self, path: Path) -> None:
        with open(path, "rb") as handle:
            while chunk := handle.read(CHUNK * 4):
                self.update(chunk)


def _verify(job: _Job, partial: Path, digests: _Digests) -> None:
    """Size and digests of the whole file (bytes resumed from disk included); a mismatch deletes the partial data."""
    size = partial.stat().st_size
    problems = []
    if size != job.remote.size:
        problems.append(f"{size} bytes instead of {job.remote.size}")
    got = digests.sha256.hexdigest()
    if job.expected_sha256 and got != job.expected_sha256:
        problems.append(f"SHA-256 expected {job.expected_sha256}, got {got}")
    if job.file.sha1 and digests.sha1.hexdigest() != job.file.sha1:
        problems.append(f"SHA-1 expected {job.file.sha1}, got {digests.sha1.hexdigest()}")
    if digests.want_git and digests.git.hexdigest() != job.remote.etag:
        problems.append(f"git blob id expected {job.remote.etag}, got {digests.git.hexdigest()}")
    if problems:
        partial.unlink(missing_ok=True)
        raise AimaError(f"{job.label} failed its integrity check: {'; '.join(problems)}; the downloaded data was "
                        f"deleted", hint="run again to fetch it anew; if it fails again the source (or a mirror in "
                                         "HF_ENDPOINT) serves other bytes than the catalogue expects")
