"""Limits fitted to the host, on the real test dockerd: an engine asking for more CPUs than this machine has
starts with what the host can grant, instead of Docker refusing it after the others started."""

from __future__ import annotations

import os
import uuid

from tests.e2e.upkit import aima, catalog, containers, stack


def test_engine_asking_for_more_cpus_than_the_host_has_starts_fitted(docker_engine, docker_host_env, stub_image,
                                                                     stacks, tmp_path):
    name = stacks.track(f"fit-{uuid.uuid4().hex[:6]}")
    images = catalog(tmp_path, "images.yaml", stub_image)
    stack_file = stack(tmp_path, name, {"llm": {"limits": {"cpus": 512}}})
    plan = aima("plan", "--images", images, "--stack", stack_file)
    assert plan.rc == 0, plan.err
    assert "llm: CPUs 512 ->" in plan.out
    up = aima("up", "--images", images, "--stack", stack_file, "--json")
    assert up.rc == 0, up.err + up.out
    host_cpus = docker_engine.client.info()["NCPU"]
    found = containers(docker_engine.client, name)
    assert set(found) == {"asr", "llm", "tts"}
    total = sum(c.attrs["HostConfig"]["NanoCpus"] for c in found.values())
    assert 0 < found["llm"].attrs["HostConfig"]["NanoCpus"] <= host_cpus * 1_000_000_000
    assert total <= max(host_cpus, os.cpu_count() or 1) * 1_000_000_000
