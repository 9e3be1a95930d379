"""aima inspect against a real Docker engine: an image FROM scratch that holds one nvcc-built library."""

from __future__ import annotations

import io
import os
import tarfile
import uuid
from pathlib import Path

import pytest
from cuda_builds import CudaBinaries

from aima.inspect import inspect_image, load_cached

try:
    from tests.e2e.conftest import docker_engine  # noqa: F401 - the harness's fixture, used by name below
except ImportError as missing:  # the harness lives in its own change; without it there is no engine
    if os.environ.get("CI"):
        raise
    pytest.skip(f"the Docker test harness is not importable: {missing}", allow_module_level=True)

LIBRARY_IN_IMAGE = "/usr/lib/x86_64-linux-gnu/libggml-cuda.so"


def build_context(library: Path) -> io.BytesIO:
    """A build context as a tar stream: the library and a Dockerfile that copies it into an empty image."""
    dockerfile = f"FROM scratch\nCOPY libggml-cuda.so {LIBRARY_IN_IMAGE}\n".encode()
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        for name, data in (("Dockerfile", dockerfile), ("libggml-cuda.so", library.read_bytes())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    context.seek(0)
    return context


@pytest.fixture
def cuda_image(docker_engine, cuda_binaries: CudaBinaries):  # noqa: F811 - the fixture imported above
    tag = f"aima-test/inspect-{uuid.uuid4().hex[:8]}:latest"
    context = build_context(cuda_binaries.libraries["ampere_to_hopper"])
    image, _ = docker_engine.client.images.build(fileobj=context, custom_context=True, tag=tag, rm=True)
    yield tag, image.id
    docker_engine.client.images.remove(image.id, force=True)


def test_inspect_reads_sass_of_a_library_inside_a_real_image(docker_engine, cuda_image, tmp_path: Path) -> None:  # noqa: F811
    tag, image_id = cuda_image
    from aima.engine.docker_engine import DockerEngine

    result = inspect_image(DockerEngine(docker_engine.client, docker_engine.base_url), tag, tmp_path)
    assert result.image_id == image_id
    assert (result.sass, result.ptx) == (("sm_80", "sm_86", "sm_89", "sm_90"), ())
    assert [lib.path for lib in result.libraries] == [LIBRARY_IN_IMAGE]
    assert load_cached(image_id, tmp_path) == result
    leftovers = docker_engine.client.containers.list(all=True, filters={"label": f"aima.inspect={image_id}"})
    assert leftovers == [], "the container created to read the image must be removed"


def test_aima_inspect_cli_then_plan_uses_what_it_read(docker_engine, cuda_image, tmp_path: Path) -> None:  # noqa: F811
    import json
    import subprocess
    import sys

    tag, image_id = cuda_image
    env = {**os.environ, "DOCKER_HOST": docker_engine.base_url, "XDG_CACHE_HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "aima", "inspect", tag, "--json"], capture_output=True, text=True,
                          env=env, check=True)
    assert json.loads(done.stdout)["sass"] == ["sm_80", "sm_86", "sm_89", "sm_90"]
    events = [json.loads(line) for line in done.stderr.splitlines()]  # progress: JSON events on stderr
    assert events[0]["event"] == "inspect" and events[0]["image"] == tag and events[0]["total_bytes"] > 0
    assert events[-1]["final"] and events[-1]["read_bytes"] >= events[0]["read_bytes"] and events[-1]["elf_files"] >= 1
    plain = subprocess.run([sys.executable, "-m", "aima", "inspect", tag, "--refresh"], capture_output=True,
                           text=True, env=env, check=True)
    assert f"inspect {tag}: read " in plain.stderr and " ELF files" in plain.stderr  # plain lines off a terminal
    catalogue = tmp_path / "images.yaml"
    catalogue.write_text(
        "extends: false\nengines:\n  asr:\n    candidates:\n"
        f"      - {{id: probe, image: '{tag}', gpu: true, archs: sm_120, cuda: '12.0', port: 8080}}\n"
        "      - {id: cpu, image: busybox, gpu: false, port: 8080}\n")
    stack = tmp_path / "aima.yaml"
    stack.write_text("engines:\n  llm: {enabled: false}\n  tts: {enabled: false}\n")
    plan = subprocess.run([sys.executable, "-m", "aima", "plan", "--hardware", "rtx-4090", "--images", str(catalogue),
                           "--stack", str(stack), "--json"], capture_output=True, text=True, env=env, check=True)
    asr = json.loads(plan.stdout)["engines"]["asr"]
    # The catalogue claims sm_120 only (would be refused on 8.9); the binaries carry sm_89 SASS.
    assert asr["candidate"] == "probe" and asr["archs_source"].startswith("inspected sha256:")


def test_aima_inspect_cli_missing_image_is_one_clear_line(docker_engine) -> None:  # noqa: F811
    import subprocess
    import sys

    env = {**os.environ, "DOCKER_HOST": docker_engine.base_url}
    result = subprocess.run([sys.executable, "-m", "aima", "inspect", "aima-test/no-such-image:1"],
                            capture_output=True, text=True, env=env)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "not on this machine" in result.stderr
