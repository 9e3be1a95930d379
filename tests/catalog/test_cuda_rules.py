"""The CUDA rules as tables: which code runs on which GPU, toolkit knowledge, drivers, platforms."""

from __future__ import annotations

import pytest

from aima.catalog.cuda import (
    Capability,
    CudaVersion,
    Target,
    check_code,
    check_driver,
    check_platform,
    check_runtime_compiler,
    describe_targets,
    first_toolkit_for,
    min_driver_for,
    parse_targets,
    toolkit_targets,
)

CC = Capability.parse
V = CudaVersion.parse


def names(targets) -> list[str]:
    return [str(t) for t in targets]


# --- values ---------------------------------------------------------------------------------------------


def test_capability_parses_prints_and_orders():
    assert CC("8.6") == Capability(8, 6)
    assert str(CC("12.1")) == "12.1"
    assert CC("12.1").sm == "121"
    assert CC("8.9") < CC("9.0") < CC("10.0") < CC("12.0") < CC("12.1")


@pytest.mark.parametrize("text", ["86", "8", "8.10", "sm_86", "0.5", "", "8.6.1"])
def test_capability_refuses_other_spellings(text):
    with pytest.raises(ValueError, match="compute capability"):
        CC(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("12.4", (12, 4)), ("12.4.1", (12, 4)), ("13.0.2", (13, 0)), (" 11.8 ", (11, 8)), ("12.10", (12, 10))],
    ids=["major-minor", "patch-dropped", "cuda13-patch", "whitespace", "two-digit-minor"],
)
def test_cuda_version_parses_major_minor(text, expected):
    assert V(text) == CudaVersion(*expected)


@pytest.mark.parametrize("text", ["12", "v12.4", "12.x", "", "cuda12.4"])
def test_cuda_version_refuses_other_spellings(text):
    with pytest.raises(ValueError, match="CUDA version"):
        V(text)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(12040, "12.4"), (12080, "12.8"), (13000, "13.0"), (12090, "12.9"), (11040, "11.4"), (13020, "13.2")],
)
def test_cuda_version_from_nvml_integer(value, expected):
    assert str(CudaVersion.from_nvml(value)) == expected


def test_cuda_versions_order_numerically_not_lexically():
    assert V("12.9") < V("12.10") < V("13.0")
    assert str(V("12.4.1")) == "12.4"


@pytest.mark.parametrize(
    ("target", "text"),
    [
        (Target("sass", 8, 6), "sm_86"),
        (Target("ptx", 9, 0), "compute_90"),
        (Target("sass", 9, 0, "a"), "sm_90a"),
        (Target("sass", 10, 0, "f"), "sm_100f"),
        (Target("ptx", 12, 0, "a"), "compute_120a"),
        (Target("ptx", 12, 0, "f"), "compute_120f"),
        (Target("sass", 12, 1, "a"), "sm_121a"),
    ],
    ids=lambda v: str(v) if isinstance(v, str) else None,
)
def test_target_prints_like_nvcc(target, text):
    assert str(target) == text


@pytest.mark.parametrize("args", [("cubin", 8, 6, ""), ("sass", 8, 6, "b"), ("sass", 0, 5, ""), ("sass", 8, 10, "")])
def test_target_refuses_impossible_values(args):
    with pytest.raises(ValueError):
        Target(*args)


