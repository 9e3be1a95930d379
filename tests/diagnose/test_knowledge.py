"""The failure knowledge base: the seeds' log lines get the right diagnosis; bad signature files name file:line: key."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from aima.errors import ConfigError
from aima.knowledge import DEFAULT_PATH, ENGINES, KnowledgeBase, load_knowledge
from tests.conftest import REPO

# Copied verbatim from the field reports in shared/seeds (test_seed_lines_are_verbatim checks that).
SEED_LINES = [
    ("000", "CUDA kernel mul_mat_vec has no device code compatible with CUDA arch 520"),
    ("000", "ggml-cuda.cu was compiled for: 520"),
    ("002", "GGML ASSERT(ptr == (void *)((char *)(pool_addr) + pool_used)) failed"),
    ("004", "ptxas fatal: Value 'sm_121a' is not defined for option 'gpu-name'"),
    ("004", "CUDA out of memory"),
    ("004", "Engine core initialization failed"),
    ("004", "PTXAS error"),
]
SEED_DIRS = [REPO / "shared" / "seeds", REPO.parent / "shared" / "seeds"]


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return load_knowledge()


def _diagnosis(kb, line, engine=None):
    diagnosis = kb.match_line(line, engine)
    assert diagnosis is not None, f"not recognised: {line!r}"
    return diagnosis


# -- the seeds -----------------------------------------------------------------------------------------------------

def test_seed_lines_are_verbatim():
    seeds = next((d for d in SEED_DIRS if d.is_dir()), None)
    if seeds is None:
        pytest.skip("shared/seeds is not next to this checkout")
    for number, line in SEED_LINES:
        (report,) = seeds.glob(f"{number}_*.txt")
        assert line in report.read_text(encoding="utf-8"), (number, line)


def test_rtx_5070_ti_sm52_line_is_diagnosed_as_arch_mismatch(kb):
    d = _diagnosis(kb, "CUDA kernel mul_mat_vec has no device code compatible with CUDA arch 520", "asr")
    assert d.signature_id == "ggml-no-device-code-for-arch"
    assert "CUDA arch 520" in d.meaning and "{arch}" not in d.meaning
    assert "120" in d.remedy and "CMAKE_CUDA_ARCHITECTURES" in d.remedy
    assert d.fatal and d.fallback and "whisper.cpp/issues/2368" in d.source and "seed" not in d.source


def test_rtx_5070_ti_compiled_for_line_alone_is_the_same_diagnosis(kb):
    d = _diagnosis(kb, "ggml-cuda.cu was compiled for: 520")
    assert d.signature_id == "ggml-no-device-code-for-arch" and "CUDA arch 520" in d.meaning


def test_ggml_no_device_code_full_line_as_printed_by_ggml(kb):
    line = ("/app/ggml/src/ggml-cuda/mmv.cu:51: ERROR: CUDA kernel mul_mat_vec has no device code compatible with "
            "CUDA arch 520. ggml-cuda.cu was compiled for: 520")
    assert _diagnosis(kb, line).signature_id == "ggml-no-device-code-for-arch"


def test_rtx_3080_vmm_pool_assert_with_the_seeds_space_is_recognised(kb):
    d = _diagnosis(kb, "GGML ASSERT(ptr == (void *)((char *)(pool_addr) + pool_used)) failed", "asr")
    assert d.signature_id == "ggml-vmm-pool-assert"
    assert "GGML_CUDA_NO_VMM=ON" in d.remedy and "one request at a time" in d.remedy


def test_vmm_pool_assert_as_ggml_prints_it_is_recognised(kb):
    line = ("whisper.cpp/ggml/src/ggml-cuda/ggml-cuda.cu:502: "
            "GGML_ASSERT(ptr == (void *)((char *)(pool_addr) + pool_used)) failed")
    assert _diagnosis(kb, line).signature_id == "ggml-vmm-pool-assert"
    assert _diagnosis(kb, "GGML_ASSERT(ptr == (void *)((char *)(pool_addr) + pool_used))").signature_id == \
        "ggml-vmm-pool-assert"


def test_vmm_remedy_says_the_seeds_env_var_does_not_exist(kb):
    remedy = _diagnosis(kb, "GGML ASSERT(ptr == (void *)((char *)(pool_addr) + pool_used)) failed").remedy
    assert "GGML_CUDA_FORCE_LEGACY_POOL" in remedy and "does not exist" in remedy


def test_gb10_ptxas_line_from_seed_004_names_the_arch_and_the_ptxas_fix(kb):
    d = _diagnosis(kb, "ptxas fatal: Value 'sm_121a' is not defined for option 'gpu-name'", "llm")
    assert d.signature_id == "triton-ptxas-unknown-arch"
    assert "sm_121a" in d.meaning
    assert "TRITON_PTXAS_PATH=/usr/local/cuda/bin/ptxas" in d.remedy and "CUDA 13" in d.remedy
    assert d.fallback and "triton-lang/triton/issues/8539" in d.source and "seed" not in d.source


@pytest.mark.parametrize("line", [
    "ptxas fatal   : Value 'sm_121a' is not defined for option 'gpu-name'",
    "ptxas-blackwell fatal   : Value 'sm_110a' is not defined for option 'gpu-name'",
], ids=["triton-spacing", "thor-ptxas-blackwell"])
def test_ptxas_spellings_seen_in_real_logs(kb, line):
    assert _diagnosis(kb, line).signature_id == "triton-ptxas-unknown-arch"


@pytest.mark.parametrize(("line", "signature_id", "remedy_word"), [
    ("CUDA out of memory", "cuda-out-of-memory", "--gpu-memory-utilization"),
    ("Engine core initialization failed", "vllm-engine-core-init-failed", "first error above"),
    ("PTXAS error", "triton-ptxas-error", "TRITON_PTXAS_PATH"),
], ids=["oom", "engine-core", "ptxas-error"])
def test_gb10_error_table_of_seed_004(kb, line, signature_id, remedy_word):
    d = _diagnosis(kb, line, "llm")
    assert d.signature_id == signature_id and remedy_word in d.remedy


def test_gtx_1080_with_an_image_built_for_75_80_86_90_is_an_arch_mismatch(kb):
    # Seed 003's image on a 6.1 card: ggml's own check, or CUDA's error 209.
    d = _diagnosis(kb, "ggml was not compiled with any CUDA arch <= 610", "asr")
    assert d.signature_id == "ggml-no-arch-at-or-below-gpu" and "610" in d.meaning and d.fallback
    d = _diagnosis(kb, "CUDA error: no kernel image is available for execution on the device", "asr")
    assert d.signature_id == "cuda-no-kernel-image" and d.fallback


def test_official_vllm_image_on_gb10_sm120_only_kernel(kb):
    d = _diagnosis(kb, "This kernel only supports sm120.", "llm")
    assert d.signature_id == "kernel-only-supports-other-arch" and "sm120" in d.meaning and d.fallback


# -- the rest of the catalogue -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("line", "signature_id", "fallback"), [
    ("RuntimeError: CUDA driver version is insufficient for CUDA runtime version", "cuda-driver-insufficient", True),
    ("docker: Error response from daemon: failed to create task for container: failed to create shim task: OCI "
     "runtime create failed: runc create failed: unable to start container process: error during container init: "
     "error running hook #0: error running hook: exit status 1, stdout: , stderr: Auto-detected mode as 'legacy'\n"
     "nvidia-container-cli: requirement error: unsatisfied condition: cuda>=12.4, please update your driver to a "
     "newer version, or use an earlier cuda container: unknown", "nvidia-require-cuda-unsatisfied", True),
    ('docker: Error response from daemon: could not select device driver "" with capabilities: [[gpu]].',
     "docker-no-gpu-runtime", False),
    ("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB.", "cuda-out-of-memory", False),
    ("ValueError: No available memory for the cache blocks. Try increasing `gpu_memory_utilization` when "
     "initializing the engine.", "vllm-no-kv-cache-memory", False),
    ("ValueError: Free memory on device cuda:0 (12.18/23.56 GiB) on startup is less than desired GPU memory "
     "utilization (0.92, 21.67 GiB).", "vllm-free-memory-below-utilization", False),
    ("ValueError: The model's max seq len (32768) is larger than the maximum number of tokens that can be stored "
     "in KV cache (12336).", "vllm-max-seq-len-exceeds-kv-cache", False),
    ("RuntimeError: CUDA error: forward compatibility was attempted on non supported HW",
     "cuda-forward-compat-unsupported", True),
    ("ERROR:    [Errno 98] error while attempting to bind on address ('0.0.0.0', 8000): address already in use",
     "port-in-use", False),
    ("Bind for 127.0.0.1:8080 failed: port is already allocated", "port-in-use", False),
], ids=["driver-insufficient", "require-cuda", "no-gpu-runtime", "torch-oom", "no-kv-memory", "free-memory",
        "max-seq-len", "forward-compat-804", "uvicorn-port", "docker-port"])
def test_known_failures_are_recognised(kb, line, signature_id, fallback):
    d = _diagnosis(kb, line)
    assert (d.signature_id, d.fallback) == (signature_id, fallback)
    assert "{" not in d.meaning and "{" not in d.remedy


def test_require_cuda_diagnosis_names_the_required_version(kb):
    d = _diagnosis(kb, "nvidia-container-cli: requirement error: unsatisfied condition: cuda>=12.8, please update")
    assert "cuda>=12.8" in d.meaning


def test_free_memory_diagnosis_quotes_the_numbers(kb):
    d = _diagnosis(kb, "ValueError: Free memory on device (6.9/8.0 GiB) on startup is less than desired GPU memory "
                       "utilization (0.9, 7.2 GiB).")
    assert "6.9 of 8.0 GiB" in d.meaning and "7.2 GiB" in d.meaning and "0.9" in d.meaning


def test_gb10_pytorch_capability_warning_is_only_a_warning(kb):
    d = _diagnosis(kb, "UserWarning: Found GPU0 NVIDIA GB10 which is of cuda capability 12.1.")
    assert d.signature_id == "torch-capability-outside-build-range"
    assert not d.fatal and not d.fallback and "12.1 (NVIDIA GB10)" in d.meaning


# -- ranking: wrappers below specific causes -----------------------------------------------------------------------

_CORE = "(EngineCore_DP0 pid=253) ERROR 02-19 10:01:02 [core.py:708] "
GB10_VLLM_LOG = [
    "(EngineCore_DP0 pid=253) INFO 02-19 10:00:58 [gpu_model_runner.py:2602] Model loading took 15.2 GiB",
    _CORE + "triton.runtime.errors.PTXASError: PTXAS error: Internal Triton PTX codegen error",
    _CORE + "`ptxas` stderr:",
    _CORE + "ptxas fatal   : Value 'sm_121a' is not defined for option 'gpu-name'",
    "(APIServer pid=1) RuntimeError: Engine core initialization failed. See root cause above. Failed core proc(s): {}",
]


def test_engine_core_wrapper_ranks_below_the_ptxas_cause_found_earlier(kb):
    found = kb.diagnose(GB10_VLLM_LOG, "llm")
    assert [d.signature_id for d in found] == [
        "triton-ptxas-unknown-arch", "triton-ptxas-error", "vllm-engine-core-init-failed"]
    assert [d.line_number for d in found] == [4, 2, 5]
    first = kb.first(GB10_VLLM_LOG, "llm")
    assert first.signature_id == "triton-ptxas-unknown-arch" and first.fallback and not first.wrapper


def test_engine_core_wrapper_ranks_below_an_out_of_memory_printed_before_it(kb):
    log = ["(EngineCore_DP0 pid=93) ERROR 03-02 07:01:47 [core.py:708] torch.OutOfMemoryError: CUDA out of memory.",
           "RuntimeError: Engine core initialization failed. See root cause above. Failed core proc(s): {}"]
    assert kb.first(log, "llm").signature_id == "cuda-out-of-memory"
    assert kb.first(reversed(log), "llm").signature_id == "cuda-out-of-memory"


def test_wrapper_alone_is_still_reported(kb):
    d = kb.first(["INFO starting", "RuntimeError: Engine core initialization failed. See root cause above."], "llm")
    assert d.signature_id == "vllm-engine-core-init-failed" and d.wrapper and d.line_number == 2


def test_warning_ranks_below_the_fatal_cause(kb):
    log = ["UserWarning: Found GPU0 NVIDIA GeForce GTX 1080 which is of cuda capability 6.1.",
           "    PyTorch no longer supports this GPU because it is too old."]
    assert [d.signature_id for d in kb.diagnose(log)] == ["torch-gpu-too-old", "torch-capability-outside-build-range"]


def test_a_repeated_line_is_reported_once_at_its_first_occurrence(kb):
    log = ["ok"] + ["This kernel only supports sm120."] * 40
    (d,) = kb.diagnose(log, "llm")
    assert d.line_number == 2


def test_a_clean_log_has_no_diagnosis(kb):
    log = ["whisper_init_with_params_no_state: use gpu = 1",
           "  Device 0: NVIDIA GeForce RTX 5070 Ti, compute capability 12.0, VMM: yes",
           "whisper server listening at http://0.0.0.0:8080"]
    assert kb.diagnose(log, "asr") == [] and kb.first(log, "asr") is None


# -- engines, colours, speed -----------------------------------------------------------------------------------

def test_engine_filter_keeps_ggml_signatures_off_tts_and_vllm_ones_off_asr(kb):
    assert kb.match_line("GGML_ASSERT(ptr == (void *)((char *)(pool_addr) + pool_used)) failed", "tts") is None
    assert kb.match_line("ValueError: No available memory for the cache blocks.", "asr") is None
    assert kb.match_line("ValueError: No available memory for the cache blocks.", "llm") is not None


def test_unknown_engine_is_a_programming_error(kb):
    with pytest.raises(ValueError, match="unknown engine"):
        kb.match_line("x", "video")


def test_coloured_log_line_is_matched_and_reported_without_colour(kb):
    d = _diagnosis(kb, "\x1b[1;31mERROR\x1b[0m CUDA error: no kernel image is available for execution on the device\n")
    assert d.signature_id == "cuda-no-kernel-image" and d.line == "ERROR CUDA error: no kernel image is available " \
        "for execution on the device"


def test_scanning_a_line_takes_microseconds(kb):
    lines = [f"(EngineCore_DP0 pid=93) INFO 03-02 07:01:{i % 60:02d} [gpu_model_runner.py:{i}] Loading "
             f"safetensors checkpoint shards: {i % 100}% Completed | {i}/4 [00:04<00:00, 1.08s/it]"
             for i in range(5000)]
    for engine in (None, *ENGINES):
        start = time.perf_counter()
        for line in lines:
            kb.match_line(line, engine)
        per_line = (time.perf_counter() - start) / len(lines)
        assert per_line < 50e-6, f"{per_line * 1e6:.1f} µs per line for engine {engine}"


# -- the shipped file ----------------------------------------------------------------------------------------------

def test_shipped_knowledge_is_loaded_once(kb):
    assert load_knowledge() is kb and kb.path == str(DEFAULT_PATH)


def test_every_shipped_signature_has_an_example_and_a_source(kb):
    for s in kb:
        assert s.examples, s.id
        assert s.sources, s.id
        for example in s.examples:
            assert kb.match_line(example).signature_id == s.id


def test_every_seed_with_a_log_line_is_cited(kb):
    cited = " ".join(" ".join(s.sources) for s in kb)
    for number in ("000", "002", "003", "004"):
        assert f"seed {number}" in cited


def test_get_finds_a_signature_by_id(kb):
    assert kb.get("ggml-vmm-pool-assert").fallback and kb.get("no-such-id") is None


# -- bad files: file:line: key ---------------------------------------------------------------------------------

GOOD = """\
signatures:
  - id: example-failure
    title: an example
    pattern: 'something (?P<what>\\w+) broke'
    extract: [what]
    engines: all
    meaning: '{what} broke.'
    remedy: Fix it.
    source: seed 000
    examples:
      - 'something big broke'
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "signatures.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_minimal_user_file_loads_and_fills_the_meaning(tmp_path):
    kb = load_knowledge(_write(tmp_path, GOOD))
    assert kb.match_line("oh, something pipe broke").meaning == "pipe broke."


