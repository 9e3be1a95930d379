"""`aima pull`'s downloader against the HF-compatible server: resume, integrity, gated, offline, disk, locks."""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aima.errors import AimaError
from aima.models.cache import RepoCache
from aima.models.download import pull
from aima.models.source import ModelFile, ModelSource, parse_hf_uri
from tests.harness.hfserver import LFS_MIN

from .conftest import BIG, COMMIT, CONFIG, SHARD2, at_once, settings, whisper_source

REPO_ROOT = Path(__file__).resolve().parents[2]


def split_source(revision: str = "main") -> ModelSource:
    return parse_hf_uri(f"hf://org/split-GGUF/m-00001-of-00002.gguf@{revision}")


def test_fresh_pull_lays_out_the_hub_cache_that_huggingface_hub_reads(hf, tmp_path):
    source = split_source()
    config = ModelSource("org/split-GGUF", "main", (ModelFile("config.json"),))
    result = pull([whisper_source(), source, config], tmp_path, settings(hf))
    assert {f.outcome for f in result.files} == {"downloaded"}
    whisper = RepoCache(tmp_path, "ggerganov/whisper.cpp")
    link = whisper.snapshot(COMMIT) / "ggml-tiny.bin"
    assert link.is_symlink() and os.readlink(link) == f"../../blobs/{hashlib.sha256(BIG).hexdigest()}"
    assert link.read_bytes() == BIG
    split = RepoCache(tmp_path, "org/split-GGUF")
    commit = split.commit_of("main")
    assert commit == hf.repos["org/split-GGUF"].commit  # refs/main written from X-Repo-Commit
    assert (split.snapshot(commit) / "m-00002-of-00002.gguf").read_bytes() == SHARD2  # the shard came too
    assert (split.snapshot(commit) / "config.json").read_bytes() == CONFIG
    from huggingface_hub import scan_cache_dir

    info = scan_cache_dir(tmp_path)
    assert not info.warnings
    repos = {r.repo_id: r for r in info.repos}
    assert set(repos) == {"ggerganov/whisper.cpp", "org/split-GGUF"}
    assert repos["ggerganov/whisper.cpp"].size_on_disk == len(BIG)
    revisions = {r.commit_hash: r for r in repos["org/split-GGUF"].revisions}
    assert {f.file_name for f in revisions[commit].files} == {"m-00001-of-00002.gguf", "m-00002-of-00002.gguf",
                                                               "config.json"}
    assert "main" in revisions[commit].refs


def test_a_model_already_in_the_cache_is_not_downloaded_again(hf, tmp_path):
    pull([whisper_source()], tmp_path, settings(hf))
    sent = hf.log.body_bytes
    again = pull([whisper_source()], tmp_path, settings(hf))
    assert [f.outcome for f in again.files] == ["present"] and hf.log.body_bytes == sent
    assert len(hf.log.requests) == 3  # HEAD, GET resolve, GET cdn: all from the first run


def test_a_blob_another_revision_has_is_linked_not_fetched(hf, tmp_path):
    pull([split_source()], tmp_path, settings(hf))
    sent = hf.log.body_bytes
    commit = hf.repos["org/split-GGUF"].commit
    result = pull([split_source(commit)], tmp_path, settings(hf))
    assert {f.outcome for f in result.files} == {"present"} and hf.log.body_bytes == sent
    hf.repos["org/split-GGUF"].branches = ("main", "v1")
    result = pull([split_source("v1")], tmp_path, settings(hf))
    assert {f.outcome for f in result.files} == {"linked"} and hf.log.body_bytes == sent


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_connection_cut_at_a_random_byte_is_resumed_without_fetching_twice(hf, tmp_path, seed):
    hf.faults.cut_at = random.Random(seed).randrange(1, len(BIG) - 1)
    result = pull([whisper_source()], tmp_path, settings(hf))
    assert result.files[0].outcome == "downloaded"
    ranges = [r[2] for r in hf.log.requests if r[0] == "GET" and "/cdn/" in r[1]]
    assert len(ranges) == 2 and ranges[1] is not None and ranges[1].startswith("bytes=")
    assert hf.log.body_bytes == len(BIG)  # not one byte fetched twice
    assert (RepoCache(tmp_path, "ggerganov/whisper.cpp").snapshot(COMMIT) / "ggml-tiny.bin").read_bytes() == BIG


