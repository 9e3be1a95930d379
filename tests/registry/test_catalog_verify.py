"""`aima catalog verify` against real registries: exact drift lines, exit codes, --archs, --json, --pin."""

from __future__ import annotations

import json
import socket
import uuid

import pytest

from aima.catalog.load import read_catalog
from aima.cli import main
from tests.harness.oci import PlatformSpec

REQUIRE_131 = "cuda>=13.1 brand=tesla,driver>=535,driver<536 brand=tesla,driver>=580,driver<581"


def _gpu_spec(platform: str, cuda: str, require: str, lib: bytes) -> PlatformSpec:
    return PlatformSpec(platform, env={"CUDA_VERSION": cuda, "NVIDIA_REQUIRE_CUDA": require},
                        entrypoint=["/app/llama-server"], exposed_ports=["8080/tcp"],
                        files={"app/libggml-cuda.so": lib})


def _catalogue(path, image: str, cpu_image: str, *, archs: str = "80-real;90-virtual", cuda: str = "13.1",
               require: str = REQUIRE_131, port: int = 8080, extra: str = "") -> None:
    path.write_text(f"""version: 1
engines:
  llm:
    candidates:
      - id: llama-gpu
        image: {image}
        gpu: true
        platforms: [linux/amd64, linux/arm64]
        cuda: "{cuda}"
        archs: "{archs}"
        require_cuda: "{require}"
        entrypoint: [/app/llama-server]
        port: {port}
        source: test
      - id: llama-cpu
        image: {cpu_image}
        gpu: false
        platforms: [linux/amd64]
        port: 8080
{extra}""")


@pytest.fixture
def images(pusher, cuda_library):
    repo = f"aima-test/verify-{uuid.uuid4().hex[:8]}"
    gpu = pusher.push(repo, "server-cuda13", [_gpu_spec("linux/amd64", "13.1.0", REQUIRE_131, cuda_library),
                                              _gpu_spec("linux/arm64", "13.1.0", REQUIRE_131, cuda_library)])
    cpu = pusher.push(repo, "server", [PlatformSpec("linux/amd64", entrypoint=["/app/llama-server"])])
    return repo, gpu, cpu


def _verify(capsys, *args: str) -> tuple[int, list[str], str]:
    code = main(["catalog", "verify", *args])
    captured = capsys.readouterr()
    return code, captured.out.splitlines(), captured.err


def test_a_catalogue_that_agrees_with_its_images_exits_0(tmp_path, capsys, images):
    _, gpu, cpu = images
    _catalogue(tmp_path / "images.yaml", gpu.reference, cpu.reference)
    code, lines, err = _verify(capsys, "--images", str(tmp_path / "images.yaml"), "--archs")
    assert (code, lines) == (0, []), "\n".join(lines)
    assert "2 agree, 0 differ, 0 not read" in err


def test_a_moved_tag_gives_one_exact_line_per_differing_fact(tmp_path, capsys, images, pusher, cuda_library):
    repo, _, cpu = images
    # The tag moves to CUDA 13.4 (as llama.cpp's server-cuda13 did): CUDA_VERSION and NVIDIA_REQUIRE_CUDA change.
    moved = pusher.push(repo, "server-cuda13", [_gpu_spec("linux/amd64", "13.4.1", "cuda>=13.4", cuda_library),
                                                _gpu_spec("linux/arm64", "13.4.1", "cuda>=13.4", cuda_library)])
    _catalogue(tmp_path / "images.yaml", moved.reference, cpu.reference, port=8000)
    code, lines, _ = _verify(capsys, "--images", str(tmp_path / "images.yaml"))
    amd64, arm64 = moved.platform_digests["linux/amd64"], moved.platform_digests["linux/arm64"]
    assert code == 1
    assert lines == [
        f"llm/llama-gpu: cuda: catalogue 13.1, image 13.4 (linux/amd64 {amd64})",
        f"llm/llama-gpu: require_cuda: catalogue cuda>=13.1 + branches 535/580 for 1 brands, image cuda>=13.4 "
        f"(linux/amd64 {amd64})",
        f"llm/llama-gpu: port: catalogue 8000, image 8080 exposed (linux/amd64 {amd64})",
        f"llm/llama-gpu: cuda: catalogue 13.1, image 13.4 (linux/arm64 {arm64})",
        f"llm/llama-gpu: require_cuda: catalogue cuda>=13.1 + branches 535/580 for 1 brands, image cuda>=13.4 "
        f"(linux/arm64 {arm64})",
        f"llm/llama-gpu: port: catalogue 8000, image 8080 exposed (linux/arm64 {arm64})",
    ]


