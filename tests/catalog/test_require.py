"""NVIDIA_REQUIRE_CUDA parsed and evaluated the way nvidia-container-cli does, on real image strings."""

from __future__ import annotations

import pytest

from aima.catalog.cuda import Capability, CudaVersion
from aima.catalog.require import (
    Condition,
    disable_require,
    evaluate,
    evaluate_image,
    image_requirements,
    parse_require_cuda,
)

V = CudaVersion.parse


def _clauses(brands: list[str], branches: list[int]) -> str:
    return " ".join(f"brand={b},driver>={n},driver<{n + 1}" for n in branches for b in brands)


_BRANDS_12_4 = [
    "tesla",
    "unknown",
    "nvidia",
    "nvidiartx",
    "geforce",
    "geforcertx",
    "quadro",
    "quadrortx",
    "titan",
    "titanrtx",
]
_BRANDS_PRO = [
    "unknown",
    "grid",
    "tesla",
    "nvidia",
    "quadro",
    "quadrortx",
    "nvidiartx",
    "vapps",
    "vpc",
    "vcs",
    "vws",
    "cloudgaming",
]

# nvidia/cuda 12.4.1 (env of vllm/vllm-openai:v0.8.5): forward-compat clauses include GeForce/TITAN.
REQUIRE_12_4_1 = "cuda>=12.4 " + _clauses(_BRANDS_12_4, [470, 525, 535])
# nvidia/cuda 12.8.1 (image config Env): data-center/pro brands only, branches 470, 535, 550, 560, 565.
REQUIRE_12_8_1 = "cuda>=12.8 " + _clauses(_BRANDS_PRO, [470, 535, 550, 560, 565])
# nvidia/cuda 13.0.2 (env of vllm/vllm-openai:v0.23.0): branches 535, 550, 565, 570, 575, no GeForce.
REQUIRE_13_0_2 = "cuda>=13.0 " + _clauses(_BRANDS_PRO, [535, 550, 565, 570, 575])


def test_real_strings_start_exactly_as_the_images_write_them():
    assert REQUIRE_12_4_1.startswith(
        "cuda>=12.4 brand=tesla,driver>=470,driver<471 brand=unknown,driver>=470,driver<471 "
        "brand=nvidia,driver>=470,driver<471 brand=nvidiartx,driver>=470,driver<471 "
        "brand=geforce,driver>=470,driver<471 brand=geforcertx,driver>=470,driver<471"
    )
    assert REQUIRE_12_8_1.startswith(
        "cuda>=12.8 brand=unknown,driver>=470,driver<471 brand=grid,driver>=470,driver<471 "
        "brand=tesla,driver>=470,driver<471 brand=nvidia,driver>=470,driver<471"
    )
    assert REQUIRE_12_8_1.endswith("brand=vws,driver>=565,driver<566 brand=cloudgaming,driver>=565,driver<566")


# --- parsing -----------------------------------------------------------------------------------------------


def test_parse_splits_alternatives_on_spaces_and_terms_on_commas():
    req = parse_require_cuda("cuda>=12.4 brand=tesla,driver>=470,driver<471")
    assert req.name == "NVIDIA_REQUIRE_CUDA"
    assert req.alternatives == (
        (Condition("cuda", ">=", "12.4"),),
        (Condition("brand", "=", "tesla"), Condition("driver", ">=", "470"), Condition("driver", "<", "471")),
    )
    assert [str(c) for c in req.alternatives[1]] == ["brand=tesla", "driver>=470", "driver<471"]


def test_parse_real_strings_count_their_alternatives():
    assert len(parse_require_cuda(REQUIRE_12_4_1).alternatives) == 1 + 10 * 3
    assert len(parse_require_cuda(REQUIRE_12_8_1).alternatives) == 1 + 12 * 5
    assert len(parse_require_cuda(REQUIRE_13_0_2).alternatives) == 1 + 12 * 5


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("CUDA>=12.4", Condition("cuda", ">=", "12.4")),
        ("driver<=580.65.06", Condition("driver", "<=", "580.65.06")),
        ("arch>7.5", Condition("arch", ">", "7.5")),
        ("arch=8.6", Condition("arch", "=", "8.6")),
        ("driver!=470", Condition("driver", "!=", "470")),
        ("brand!=geforce", Condition("brand", "!=", "geforce")),
    ],
    ids=["key-case-insensitive", "less-equal-dotted", "greater", "equal", "not-equal", "brand-not-equal"],
)
def test_parse_every_operator(text, expected):
    assert parse_require_cuda(text).alternatives == ((expected,),)


def test_parse_skips_empty_pieces_like_the_toolkit():
    req = parse_require_cuda("  cuda>=12.4   brand=tesla,,driver>=535, ")
    assert len(req.alternatives) == 2
    assert parse_require_cuda("").alternatives == ()


