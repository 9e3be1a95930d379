"""An hf:// model's memory need through the real CLI: its files' sizes (HEAD on the local HF server, or the cache)
plus the engine's overhead rule; refused where it does not fit; unknown (and said so) when offline."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import yaml

from aima.models.sizing import memory_figures
from tests.conftest import PROFILES
from tests.e2e.upkit import aima

from .conftest import SHARD1, SHARD2

URI = "hf://org/split-GGUF/m-00001-of-00002.gguf"  # two shards: HEAD of both counts
NEED = memory_figures(len(SHARD1) + len(SHARD2), "gguf", 8192)[1]


def _stack(tmp_path: Path) -> Path:
    """Only the LLM, on the GPU: a model that does not fit is a refusal, not a move to the CPU."""
    path = tmp_path / "aima.yaml"
    path.write_text(textwrap.dedent(f"""
        engines:
          llm: {{model: "{URI}", device: gpu}}
          asr: {{enabled: false}}
          tts: {{enabled: false}}
    """))
    return path


def _profile(tmp_path: Path, gpu_mib: int) -> Path:
    data = yaml.safe_load((PROFILES / "rtx-3080.yaml").read_text())
    data["gpus"][0]["memory_mib"] = gpu_mib
    data.pop("expect", None)
    path = tmp_path / f"rtx-3080-{gpu_mib}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_an_hf_model_has_the_memory_its_files_need_and_is_refused_where_it_does_not_fit(hf, env, tmp_path):
    assert NEED > 1000  # weights x 1.2 + KV cache for 8192 tokens: never 0 MiB
    fits = aima("plan", "--stack", _stack(tmp_path), "--hardware", _profile(tmp_path, 10240), "--json")
    assert fits.rc == 0, fits.err
    llm = fits.json()["engines"]["llm"]
    assert llm["model"]["name"] == URI and llm["model"]["gpu_memory_mib"] == NEED
    heads = [r for r in hf.log.requests if r[0] == "HEAD"]
    assert len(heads) == 2 and not [r for r in hf.log.requests if r[0] == "GET"]  # sized by HEAD, nothing fetched
    text = aima("plan", "--stack", _stack(tmp_path), "--hardware", _profile(tmp_path, 10240))
    assert f"needs {NEED} MiB of GPU memory" in text.out
    small = aima("plan", "--stack", _stack(tmp_path), "--hardware", _profile(tmp_path, 1024), "--json")
    assert small.rc != 0
    refusal = json.dumps(small.json())
    assert f"needs {NEED} MiB of GPU memory" in refusal and URI in refusal


def test_offline_and_not_on_disk_the_need_is_unknown_and_the_plan_says_so(hf, env, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    result = aima("plan", "--stack", _stack(tmp_path), "--hardware", _profile(tmp_path, 10240), "--json")
    assert result.rc == 0, result.err
    plan = result.json()
    assert plan["engines"]["llm"]["model"]["gpu_memory_mib"] == 0
    assert any("unknown (offline and not on disk)" in w for w in plan["warnings"]), plan["warnings"]
    assert not hf.log.requests
    # Once pulled, the files on disk size it, offline too.
    monkeypatch.delenv("HF_HUB_OFFLINE")
    assert aima("pull", "--stack", _stack(tmp_path), "--hardware", _profile(tmp_path, 10240)).rc == 0
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    sent = len(hf.log.requests)
    again = aima("plan", "--stack", _stack(tmp_path), "--hardware", _profile(tmp_path, 10240), "--json")
    assert again.json()["engines"]["llm"]["model"]["gpu_memory_mib"] == NEED and len(hf.log.requests) == sent


def test_a_folder_model_is_sized_from_its_safetensors_and_planned_on_the_shipped_vllm(hf, env, tmp_path):
    from .conftest import FOLDER_COMMIT, ST1, ST2

    folder = "hf://org/vllm-folder"
    need = memory_figures(len(ST1) + len(ST2), "hf", 8192)[1]  # weights x 1.2 + 3 GiB: the .bin copy not counted
    stack = _stack(tmp_path)
    stack.write_text(stack.read_text().replace(URI, folder))
    fits = aima("plan", "--stack", stack, "--hardware", _profile(tmp_path, 10240), "--json")
    assert fits.rc == 0, fits.err
    llm = fits.json()["engines"]["llm"]
    assert llm["model"]["name"] == folder and llm["model"]["gpu_memory_mib"] == need
    assert llm["candidate"].startswith("vllm"), llm["candidate"]
    command = " ".join(llm["command"])
    assert f"/snapshots/{FOLDER_COMMIT} " in command + " " and "--served-model-name org/vllm-folder" in command
    assert hf.log.body_bytes == 0  # the listing only
    small = aima("plan", "--stack", stack, "--hardware", _profile(tmp_path, 2048), "--json")
    assert small.rc != 0
    assert f"needs {need} MiB of GPU memory" in json.dumps(small.json())
