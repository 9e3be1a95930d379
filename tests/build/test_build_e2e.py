"""Real `docker build` on the test engine with stand-in recipes that copy nvcc-built CUDA libraries.

The stand-in recipes build on the stub engine image (busybox, no registry) and copy a library compiled by
nvcc in this session; which one is chosen by the build argument CUDA_ARCHITECTURES, as a real recipe's nvcc
would compile what that argument names. Run under the e2e lock: flock /tmp/aima-e2e.lock pytest tests/build
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from aima.build.builder import BUILT, FAILED, REFUSED, REUSED, ensure_built
from aima.build.recipe import LABEL_RECIPE_HASH, build_plan
from aima.catalog.load import read_catalog
from tests.e2e import upkit
from tests.inspect.cuda_builds import KERNEL, gencode

try:
    from tests.e2e.conftest import docker_engine, docker_host_env, stacks, stub_image  # noqa: F401 - fixtures
except ImportError as missing:
    if os.environ.get("CI"):
        raise
    pytest.skip(f"the Docker test harness is not importable: {missing}", allow_module_level=True)

# arch set (the CUDA_ARCHITECTURES value) -> nvcc -gencode options; CMake's "80" is SASS and PTX of 8.0
ARCH_SETS = {
    "80": (*gencode("compute_80", "sm_80"), *gencode("compute_80", "compute_80")),
    "120a;80": (*gencode("compute_120a", "sm_120a"), *gencode("compute_120a", "compute_120a"),
                *gencode("compute_80", "sm_80"), *gencode("compute_80", "compute_80")),
}

HONOURS = """# source: aima tests (stand-in for recipes/whisper.cpp-cuda)
FROM {base}
ARG CUDA_ARCHITECTURES=80
COPY ["libs/${{CUDA_ARCHITECTURES}}/libggml-cuda.so", "/usr/lib/libggml-cuda.so"]
LABEL org.opencontainers.image.source="tests/build"
ENTRYPOINT ["/bin/sh", "/stub/engine.sh"]
"""
# Takes the argument and ignores it, as a recipe with a hard-coded arch list would.
IGNORES = HONOURS.replace("libs/${{CUDA_ARCHITECTURES}}/", "libs/80/").replace(
    'image.source="tests/build"', 'image.source="tests/build" standin.asked="${{CUDA_ARCHITECTURES}}"')
FAILS = """# source: aima tests
FROM {base}
ARG CUDA_ARCHITECTURES=61
LABEL org.opencontainers.image.source="tests/build"
RUN echo "compiling for $CUDA_ARCHITECTURES" \\
 && echo "nvcc fatal   : Unsupported gpu architecture 'compute_61'" >&2 && exit 1
ENTRYPOINT ["/bin/sh", "/stub/engine.sh"]
"""


def _nvcc() -> str | None:
    found = shutil.which("nvcc")
    return found or next(iter(sorted(glob.glob("/usr/local/cuda*/bin/nvcc"), reverse=True)), None)


@pytest.fixture(scope="module")
def libraries(tmp_path_factory) -> dict[str, Path]:
    """One nvcc-built library per arch set."""
    nvcc = _nvcc()
    if nvcc is None:
        if os.environ.get("CI"):
            pytest.fail("nvcc is not installed; CI must build real CUDA binaries")
        pytest.skip("nvcc is not installed")
    folder = tmp_path_factory.mktemp("standin-libs")
    source = folder / "bump.cu"
    source.write_text(KERNEL)
    out = {}
    for name, options in ARCH_SETS.items():
        target = folder / f"{name.replace(';', '_')}.so"
        subprocess.run([nvcc, "-shared", "-Xcompiler", "-fPIC", "-cudart=none", *options, "-o", str(target),
                        str(source)], check=True, capture_output=True)
        out[name] = target
    return out


@pytest.fixture
def standin(tmp_path, libraries, stub_image, docker_engine, monkeypatch):  # noqa: F811 - fixtures
    """Write a stand-in recipe and a catalogue naming it; built images are removed afterwards."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    repo = f"localhost/aima-test-build-{uuid.uuid4().hex[:8]}"

    def make(dockerfile: str, archs: str = "120a;80", arg: str = "120a;80", name: str = "standin") -> Path:
        recipe = tmp_path / name
        for arch_set, library in libraries.items():
            (recipe / "libs" / arch_set).mkdir(parents=True, exist_ok=True)
            shutil.copy(library, recipe / "libs" / arch_set / "libggml-cuda.so")
        (recipe / "Dockerfile").write_text(dockerfile.format(base=stub_image))
        images = tmp_path / "images.yaml"
        images.write_text(
            "extends: false\nengines:\n  asr:\n    candidates:\n"
            f"      - id: standin\n        image: '{repo}:sm120'\n        gpu: true\n"
            f"        platforms: [linux/amd64, linux/arm64]\n        archs: '{archs}'\n        cuda: '12.8'\n"
            "        port: 8080\n        entrypoint: [/bin/sh, /stub/engine.sh]\n"
            "        health: {path: /health, startup_timeout_s: 30, interval_s: 0.1}\n"
            f"        build: {{recipe: ./{name}, args: {{CUDA_ARCHITECTURES: '{arg}'}}, minutes: 1, disk_gib: 0.1}}\n"
            "  llm: {candidates: [{id: none, image: busybox, gpu: false, port: 8080}]}\n"
            "  tts: {candidates: [{id: none, image: busybox, gpu: false, port: 8080}]}\n")
        return images

    yield make
    client = docker_engine.client
    for image in client.images.list(name=repo):
        client.images.remove(image.id, force=True)