@pytest.mark.parametrize(
    ("text", "bad"),
    [
        ("cuda=>12.4", "=>"),
        ("cuda==12.4", "=="),
        ("cuda12.4", "cuda12.4"),
        ("jetpack>=5", "jetpack"),
        ("cuda>=", "cuda>="),
        (">=12.4", ">=12.4"),
        ("brand>=tesla", "brand>=tesla"),
        ("driver>=r535", "r535"),
        ("cuda>=12.4 brand=tesla,driver>=abc", "abc"),
        ("cuda>=.4", ".4"),
    ],
    ids=[
        "reversed-op",
        "double-equals",
        "no-operator",
        "unknown-key",
        "no-value",
        "no-key",
        "brand-ordering",
        "letters-in-driver",
        "bad-term-late",
        "leading-dot",
    ],
)
def test_parse_refuses_bad_syntax_naming_the_token(text, bad):
    with pytest.raises(ValueError) as info:
        parse_require_cuda(text)
    assert bad in str(info.value)


def test_toolkit_error_names_the_first_alternative_like_nvidia_container_cli():
    assert parse_require_cuda(REQUIRE_12_8_1).toolkit_error == (
        "unsatisfied condition: cuda>=12.8, please update your driver to a newer version, "
        "or use an earlier cuda container"
    )
    assert parse_require_cuda("arch>=7.5").toolkit_error == "unsatisfied condition: arch>=7.5"


# --- single conditions, both directions ---------------------------------------------------------------------

HOST = {"driver_cuda": V("12.4"), "driver_version": "550.54.14", "brand": "geforce", "arch": Capability(8, 6)}

CONDITIONS = [
    ("cuda-ge-met", "cuda>=12.4", True),
    ("cuda-ge-unmet", "cuda>=12.8", False),
    ("cuda-gt-unmet-on-equal", "cuda>12.4", False),
    ("cuda-gt-met", "cuda>12.2", True),
    ("cuda-lt-met", "cuda<13", True),
    ("cuda-lt-unmet", "cuda<12.4", False),
    ("cuda-le-met", "cuda<=12.4", True),
    ("cuda-le-unmet", "cuda<=12.3", False),
    ("cuda-eq-met-trailing-zero", "cuda=12.4.0", True),
    ("cuda-eq-unmet", "cuda=12.3", False),
    ("cuda-ne-met", "cuda!=12.3", True),
    ("cuda-ne-unmet", "cuda!=12.4", False),
    ("cuda-numeric-not-lexical", "cuda>=12.10", False),
    ("driver-ge-branch-met", "driver>=550", True),
    ("driver-ge-branch-unmet", "driver>=560", False),
    ("driver-lt-next-branch-met", "driver<551", True),
    ("driver-lt-same-branch-unmet", "driver<550", False),
    ("driver-ge-dotted-met", "driver>=550.54.14", True),
    ("driver-ge-dotted-unmet", "driver>=550.54.15", False),
    ("driver-leading-zero-part", "driver>550.54.014", False),
    ("arch-ge-met", "arch>=8.0", True),
    ("arch-ge-unmet", "arch>=8.9", False),
    ("arch-eq-met", "arch=8.6", True),
    ("brand-eq-met", "brand=geforce", True),
    ("brand-eq-case-insensitive", "brand=GeForce", True),
    ("brand-eq-unmet", "brand=tesla", False),
    ("brand-ne-met", "brand!=tesla", True),
    ("brand-ne-unmet", "brand!=geforce", False),
    ("and-all-met", "cuda>=12.0,driver>=550,arch>=8.0", True),
    ("and-one-unmet", "cuda>=12.0,driver>=560,arch>=8.0", False),
    ("or-second-met", "cuda>=12.8 arch>=8.0", True),
    ("or-none-met", "cuda>=12.8 arch>=9.0", False),
]


@pytest.mark.parametrize(("text", "ok"), [c[1:] for c in CONDITIONS], ids=[c[0] for c in CONDITIONS])
def test_evaluate_conditions(text, ok):
    verdict = evaluate(parse_require_cuda(text), **HOST)
    assert verdict.ok is ok, verdict.reason


@pytest.mark.parametrize(
    ("text", "unknown"),
    [
        ("cuda>=99.0", "driver_cuda"),
        ("driver>=999", "driver_version"),
        ("brand=tesla", "brand"),
        ("arch>=12.0", "arch"),
    ],
)
def test_values_the_host_cannot_tell_pass_like_in_the_toolkit(text, unknown):
    host = dict(HOST, **{unknown: None})
    assert evaluate(parse_require_cuda(text), **host).ok


def test_empty_requirement_is_satisfied():
    assert evaluate(parse_require_cuda(""), **HOST).ok


