"""The five seed reports as acceptance tests of the resolver: chosen candidate and the reasons."""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import pytest

from aima.catalog.load import load_catalog, merge, read_catalog
from aima.hardware.model import CudaVersion
from aima.hardware.profiles import load_profile
from aima.resolve import resolve
from tests.conftest import PROFILES

CATALOG = load_catalog(include_user_config=False)


def hw(name):
    return load_profile(PROFILES / f"{name}.yaml").hardware


def rejected(res, candidate):
    return next(r.reason for r in res.rejected if r.candidate == candidate)


def _with_extra(tmp_path: Path, yaml_text: str):
    path = tmp_path / "extra.yaml"
    path.write_text(textwrap.dedent(yaml_text))
    return merge(CATALOG, read_catalog(path, partial=True))


SM52_ONLY = """
    engines:
      asr:
        candidates:
          - id: whisper-rs-sm52
            image: care-voice:whisper-rs-gpu
            gpu: true
            cuda: "12.4"
            archs: sm_52
            ptx_jit: false
            port: 8001
            model_format: ggml
    """


def test_rtx_5070_ti_gets_the_sm120_whisper_build(tmp_path):
    res = resolve("asr", hw("rtx-5070-ti"), _with_extra(tmp_path, SM52_ONLY))
    assert res.chosen.id == "whisper-cpp-cuda-sm120"
    assert "sm_120a SASS runs on this 12.0 GPU" in res.reason
    assert res.gpus == (0,)


def test_rtx_5070_ti_never_gets_an_sm52_only_build(tmp_path):
    res = resolve("asr", hw("rtx-5070-ti"), _with_extra(tmp_path, SM52_ONLY))
    reason = rejected(res, "whisper-rs-sm52")
    assert "sm_52" in reason and "12.0" in reason


def test_rtx_5070_ti_sm52_with_its_ptx_is_refused_when_kernels_trap_on_jit(tmp_path):
    only = _with_extra(tmp_path, SM52_ONLY.replace("archs: sm_52", "archs: '52'"))
    sm120 = dataclasses.replace(only, engines=tuple(
        dataclasses.replace(e, candidates=tuple(c for c in e.candidates if c.id == "whisper-rs-sm52"))
        if e.name == "asr" else e for e in only.engines))
    res = resolve("asr", hw("rtx-5070-ti"), sm120)
    assert res.chosen is None or not res.chosen.gpu
    assert "no device code" in rejected(res, "whisper-rs-sm52")


def test_rtx_5070_ti_never_gets_the_sm90_max_official_build():
    res = resolve("asr", hw("rtx-5070-ti"), CATALOG)
    assert res.chosen.id != "whisper-cpp-cuda"
    # Two reasons stand against it: its CUDA 13.0 needs a newer driver, and 12.0 would only JIT compute_90.
    assert "13.0" in rejected(res, "whisper-cpp-cuda") and "12.9" in rejected(res, "whisper-cpp-cuda")


def test_sm90_max_build_on_a_new_driver_loses_to_native_sm120_code(tmp_path):
    machine = dataclasses.replace(hw("rtx-5070-ti"), driver_version="580.65.06", cuda_driver_version=CudaVersion(13, 0))
    res = resolve("asr", machine, CATALOG)
    assert res.chosen.id == "whisper-cpp-cuda-sm120"
    assert "PTX JIT" in rejected(res, "whisper-cpp-cuda")


def test_gtx_1080_is_refused_the_75_80_86_90_build_with_that_reason():
    machine = dataclasses.replace(hw("gtx-1080"), driver_version="580.65.06", cuda_driver_version=CudaVersion(13, 0))
    res = resolve("asr", machine, CATALOG)
    reason = rejected(res, "whisper-cpp-cuda")
    assert "sm_75, sm_80, sm_86, sm_90" in reason and "6.1" in reason


def test_gtx_1080_gets_the_official_image_only_where_it_fits_else_the_sm61_build():
    res = resolve("asr", hw("gtx-1080"), CATALOG)
    assert res.chosen.id == "whisper-cpp-cuda12-sm61"
    assert "sm_61 SASS" in res.reason


def test_gb10_is_refused_the_official_vllm_image_and_gets_nvidias_spark_image():
    res = resolve("llm", hw("gb10"), CATALOG)
    assert res.chosen.id == "vllm-ngc-spark" and res.chosen.image.startswith("nvcr.io/nvidia/vllm:")
    # seed 004's private image is used only when it is already on the machine
    assert "neither pull nor build" in rejected(res, "vllm-gb10")
    reason = rejected(res, "vllm-official")
    assert "sm_121a" in reason and "ptxas fatal" in reason and "12.8" in reason


def test_gb10_refuses_amd64_only_images_by_platform():
    res = resolve("asr", hw("gb10"), CATALOG)
    assert "linux/amd64 only" in rejected(res, "whisper-cpp-cuda")


@pytest.mark.parametrize("machine", ["cpu-x86_64", "cpu-aarch64"])
def test_cpu_only_machine_gets_cpu_images_and_a_clear_notice(machine):
    for engine in ("asr", "llm", "tts"):
        res = resolve(engine, hw(machine), CATALOG)
        assert res.chosen is not None and not res.chosen.gpu
        assert any("no NVIDIA GPU" in w for w in res.warnings)
        gpu_losers = [r for r in res.rejected if "cpu" not in r.candidate]
        assert all("none" in r.reason or "only" in r.reason for r in gpu_losers)


def test_driver_too_old_for_the_image_is_refused_with_both_versions():
    res = resolve("llm", hw("rtx-5090-old-driver"), CATALOG)
    reason = rejected(res, "llama-cpp-cuda13")
    assert "13.4" in reason and "12.8" in reason  # server-cuda13 is CUDA 13.4 since llama.cpp PR #29207


def test_require_cuda_brand_clause_lets_a_tesla_on_r535_run_a_cuda_12_9_image():
    res = resolve("llm", hw("a100"), CATALOG)
    assert res.chosen.id == "vllm-official"


def test_require_cuda_has_no_geforce_clause_so_a_geforce_on_r570_is_refused():
    res = resolve("llm", hw("2x-rtx-3090"), CATALOG)
    assert "cuda>=12.9" in rejected(res, "vllm-official") and "geforcertx" in rejected(res, "vllm-official")


def test_gpu_machine_where_nothing_fits_falls_to_cpu_loudly():
    res = resolve("tts", hw("gtx-1080"), CATALOG)
    assert res.chosen.id == "kokoro-cpu"
    assert any("NOT on the GPU" in w for w in res.warnings)


def test_cpu_disallowed_by_the_catalogue_means_no_candidate(tmp_path):
    strict = _with_extra(tmp_path, """
        engines:
          tts:
            allow_cpu: false
        """)
    res = resolve("tts", hw("gtx-1080"), strict)
    assert res.chosen is None
    assert "does not allow the CPU" in res.reason


def test_resolution_is_deterministic():
    machine = hw("h100")
    assert resolve("llm", machine, CATALOG) == resolve("llm", machine, CATALOG)


def test_inspected_archs_override_the_catalogue():
    machine = hw("rtx-4090")
    inspected = {"ghcr.io/remsky/kokoro-fastapi-gpu:latest": ("sm_90", "inspected sha256:abc")}
    res = resolve("tts", machine, CATALOG, inspected=inspected)
    assert res.chosen.id != "kokoro-gpu"
    assert "inspected sha256:abc" in rejected(res, "kokoro-gpu")
