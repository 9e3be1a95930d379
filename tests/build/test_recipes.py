"""The shipped recipes, checked without building them (they need the network), and the recipe hash."""

from __future__ import annotations

import pytest

from aima.build.recipe import (
    build_plan,
    check_recipe,
    ggml_archs,
    hash_tag,
    parse_dockerfile,
    prove,
    read_dockerfile,
    recipe_hash,
)
from aima.catalog.load import default_catalog_path, load_catalog, read_catalog, recipes_dir
from aima.catalog.model import Build
from aima.errors import AimaError
from aima.hardware.profiles import all_profiles
from aima.plan import make_plan
from aima.stack import Stack

CATALOG = load_catalog(include_user_config=False)
BUILDS = [c for e in CATALOG.engines for c in e.candidates if c.build is not None]
PUBLIC_REGISTRIES = ("docker.io/", "ghcr.io/", "nvcr.io/")


def _registry_of(image: str) -> str:
    first = image.split("/", 1)[0]
    if "/" in image and ("." in first or ":" in first or first == "localhost"):
        return first + "/"
    return "docker.io/"


@pytest.mark.parametrize("candidate", BUILDS, ids=lambda c: c.id)
def test_every_shipped_recipe_agrees_with_its_catalogue_entry(candidate):
    # every build argument used, bases = the catalogue's CUDA, archs = CUDA_ARCHITECTURES (ggml's 12Xa rewrite),
    # entrypoint and server binary as the catalogue runs them, the source stated
    assert check_recipe(candidate) == []


def test_the_shipped_recipes_cover_seed_000_and_003_and_the_portable_cpu_builds():
    by_id = {c.id: c for c in BUILDS}
    sm120 = dict(by_id["whisper-cpp-cuda-sm120"].build.args)
    assert sm120["CUDA_ARCHITECTURES"] == "120;80;86;89" and sm120["CUDA_VERSION"].startswith("12.8")
    sm61 = dict(by_id["whisper-cpp-cuda12-sm61"].build.args)
    assert "61" in sm61["CUDA_ARCHITECTURES"].split(";") and sm61["CUDA_VERSION"].startswith("12.")
    assert dict(by_id["whisper-cpp-cpu-portable"].build.args)["CPU_BASELINE"] == "x86-64-v2"
    cpu = read_dockerfile(by_id["whisper-cpp-cpu-portable"].build.recipe_dir).text
    assert "-DGGML_NATIVE=OFF" in cpu
    for c in BUILDS:
        text = read_dockerfile(c.build.recipe_dir).text
        assert "WHISPER_REF=233fe1fc9b48a09e361d3594520838ca266537fe" in text  # a pinned revision, not a branch
        assert "ENV LD_LIBRARY_PATH=/usr/local/cuda/compat" not in text  # whisper.cpp PR #3989's bug


def test_every_candidate_is_pulled_from_a_public_registry_built_or_local_only():
    for engine in CATALOG.engines:
        for c in engine.candidates:
            if c.obtain == "pull":
                assert _registry_of(c.image) in PUBLIC_REGISTRIES, f"{c.id}: {c.image} cannot be pulled"
            elif c.obtain == "build":
                assert c.image.startswith("localhost/"), f"{c.id}: a built image carries a local name"
    assert {c.id for e in CATALOG.engines for c in e.candidates if c.obtain == "local"} == {"vllm-gb10"}


@pytest.mark.parametrize("profile", all_profiles(), ids=lambda p: p.hardware.name)
def test_no_machine_plan_names_an_image_that_cannot_be_pulled_or_built(profile):
    plan = make_plan(profile.hardware, CATALOG, Stack())
    for e in plan.engines:
        assert e.obtain in ("pull", "build"), f"{e.engine}: {e.image} is {e.obtain}"
        if e.obtain == "pull":
            assert _registry_of(e.image) in PUBLIC_REGISTRIES


def test_gb10_llm_is_a_public_image_and_seed_004s_private_one_needs_to_be_here():
    gb10 = next(p for p in all_profiles() if p.hardware.name == "gb10").hardware
    plan = make_plan(gb10, CATALOG, Stack())
    assert plan.engine("llm").image.startswith("nvcr.io/nvidia/vllm:")
    from aima.plan import PlanOptions

    here = make_plan(gb10, CATALOG, Stack(), PlanOptions(local_images=frozenset({"zhiwen-vllm:0128"})))
    reason = next(r.reason for r in here.engine("llm").rejected if r.candidate == "vllm-gb10")
    assert "comes first" in reason  # present: it competes normally (and loses to the public image ahead of it)


def test_plan_says_how_a_build_candidate_is_built():
    c = next(c for c in BUILDS if c.id == "whisper-cpp-cuda-sm120")
    plan = build_plan(c)
    assert plan.base_images == ("nvidia/cuda:12.8.1-devel-ubuntu24.04", "nvidia/cuda:12.8.1-runtime-ubuntu24.04")
    assert plan.minutes > 0 and plan.disk_gib > 0 and plan.archs == "120a;80;86;89"
    assert hash_tag(c.image, plan.recipe_hash) == f"localhost/whisper.cpp:aima-{plan.recipe_hash[:16]}"


