"""`aima status` on each engine (the test dockerd, the test Podman service): its exit status, every container in
--json, endpoints that never wrap.

Exit 0 only when every engine of the stack runs and answers its health probe; 3 when one has no container, is
stopped or is unhealthy (docs/launch.md). A second container for one engine (a look-alike with copied labels)
is listed, not hidden behind the first.
"""

from __future__ import annotations

import uuid

import yaml

from tests.e2e.upkit import aima, catalog, free_port

QUICK = {"env": {"STUB_READY_AFTER": "0"}}


def _stack_file(tmp_path, name, file="stack.yaml", ports=None, **engines):
    settings = {e: ({"port": ports[e], **engines[e]} if e in engines else {"enabled": False})
                for e in ("asr", "llm", "tts")}
    path = tmp_path / file
    path.write_text(yaml.safe_dump({"name": name, "engines": settings}, sort_keys=False))
    return path


def _up(tmp_path, stacks, stub_image, hint, **engines):
    name = stacks.track(f"st-{hint}-{uuid.uuid4().hex[:6]}")
    ports = {e: free_port() for e in ("asr", "llm", "tts")}
    images = catalog(tmp_path, "images.yaml", stub_image)
    stack_file = _stack_file(tmp_path, name, ports=ports, **engines)
    up = aima("up", "--images", images, "--stack", stack_file, "--no-verify")
    assert up.rc == 0, up.err
    return name, stack_file, ports


def test_status_exits_3_when_an_engine_stopped_or_has_no_container(engine, engine_env, stub_image,
                                                                   stacks, tmp_path):
    name, stack_file, ports = _up(tmp_path, stacks, stub_image, "exit", llm=QUICK)
    healthy = aima("status", "--stack", stack_file)
    assert healthy.rc == 0, healthy.err

    with_asr = _stack_file(tmp_path, name, "with-asr.yaml", ports=ports, llm=QUICK, asr=QUICK)
    missing = aima("status", "--stack", with_asr, "--json")
    assert missing.rc == 3, missing.err
    assert missing.json()["ok"] is False and missing.json()["problems"] == ["asr: no container"]
    assert f"error: stack {name} is not healthy: asr: no container" in missing.err

    engine.client.containers.get(f"aima-{name}-llm").stop(timeout=1)
    stopped = aima("status", "--stack", stack_file)
    assert stopped.rc == 3
    assert f"error: stack {name} is not healthy: llm (aima-{name}-llm): exited" in stopped.err
    assert "Traceback" not in stopped.err
    assert aima("down", "--stack", stack_file).rc == 0


def test_status_json_lists_a_second_container_of_the_same_engine(engine, engine_env, stub_image, stacks,
                                                                 tmp_path):
    name, stack_file, _ = _up(tmp_path, stacks, stub_image, "two", llm=QUICK)
    other = engine.client.containers.run(stub_image, detach=True, name=f"lookalike-{name}",
                                                labels={"aima.stack": name, "aima.engine": "llm"})
    try:
        status = aima("status", "--stack", stack_file, "--json")
        data = status.json()
        listed = sorted((c["engine"], c["container"]) for c in data["containers"])
        assert listed == sorted([("llm", f"aima-{name}-llm"), ("llm", f"lookalike-{name}")])
        assert data["engines"]["llm"]["container"] in {c for _, c in listed}  # the old key, kept for readers
    finally:
        other.remove(force=True)
    assert aima("down", "--stack", stack_file).rc == 0


def test_endpoints_never_wrap_in_narrow_up_and_status_tables(engine, engine_env, stub_image, stacks,
                                                             tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "60")
    name = stacks.track(f"st-narrow-{uuid.uuid4().hex[:6]}")
    ports = {e: free_port() for e in ("asr", "llm", "tts")}
    stack_file = _stack_file(tmp_path, name, ports=ports, asr=QUICK, llm=QUICK, tts=QUICK)
    up = aima("up", "--images", catalog(tmp_path, "images.yaml", stub_image), "--stack", stack_file, "--no-verify")
    assert up.rc == 0, up.err
    status = aima("status", "--stack", stack_file)
    assert status.rc == 0, status.err
    for shown in (up.out, status.out):
        assert max(len(line) for line in shown.splitlines()) <= 60 + 5, shown  # still fitted to the terminal
        for port in ports.values():
            assert f"http://127.0.0.1:{port}" in shown, shown
    assert aima("down", "--stack", stack_file).rc == 0