# --- every spelling of an architecture list ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("sm_86", ["sm_86"]),
        ("compute_90", ["compute_90"]),
        ("SM_86", ["sm_86"]),
        ("8.6", ["sm_86"]),
        ("8.6+PTX", ["sm_86", "compute_86"]),
        ("8.0+ptx", ["sm_80", "compute_80"]),
        ("86", ["sm_86", "compute_86"]),
        ("86-real", ["sm_86"]),
        ("86-virtual", ["compute_86"]),
        ("120", ["sm_120", "compute_120"]),
        ("52", ["sm_52", "compute_52"]),
        ("75;80;86;90", ["sm_75", "compute_75", "sm_80", "compute_80", "sm_86", "compute_86", "sm_90", "compute_90"]),
        ("75-real;80-real;86-real;90-real", ["sm_75", "sm_80", "sm_86", "sm_90"]),
        ("sm_75,sm_80, sm_86", ["sm_75", "sm_80", "sm_86"]),
        ("7.5 8.0+PTX 8.9", ["sm_75", "sm_80", "compute_80", "sm_89"]),
        ("sm_121a", ["sm_121a"]),
        ("sm_120f", ["sm_120f"]),
        ("compute_90a", ["compute_90a"]),
        ("compute_100f", ["compute_100f"]),
        ("120a", ["sm_120a", "compute_120a"]),
        ("121a-real", ["sm_121a"]),
        ("120f-virtual", ["compute_120f"]),
        ("12.0a", ["sm_120a"]),
        ("9.0a+PTX", ["sm_90a", "compute_90a"]),
        ("12.0f", ["sm_120f"]),
        (["sm_80", "8.6", "90-virtual"], ["sm_80", "sm_86", "compute_90"]),
        (["75;80", "86"], ["sm_75", "compute_75", "sm_80", "compute_80", "sm_86", "compute_86"]),
        ("sm_86;86-real;8.6;sm_86", ["sm_86"]),
        ("86-virtual;86-real", ["compute_86", "sm_86"]),
        ("  ;sm_86;; ", ["sm_86"]),
    ],
    ids=[
        "nvcc-sass",
        "nvcc-ptx",
        "upper-case",
        "torch-sass-only",
        "torch-plus-ptx",
        "torch-plus-ptx-lower",
        "cmake-bare-is-both",
        "cmake-real",
        "cmake-virtual",
        "cmake-three-digits",
        "cmake-52",
        "cmake-semicolon-list",
        "cmake-real-list",
        "comma-list",
        "torch-space-list",
        "arch-specific-sass",
        "family-sass",
        "arch-specific-ptx",
        "family-ptx",
        "cmake-bare-arch-specific",
        "cmake-real-arch-specific",
        "cmake-virtual-family",
        "torch-arch-specific",
        "torch-arch-specific-plus-ptx",
        "torch-family",
        "list-of-spellings",
        "list-of-lists",
        "duplicates-removed",
        "stable-first-seen-order",
        "empty-pieces",
    ],
)
def test_parse_targets_reads_every_spelling(spec, expected):
    assert names(parse_targets(spec)) == expected


@pytest.mark.parametrize("word", ["native", "all", "all-major", "ALL"])
def test_parse_targets_refuses_lists_that_depend_on_the_build_machine(word):
    with pytest.raises(ValueError, match="cannot be resolved statically") as info:
        parse_targets(f"80;{word}")
    assert repr(word) in str(info.value)


@pytest.mark.parametrize(
    "token",
    ["sm86", "sm_8", "8.10", "8", "0.5", "05", "sm_86b", "compute_", "86-fake", "ampere", "8.6+SASS", "1234"],
)
def test_parse_targets_names_the_bad_token_and_the_accepted_spellings(token):
    with pytest.raises(ValueError) as info:
        parse_targets(f"80;{token};90")
    message = str(info.value)
    assert repr(token) in message
    assert "sm_86" in message or "compute capability" in message


def test_parse_targets_refuses_an_empty_list():
    with pytest.raises(ValueError, match="no CUDA architectures"):
        parse_targets(" ; ")


def test_describe_targets_lists_sass_and_ptx():
    assert describe_targets(parse_targets("75-real;80-real")) == "sm_75, sm_80 SASS and no PTX"
    assert describe_targets(parse_targets("52")) == "sm_52 SASS and compute_52 PTX"
    assert describe_targets(parse_targets("90-virtual")) == "no SASS and compute_90 PTX"


# --- does the code run on the GPU? -----------------------------------------------------------------------------