def test_archs_read_from_the_layers_are_compared_with_the_stated_list(tmp_path, capsys, images):
    _, gpu, cpu = images
    _catalogue(tmp_path / "images.yaml", gpu.reference, cpu.reference, archs="80;86;90")
    code, lines, _ = _verify(capsys, "--images", str(tmp_path / "images.yaml"), "--archs",
                             "--json")
    assert code == 1
    data = json.loads("\n".join(lines))
    drift = data["entries"][0]["drift"]
    assert [(d["field"], d["platform"], d["catalogue"], d["image"]) for d in drift] == [
        ("archs", "linux/amd64", "sm_80 sm_86 sm_90 compute_80 compute_86 compute_90", "sm_80 compute_90"),
        ("archs", "linux/arm64", "sm_80 sm_86 sm_90 compute_80 compute_86 compute_90", "sm_80 compute_90"),
    ]
    assert data["counts"] == {"agrees": 1, "drift": 1, "unreadable": 0, "skipped": 0}


def test_a_platform_the_image_does_not_serve_is_drift(tmp_path, capsys, images):
    _, gpu, cpu = images
    path = tmp_path / "images.yaml"
    _catalogue(path, gpu.reference, cpu.reference)
    text = path.read_text()
    path.write_text(text.replace("        platforms: [linux/amd64]\n", "        platforms: [linux/arm64]\n"))
    code, lines, _ = _verify(capsys, "--images", str(path))
    assert code == 1
    assert lines == [f"llm/llama-cpu: platforms: catalogue linux/arm64, image linux/amd64 ({cpu.digest})"]


def test_an_unreachable_registry_is_never_drift_and_exits_2(tmp_path, capsys, images):
    _, gpu, cpu = images
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        extra = f"""      - id: llama-elsewhere
        image: 127.0.0.1:{port}/aima/gone:v1
        gpu: false
        port: 8080
"""
        _catalogue(tmp_path / "images.yaml", gpu.reference, cpu.reference, extra=extra)
        code, lines, err = _verify(capsys, "--images", str(tmp_path / "images.yaml"), "--timeout", "3")
    assert code == 2
    assert len(lines) == 1
    assert lines[0].startswith(f"llm/llama-elsewhere: not read: registry unreachable: cannot reach registry "
                               f"127.0.0.1:{port}")
    assert "2 agree, 0 differ, 1 not read" in err


def test_pin_records_the_digests_then_a_repushed_tag_is_caught(tmp_path, capsys, images, pusher, cuda_library):
    repo, gpu, cpu = images
    path = tmp_path / "images.yaml"
    _catalogue(path, gpu.reference, cpu.reference)
    before = path.read_text()
    code, _, err = _verify(capsys, "--images", str(path), "--pin")
    assert code == 0 and "pinned 2 entries" in err
    catalog = read_catalog(path, partial=True)
    c = catalog.candidate("llm", "llama-gpu")
    assert {(p.platform, p.digest) for p in c.pins} == set(gpu.platform_digests.items())
    assert catalog.candidate("llm", "llama-cpu").pin("linux/amd64").digest == cpu.platform_digests["linux/amd64"]
    # Only verified: lines were added; everything else (order, comments, layout) is as it was.
    assert [line for line in path.read_text().splitlines() if "verified:" not in line] == before.splitlines()
    again = _verify(capsys, "--images", str(path))
    assert again[0] == 0, again
    assert _verify(capsys, "--images", str(path), "--pin")[0] == 0  # pinning again replaces, not duplicates
    assert path.read_text().count("verified:") == 2
    moved = pusher.push(repo, "server-cuda13", [_gpu_spec("linux/amd64", "13.1.1", REQUIRE_131, cuda_library),
                                                _gpu_spec("linux/arm64", "13.1.0", REQUIRE_131, cuda_library)])
    code, lines, _ = _verify(capsys, "--images", str(path))
    new, old = moved.platform_digests["linux/amd64"], gpu.platform_digests["linux/amd64"]
    today = c.pin("linux/amd64").read_at
    assert code == 1
    assert lines == [f"llm/llama-gpu: digest: catalogue pinned {old} (read {today}), image now {new} "
                     f"(linux/amd64 {new})"]


def test_a_bad_verified_entry_names_file_line_and_key(tmp_path, capsys):
    path = tmp_path / "images.yaml"
    path.write_text("""version: 1
engines:
  asr:
    candidates:
      - id: x
        image: 127.0.0.1:5000/x:v1
        gpu: false
        port: 8080
        verified: {linux/amd64: {digest: "sha256:1234", at: "2026-11-30"}}
""")
    code = main(["catalog", "verify", "--images", str(path)])
    assert code == 1
    assert "images.yaml:9: engines.asr.candidates[0].verified.linux/amd64.digest: must be sha256:<64 hex digits>" \
        in capsys.readouterr().err