def test_recipe_hash_changes_with_any_file_or_argument_and_nothing_else(tmp_path):
    recipe = tmp_path / "r"
    recipe.mkdir()
    (recipe / "Dockerfile").write_text("FROM scratch\n")
    first = recipe_hash(recipe, (("A", "1"),))
    assert recipe_hash(recipe, (("A", "1"),)) == first
    assert recipe_hash(recipe, (("A", "2"),)) != first
    (recipe / ".hidden").write_text("editor state")
    assert recipe_hash(recipe, (("A", "1"),)) == first
    (recipe / "extra.sh").write_text("echo\n")
    assert recipe_hash(recipe, (("A", "1"),)) != first


def test_static_check_names_unused_and_undeclared_arguments_and_a_wrong_entrypoint(tmp_path):
    recipe = tmp_path / "bad"
    recipe.mkdir()
    (recipe / "Dockerfile").write_text("# source: test\nARG UNUSED=1\nFROM scratch\n"
                                       "LABEL org.opencontainers.image.source=x\nENTRYPOINT [\"/bin/true\"]\n")
    images = tmp_path / "images.yaml"
    images.write_text("engines:\n  asr:\n    candidates:\n"
                      "      - {id: x, image: 'localhost/x:1', gpu: false, port: 8080, entrypoint: [bash, -c],\n"
                      "         command: ['server --port {port}'], build: {recipe: ./bad, args: {OTHER: '2'}}}\n")
    [c] = read_catalog(images).engine("asr").candidates
    problems = "\n".join(check_recipe(c))
    assert "UNUSED is declared but never used" in problems
    assert "OTHER, which the Dockerfile does not declare" in problems
    assert "ENTRYPOINT is ['/bin/true']" in problems
    assert "never checks that it built server" in problems


def test_a_missing_recipe_is_one_error_naming_the_file_and_key(tmp_path):
    images = tmp_path / "images.yaml"
    images.write_text("engines:\n  asr:\n    candidates:\n"
                      "      - {id: x, image: 'localhost/x:1', gpu: false, port: 8080, build: {recipe: nope}}\n")
    with pytest.raises(AimaError) as raised:
        read_catalog(images)
    assert "images.yaml:4" in str(raised.value) and "recipe 'nope' has no Dockerfile" in str(raised.value)


def test_dockerfile_facts_and_ggml_arch_rewrite():
    d = parse_dockerfile("ARG V=1\nFROM img:${V} AS a\nARG X\nRUN echo $X \\\n  && true\nFROM a\n"
                         'ENV PATH=/opt/bin:$PATH\nENTRYPOINT ["bash", "-c"]\n')
    assert d.base_images({}) == ("img:1",) and d.stages[-1].entrypoint == ("bash", "-c")
    assert d.stages[-1].path_env == "/opt/bin:$PATH" and d.declared() == {"V": "1", "X": None}
    assert ggml_archs("120;80;121-real") == "120a;80;121a-real"
    assert prove("120a;80", ("sm_80",), ("compute_80",)) == (("sm_80", "compute_80"), ("sm_120a", "compute_120a"))


def test_shipped_recipes_folder_and_catalogue_are_found():
    assert (recipes_dir() / "whisper.cpp-cuda" / "Dockerfile").is_file()
    assert default_catalog_path().is_file()
    assert Build  # the catalogue type exists for user files too


def test_plan_and_doctor_say_the_sm120_whisper_is_built_not_pulled(monkeypatch, tmp_path):
    from aima.diagnose.check_engines import present_outcome
    from aima.pipeline import build_plans
    from aima.plan import PlanOptions
    from aima.render.plan import plan_to_dict

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # no build records: nothing is built here
    machine = next(p for p in all_profiles() if p.hardware.name == "rtx-5070-ti").hardware
    plan = make_plan(machine, CATALOG, Stack(), PlanOptions(builds=build_plans(CATALOG)))
    asr = plan_to_dict(plan)["engines"]["asr"]
    assert asr["obtain"] == "build" and asr["build"]["built_here"] is False
    assert asr["build"]["base_images"][0].startswith("nvidia/cuda:12.8.1-devel")
    outcome = present_outcome(plan.engine("asr"), None)
    assert "not built here yet" in outcome.summary and "aima up --build" in (outcome.remedy or "")


def test_check_without_names_on_a_plan_that_pulls_everything_says_nothing_was_checked():
    """`aima build --check` used to print '0 recipe(s) agree with the catalogue: ' and look like a pass."""
    from tests.test_cli_json_errors import run

    rc, out, err = run("build", "--check", "--hardware", "cpu-x86_64")
    assert rc == 0, err
    assert out.startswith("nothing checked: the plan pulls every image") and "name candidates" in out
    assert "0 recipe(s)" not in out
