"""hf://ORG/REPO names a vLLM model folder: the hub's listing, the file rule, and `aima plan`/`pull`/`doctor`
through the real CLI with HF_ENDPOINT at the local server (tests/harness/hfserver.py)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from aima.errors import AimaError
from aima.models.folder import on_disk, select
from aima.models.hub import Hub
from aima.models.sizing import memory_figures
from aima.models.source import ModelFile, parse_hf_uri
from tests.e2e.upkit import aima

from .conftest import FOLDER_COMMIT, FOLDER_FETCHED, FOLDER_FILES, ST1, ST2, settings
from .test_pull_cli import write_catalog

URI = "hf://org/vllm-folder"
FETCHED_BYTES = sum(len(FOLDER_FILES[p]) for p in FOLDER_FETCHED)


def _args(tmp_path: Path, uri: str = URI) -> list:
    return ["--images", write_catalog(tmp_path), "--hardware", "cpu-x86_64", "--model", f"llm={uri}"]


def _snapshot(hub: Path, repo: str = "org/vllm-folder", commit: str = FOLDER_COMMIT) -> Path:
    return hub / f"models--{repo.replace('/', '--')}" / "snapshots" / commit


# --- the URI and the rule ------------------------------------------------------------------------------------

@pytest.mark.parametrize("uri, revision", [("hf://Qwen/Qwen2.5-1.5B-Instruct", "main"),
                                           ("hf://Qwen/Qwen2.5-1.5B-Instruct@" + "a" * 40, "a" * 40),
                                           ("hf://org/r@v1.0", "v1.0")])
def test_a_bare_repository_uri_names_its_snapshot_folder(uri, revision):
    s = parse_hf_uri(uri)
    assert (s.folder, s.files, s.entry, s.revision) == (True, (), None, revision)
    assert s.uri == f"hf://{s.repo}@{revision}"


def _files(*paths: str) -> list[ModelFile]:
    return [ModelFile(p, 10) for p in paths]


def test_the_rule_keeps_config_tokenizer_and_safetensors_and_leaves_other_weight_formats():
    chosen = select("org/m", [ModelFile(p, len(d)) for p, d in FOLDER_FILES.items()])
    assert [f.path for f in chosen.files] == FOLDER_FETCHED  # small files first, the weights last
    assert chosen.weight_bytes == len(ST1) + len(ST2)


def test_the_rule_takes_pytorch_bins_only_where_there_are_no_safetensors():
    chosen = select("org/m", _files("config.json", "pytorch_model.bin", "tf_model.h5", "flax_model.msgpack"))
    assert [f.path for f in chosen.files] == ["config.json", "pytorch_model.bin"]


def test_the_rule_drops_mistral_s_consolidated_copy_beside_indexed_shards():
    chosen = select("org/m", _files("config.json", "params.json", "consolidated.safetensors",
                                    "model.safetensors.index.json", "model-00001-of-00001.safetensors"))
    assert "consolidated.safetensors" not in [f.path for f in chosen.files]
    assert chosen.weights == ("model-00001-of-00001.safetensors",)


@pytest.mark.parametrize("paths, words", [
    (("m-q4.gguf", "README.md"), ["no config.json and no *.safetensors", "hf://org/m/m-q4.gguf"]),
    (("adapter_config.json", "adapter_model.safetensors"), ["no config.json"]),
    (("config.json", "README.md"), ["no *.safetensors weights"]),
], ids=["gguf-only", "lora-adapter", "config-only"])
def test_a_repository_that_is_no_vllm_folder_is_refused_naming_what_it_lacks(paths, words):
    with pytest.raises(AimaError) as err:
        select("org/m", _files(*paths))
    text = f"{err.value} {err.value.hint}"
    assert "not a vLLM model folder" in text and all(w in text for w in words), text


# --- the hub's listing ----------------------------------------------------------------------------------------

def test_the_listing_pages_through_link_headers_at_the_commit_the_branch_names(hf):
    hub = Hub(settings(hf))
    try:
        listing = hub.listing("org/vllm-folder", "main")
    finally:
        hub.close()
    assert listing.commit == FOLDER_COMMIT
    assert sorted(f.path for f in listing.files) == sorted(FOLDER_FILES)  # folders (onnx/, original/) left out
    lfs = {f.path: f.lfs_sha256 for f in listing.files}
    assert lfs["model-00001-of-00002.safetensors"] == hashlib.sha256(ST1).hexdigest() and lfs["config.json"] is None
    trees = [p for m, p, *_ in hf.log.requests if "/tree/" in p]
    assert len(trees) == 3 and all(f"/tree/{FOLDER_COMMIT}" in p for p in trees)  # 12 entries, 4 a page


@pytest.mark.parametrize("repo, token, status", [("org/gated-folder", None, 401),
                                                 ("org/gated-folder", "hf_wrong", 403)])
def test_a_private_folder_s_listing_is_the_gated_message(hf, repo, token, status):
    hub = Hub(settings(hf, token=token))
    with pytest.raises(AimaError) as err:
        hub.listing(repo, "main")
    assert f"model {repo} is gated or private" in str(err.value) and str(status) in str(err.value)
    assert "hf_wrong" not in str(err.value) + str(err.value.hint)


@pytest.mark.parametrize("repo, revision, words", [("org/nothing", "main", "repository org/nothing does not exist"),
                                                   ("org/vllm-folder", "v9", "revision v9 of org/vllm-folder")])
def test_a_missing_repository_or_revision_is_one_404_line(hf, repo, revision, words):
    with pytest.raises(AimaError) as err:
        Hub(settings(hf)).listing(repo, revision)
    assert words in str(err.value) and "404" in str(err.value)


@pytest.mark.parametrize("entry, words", [
    ({"type": "file", "path": "../../etc/cron.d/x", "size": 1, "oid": "a" * 40}, "not a plain path"),
    ({"type": "file", "path": "x.json", "size": 1, "oid": "../../../x"}, "not a blob id"),
    ({"type": "file", "path": "w.safetensors", "size": 9, "oid": "a" * 40, "lfs": {"oid": "../x", "size": 9}},
     "not a SHA-256"),
    ({"type": "file", "path": "x.json", "size": -1, "oid": "a" * 40}, "not a blob id and a byte count"),
], ids=["traversal", "oid-path", "lfs-oid", "negative-size"])
def test_a_hostile_listing_is_refused_before_any_path_is_made(hf, env, tmp_path, entry, words):
    hf.repos["org/vllm-folder"].tree_extra.append(entry)
    out = aima("pull", "llm", *_args(tmp_path))
    assert out.rc == 1 and words in out.err and "refused" in out.err and "Traceback" not in out.err, out.err
    assert not env.exists() or not any(env.rglob("*.safetensors")), "nothing fetched"
    assert hf.log.body_bytes == 0


def test_a_hub_that_does_not_answer_its_listing_is_one_line(hf, env, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_DOWNLOAD_TIMEOUT", "0.5")
    hf.faults.stall_api_s = 2
    out = aima("pull", "llm", *_args(tmp_path))
    assert out.rc == 1 and "did not answer within 0.5 s" in out.err and "file listing" in out.err, out.err


# --- through the CLI ------------------------------------------------------------------------------------------

def test_pull_fetches_the_folder_verified_then_nothing_again_and_huggingface_hub_reads_it(hf, env, tmp_path):
    first = aima("pull", "llm", *_args(tmp_path), "--json")
    assert first.rc == 0, first.err
    api = [r[1] for r in hf.log.requests if "/api/models/" in r[1]]  # listed once: the plan's listing is pulled
    assert api[0] == "/api/models/org/vllm-folder/revision/main" and len(api) == len(set(api)), api
    assert all(p.startswith(f"/api/models/org/vllm-folder/tree/{FOLDER_COMMIT}?") for p in api[1:]), api
    summary = json.loads(first.out.splitlines()[-1])
    assert [f["path"] for f in summary["files"]] == FOLDER_FETCHED
    assert summary["fetched_bytes"] == FETCHED_BYTES == hf.log.body_bytes  # no .bin, .onnx, original/
    assert summary["engines"] == [{"engine": "llm", "model": URI, "note": None, "source": f"{URI}@main"}]
    snapshot = _snapshot(env)
    assert sorted(p.relative_to(snapshot).as_posix() for p in snapshot.rglob("*")) == sorted(FOLDER_FETCHED)
    assert (env / "models--org--vllm-folder" / "refs" / "main").read_text() == FOLDER_COMMIT
    for path in FOLDER_FETCHED:
        assert (snapshot / path).read_bytes() == FOLDER_FILES[path]

    requests = len(hf.log.requests)
    again = aima("pull", "llm", *_args(tmp_path), "--json")
    assert again.rc == 0 and json.loads(again.out.splitlines()[-1])["fetched_bytes"] == 0
    assert len(hf.log.requests) == requests  # a complete snapshot on disk: not even the listing is asked

    from huggingface_hub import scan_cache_dir

    info = scan_cache_dir(env)
    assert not info.warnings, info.warnings
    repo = next(r for r in info.repos if r.repo_id == "org/vllm-folder")
    (revision,) = repo.revisions
    assert revision.commit_hash == FOLDER_COMMIT and revision.refs == frozenset({"main"})
    assert sorted(f.file_name for f in revision.files) == sorted(FOLDER_FETCHED)
    assert revision.size_on_disk == FETCHED_BYTES


def test_plan_lists_the_folder_s_files_and_sizes_its_memory_from_the_safetensors(hf, env, tmp_path):
    plan = aima("plan", *_args(tmp_path), "--json")
    assert plan.rc == 0, plan.err
    doc = plan.json()
    llm = next(r for r in doc["models"] if r["engine"] == "llm")
    assert [f["path"] for f in llm["files"]] == FOLDER_FETCHED and not any(f["present"] for f in llm["files"])
    assert llm["source"] == "org/vllm-folder@main"
    _, gpu, ram = memory_figures(len(ST1) + len(ST2), "hf", 8192)
    assert str(ram) in json.dumps(doc["engines"]), "the need is the rule applied to the safetensors' bytes"
    assert hf.log.body_bytes == 0  # the listing only
    text = aima("plan", *_args(tmp_path))
    assert text.rc == 0 and f"llm: {URI} from org/vllm-folder@main: 6 of 6 file(s) to pull" in text.out, text.out
    assert "stub-vllm" in text.out and f"needs {ram} MiB of memory" in text.out
    assert f"echo model /models/snapshots/{FOLDER_COMMIT} served org/vllm-folder;" in text.out  # the listed commit


def test_a_repository_that_is_no_vllm_folder_is_refused_at_plan_and_pull(hf, env, tmp_path):
    plan = aima("plan", *_args(tmp_path, "hf://org/gguf-only"))
    assert "REFUSED" in plan.out and "not a vLLM model folder" in plan.out, plan.out
    pull = aima("pull", "llm", *_args(tmp_path, "hf://org/gguf-only"))
    assert pull.rc == 1 and "not a vLLM model folder" in pull.err and "hf://org/gguf-only/m-q4.gguf" in pull.err
    assert len(pull.err.strip().splitlines()) <= 2 and hf.log.body_bytes == 0  # the line and its Hint


@pytest.mark.parametrize("repo", ["org/gated-folder", "org/gated-listed"], ids=["private", "gated-public-listing"])
def test_a_gated_folder_is_refused_before_any_byte(hf, env, tmp_path, repo):
    out = aima("pull", *_args(tmp_path, f"hf://{repo}"))
    assert out.rc == 1 and f"model {repo} is gated or private" in out.err and "HF_TOKEN" in out.err, out.err
    assert hf.log.body_bytes == 0  # not the whisper model of asr either
    assert not any(p.startswith("/cdn/") for _, p, *_ in hf.log.requests)


def test_a_gated_folder_with_its_token_pulls(hf, env, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_right_token")
    out = aima("pull", "llm", *_args(tmp_path, "hf://org/gated-listed"))
    assert out.rc == 0, out.err
    assert "hf_right_token" not in out.out + out.err
    assert not any(auth for _, p, _, auth in hf.log.requests if p.startswith("/cdn/"))  # the token stays home


def test_a_cut_mid_shard_resumes_without_fetching_a_byte_twice(hf, env, tmp_path):
    hf.faults.cut_at = len(ST1) // 2  # the first body longer than this is the first shard
    out = aima("pull", "llm", *_args(tmp_path), "--json")
    assert out.rc == 0, out.err
    assert "connection lost at byte" in out.out
    assert hf.log.body_bytes == FETCHED_BYTES
    ranged = [r for _, p, r, _ in hf.log.requests if r and p.startswith("/cdn/")]
    assert ranged == [f"bytes={len(ST1) // 2}-"]


def test_a_killed_pull_leaves_a_partial_shard_that_the_next_pull_resumes(hf, env, tmp_path):
    args = _args(tmp_path)
    hf.faults.cut_at = len(ST1) // 2
    import aima.models.download as download

    retries = download.RETRIES
    download.RETRIES = 0  # the run gives up at the cut, as a killed process would
    try:
        first = aima("pull", "llm", *args)
    finally:
        download.RETRIES = retries
    assert first.rc == 1 and "model-00001-of-00002.safetensors" in first.err and "resume" in first.err, first.err
    partial = env / "models--org--vllm-folder" / "blobs" / f"{hashlib.sha256(ST1).hexdigest()}.incomplete"
    assert partial.stat().st_size == len(ST1) // 2
    assert not (_snapshot(env) / "model-00001-of-00002.safetensors").exists()  # nothing looks complete
    second = aima("pull", "llm", *args)
    assert second.rc == 0, second.err
    assert hf.log.body_bytes == FETCHED_BYTES  # the second run asked only for the rest
    assert (_snapshot(env) / "model-00001-of-00002.safetensors").read_bytes() == ST1


def test_wrong_bytes_are_refused_and_nothing_looks_complete(hf, env, tmp_path):
    hf.faults.corrupt = True
    out = aima("pull", "llm", *_args(tmp_path))
    assert out.rc == 1 and "failed its integrity check" in out.err and "deleted" in out.err, out.err
    snapshot = _snapshot(env)
    assert not snapshot.exists() or not any(snapshot.rglob("*"))
    assert not list((env / "models--org--vllm-folder" / "blobs").glob("*.incomplete"))


def test_offline_with_a_partial_snapshot_names_the_missing_files(hf, env, tmp_path, monkeypatch):
    assert aima("pull", "llm", *_args(tmp_path)).rc == 0
    (_snapshot(env) / "model-00002-of-00002.safetensors").unlink()
    (_snapshot(env) / "config.json").unlink()
    requests = len(hf.log.requests)
    out = aima("pull", "llm", *_args(tmp_path), "--offline")
    assert out.rc == 1 and "offline" in out.err, out.err
    assert "missing config.json, model-00002-of-00002.safetensors" in out.err and FOLDER_COMMIT in out.err
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    plan = aima("plan", *_args(tmp_path), "--json")
    assert "lacks config.json, model-00002-of-00002.safetensors" in json.dumps(plan.json()), plan.out
    monkeypatch.delenv("HF_HUB_OFFLINE")
    assert len(hf.log.requests) == requests  # offline: not one request
    back = aima("pull", "llm", *_args(tmp_path))  # online again: the listing; the blobs are still there: linked
    assert back.rc == 0 and hf.log.body_bytes == FETCHED_BYTES and "(linked)" in back.out + back.err, back.err
    assert (_snapshot(env) / "config.json").read_bytes() == FOLDER_FILES["config.json"]


def test_offline_with_no_snapshot_says_so_and_asks_nothing(hf, env, tmp_path):
    out = aima("pull", "llm", *_args(tmp_path), "--offline")
    assert out.rc == 1 and "no snapshot of main" in out.err and not hf.log.requests, out.err


def test_doctor_checks_the_folder_s_files(hf, env, tmp_path):
    stack = tmp_path / "stack.yaml"
    stack.write_text(json.dumps({"name": "f", "engines": {"asr": {"enabled": False}, "tts": {"enabled": False},
                                                         "llm": {"model": URI}}}))
    args = ["--images", write_catalog(tmp_path), "--hardware", "cpu-x86_64", "--stack", stack]
    assert aima("pull", *args).rc == 0
    (_snapshot(env) / "model-00002-of-00002.safetensors").unlink()

    def model_check(*extra: str, check: str = "engine.llm.model") -> dict:
        out = aima("doctor", *args, "--json", *extra)
        doc = out.json()
        return next(c for c in (doc["checks"] if isinstance(doc, dict) else doc) if c["id"] == check)

    disk = model_check(check="host.disk.models")  # the snapshot folder exists, but a shard is not in it
    assert disk["status"] == "ok" and "room for the missing models" in disk["summary"], disk
    assert disk["details"]["folders"] == {str(env / "models--org--vllm-folder"): [URI]}
    missing = model_check()
    assert missing["status"] == "fail" and "model-00002-of-00002.safetensors is not downloaded" in missing["summary"]
    assert "aima pull llm" in missing["remedy"]
    assert aima("pull", *args).rc == 0
    deep = model_check("--deep")
    assert deep["status"] == "ok" and "6 file(s)" in deep["summary"] and "SHA-256 checked" in deep["summary"]
    assert [f["path"] for f in deep["details"]["files"]] == FOLDER_FETCHED


def test_on_disk_wants_config_and_every_indexed_shard(tmp_path):
    snap = tmp_path / "snap"
    assert on_disk("o/r", snap).missing == ("config.json", "the weights (*.safetensors)")
    snap.mkdir()
    (snap / "config.json").write_text("{}")
    (snap / "model.safetensors.index.json").write_bytes(FOLDER_FILES["model.safetensors.index.json"])
    (snap / "model-00001-of-00002.safetensors").write_bytes(b"x")
    state = on_disk("o/r", snap)
    assert state.missing == ("model-00002-of-00002.safetensors",)
    assert "model-00002-of-00002.safetensors" in [f.path for f in state.files]  # doctor shows it as missing
    (snap / "model.safetensors.index.json").write_text('{"weight_map": {"a": "../../../etc/passwd"}}')
    assert "names '../../../etc/passwd'" in on_disk("o/r", snap).missing[0]


def test_pull_given_an_hf_uri_as_an_engine_says_how_to_pull_it(env, tmp_path):
    out = aima("pull", URI, "--images", write_catalog(tmp_path), "--hardware", "cpu-x86_64")
    assert out.rc == 1 and "is a model, not an engine" in out.err and f"--model llm={URI}" in out.err, out.err
    assert "Traceback" not in out.err
    bad = aima("pull", "hf://org/../x", "--images", write_catalog(tmp_path), "--hardware", "cpu-x86_64")
    assert bad.rc == 1 and "not a valid one" in bad.err and "--model llm=hf://org/../x" not in bad.err, bad.err


def test_the_disk_check_counts_the_whole_folder_before_any_byte(hf, tmp_path):
    from aima.models.download import pull

    with pytest.raises(AimaError) as err:
        pull([parse_hf_uri(URI)], tmp_path / "hub", settings(hf), free_bytes=lambda _: FETCHED_BYTES - 1)
    assert f"({FETCHED_BYTES} bytes) more" in str(err.value) and f"({FETCHED_BYTES - 1} bytes) free" in str(err.value)
    assert hf.log.body_bytes == 0


def test_two_pulls_of_one_folder_at_once_fetch_each_file_once(hf, tmp_path):
    from aima.models.download import pull

    from .conftest import at_once

    hf.faults.rate = 4 * 2**20
    results, errors = at_once(lambda: pull([parse_hf_uri(URI)], tmp_path, settings(hf)))
    assert not errors and len(results) == 2, errors
    assert hf.log.body_bytes == FETCHED_BYTES  # every blob once, whichever run fetched it
    for path in FOLDER_FETCHED:
        assert (_snapshot(tmp_path) / path).read_bytes() == FOLDER_FILES[path]


def test_k8s_export_fetches_the_listed_files_and_checks_the_shards(hf, env, tmp_path, monkeypatch):
    stack = tmp_path / "stack.yaml"
    stack.write_text(json.dumps({"name": "f", "engines": {"asr": {"enabled": False}, "tts": {"enabled": False},
                                                         "llm": {"model": URI}}}))
    args = ["export", "--format", "k8s", "--images", write_catalog(tmp_path), "--hardware", "cpu-x86_64",
            "--stack", stack]
    out = aima(*args)
    assert out.rc == 0, out.err
    for path in FOLDER_FETCHED:
        assert f"/resolve/{FOLDER_COMMIT}/{path}" in out.out, path  # at the commit the listing was taken at
    assert hashlib.sha256(ST1).hexdigest() in out.out and "pytorch_model.bin" not in out.out
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:1")  # the hub cannot be asked: the files are unknown
    refused = aima(*args)
    assert refused.rc == 1 and "cannot export the model folder hf://org/vllm-folder@main" in refused.err
    assert "Traceback" not in refused.err


@pytest.mark.parametrize("header, nxt", [
    ('<http://h/api/models/o/r/tree/c?cursor=2>; rel="next"', "http://h/api/models/o/r/tree/c?cursor=2"),
    ('</api/models/o/r/tree/c?cursor=3>; rel=next', "http://h/api/models/o/r/tree/c?cursor=3"),
    ('<http://h/p?c=1>; rel="prev", <http://h/p?c=3>; rel="next"', "http://h/p?c=3"),
    ('<http://h/p?c=1>; rel="prev"', None), ("", None), ("garbage", None),
], ids=["absolute", "relative", "prev-and-next", "prev-only", "none", "garbage"])
def test_the_next_page_is_the_link_header_s_rel_next(header, nxt):
    from aima.models.hub import _next_link

    assert _next_link(header, "http://h/api/models/o/r/tree/c?recursive=true") == nxt