_CHILD = """
import sys
from pathlib import Path
from aima.models.download import pull
from aima.models.hub import HubSettings
from tests.models.conftest import whisper_source
pull([whisper_source()], Path(sys.argv[1]), HubSettings(endpoint=sys.argv[2], timeout_s=5))
print("done")
"""


def test_a_process_killed_mid_file_is_resumed_by_the_next_one(hf, tmp_path):
    hf.faults.rate = 2 * 2**20  # 2 MiB/s: the 3 MiB file takes ~1.5 s
    partial = RepoCache(tmp_path, "ggerganov/whisper.cpp").partial(hashlib.sha256(BIG).hexdigest())
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(tmp_path), hf.endpoint], cwd=REPO_ROOT)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (not partial.exists() or partial.stat().st_size < len(BIG) // 3):
        time.sleep(0.02)
    child.kill()  # SIGKILL: no cleanup runs
    child.wait()
    kept = partial.stat().st_size
    assert 0 < kept < len(BIG)
    hf.faults.rate = None
    done = subprocess.run([sys.executable, "-c", _CHILD, str(tmp_path), hf.endpoint], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    last = [r for r in hf.log.requests if r[0] == "GET" and "/cdn/" in r[1]][-1]
    assert last[2] == f"bytes={kept}-"  # the new process asked only for what was missing
    assert (RepoCache(tmp_path, "ggerganov/whisper.cpp").snapshot(COMMIT) / "ggml-tiny.bin").read_bytes() == BIG
    assert not partial.exists()


def test_wrong_bytes_are_refused_deleted_and_never_look_complete(hf, tmp_path):
    hf.faults.corrupt = True
    with pytest.raises(AimaError) as err:
        pull([whisper_source()], tmp_path, settings(hf))
    message = str(err.value)
    good, bad = hashlib.sha256(BIG).hexdigest(), hashlib.sha256(bytes(b ^ 0xFF for b in BIG)).hexdigest()
    assert "ggml-tiny.bin" in message and good in message and bad in message and "deleted" in message
    cache = RepoCache(tmp_path, "ggerganov/whisper.cpp")
    assert not cache.blob(good).exists() and not cache.partial(good).exists()
    assert not (cache.snapshot(COMMIT) / "ggml-tiny.bin").exists()


def test_the_published_sha1_is_checked_too(hf, tmp_path):
    with pytest.raises(AimaError, match="SHA-1 expected 0{40}"):
        pull([whisper_source(sha1="0" * 40)], tmp_path, settings(hf))


def test_a_small_file_is_checked_against_its_git_blob_etag(hf, tmp_path):
    hf.faults.corrupt = True
    with pytest.raises(AimaError, match="git blob id expected"):
        pull([ModelSource("org/split-GGUF", "main", (ModelFile("config.json"),))], tmp_path, settings(hf))
    assert len(CONFIG) < LFS_MIN


def test_a_stalling_server_times_out_with_a_clear_message_and_keeps_the_bytes(hf, tmp_path):
    hf.faults.stall_s = 30
    started = time.monotonic()
    with pytest.raises(AimaError) as err:
        pull([whisper_source()], tmp_path, settings(hf, timeout_s=0.5))
    assert time.monotonic() - started < 10
    assert "sent nothing for 0.5 s" in str(err.value) and "kept" in str(err.value)
    assert "resume" in (err.value.hint or "")
    hf.faults.stall_s = 0
    result = pull([whisper_source()], tmp_path, settings(hf))
    assert result.files[0].outcome == "resumed"


def test_a_gated_model_fails_before_any_other_download_and_says_how_to_get_access(hf, tmp_path):
    gated = parse_hf_uri("hf://org/gated/w.bin@main")
    with pytest.raises(AimaError) as err:
        pull([whisper_source(), gated], tmp_path, settings(hf))
    assert "org/gated is gated" in str(err.value) and "401" in str(err.value)
    assert "HF_TOKEN" in err.value.hint and f"{hf.endpoint}/org/gated" in err.value.hint
    assert not [r for r in hf.log.requests if r[0] == "GET"]  # the public model did not start either
    with pytest.raises(AimaError, match="403.*token aima sent was not accepted") as err:
        pull([gated], tmp_path, settings(hf, token="hf_wrong_token"))
    assert "hf_wrong_token" not in str(err.value) + (err.value.hint or "")


def test_the_token_goes_to_the_endpoint_only_never_to_the_cdn(hf, tmp_path):
    hf.repos["org/gated"].files["big.bin"] = BIG
    result = pull([parse_hf_uri("hf://org/gated/big.bin")], tmp_path, settings(hf, token="hf_right_token"))
    assert result.files[0].outcome == "downloaded"
    api = [r for r in hf.log.requests if "/resolve/" in r[1]]
    cdn = [r for r in hf.log.requests if "/cdn/" in r[1]]
    assert api and all(r[3] for r in api) and cdn and not any(r[3] for r in cdn)


def test_offline_names_every_missing_file(hf, tmp_path):
    pull([whisper_source()], tmp_path, settings(hf))
    count = len(hf.log.requests)
    ok = pull([whisper_source()], tmp_path, settings(hf, offline=True))
    assert ok.files[0].outcome == "present"
    with pytest.raises(AimaError) as err:
        pull([whisper_source(), split_source()], tmp_path, settings(hf, offline=True))
    assert "2 model file(s)" in str(err.value)
    assert "org/split-GGUF@main: m-00001-of-00002.gguf" in str(err.value) and "m-00002-of-00002.gguf" in str(err.value)
    assert len(hf.log.requests) == count  # offline means no request at all


@pytest.mark.parametrize("status,code,words", [
    (404, None, "has no file nope.bin"),
])
def test_a_missing_file_says_which(hf, tmp_path, status, code, words):
    with pytest.raises(AimaError, match=words):
        pull([parse_hf_uri("hf://org/split-GGUF/nope.bin")], tmp_path, settings(hf))
    with pytest.raises(AimaError, match="repository org/none does not exist"):
        pull([parse_hf_uri("hf://org/none/x.bin")], tmp_path, settings(hf))


def _mount_tmpfs(path: Path, size: str) -> bool:
    path.mkdir()
    if os.geteuid() != 0:
        return False
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True).returncode == 0


def test_a_full_disk_is_refused_up_front_with_both_numbers_and_the_folder(hf, tmp_path):
    small = tmp_path / "small"
    if _mount_tmpfs(small, "1m"):  # a real 1 MiB filesystem where the machine lets us mount one
        try:
            with pytest.raises(AimaError) as err:
                pull([whisper_source()], small / "hub", settings(hf))
        finally:
            subprocess.run(["umount", str(small)], check=False)
        free_text = "free"
    else:  # otherwise the free-space check is fed a small number
        with pytest.raises(AimaError) as err:
            pull([whisper_source()], small / "hub", settings(hf), free_bytes=lambda _: 2**20)
        free_text = "(1048576 bytes) free"
    message = str(err.value)
    assert f"in {small / 'hub'}" in message and f"({len(BIG)} bytes) more" in message and free_text in message
    assert "nothing was downloaded" in message
    assert not [r for r in hf.log.requests if r[0] == "GET"]


def _fill_up_at(monkeypatch, limit: int) -> None:
    """Where no tmpfs can be mounted: the write layer fails with ENOSPC once `limit` bytes are in the file."""
    import errno

    from aima.models import download

    real = download._Sink._write

    def write(self, item):
        view, offset = item
        if offset + len(view) > limit:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(self, item)

    monkeypatch.setattr(download._Sink, "_write", write)


def test_a_disk_that_fills_up_mid_file_says_where_and_how_much_and_leaves_nothing_that_looks_complete(
        hf, tmp_path, monkeypatch):
    small = tmp_path / "small"
    mounted = _mount_tmpfs(small, "1m")  # a real 1 MiB filesystem: the kernel's own ENOSPC mid-write
    if not mounted:
        _fill_up_at(monkeypatch, 2**20)
    hub = small / "hub"
    try:
        # Another program takes the space after the up-front check: the check is told there is plenty.
        with pytest.raises(AimaError) as err:
            pull([whisper_source()], hub, settings(hf), free_bytes=lambda _: 2**40)
        message = str(err.value)
        cache = RepoCache(hub, "ggerganov/whisper.cpp")
        sha = hashlib.sha256(BIG).hexdigest()
        kept = cache.partial(sha).stat().st_size
        assert 0 < kept < len(BIG)
        assert "\n" not in message and "disk filled up" in message and str(cache.blobs) in message
        assert f"({len(BIG) - kept} bytes) more" in message and "resume" in (err.value.hint or "")
        assert not cache.blob(sha).exists() and not (cache.snapshot(COMMIT) / "ggml-tiny.bin").exists()
        # Space comes back: the next run resumes from the bytes kept.
        if mounted:
            subprocess.run(["mount", "-o", "remount,size=16m", str(small)], check=True)
        else:
            monkeypatch.undo()
        sent = hf.log.body_bytes
        result = pull([whisper_source()], hub, settings(hf))
        assert result.files[0].outcome == "resumed" and result.fetched_bytes == len(BIG) - kept
        assert (cache.snapshot(COMMIT) / "ggml-tiny.bin").read_bytes() == BIG
        assert hf.log.body_bytes - sent == len(BIG) - kept
    finally:
        if mounted:
            subprocess.run(["umount", str(small)], check=False)


def test_two_pulls_at_once_share_the_work_and_both_succeed(hf, tmp_path):
    hf.faults.rate = 4 * 2**20
    results, errors = at_once(lambda: pull([whisper_source()], tmp_path, settings(hf)))
    assert not errors and len(results) == 2, errors
    assert sorted(r.files[0].outcome for r in results) == ["downloaded", "present"]
    assert hf.log.body_bytes == len(BIG)
    assert (RepoCache(tmp_path, "ggerganov/whisper.cpp").snapshot(COMMIT) / "ggml-tiny.bin").read_bytes() == BIG


@pytest.mark.parametrize("uri,repo,revision,files", [
    ("hf://ggerganov/whisper.cpp/ggml-base.bin", "ggerganov/whisper.cpp", "main", ["ggml-base.bin"]),
    ("hf://org/r/sub/dir/f.gguf@v1.0", "org/r", "v1.0", ["sub/dir/f.gguf"]),
    ("hf://Qwen/Qwen2.5-7B-Instruct-GGUF/qwen2.5-7b-instruct-q4_k_m-00001-of-00002.gguf@" + "a" * 40,
     "Qwen/Qwen2.5-7B-Instruct-GGUF", "a" * 40,
     ["qwen2.5-7b-instruct-q4_k_m-00001-of-00002.gguf", "qwen2.5-7b-instruct-q4_k_m-00002-of-00002.gguf"]),
], ids=["plain", "nested-with-tag", "split-gguf-pinned"])
def test_hf_uris(uri, repo, revision, files):
    s = parse_hf_uri(uri)
    assert (s.repo, s.revision, [f.path for f in s.files]) == (repo, revision, files)


@pytest.mark.parametrize("uri", ["hf://org", "hf://org/", "hf://org/repo/", "hf://org/repo@", "hf://org/../@main",
                                 "hf://org/repo/../x.bin", "hf://org//x", "http://x/y/z",
                                 "hf://org/repo/f.bin@", "hf://org/re po/f.bin", "hf://../../etc/passwd",
                                 "hf://a/b/c/../../../../x.gguf", "hf://a/b/x.gguf@main/../..", "hf://a/b/./x.gguf",
                                 "hf://a/b/c\x1b[31m.gguf", "hf://a/b/c\n.gguf", "hf://a/b/c\x7f.gguf",
                                 "hf://a/b/\\..\\x.gguf"])
def test_bad_hf_uris_are_refused(uri):
    with pytest.raises(ValueError):
        parse_hf_uri(uri)