def _candidate(images: Path):
    return read_catalog(images).engine("asr").candidates[0]


class Lines:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def start(self, plan) -> None:
        pass

    def line(self, plan, text: str) -> None:
        self.lines.append(text)

    def done(self, result) -> None:
        pass


def test_recipe_that_honours_its_arch_argument_passes_the_binary_proof(docker_engine, standin, tmp_path):  # noqa: F811
    from aima.build import records
    from aima.inspect.cache import cached_archs

    candidate = _candidate(standin(HONOURS))
    plan = build_plan(candidate)
    shown = Lines()
    result = ensure_built(_engine(docker_engine), plan, shown)
    assert result.outcome == BUILT, result.message
    assert set(result.found) == {"sm_80", "sm_120a", "compute_80", "compute_120a"} and result.missing == ()
    assert any(line.startswith("Step 1/") for line in shown.lines)  # the log streamed step by step
    attrs = docker_engine.client.api.inspect_image(candidate.image)
    labels = attrs["Config"]["Labels"]
    assert labels[LABEL_RECIPE_HASH] == plan.recipe_hash and labels["aima.build-arg.CUDA_ARCHITECTURES"] == "120a;80"
    assert f"{candidate.image.rsplit(':', 1)[0]}:aima-{plan.recipe_hash[:16]}" in attrs["RepoTags"]
    # plan uses what was read from the binaries, and knows the image is built here
    assert cached_archs([candidate.image])[candidate.image][1].startswith("inspected sha256:")
    assert records.load()[candidate.image].recipe_hash == plan.recipe_hash


def test_recipe_that_ignores_its_arch_argument_is_refused_with_the_missing_archs(docker_engine, standin):  # noqa: F811
    candidate = _candidate(standin(IGNORES))
    result = ensure_built(_engine(docker_engine), build_plan(candidate))
    assert result.outcome == REFUSED
    assert set(result.missing) == {"sm_120a", "compute_120a"} and set(result.found) == {"sm_80", "compute_80"}
    assert "missing sm_120a, compute_120a" in result.message
    assert docker_engine.client.api.images(name=candidate.image) == []  # the refused image is not tagged


def test_unchanged_recipe_is_reused_and_a_changed_one_rebuilt(docker_engine, standin, tmp_path):  # noqa: F811
    images = standin(HONOURS)
    engine = _engine(docker_engine)
    first = ensure_built(engine, build_plan(_candidate(images)))
    again = ensure_built(engine, build_plan(_candidate(images)))
    assert (first.outcome, again.outcome) == (BUILT, REUSED) and again.image_id == first.image_id
    (tmp_path / "standin" / "Dockerfile").write_text(HONOURS.format(base="aima-test/stub:latest")
                                                    + 'LABEL standin.edit="2"\n')
    changed = ensure_built(engine, build_plan(_candidate(images)))
    assert changed.outcome == BUILT and changed.recipe_hash != first.recipe_hash
    assert changed.image_id != first.image_id


def test_failing_build_step_is_reported_with_its_log_and_remedy(docker_engine, standin):  # noqa: F811
    candidate = _candidate(standin(FAILS, arg="61"))
    result = ensure_built(_engine(docker_engine), build_plan(candidate))
    assert result.outcome == FAILED
    assert result.step.startswith("Step ") and "RUN echo" in result.step
    assert any("Unsupported gpu architecture 'compute_61'" in line for line in result.log_tail)
    assert result.remedy and "CUDA_VERSION=12.x" in result.remedy


def test_aima_build_cli_reports_a_failed_step_in_one_error(docker_engine, docker_host_env, standin):  # noqa: F811
    images = standin(FAILS, arg="61")
    result = upkit.aima("build", "standin", "--images", images, "--json")
    assert result.rc == 1, result.err
    [entry] = result.json()["results"]
    assert entry["outcome"] == "failed" and entry["failed_step"].startswith("Step ")
    assert "nvcc" in entry["remedy"] or "CUDA" in entry["remedy"]


def test_up_build_builds_the_standin_proves_its_archs_and_starts_it(docker_engine, docker_host_env, standin,  # noqa: F811
                                                                  stacks, tmp_path):  # noqa: F811
    images = standin(HONOURS)
    name = stacks.track(f"build-{uuid.uuid4().hex[:6]}")
    stack = upkit.stack(tmp_path, name, {"llm": {"enabled": False}, "tts": {"enabled": False}})
    args = ("--hardware", "rtx-5070-ti", "--images", images, "--stack", stack)
    plan = upkit.aima("plan", *args, "--json")
    assert plan.rc == 0, plan.err
    asr = plan.json()["engines"]["asr"]
    assert asr["obtain"] == "build" and asr["build"]["built_here"] is False
    refused = upkit.aima("up", *args)
    assert refused.rc == 1 and "not built on this machine yet" in refused.err and "--build" in refused.err
    up = upkit.aima("up", *args, "--build", "--json")
    assert up.rc == 0, up.err + up.out
    engine = upkit.containers(docker_engine.client, name)["asr"]
    assert engine.status == "running"
    built = docker_engine.client.images.get(_candidate(images).image)
    assert engine.image.id == built.id
    again = upkit.aima("plan", *args, "--json").json()["engines"]["asr"]
    assert again["build"]["built_here"] is True and again["archs_source"].startswith("inspected sha256:")
    assert upkit.aima("down", "--stack", stack).rc == 0


def _engine(docker_engine):  # noqa: F811
    from aima.engine.docker_engine import DockerEngine

    return DockerEngine(docker_engine.client, docker_engine.base_url)