def _error(tmp_path, text) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_knowledge(_write(tmp_path, text))
    return info.value


SECOND = GOOD.split("\n", 1)[1].replace("example-failure", "other-failure")


@pytest.mark.parametrize(("text", "line", "key", "words"), [
    (GOOD.replace("    remedy:", "    colour: red\n    remedy:"), 8, "signatures[0].colour", "unknown key"),
    (GOOD.replace("(?P<what>\\w+)", "(?P<what>\\w+"), 4, "signatures[0].pattern", "not a valid regular expression"),
    (GOOD + SECOND.replace("other-failure", "example-failure"), 12, "signatures[1].id", "duplicate id"),
    (GOOD.replace("example-failure", "Example_Failure"), 2, "signatures[0].id", "kebab-case"),
    (GOOD.replace("engines: all", "engines: [asr, video]"), 6, "signatures[0].engines", "video"),
    (GOOD.replace("severity", "x").replace("    engines:", "    severity: deadly\n    engines:"), 6,
     "signatures[0].severity", "fatal, warning"),
    (GOOD.replace("'{what} broke.'", "'{who} broke.'"), 7, "signatures[0].meaning", "{who}"),
    (GOOD.replace("extract: [what]", "extract: [what, when]"), 4, "signatures[0].pattern", "(?P<when>"),
    (GOOD.replace("'something (?P<what>\\w+) broke'", "'(?P<what>x*)'"), 4, "signatures[0].pattern",
     "empty line"),
    (GOOD.replace("something big broke", "nothing to see"), 11, "signatures[0].examples[0]", "not matched"),
    (GOOD + SECOND.replace("'something big broke'", "'something else broke'"), 21, "signatures[1].examples[0]",
     "diagnosed as 'example-failure'"),
    (GOOD.replace("    engines:", "    severity: warning\n    fallback: true\n    engines:"), 7,
     "signatures[0].fallback", "cannot make aima fall back"),
    (GOOD.replace("    source: seed 000\n", ""), 2, "signatures[0]", "missing required key 'source'"),
], ids=["unknown-key", "bad-regex", "duplicate-id", "bad-id", "bad-engine", "bad-severity", "unknown-placeholder",
        "missing-group", "matches-everything", "example-unmatched", "example-shadowed", "warning-fallback",
        "missing-source"])
def test_bad_signature_file_names_file_line_and_key(tmp_path, text, line, key, words):
    error = _error(tmp_path, text)
    assert (error.line, error.key) == (line, key), str(error)
    assert str(error).startswith(f"{tmp_path / 'signatures.yaml'}:{line}: {key}: ")
    assert words in str(error) + (error.hint or "")


def test_pattern_and_patterns_together_are_refused(tmp_path):
    error = _error(tmp_path, GOOD.replace("    extract:", "    patterns: ['x+y']\n    extract:"))
    assert error.line == 2 and "exactly one of" in str(error)


def test_not_yaml_at_all_names_the_line(tmp_path):
    error = _error(tmp_path, "signatures:\n  - id: [unclosed\n")
    assert error.line is not None and "not valid YAML" in str(error)
