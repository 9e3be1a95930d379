"""The project's internal shorthand ("seed 004", "facts §6c") never reaches a user: plan, doctor, diagnoses.

The catalogue and the knowledge base keep it (maintainers follow it into shared/); aima.sources.public takes it
out of what is printed. Planned for every shipped hardware profile, as text and as JSON.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from aima.sources import SHORTHAND, public, public_list
from tests.e2e.upkit import aima

PROFILES = sorted(Path(__file__).resolve().parents[2].joinpath("profiles").glob("*.yaml"))


def _shorthand(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if SHORTHAND.search(line.replace("\\u00a7", "§"))]


@pytest.mark.parametrize("profile", PROFILES, ids=[p.stem for p in PROFILES])
def test_plan_for_every_profile_says_nothing_in_shorthand(profile):
    for args in (("plan", "--hardware", profile), ("plan", "--hardware", profile, "--json")):
        result = aima(*args)
        assert result.out, result.err
        assert _shorthand(result.out + result.err) == [], args


@pytest.mark.parametrize("profile", ["rtx-4090", "gb10", "gtx-1080", "rtx-5070-ti"])
def test_doctor_says_nothing_in_shorthand(profile, monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nothing.sock")  # the checks that need no daemon
    for args in (("doctor", "--hardware", profile), ("doctor", "--hardware", profile, "--json")):
        result = aima(*args)
        assert result.out, result.err
        assert _shorthand(result.out + result.err) == [], args


def test_every_diagnosis_a_user_can_see_is_free_of_shorthand():
    from aima.knowledge import load_knowledge

    for s in load_knowledge().signatures:
        assert not SHORTHAND.search(s.title + s.meaning + s.remedy), s.id
        assert not SHORTHAND.search(public_list(s.sources)), s.id


@pytest.mark.parametrize(("cited", "shown"), [
    ("Docker Hub vllm/vllm-openai; seed 004; facts §4b, §6c, §8.3, §9", "Docker Hub vllm/vllm-openai"),
    ("seed 000 (RTX 5070 Ti rebuild); recipes/whisper.cpp-cuda at 233fe1f", "recipes/whisper.cpp-cuda at 233fe1f"),
    ("ggml-org/whisper.cpp .devops/main-cuda.Dockerfile @233fe1f (facts §6a)",
     "ggml-org/whisper.cpp .devops/main-cuda.Dockerfile @233fe1f"),
    ("cuda-facts §8.1 (ggml/src/ggml-cuda/common.cuh, no_device_code)",
     "ggml/src/ggml-cuda/common.cuh, no_device_code"),
    ("v0.19.x: CUDA 12.9 (vLLM PR #39878, facts §6c)", "v0.19.x: CUDA 12.9 (vLLM PR #39878)"),
    ("Triton's ptxas (seed 004; triton#8539; facts §8.3)", "Triton's ptxas (triton#8539)"),
    ("seed 004", ""),
    ("no shorthand here; PR #1", "no shorthand here; PR #1"),
], ids=["list", "seed-first", "facts-paren", "facts-detail", "paren-tail", "paren-middle", "only", "none"])
def test_public_keeps_only_the_public_part(cited, shown):
    assert public(cited) == shown
