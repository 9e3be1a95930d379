"""Pure parts of verify around the checks: request timeouts from the plan, --endpoint parsing, the stored result's
status line, and what of an LLM answer is spoken."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from aima.catalog.model import ModelChoice
from aima.errors import AimaError
from aima.render.verify import figures_line, last_result
from aima.verify import store
from aima.verify.checks import duration_range, speakable
from aima.verify.stack import Sizing, endpoint_targets, request_timeout

QWEN_7B = ModelChoice(name="qwen2.5-7b-instruct-q4_k_m", format="gguf", size_mib=4680)


@pytest.mark.parametrize("sizing, cap, seconds, why", [
    (Sizing("llm", True, QWEN_7B), None, 60.0, "llm on the GPU"),
    (Sizing("llm", False, QWEN_7B), None, 30 + 60 * 4680 / 1024,
     "qwen2.5-7b-instruct-q4_k_m (4.6 GiB) on the CPU: a large model on the CPU is slow, not broken"),
    (Sizing("tts", False, None), None, 30.0, "tts on the CPU"),
    (Sizing("llm", False, QWEN_7B), 5.0, 5.0, "capped by --timeout"),
], ids=["gpu", "7b-on-cpu", "builtin-model", "capped"])
def test_request_timeout_is_sized_from_the_plan(sizing, cap, seconds, why):
    got, reason = request_timeout(sizing, cap)
    assert got == pytest.approx(seconds) and why in reason


def test_endpoint_targets_take_the_engines_api_and_the_candidates_sizing():
    sizes = {"llm": Sizing("llm", True, QWEN_7B), "llama-cpp-cpu": Sizing("llm", False, QWEN_7B),
             "asr": Sizing("asr", True, None)}
    targets = endpoint_targets(["llm=http://10.0.0.5:8000/", "asr=http://h:8080"], sizes.get, ["llama-cpp-cpu"])
    assert [(t.engine, t.url, t.api, t.gpu) for t in targets] == [
        ("llm", "http://10.0.0.5:8000", "openai chat", False),
        ("asr", "http://h:8080", "whisper.cpp /inference", False)]
    assert "on the CPU" in targets[0].timeout_why and targets[1].timeout_s == 60.0


@pytest.mark.parametrize("spec, problem", [
    ("llm:8000", "expected ENGINE=URL"), ("llm=10.0.0.5:8000", "expected ENGINE=URL"),
    ("stt=http://h", "not an engine"),
])
def test_bad_endpoint_is_one_line_naming_it(spec, problem):
    with pytest.raises(AimaError, match=problem) as caught:
        endpoint_targets([spec], lambda name: None, [])
    assert caught.value.exit_code == 2 and spec in str(caught.value)


def test_unknown_candidate_is_refused():
    with pytest.raises(AimaError, match="no such candidate"):
        endpoint_targets(["llm=http://h"], lambda name: None, ["nope"])


def test_stored_result_round_trips_and_status_says_when(tmp_path):
    env = {"XDG_STATE_HOME": str(tmp_path)}
    assert store.load("demo", env) is None and "never" in last_result(None)
    data = {"ok": True, "at": "2026-11-30T19:00:00+00:00", "figures": {"asr.real_time_factor": 0.12,
                                                                       "llm.ttft_s": 0.085, "tts.audio_s_per_s": 12.3}}
    assert store.save("demo", data, env) == tmp_path / "aima" / "stacks" / "demo" / "verify.json"
    loaded = store.load("demo", env)
    assert loaded == {"stack": "demo", **data}
    line = last_result(loaded, now=datetime(2026, 11, 30, 19, 5, tzinfo=timezone.utc))
    assert line == ("last verify: passed 5 min ago (2026-11-30T19:00:00+00:00): ASR real-time factor 0.12 · "
                    "LLM TTFT 85 ms · TTS 12.3 s of audio/s")
    failed = {"ok": False, "at": data["at"], "engines": {"llm": {"ok": False, "reason": "empty answer", "cause": None}}}
    assert last_result(failed, now=datetime(2026, 11, 30, 21, 0, tzinfo=timezone.utc)).endswith(
        "FAILED 2.0 h ago (2026-11-30T19:00:00+00:00): llm (empty answer)")
    store.forget("demo", env)
    assert store.load("demo", env) is None and not (tmp_path / "aima" / "stacks" / "demo").exists()


def test_figures_line_skips_what_was_not_measured():
    assert figures_line({"llm.tokens_per_s": 41.6}) == "LLM 42 tok/s" and figures_line({}) == ""


@pytest.mark.parametrize("answer, spoken", [
    ("<think>The user wants weather.</think>\n\nIt is **sunny** and warm.", "It is sunny and warm."),
    ("<think>still thinking when max_tokens ran out", ""),
    ("# Weather\n- mild", "Weather - mild"),
], ids=["reasoning-block", "cut-reasoning", "markdown"])
def test_speakable_drops_reasoning_and_markup(answer, spoken):
    assert speakable(answer) == spoken


def test_duration_range_fits_any_sane_speed():
    low, high = duration_range("The weather is mild and calm today.")
    assert (low, high) == pytest.approx((7 * 0.12, 7 * 1.5 + 1.0))
