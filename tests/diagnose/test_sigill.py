"""SIGILL (exit code 132): the knowledge base knows it by exit code alone; doctor knows it before a start."""

from __future__ import annotations

from dataclasses import replace

from aima.catalog.load import load_catalog
from aima.diagnose.check_engines import cpu_features_outcome
from aima.engine.model import Container
from aima.hardware.profiles import find_profile, load_profile
from aima.knowledge import load_knowledge
from aima.launch.logwatch import LogWatcher
from aima.launch.wait import _exited


def test_exit_code_132_is_an_illegal_instruction_with_the_ggml_native_remedy():
    d = load_knowledge().match_exit(132, "asr")
    assert d is not None and d.signature_id == "illegal-instruction" and d.fatal and d.fallback
    assert "GGML_NATIVE=OFF" in d.remedy and "3510" in d.source
    assert load_knowledge().match_exit(137, "asr") is None and load_knowledge().match_exit(None) is None


def test_a_silent_crash_with_code_132_is_diagnosed_from_the_exit_code():
    watcher = LogWatcher(load_knowledge(), "asr")
    # Nothing in the log: the kernel killed the process before it printed anything.
    outcome = _exited(Container("c1", "aima-x-asr", {}, "exited", exit_code=132), watcher, 10, 0.4)
    assert outcome.detail == ("exited with code 132 (killed by SIGILL): the engine died of SIGILL "
                           "(illegal instruction, exit code 132)")
    assert outcome.diagnosis.signature_id == "illegal-instruction"


def test_the_shell_line_is_recognised_too():
    d = load_knowledge().match_line("bash: line 1:     7 Illegal instruction     (core dumped) whisper-server", "asr")
    assert d is not None and d.signature_id == "illegal-instruction"


def _whisper_cpu():
    return load_catalog(include_user_config=False).candidate("asr", "whisper-cpp-cpu")


class _E:
    image = "ghcr.io/ggml-org/whisper.cpp:main"


def test_doctor_fails_a_whisper_image_on_a_cpu_without_avx2():
    hw = replace(load_profile(find_profile("cpu-x86_64")).hardware, cpu_features=("sse4_2", "avx"))
    outcome = cpu_features_outcome(_E(), _whisper_cpu(), hw)
    assert outcome.status == "fail"
    assert outcome.summary == ("ghcr.io/ggml-org/whisper.cpp:main is built for avx2, but this CPU lacks avx2: "
                               "it would die with SIGILL (exit code 132) at start")
    assert "GGML_NATIVE=OFF" in outcome.remedy


def test_doctor_passes_with_avx2_and_warns_when_the_cpu_is_not_known():
    hw = load_profile(find_profile("cpu-x86_64")).hardware
    assert cpu_features_outcome(_E(), _whisper_cpu(), replace(hw, cpu_features=("avx", "avx2"))).status == "ok"
    assert cpu_features_outcome(_E(), _whisper_cpu(), replace(hw, cpu_features=None)).status == "warn"