RUNS = [
    # (id, targets, GPU, ok, jit, matched)
    ("sass-same-arch", "sm_86", "8.6", True, False, "sm_86"),
    ("sass-higher-minor-same-major", "sm_86", "8.9", True, False, "sm_86"),
    ("sass-lower-minor-refused", "sm_86", "8.0", False, False, None),
    ("sass-never-across-majors-up", "sm_80", "9.0", False, False, None),
    ("sass-never-across-majors-down", "sm_90", "8.9", False, False, None),
    ("sass-hopper-not-on-blackwell", "sm_90", "10.0", False, False, None),
    ("sass-sm120-runs-on-gb10", "sm_120", "12.1", True, False, "sm_120"),
    ("sass-sm121-not-on-5090", "sm_121", "12.0", False, False, None),
    ("sass-sm100-on-b300", "sm_100", "10.3", True, False, "sm_100"),
    ("ptx-jit-on-newer-major", "compute_80", "12.0", True, True, "compute_80"),
    ("ptx-jit-same-arch", "compute_90", "9.0", True, True, "compute_90"),
    ("ptx-refused-on-older-gpu", "compute_90", "8.6", False, False, None),
    ("ptx-refused-on-older-minor", "compute_89", "8.6", False, False, None),
    ("arch-specific-exact", "sm_90a", "9.0", True, False, "sm_90a"),
    ("arch-specific-not-on-later-major", "sm_90a", "10.0", False, False, None),
    ("arch-specific-gb10-exact", "sm_121a", "12.1", True, False, "sm_121a"),
    ("arch-specific-gb10-not-on-5090", "sm_121a", "12.0", False, False, None),
    ("arch-specific-5090-not-on-gb10", "sm_120a", "12.1", False, False, None),
    ("arch-specific-ptx-exact", "compute_90a", "9.0", True, True, "compute_90a"),
    ("arch-specific-ptx-not-on-later", "compute_90a", "10.0", False, False, None),
    ("family-sm120f-on-gb10", "sm_120f", "12.1", True, False, "sm_120f"),
    ("family-sm120f-on-5090", "sm_120f", "12.0", True, False, "sm_120f"),
    ("family-sm100f-on-b300", "sm_100f", "10.3", True, False, "sm_100f"),
    ("family-sm100f-not-on-5090", "sm_100f", "12.0", False, False, None),
    ("family-sm103f-not-on-b200", "sm_103f", "10.0", False, False, None),
    ("family-sm121f-not-on-5090", "sm_121f", "12.0", False, False, None),
    ("family-ptx-same-family", "compute_100f", "10.3", True, True, "compute_100f"),
    ("family-ptx-not-across-majors", "compute_100f", "12.0", False, False, None),
    ("sass-preferred-over-ptx", "sm_86;compute_90;compute_80", "8.9", True, False, "sm_86"),
    ("closest-sass-wins", "sm_80;sm_86;sm_87", "8.9", True, False, "sm_87"),
    ("newest-usable-ptx-wins", "compute_75;compute_80;compute_90", "8.9", True, True, "compute_80"),
    ("arch-specific-preferred-on-exact-gpu", "sm_90;sm_90a", "9.0", True, False, "sm_90a"),
    (
        "ggml-default-list-on-5090",
        "50-virtual;61-virtual;70-virtual;75-virtual;80-virtual;86-real;89-real",
        "12.0",
        True,
        True,
        "compute_80",
    ),
    ("cuda13-list-on-pascal", "75-virtual;80-virtual;86-real;89-real;120a-real;121a-real", "6.1", False, False, None),
]


@pytest.mark.parametrize(("spec", "gpu", "ok", "jit", "matched"), [r[1:] for r in RUNS], ids=[r[0] for r in RUNS])
def test_check_code(spec, gpu, ok, jit, matched):
    verdict = check_code(parse_targets(spec), CC(gpu))
    assert (verdict.ok, verdict.jit) == (ok, jit), verdict.reason
    assert (str(verdict.matched) if verdict.matched else None) == matched
    assert verdict.reason


def test_rtx_5070_ti_runs_sm52_whisper_only_through_jit_and_says_why():
    # Seed 000: the image carries sm_52 SASS and compute_52 PTX; on 12.0 only the PTX can load, and
    # ggml's kernels then trap with "no device code compatible with CUDA arch 520".
    verdict = check_code(parse_targets("52"), CC("12.0"))
    assert verdict.ok and verdict.jit
    assert str(verdict.matched) == "compute_52"
    assert "slow first start: the driver JIT-compiles compute_52 PTX" in verdict.reason
    assert "no device code compatible with CUDA arch 520" in verdict.reason


def test_rtx_5070_ti_refuses_sm52_sass_only_whisper():
    verdict = check_code(parse_targets("52-real"), CC("12.0"))
    assert not verdict.ok
    assert (
        verdict.reason
        == "carries sm_52 SASS and no PTX; GPU is 12.0: it needs sm_120 SASS, or PTX of compute_120 or lower"
    )


