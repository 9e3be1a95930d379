"""Which reference `up` pulls (issue #17): the pinned digest for the host's platform, else the tag; --latest the tag."""

from __future__ import annotations

from aima.catalog.model import Candidate, Pin
from aima.launch.images import image_facts, with_image_facts
from aima.plan import pull_reference

AMD = "sha256:" + "a" * 64
ARM = "sha256:" + "b" * 64


def _candidate(image: str = "ghcr.io/ggml-org/llama.cpp:server-cuda13", **kw) -> Candidate:
    return Candidate(id="c", engine="llm", image=image, gpu=True, **kw)


def test_pinned_digest_for_the_hosts_platform():
    c = _candidate(pins=(Pin("linux/amd64", AMD, "2026-11-30"), Pin("linux/arm64", ARM, "2026-11-30")))
    assert pull_reference(c, "x86_64") == f"ghcr.io/ggml-org/llama.cpp@{AMD}"
    assert pull_reference(c, "aarch64") == f"ghcr.io/ggml-org/llama.cpp@{ARM}"


def test_tag_when_no_pin_for_this_platform_or_latest():
    c = _candidate(pins=(Pin("linux/amd64", AMD, "2026-11-30"),))
    assert pull_reference(c, "aarch64") == c.image
    assert pull_reference(c, "x86_64", latest=True) == c.image
    assert pull_reference(_candidate(), "x86_64") == _candidate().image


def test_docker_hub_and_loopback_names():
    pins = (Pin("linux/amd64", AMD, "2026-11-30"),)
    assert pull_reference(_candidate("vllm/vllm-openai:v0.11.0", pins=pins), "x86_64") == f"vllm/vllm-openai@{AMD}"
    assert pull_reference(_candidate("busybox", pins=pins), "x86_64") == f"busybox@{AMD}"
    assert pull_reference(_candidate("127.0.0.1:5000/a/b:t", pins=pins), "x86_64") == f"127.0.0.1:5000/a/b@{AMD}"


def test_local_only_images_are_never_pinned():
    c = _candidate("aima/whisper:local", pins=(Pin("linux/amd64", AMD, "2026-11-30"),), local_only="built by hand")
    assert pull_reference(c, "x86_64") == c.image


def test_pulled_image_facts_replace_the_catalogues():
    from aima.catalog.model import Catalog, Engine
    from aima.hardware.model import CudaVersion

    assert image_facts(["PATH=/bin", "CUDA_VERSION=13.4.1", "NVIDIA_REQUIRE_CUDA=cuda>=13.4 brand=tesla"]) == (
        "13.4.1", "cuda>=13.4 brand=tesla")
    assert image_facts(["PATH=/bin"]) == (None, None)
    c = _candidate(cuda=CudaVersion.parse("12.4"), require_cuda="cuda>=12.4",
                   pins=(Pin("linux/amd64", AMD, "2026-11-30"),))
    catalog = Catalog((Engine("llm", (c,)),))
    fresh = with_image_facts(catalog, {("llm", "c"): ("13.4.1", "cuda>=13.4")}).candidate("llm", "c")
    assert fresh is not None and fresh.cuda == CudaVersion.parse("13.4") and fresh.require_cuda == "cuda>=13.4"
    assert fresh.pins == ()
