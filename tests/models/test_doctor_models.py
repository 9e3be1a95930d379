"""`aima doctor`'s model check on the hub cache: present, truncated, interrupted, corrupt (deep), gated."""

from __future__ import annotations

import hashlib
import os
from dataclasses import replace
from types import SimpleNamespace

from aima.catalog.model import ModelChoice
from aima.diagnose.check_engines import source_model_outcome
from aima.models.cache import RepoCache
from aima.models.download import pull

from .conftest import BIG, COMMIT, settings, whisper_source


def _engine(hub, source):
    model = ModelChoice("tiny", "ggml", source.entry, 3, source=source)
    mount = SimpleNamespace(source=str(RepoCache(hub, source.repo).root), target="/models", read_only=True)
    return SimpleNamespace(engine="asr", model=model, mounts=(mount,))


def test_a_pulled_model_is_ok_and_deep_checks_its_sha256(hf, tmp_path):
    pull([whisper_source()], tmp_path, settings(hf))
    out = source_model_outcome(_engine(tmp_path, whisper_source()), tmp_path, deep=True, token=False)
    assert out.status == "ok" and "size and SHA-256 checked" in out.summary


def test_a_missing_or_interrupted_model_fails_with_the_remedy_aima_pull(hf, tmp_path):
    out = source_model_outcome(_engine(tmp_path, whisper_source()), tmp_path, deep=False, token=False)
    assert out.status == "fail" and "not downloaded" in out.summary and "`aima pull asr`" in out.remedy
    partial = RepoCache(tmp_path, "ggerganov/whisper.cpp").partial(hashlib.sha256(BIG).hexdigest())
    partial.parent.mkdir(parents=True)
    partial.write_bytes(BIG[:1000])
    RepoCache(tmp_path, "ggerganov/whisper.cpp").write_ref("main", COMMIT)
    out = source_model_outcome(_engine(tmp_path, whisper_source()), tmp_path, deep=False, token=False)
    assert out.status == "fail" and "interrupted (1000 bytes" in out.summary


def test_a_truncated_file_fails_and_pull_repairs_it(hf, tmp_path):
    pull([whisper_source()], tmp_path, settings(hf))
    blob = RepoCache(tmp_path, "ggerganov/whisper.cpp").blob(hashlib.sha256(BIG).hexdigest())
    os.truncate(blob, 1000)
    out = source_model_outcome(_engine(tmp_path, whisper_source()), tmp_path, deep=False, token=False)
    assert out.status == "fail" and f"truncated (1000 of {len(BIG)} bytes)" in out.summary
    assert "aima pull" in out.remedy
    pull([whisper_source()], tmp_path, settings(hf))
    assert blob.read_bytes() == BIG


def test_deep_finds_wrong_bytes_of_the_right_size(hf, tmp_path):
    pull([whisper_source()], tmp_path, settings(hf))
    blob = RepoCache(tmp_path, "ggerganov/whisper.cpp").blob(hashlib.sha256(BIG).hexdigest())
    blob.write_bytes(b"\0" * len(BIG))
    shallow = source_model_outcome(_engine(tmp_path, whisper_source()), tmp_path, deep=False, token=False)
    deep = source_model_outcome(_engine(tmp_path, whisper_source()), tmp_path, deep=True, token=False)
    assert shallow.status == "ok" and deep.status == "fail" and "SHA-256" in deep.summary
    assert str(blob) in deep.remedy


def test_a_gated_model_without_a_token_says_so(tmp_path):
    source = replace(whisper_source(), gated=True)
    out = source_model_outcome(_engine(tmp_path, source), tmp_path, deep=False, token=False)
    assert out.status == "fail" and "gated" in out.remedy and "HF_TOKEN" in out.remedy
