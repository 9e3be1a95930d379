"""LogWatcher: lines split across chunks, Docker timestamps, fatal vs warning vs wrapper lines."""

from __future__ import annotations

import pytest

from aima.knowledge import load_knowledge
from aima.launch.logwatch import LogWatcher, split_timestamp

KB = load_knowledge()


def test_split_timestamp_reads_docker_nanoseconds():
    when, text = split_timestamp("2026-01-02T03:04:05.123456789Z hello world")
    assert text == "hello world" and when == pytest.approx(1767323045.123456789)


@pytest.mark.parametrize("line", ["hello world", "2026 is a year", "", "ERROR: 2026-01-02 broken"])
def test_lines_without_a_timestamp_are_kept_whole(line):
    assert split_timestamp(line) == (None, line)


def test_a_line_split_across_chunks_is_matched_once_complete():
    w = LogWatcher(KB, "asr")
    w.feed(b"boot\nCUDA kernel mul_mat_vec has no device ")
    assert w.diagnosis is None and not w.wake.is_set()
    w.feed(b"code compatible with CUDA arch 520\nmore")
    assert w.diagnosis.signature_id == "ggml-no-device-code-for-arch"
    assert w.wake.is_set()
    w.finish()
    assert w.tail() == ["boot", "CUDA kernel mul_mat_vec has no device code compatible with CUDA arch 520", "more"]


def test_warning_lines_do_not_stop_the_wait():
    w = LogWatcher(KB, "llm")
    w.line("UserWarning: Found GPU0 NVIDIA GB10 which is of cuda capability 12.1.")
    assert w.diagnosis is None and not w.wake.is_set()
    assert w.best_diagnosis().signature_id == "torch-capability-outside-build-range"


def test_wrapper_line_yields_to_the_specific_cause_printed_before():
    w = LogWatcher(KB, "llm")
    w.line("INFO starting")
    w.line("ptxas fatal   : Value 'sm_121a' is not defined for option 'gpu-name'")
    first = w.diagnosis
    assert first is not None and first.signature_id == "triton-ptxas-unknown-arch"
    w.line("RuntimeError: Engine core initialization failed. See root cause above. Failed core proc(s): {}")
    assert w.diagnosis is first  # the first fatal diagnosis stands


def test_wrapper_alone_is_still_fatal():
    w = LogWatcher(KB, "llm")
    w.line("RuntimeError: Engine core initialization failed. See root cause above. Failed core proc(s): {}")
    assert w.diagnosis.signature_id == "vllm-engine-core-init-failed" and w.diagnosis.wrapper


def test_unknown_engine_names_match_every_signature():
    w = LogWatcher(KB, "whisper")
    w.line("CUDA kernel mul_mat_vec has no device code compatible with CUDA arch 520")
    assert w.diagnosis is not None


def test_latency_is_measured_from_the_line_timestamp():
    w = LogWatcher(KB, "asr", clock=lambda: 1767323045.5)
    w.line("2026-01-02T03:04:05.100000000Z CUDA kernel mul_mat_vec has no device code compatible with CUDA arch 520")
    assert w.latency_s == pytest.approx(0.4)