def test_gtx_1080_refuses_image_built_for_turing_and_newer():
    # Seed 003: the image was built for 75;80;86;90 and the GPU is 6.1.
    sass_only = check_code(parse_targets("sm_75;sm_80;sm_86;sm_90"), CC("6.1"))
    assert not sass_only.ok
    assert sass_only.reason.startswith("carries sm_75, sm_80, sm_86, sm_90 SASS and no PTX; GPU is 6.1")
    assert "sm_60 or sm_61 SASS, or PTX of compute_61 or lower" in sass_only.reason
    cmake = check_code(parse_targets("75;80;86;90"), CC("6.1"))
    assert not cmake.ok
    assert "compute_75, compute_80, compute_86, compute_90 PTX; GPU is 6.1" in cmake.reason


def test_gb10_refusal_explains_arch_specific_code():
    verdict = check_code(parse_targets("sm_120a"), CC("12.1"))
    assert not verdict.ok
    assert "sm_120a runs only on exactly 12.0" in verdict.reason


def test_family_refusal_names_the_family():
    verdict = check_code(parse_targets("sm_100f"), CC("12.0"))
    assert "sm_100f runs only on the 10.x family" in verdict.reason


def test_gb10_runs_sm120_sass_without_jit():
    # Seed 004: sm_120 SASS runs on 12.1 — the failure there is the run-time compiler, not the code.
    verdict = check_code(parse_targets("sm_120"), CC("12.1"))
    assert verdict.ok and not verdict.jit
    assert "sm_120 SASS runs on this 12.1 GPU" in verdict.reason


def test_no_device_code_at_all_is_refused():
    verdict = check_code((), CC("8.6"))
    assert not verdict.ok and verdict.matched is None


# --- toolkits ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gpu", "variant", "first"),
    [
        ("12.0", "", "12.8"),
        ("12.1", "", "12.9"),
        ("12.1", "a", "12.9"),
        ("12.0", "f", "12.9"),
        ("10.0", "", "12.8"),
        ("10.3", "", "12.9"),
        ("11.0", "", "13.0"),
        ("9.0", "", "11.8"),
        ("9.0", "a", "12.0"),
        ("8.9", "", "11.8"),
        ("8.7", "", "11.4"),
        ("8.6", "", "11.1"),
        ("8.0", "", "11.0"),
        ("7.5", "", "10.0"),
        ("7.0", "", "9.0"),
        ("6.1", "", "8.0"),
    ],
    ids=lambda v: v or None,
)
def test_first_toolkit_for(gpu, variant, first):
    assert first_toolkit_for(CC(gpu), variant) == V(first)


def test_first_toolkit_for_unknown_gpu_is_none():
    assert first_toolkit_for(CC("9.9")) is None
    assert first_toolkit_for(CC("8.6"), "a") is None


def test_cuda_13_cannot_target_maxwell_pascal_volta():
    caps = toolkit_targets(V("13.0"))
    assert min(caps) == CC("7.5")
    assert CC("6.1") not in caps and CC("7.0") not in caps and CC("5.2") not in caps
    assert CC("11.0") in caps and CC("12.1") in caps
    assert CC("10.1") not in caps  # Thor is 11.0 from CUDA 13.0 on


def test_cuda_12_8_targets_blackwell_but_not_gb10():
    caps = toolkit_targets(V("12.8"))
    assert min(caps) == CC("5.0")
    assert CC("12.0") in caps and CC("10.0") in caps and CC("6.1") in caps
    assert CC("12.1") not in caps and CC("10.3") not in caps and CC("11.0") not in caps


def test_cuda_12_9_knows_gb10_and_thor_under_its_old_name():
    caps = toolkit_targets(V("12.9"))
    assert CC("12.1") in caps and CC("10.3") in caps and CC("10.1") in caps
    assert CC("11.0") not in caps


def test_cuda_11_8_dropped_kepler_3_0_but_kept_3_5():
    caps = toolkit_targets(V("11.8"))
    assert CC("3.5") in caps and CC("3.0") not in caps and CC("9.0") in caps


