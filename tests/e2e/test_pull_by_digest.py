"""Pull by pinned digest (issue #17): `up` pulls `repo@sha256:…` from the catalogue's `verified:` pin for the host's
platform, even after the tag moved; `up --latest` pulls the moving tag, re-reads the pulled image's CUDA facts and
plans again before anything is created.

Real parts: the stub image is built twice with different content on the test dockerd, both pushed under one tag to
the loopback registry; the catalogue pins the first push's digest. `up` runs on each engine (Docker, Podman), which
pulls from that registry.
"""

from __future__ import annotations

import io
import uuid

from tests.e2e.upkit import PROFILE_2X3090, aima, containers, stack
from tests.harness import stubs


def _variant(client, base: str, registry_host: str, repo: str, tag: str, env: str) -> tuple[str, str]:
    """Build base + ENV, push it as repo:tag; (image id, pushed digest). Only the registry keeps it afterwards."""
    dockerfile = f"FROM {base}\nENV {env}\n".encode()
    image, _ = client.images.build(fileobj=io.BytesIO(dockerfile), rm=True)
    pushed = stubs.push(client, image.id, registry_host, repository=repo, tag=tag)
    client.images.remove(pushed.ref)
    return image.id, pushed.digest


def _id(what) -> str:
    """An image id without its sha256: prefix, from an id or a container (the image it runs)."""
    return (what if isinstance(what, str) else what.attrs["Image"]).removeprefix("sha256:")


def _catalogue(tmp_path, ref: str, digest: str, gpu_first: bool = False) -> str:
    gpu = f"""      - id: moving-gpu
        image: {ref}
        gpu: true
        platforms: [linux/amd64, linux/arm64]
        archs: ["86"]
        cuda: "12.4"
        port: 8080
        health: {{path: /health, startup_timeout_s: 20, interval_s: 0.1}}
        verified: {{linux/amd64: {{digest: "{digest}", at: 2026-11-30}}}}
""" if gpu_first else ""
    path = tmp_path / "images.yaml"
    path.write_text(f"""version: 1
extends: false
engines:
  asr:
    candidates:
{gpu}      - id: pinned-cpu
        image: {ref}
        gpu: false
        platforms: [linux/amd64, linux/arm64]
        port: 8080
        health: {{path: /health, startup_timeout_s: 20, interval_s: 0.1}}
        env: {{STUB_READY_AFTER: "1"}}
        limits: {{memory_mib: 256, cpus: 0.5, pids: 64}}
        verified: {{linux/amd64: {{digest: "{digest}", at: 2026-11-30}},
                    linux/arm64: {{digest: "{digest}", at: 2026-11-30}}}}
""")
    return str(path)


def test_up_pulls_the_pinned_digest_and_latest_the_moved_tag(
        engine, engine_env, docker_engine, registry, stub_image, stacks, tmp_path):
    client, builder = engine.client, docker_engine.client
    repo = f"aima-test/pinned-{uuid.uuid4().hex[:8]}"
    old_id, old_digest = _variant(builder, stub_image, registry.host, repo, "v1", "STUB_VARIANT=old")
    new_id, new_digest = _variant(builder, stub_image, registry.host, repo, "v1", "STUB_VARIANT=new")
    assert old_id != new_id and old_digest != new_digest
    ref = f"{registry.host}/{repo}:v1"
    pinned = f"{registry.host}/{repo}@{old_digest}"
    images = _catalogue(tmp_path, ref, old_digest)
    name = stacks.track(f"digest-{uuid.uuid4().hex[:6]}")
    stack_file = stack(tmp_path, name, {"llm": {"enabled": False}, "tts": {"enabled": False}})
    args = ["--images", images, "--stack", stack_file, "--no-verify"]

    plan = aima("plan", "--images", images, "--stack", stack_file, "--json")
    assert plan.rc == 0, plan.err
    assert plan.json()["engines"]["asr"]["image"] == pinned
    latest_plan = aima("plan", "--images", images, "--stack", stack_file, "--latest")
    assert f"({ref})" in latest_plan.out and old_digest not in latest_plan.out.split("facts:")[0]

    up = aima("up", *args, "--json")
    assert up.rc == 0, up.err
    asr = containers(client, name)["asr"]
    assert _id(asr) == _id(old_id)  # the pinned image, although the tag now names another
    assert asr.attrs["Config"]["Image"] == pinned
    hash_pinned = asr.labels["aima.config-hash"]

    again = aima("up", *args, "--json")  # an unchanged plan: same reference, same hash, nothing recreated
    assert again.rc == 0 and again.json()["engines"]["asr"]["action"] == "noop"
    assert containers(client, name)["asr"].labels["aima.config-hash"] == hash_pinned

    latest = aima("up", *args, "--latest", "--json")
    assert latest.rc == 0, latest.err
    asr = containers(client, name)["asr"]
    assert _id(asr) == _id(new_id) and asr.attrs["Config"]["Image"] == ref
    assert latest.json()["engines"]["asr"]["action"] != "noop"

    # The stack file can ask for moving tags too.
    stack_latest = tmp_path / "latest.yaml"
    stack_latest.write_text(stack_file.read_text() + "latest: true\n")
    plan = aima("plan", "--images", images, "--stack", stack_latest, "--json")
    assert plan.json()["engines"]["asr"]["image"] == ref
    assert aima("down", "--stack", stack_file).rc == 0


def test_latest_replans_with_the_pulled_images_facts(
        engine, engine_env, docker_engine, registry, stub_image, stacks, tmp_path):
    client, builder = engine.client, docker_engine.client
    repo = f"aima-test/replan-{uuid.uuid4().hex[:8]}"
    _, old_digest = _variant(builder, stub_image, registry.host, repo, "cuda",
                             "CUDA_VERSION=12.4.1 NVIDIA_REQUIRE_CUDA=cuda>=12.4")
    _variant(builder, stub_image, registry.host, repo, "cuda", "CUDA_VERSION=13.4.1 NVIDIA_REQUIRE_CUDA=cuda>=13.4")
    ref = f"{registry.host}/{repo}:cuda"
    images = _catalogue(tmp_path, ref, old_digest, gpu_first=True)
    name = stacks.track(f"replan-{uuid.uuid4().hex[:6]}")
    stack_file = stack(tmp_path, name, {"llm": {"enabled": False}, "tts": {"enabled": False}})
    args = ["--hardware", PROFILE_2X3090, "--images", images, "--stack", stack_file]

    plan = aima("plan", *args, "--json")
    assert plan.rc == 0, plan.err
    assert plan.json()["engines"]["asr"]["candidate"] == "moving-gpu"  # the catalogue says CUDA 12.4: fits
    assert plan.json()["engines"]["asr"]["image"] == f"{registry.host}/{repo}@{old_digest}"

    # --latest: the moved tag needs CUDA 13.4, more than the profile's driver; the plan is redone with the image's
    # facts before anything is created and the CPU candidate runs instead.
    up = aima("up", *args, "--latest", "--no-verify")
    assert up.rc == 0, up.err
    said = " ".join((up.err + up.out).split())
    assert f"asr: facts read from the pulled {ref}: CUDA_VERSION 13.4.1, NVIDIA_REQUIRE_CUDA cuda>=13.4" in said
    assert "instead of moving-gpu" in said and "cuda>=13.4" in said
    found = containers(client, name)
    assert set(found) == {"asr"} and found["asr"].labels["aima.candidate"] == "pinned-cpu"
    assert aima("down", "--stack", stack_file).rc == 0
