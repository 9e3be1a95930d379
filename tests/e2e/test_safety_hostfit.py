"""Limits fitted to the host, on each engine: an engine asking for more CPUs than this machine has starts with what
the host can grant, instead of the engine refusing it after the others started."""

from __future__ import annotations

import os
import uuid

from tests.e2e.upkit import aima, catalog, containers, stack


def test_engine_asking_for_more_cpus_than_the_host_has_starts_fitted(engine, engine_env, stub_image,
                                                                     stacks, tmp_path):
    name = stacks.track(f"fit-{uuid.uuid4().hex[:6]}")
    images = catalog(tmp_path, "images.yaml", stub_image)
    stack_file = stack(tmp_path, name, {"llm": {"limits": {"cpus": 512}}})
    plan = aima("plan", "--images", images, "--stack", stack_file)
    assert plan.rc == 0, plan.err
    assert "llm: CPUs 512 ->" in plan.out
    up = aima("up", "--images", images, "--stack", stack_file, "--json")
    assert up.rc == 0, up.err + up.out
    host_cpus = engine.client.info()["NCPU"]
    found = containers(engine.client, name)
    assert set(found) == {"asr", "llm", "tts"}
    total = sum(engine.cpus(c) for c in found.values())
    assert 0 < engine.cpus(found["llm"]) <= host_cpus
    assert total <= max(host_cpus, os.cpu_count() or 1)
