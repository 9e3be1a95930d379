"""`aima pull` and `aima plan` through the real CLI, with HF_ENDPOINT at the local server and HF_HUB_CACHE empty."""

from __future__ import annotations

import hashlib
import json
import string
from pathlib import Path

from tests.e2e.upkit import aima

from .conftest import BIG, COMMIT, SHARD1, SHARD2

DATA = Path(__file__).parent / "data"


def write_catalog(tmp_path: Path, image: str = "aima-test/stub:latest") -> Path:
    text = string.Template((DATA / "images-models.yaml").read_text()).substitute(
        image=image, commit=COMMIT, size=len(BIG), sha256=hashlib.sha256(BIG).hexdigest())
    path = tmp_path / "images-models.yaml"
    path.write_text(text)
    return path


def _args(tmp_path):
    return ["--images", write_catalog(tmp_path), "--hardware", "cpu-x86_64"]


def test_pull_fetches_the_plan_s_models_and_a_uri_model_then_nothing_twice(hf, env, tmp_path):
    uri = "hf://org/split-GGUF/m-00001-of-00002.gguf"
    first = aima("pull", *_args(tmp_path), "--model", f"llm={uri}", "--json")
    assert first.rc == 0, first.err
    events = [json.loads(line) for line in first.out.splitlines()]
    summary = events[-1]
    assert summary["event"] == "summary" and summary["hub"] == str(env)
    assert summary["fetched_bytes"] == len(BIG) + len(SHARD1) + len(SHARD2)
    assert {e["event"] for e in events} >= {"begin", "start", "done", "summary"}
    notes = {e["engine"]: e["note"] for e in summary["engines"]}
    assert "image carries its model" in notes["tts"]
    again = aima("pull", *_args(tmp_path), "--model", f"llm={uri}", "--json")
    assert json.loads(again.out.splitlines()[-1])["fetched_bytes"] == 0
    plan = aima("plan", *_args(tmp_path), "--model", f"llm={uri}", "--json")
    assert plan.rc == 0, plan.err
    llm = plan.json()["engines"]["llm"] if isinstance(plan.json()["engines"], dict) else None
    assert llm is None or "snapshots/" in " ".join(llm["command"])


def test_pull_one_engine_offline_names_the_missing_file(hf, env, tmp_path):
    out = aima("pull", "asr", *_args(tmp_path), "--offline")
    assert out.rc == 1
    assert "offline" in out.err and "ggerganov/whisper.cpp@" in out.err and "ggml-tiny.bin" in out.err
    assert not hf.log.requests


def test_pull_a_bad_uri_or_unknown_engine_is_one_line(env, tmp_path):
    bad = aima("pull", *_args(tmp_path), "--model", "llm=hf://org-only")
    assert bad.rc == 1 and "hf://ORG/REPO[/PATH/FILE]" in bad.err and "Traceback" not in bad.err
    unknown = aima("pull", "stt", *_args(tmp_path))
    assert unknown.rc == 1 and "'stt' is not in the plan" in unknown.err