def test_host_driver_version_must_be_numeric():
    with pytest.raises(ValueError, match="driver"):
        evaluate(parse_require_cuda("driver>=470"), **dict(HOST, driver_version="N/A"))


# --- the real image strings on real hosts ----------------------------------------------------------------

IMAGES = [
    # (id, requirement, brand, driver version, driver CUDA, starts?)
    ("cuda12.4.1-geforce-r550", REQUIRE_12_4_1, "geforce", "550.54.14", "12.4", True),
    ("cuda12.4.1-geforce-r580", REQUIRE_12_4_1, "geforce", "580.65.06", "13.0", True),
    ("cuda12.4.1-geforce-r535-listed-branch", REQUIRE_12_4_1, "geforce", "535.104.05", "12.2", True),
    ("cuda12.4.1-geforce-r545-unlisted-branch", REQUIRE_12_4_1, "geforce", "545.23.06", "12.3", False),
    ("cuda12.4.1-tesla-r470-listed-branch", REQUIRE_12_4_1, "tesla", "470.82.01", "11.4", True),
    ("cuda12.4.1-tesla-r530-unlisted-branch", REQUIRE_12_4_1, "tesla", "530.30.02", "12.1", False),
    ("cuda12.8.1-geforce-r570", REQUIRE_12_8_1, "geforce", "570.124.06", "12.8", True),
    ("cuda12.8.1-geforce-r550", REQUIRE_12_8_1, "geforce", "550.54.14", "12.4", False),
    ("cuda12.8.1-geforce-r535", REQUIRE_12_8_1, "geforce", "535.104.05", "12.2", False),
    ("cuda12.8.1-tesla-r550-forward-compat", REQUIRE_12_8_1, "tesla", "550.54.14", "12.4", True),
    ("cuda12.8.1-tesla-r545-unlisted-branch", REQUIRE_12_8_1, "tesla", "545.23.06", "12.3", False),
    ("cuda12.8.1-nvidia-rtx-r535", REQUIRE_12_8_1, "nvidiartx", "535.104.05", "12.2", True),
    ("cuda13.0.2-geforce-r580", REQUIRE_13_0_2, "geforce", "580.65.06", "13.0", True),
    ("cuda13.0.2-geforce-r575", REQUIRE_13_0_2, "geforce", "575.57.08", "12.9", False),
    ("cuda13.0.2-tesla-r575-forward-compat", REQUIRE_13_0_2, "tesla", "575.57.08", "12.9", True),
    ("cuda13.0.2-tesla-r535-forward-compat", REQUIRE_13_0_2, "tesla", "535.104.05", "12.2", True),
    ("cuda13.0.2-tesla-r560-unlisted-branch", REQUIRE_13_0_2, "tesla", "560.35.03", "12.6", False),
    ("cuda13.0.2-nvml-brand-spelling", REQUIRE_13_0_2, "Tesla", "570.124.06", "12.8", True),
    ("cuda13.0.2-geforce-r470", REQUIRE_13_0_2, "geforce", "470.82.01", "11.4", False),
]


@pytest.mark.parametrize(
    ("require", "brand", "driver", "driver_cuda", "ok"), [i[1:] for i in IMAGES], ids=[i[0] for i in IMAGES]
)
def test_real_nvidia_require_cuda(require, brand, driver, driver_cuda, ok):
    verdict = evaluate(
        parse_require_cuda(require),
        driver_cuda=V(driver_cuda),
        driver_version=driver,
        brand=brand,
        arch=Capability(8, 9),
    )
    assert verdict.ok is ok, verdict.reason


def test_geforce_on_cuda_12_4_driver_refused_cuda_12_8_image_names_condition_and_host():
    verdict = evaluate(
        parse_require_cuda(REQUIRE_12_8_1),
        driver_cuda=V("12.4"),
        driver_version="550.54.14",
        brand="geforce",
        arch=Capability(8, 9),
    )
    assert not verdict.ok
    assert verdict.reason.startswith(
        "NVIDIA_REQUIRE_CUDA unsatisfied condition: cuda>=12.8 (the driver supports CUDA 12.4); "
        "none of the 60 other alternatives (brands unknown, grid, tesla,"
    )
    assert "driver branches 470, 535, 550, 560, 565" in verdict.reason
    assert verdict.reason.endswith("matches this geforce GPU with driver 550.54.14")


def test_tesla_starts_cuda_12_8_image_through_forward_compatibility():
    verdict = evaluate(
        parse_require_cuda(REQUIRE_12_8_1), driver_cuda=V("12.4"), driver_version="550.54.14", brand="tesla"
    )
    assert verdict.ok
    assert "satisfied by brand=tesla,driver>=550,driver<551" in verdict.reason
    assert "although cuda>=12.8 is not (the driver supports CUDA 12.4)" in verdict.reason
    assert "forward compatibility" in verdict.reason
    assert "GeForce" not in verdict.reason