RUNTIME = [
    ("gb10-cuda-12.8-ptxas", "12.1", "12.8", False),
    ("gb10-cuda-12.9-ptxas", "12.1", "12.9", True),
    ("gb10-cuda-13.0-ptxas", "12.1", "13.0", True),
    ("5090-cuda-12.8-ptxas", "12.0", "12.8", True),
    ("5090-cuda-12.6-ptxas", "12.0", "12.6", False),
    ("thor-cuda-12.9-ptxas", "11.0", "12.9", False),
    ("thor-cuda-13.0-ptxas", "11.0", "13.0", True),
    ("h100-cuda-11.8-ptxas-lacks-sm90a", "9.0", "11.8", False),
    ("h100-cuda-12.0-ptxas", "9.0", "12.0", True),
    ("rtx3090-cuda-11.0-ptxas", "8.6", "11.0", False),
    ("rtx3090-cuda-11.1-ptxas", "8.6", "11.1", True),
    ("gtx1080-cuda-12.9-ptxas", "6.1", "12.9", True),
    ("gtx1080-cuda-13.0-ptxas-dropped-pascal", "6.1", "13.0", False),
    ("unknown-gpu", "13.5", "13.2", False),
]


@pytest.mark.parametrize(("gpu", "compiler", "ok"), [r[1:] for r in RUNTIME], ids=[r[0] for r in RUNTIME])
def test_check_runtime_compiler(gpu, compiler, ok):
    verdict = check_runtime_compiler(CC(gpu), V(compiler))
    assert verdict.ok is ok, verdict.reason


def test_gb10_refuses_vllm_triton_from_cuda_12_8_with_the_ptxas_line():
    # Seed 004: sm_120 SASS runs, but Triton asks its CUDA 12.8 ptxas for sm_121a.
    assert check_code(parse_targets("sm_120"), CC("12.1")).ok
    verdict = check_runtime_compiler(CC("12.1"), V("12.8"))
    assert verdict.reason == (
        "runtime compiler from CUDA 12.8 does not know sm_121a (first in CUDA 12.9): "
        "ptxas fatal : Value 'sm_121a' is not defined for option 'gpu-name'"
    )


def test_runtime_compiler_below_hopper_uses_plain_arch_name():
    verdict = check_runtime_compiler(CC("8.6"), V("11.0"))
    assert "sm_86 (first in CUDA 11.1)" in verdict.reason


# --- drivers -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "driver", "ok"),
    [
        ("12.4", "12.8", True),
        ("12.8", "12.8", True),
        ("12.8", "12.4", False),
        ("13.0", "12.9", False),
        ("12.9", "13.0", True),
        ("12.10", "12.9", False),
    ],
    ids=["newer-driver", "same", "older-driver", "cuda13-on-r575", "cuda12-on-r580", "numeric-minor"],
)
def test_check_driver(image, driver, ok):
    verdict = check_driver(V(image), V(driver))
    assert verdict.ok is ok
    assert V(image).__str__() in verdict.reason and V(driver).__str__() in verdict.reason


def test_driver_for_cuda_12_4_refuses_cuda_12_8_image_naming_both():
    verdict = check_driver(V("12.8"), V("12.4"))
    assert not verdict.ok
    assert verdict.reason == (
        "the image needs CUDA 12.8 but the driver supports only CUDA 12.4; install a driver of 570.26 or newer "
        "or pick an image built for CUDA 12.4 or older"
    )


def test_min_driver_for_known_and_unknown_cuda():
    assert min_driver_for(V("13.0")) == "580.65.06"
    assert min_driver_for(V("12.4")) == "550.54.14"
    assert min_driver_for(V("12.7")) is None


# --- platforms -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("platforms", "cpu", "ok"),
    [
        (["linux/amd64"], "x86_64", True),
        (["linux/amd64"], "aarch64", False),
        (["linux/amd64", "linux/arm64"], "aarch64", True),
        (["linux/arm64/v8"], "aarch64", True),
        (["linux/arm64"], "x86_64", False),
        (["linux/amd64"], "amd64", True),
        (["linux/arm64"], "arm64", True),
        (["windows/amd64"], "x86_64", False),
        ([], "x86_64", False),
    ],
    ids=[
        "amd64-on-x86",
        "amd64-only-on-gb10",
        "multi-arch-on-gb10",
        "arm64-v8-on-jetson",
        "arm64-on-x86",
        "docker-spelling-amd64",
        "docker-spelling-arm64",
        "windows-image",
        "no-platforms",
    ],
)
def test_check_platform(platforms, cpu, ok):
    verdict = check_platform(platforms, cpu)
    assert verdict.ok is ok, verdict.reason


def test_gb10_refuses_amd64_only_whisper_image_and_says_what_it_needs():
    verdict = check_platform(["linux/amd64"], "aarch64")
    assert verdict.reason == "the image is published for linux/amd64 only; this host is aarch64 and needs linux/arm64"
