"""`aima up` on an empty model folder: it pulls from the local HF-compatible server, then the stub engine sees the
file at the planned path, read-only. Runs on each engine (under the flock)."""

from __future__ import annotations

import hashlib
import json
import time
import uuid

import pytest

from tests.e2e.upkit import aima, containers, free_port
from tests.harness.hfserver import HfServer, Repo
from tests.models.conftest import BIG, COMMIT
from tests.models.test_pull_cli import write_catalog


@pytest.fixture
def hf_env(tmp_path, monkeypatch):
    with HfServer({"ggerganov/whisper.cpp": Repo({"ggml-tiny.bin": BIG}, commit=COMMIT)}) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
        monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
        monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
        monkeypatch.delenv("HF_TOKEN", raising=False)
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        yield server


def test_up_on_an_empty_model_folder_pulls_verifies_and_the_engine_reads_it_read_only(
        engine, engine_env, stub_image, stacks, tmp_path, hf_env):
    name = stacks.track(f"up-models-{uuid.uuid4().hex[:6]}")
    stack_file = tmp_path / "stack.yaml"
    stack_file.write_text(json.dumps({"name": name, "engines": {
        "asr": {"port": free_port()}, "llm": {"enabled": False}, "tts": {"enabled": False}}}))
    args = ["--images", write_catalog(tmp_path, stub_image), "--stack", stack_file]

    refused = aima("up", *args, "--no-pull", "--json")
    assert refused.rc == 1 and "ggml-tiny.bin" in refused.err and "offline" in refused.err
    assert not containers(engine.client, name)  # nothing half-started

    first = aima("up", *args, "--json")
    assert first.rc == 0, first.err
    assert hf_env.log.body_bytes == len(BIG)
    asr = containers(engine.client, name)["asr"]
    planned = f"/models/snapshots/{COMMIT}/ggml-tiny.bin"
    assert planned in " ".join(asr.attrs["Config"]["Cmd"])
    mount = next(m for m in asr.attrs["Mounts"] if m["Destination"] == "/models")
    assert not mount["RW"] and mount["Source"].endswith("hub/models--ggerganov--whisper.cpp")
    deadline = time.monotonic() + 10
    while "MODEL_" not in (log := asr.logs().decode()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert f"MODEL_OK {len(BIG)}" in log, log  # readable at the planned path; writing into the mount failed

    status = aima("status", "--stack", stack_file, "--json")
    assert status.rc == 0, status.err
    row = status.json()["engines"]["asr"]
    assert (row["model"], row["model_source"]) == ("tiny", f"hf://ggerganov/whisper.cpp/ggml-tiny.bin@{COMMIT}")
    text = aima("status", "--stack", stack_file)
    assert text.rc == 0 and f"asr model tiny: hf://ggerganov/whisper.cpp/ggml-tiny.bin@{COMMIT}" in text.out, text.out

    again = aima("up", *args, "--json")
    assert again.rc == 0, again.err
    assert hf_env.log.body_bytes == len(BIG)  # nothing downloaded twice
    assert again.json()["engines"]["asr"]["action"] == "noop"
    digest = hashlib.sha256(BIG).hexdigest()
    assert (tmp_path / "hub" / "models--ggerganov--whisper.cpp" / "blobs" / digest).stat().st_size == len(BIG)


def test_up_with_a_folder_uri_pulls_the_snapshot_and_the_vllm_stub_reads_it_read_only(
        engine, engine_env, stub_image, stacks, tmp_path, monkeypatch):
    from tests.models.conftest import FOLDER_COMMIT, FOLDER_FETCHED, FOLDER_FILES, ST1, ST2

    with HfServer({"org/vllm-folder": Repo(dict(FOLDER_FILES), commit=FOLDER_COMMIT)}) as server:
        server.page_size = 4
        monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
        monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
        monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
        monkeypatch.delenv("HF_TOKEN", raising=False)
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        name = stacks.track(f"up-folder-{uuid.uuid4().hex[:6]}")
        stack_file = tmp_path / "stack.yaml"
        stack_file.write_text(json.dumps({"name": name, "engines": {
            "asr": {"enabled": False}, "tts": {"enabled": False},
            "llm": {"port": free_port(), "model": "hf://org/vllm-folder"}}}))
        args = ["--images", write_catalog(tmp_path, stub_image), "--stack", stack_file]

        refused = aima("up", *args, "--no-pull", "--json")  # offline: the folder is not on disk, nothing starts
        assert refused.rc == 1 and "hf://org/vllm-folder@main is not complete on disk" in refused.err, refused.err
        assert not containers(engine.client, name) and server.log.body_bytes == 0  # (the plan may list it)

        first = aima("up", *args, "--json")
        assert first.rc == 0, first.err
        assert server.log.body_bytes == sum(len(FOLDER_FILES[p]) for p in FOLDER_FETCHED)
        llm = containers(engine.client, name)["llm"]
        snapshot = f"/models/snapshots/{FOLDER_COMMIT}"
        cmd = " ".join(llm.attrs["Config"]["Cmd"])
        assert f"echo model {snapshot} served org/vllm-folder;" in cmd, cmd  # the folder, pinned; the repo id
        mount = next(m for m in llm.attrs["Mounts"] if m["Destination"] == "/models")
        assert not mount["RW"] and mount["Source"].endswith("hub/models--org--vllm-folder")
        deadline = time.monotonic() + 10
        while "MODEL_" not in (log := llm.logs().decode()) and time.monotonic() < deadline:
            time.sleep(0.1)
        # config.json and both shards readable through the cache's links; neither folder writable
        assert f"MODEL_OK {len(ST1) + len(ST2)}" in log, log

        status = aima("status", "--stack", stack_file, "--json")
        assert status.rc == 0, status.err
        row = status.json()["engines"]["llm"]
        assert (row["model"], row["model_source"]) == ("hf://org/vllm-folder", "hf://org/vllm-folder@main")

        requests = len(server.log.requests)
        again = aima("up", *args, "--json")
        assert again.rc == 0, again.err
        assert again.json()["engines"]["llm"]["action"] == "noop"
        assert len(server.log.requests) == requests  # complete on disk: not even the listing is asked again


def test_a_taken_port_is_refused_before_any_model_byte_is_downloaded(engine, engine_env, stub_image, stacks,
                                                                      tmp_path, hf_env):
    import socket

    name = stacks.track(f"up-port-{uuid.uuid4().hex[:6]}")
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        stack_file = tmp_path / "stack.yaml"
        stack_file.write_text(json.dumps({"name": name, "engines": {
            "asr": {"port": holder.getsockname()[1]}, "llm": {"enabled": False}, "tts": {"enabled": False}}}))
        result = aima("up", "--images", write_catalog(tmp_path, stub_image), "--stack", stack_file)
    assert result.rc == 1 and "preflight found 1 problem" in result.err and "in use" in result.err, result.err
    assert hf_env.log.body_bytes == 0 and not [r for r in hf_env.log.requests if r[0] == "GET"]  # nothing fetched
    assert not containers(engine.client, name)


def _cache_is_honest(hub) -> None:
    """Nothing that looks complete is not: every blob's bytes hash to its name, every snapshot link resolves."""
    for blob in hub.glob("models--*/blobs/*"):
        if not blob.name.endswith(".incomplete"):
            assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name, blob
    for link in hub.glob("models--*/snapshots/*/*"):
        assert link.resolve().exists() and not link.resolve().name.endswith(".incomplete"), link


def test_up_killed_at_any_point_finishes_on_the_next_run_without_fetching_what_is_on_disk(
        engine, engine_env, stub_image, stacks, tmp_path, hf_env):
    from tests.e2e.upkit import aima_process
    from tests.models.conftest import SHARD1, SHARD2

    hf_env.repos["org/split-GGUF"] = Repo({"m-00001-of-00002.gguf": SHARD1, "m-00002-of-00002.gguf": SHARD2})
    hf_env.faults.rate = 4 * 2**20  # ~6 MiB in all: about 1.5 s of downloading to kill it in
    name = stacks.track(f"up-kill-{uuid.uuid4().hex[:6]}")
    stack_file = tmp_path / "stack.yaml"
    stack_file.write_text(json.dumps({"name": name, "engines": {
        "asr": {"port": free_port()}, "llm": {"port": free_port()}, "tts": {"enabled": False}}}))
    args = ["up", "--images", write_catalog(tmp_path, stub_image), "--stack", stack_file,
            "--model", "llm=hf://org/split-GGUF/m-00001-of-00002.gguf", "--json"]
    hub = tmp_path / "hub"
    whisper = hub / "models--ggerganov--whisper.cpp" / "blobs" / hashlib.sha256(BIG).hexdigest()
    shard1 = hub / "models--org--split-GGUF" / "blobs" / hashlib.sha256(SHARD1).hexdigest()

    def size(path) -> int:
        for p in (path, path.with_name(path.name + ".incomplete")):
            if p.exists():
                return p.stat().st_size
        return 0

    kill_points = {  # each is reached by a run that starts where the previous one was killed
        "the first request": lambda: any(r[0] == "GET" for r in hf_env.log.requests),
        "a third of the first file": lambda: size(whisper) >= len(BIG) // 3,
        "the first file renamed into place": lambda: whisper.exists(),
        "half of the second file": lambda: size(shard1) >= len(SHARD1) // 2,
        # sparse: no inspect per container, which races with up removing one (NotFound)
        "the containers being made": lambda: bool(engine.client.containers.list(
            all=True, sparse=True, filters={"label": f"aima.stack={name}"})),
    }
    expected_ranges: list[tuple[int, dict[str, int]]] = []  # (requests seen before the next run, on-disk sizes)
    for point, reached in kill_points.items():
        before = len(hf_env.log.requests)
        child = aima_process(*args)
        deadline = time.monotonic() + 60
        while not reached() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        child.kill()  # SIGKILL: no cleanup, no finally
        _, err = child.communicate()
        assert reached(), f"the run ended (rc {child.returncode}) before {point}: {err}"
        _cache_is_honest(hub)
        expected_ranges.append((len(hf_env.log.requests), {
            hashlib.sha256(data).hexdigest(): size(hub / f"models--{repo}" / "blobs" / hashlib.sha256(data).hexdigest())
            for repo, data in (("ggerganov--whisper.cpp", BIG), ("org--split-GGUF", SHARD1),
                               ("org--split-GGUF", SHARD2))}))
        assert before <= len(hf_env.log.requests)

    hf_env.faults.rate = None
    done = aima_process(*args)
    out, err = done.communicate(timeout=120)
    assert done.returncode == 0, err
    _cache_is_honest(hub)
    assert set(containers(engine.client, name)) == {"asr", "llm"}
    # Every run asked only for the bytes that were not on disk when the one before it was killed.
    for seen, on_disk in expected_ranges:
        first_get: dict[str, str | None] = {}
        for method, path, byte_range, _ in hf_env.log.requests[seen:]:
            if method == "GET" and "/cdn/" in path:
                first_get.setdefault(path.rsplit("/", 1)[-1], byte_range)
        for sha, kept in on_disk.items():
            if sha in first_get and kept:
                assert first_get[sha] == f"bytes={kept}-", (sha, kept, first_get[sha])
    for sha, data in ((hashlib.sha256(d).hexdigest(), d) for d in (BIG, SHARD1, SHARD2)):
        blob = next(hub.glob(f"models--*/blobs/{sha}"))
        assert blob.read_bytes() == data