def test_geforce_passing_the_toolkit_through_a_brand_clause_is_flagged():
    # The 12.4.1 image lists GeForce branches, so the toolkit starts it; forward compatibility then fails.
    verdict = evaluate(
        parse_require_cuda(REQUIRE_12_4_1), driver_cuda=V("12.2"), driver_version="535.104.05", brand="geforce"
    )
    # The toolkit's answer: it starts. That it then fails on GeForce is the forward-compatibility rule's
    # (catalog.cuda.forward_compat_support, tests/catalog/test_forward_compat.py), not the grammar's.
    assert verdict.ok and verdict.forward_compat


def test_satisfied_by_first_alternative_says_so_plainly():
    verdict = evaluate(
        parse_require_cuda(REQUIRE_13_0_2), driver_cuda=V("13.0"), driver_version="580.65.06", brand="geforce"
    )
    assert verdict.reason == "NVIDIA_REQUIRE_CUDA satisfied: cuda>=13.0 (the driver supports CUDA 13.0)"


# --- the whole image environment ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "disabled"),
    [
        ("1", True),
        ("true", True),
        ("True", True),
        ("TRUE", True),
        ("t", True),
        ("0", False),
        ("false", False),
        ("yes", False),
        ("", False),
    ],
)
def test_disable_require_follows_go_parse_bool(value, disabled):
    assert disable_require({"NVIDIA_DISABLE_REQUIRE": value}) is disabled


def test_disable_require_skips_every_check():
    env = {"NVIDIA_REQUIRE_CUDA": REQUIRE_12_8_1, "NVIDIA_DISABLE_REQUIRE": "1"}
    assert image_requirements(env) == ()
    verdict = evaluate_image(env, driver_cuda=V("12.4"), driver_version="550.54.14", brand="geforce")
    assert verdict.ok
    assert "CUDA driver version is insufficient for CUDA runtime version" in verdict.reason


def test_disable_require_with_a_non_boolean_value_still_checks():
    env = {"NVIDIA_REQUIRE_CUDA": REQUIRE_12_8_1, "NVIDIA_DISABLE_REQUIRE": "yes"}
    assert not evaluate_image(env, driver_cuda=V("12.4"), driver_version="550.54.14", brand="geforce").ok


def test_docker_inspect_env_list_is_accepted():
    env = ["PATH=/usr/bin", "NVARCH=x86_64", f"NVIDIA_REQUIRE_CUDA={REQUIRE_12_8_1}", "CUDA_VERSION=12.8.1"]
    assert not evaluate_image(env, driver_cuda=V("12.4"), driver_version="550.54.14", brand="geforce").ok
    assert evaluate_image(env, driver_cuda=V("12.8"), driver_version="570.124.06", brand="geforce").ok


def test_legacy_image_with_only_cuda_version_gets_implied_requirement():
    env = {"CUDA_VERSION": "12.6.3"}
    (req,) = image_requirements(env)
    assert req.text == "cuda>=12.6"
    assert not evaluate_image(env, driver_cuda=V("12.4"), driver_version="550.54.14").ok
    assert evaluate_image(env, driver_cuda=V("12.6"), driver_version="560.28.03").ok


def test_jetpack_requirements_are_ignored():
    env = {"NVIDIA_REQUIRE_JETPACK": "csv-mounts=all", "NVIDIA_REQUIRE_CUDA": "cuda>=12.2"}
    assert [r.name for r in image_requirements(env)] == ["NVIDIA_REQUIRE_CUDA"]


def test_several_requirements_are_anded():
    env = {"NVIDIA_REQUIRE_CUDA": "cuda>=12.8", "NVIDIA_REQUIRE_ARCH": "arch>=7.5"}
    host = {"driver_cuda": V("13.0"), "driver_version": "580.65.06", "brand": "geforce"}
    pascal = evaluate_image(env, **host, arch=Capability(6, 1))
    assert not pascal.ok
    assert pascal.reason.startswith("NVIDIA_REQUIRE_ARCH unsatisfied condition: arch>=7.5 (GPU 6.1)")
    assert evaluate_image(env, **host, arch=Capability(8, 9)).ok


def test_image_without_constraints_starts():
    verdict = evaluate_image({"PATH": "/bin"}, driver_cuda=V("12.4"), driver_version="550.54.14")
    assert verdict.ok and "no NVIDIA_REQUIRE" in verdict.reason


def test_bad_env_entry_and_bad_cuda_version_are_errors():
    with pytest.raises(ValueError, match="NOEQUALS"):
        image_requirements(["NOEQUALS"])
    with pytest.raises(ValueError, match="CUDA_VERSION"):
        image_requirements({"CUDA_VERSION": "twelve"})
