"""While `up` waits for an engine that loads for a few seconds, it says what it waits for and for how long.

The stub llm (tests/harness/stubs.py) answers /health 503 for STUB_READY_AFTER seconds, on each engine (the test
dockerd, the test Podman service).
"""

from __future__ import annotations

import json
import re
import uuid

from tests.e2e.upkit import aima, catalog, stack


def _loading_stack(stacks, tmp_path, seconds: int):
    name = stacks.track(f"up-wait-{uuid.uuid4().hex[:6]}")
    return stack(tmp_path, name, {"llm": {"env": {"STUB_READY_AFTER": str(seconds)}},
                                  "asr": {"enabled": False}, "tts": {"enabled": False}})


def test_up_json_streams_wait_events_while_the_llm_loads(engine, engine_env, stub_image, stacks,
                                                        tmp_path):
    stack_file = _loading_stack(stacks, tmp_path, 4)
    result = aima("up", "--images", catalog(tmp_path, "images.yaml", stub_image), "--stack", stack_file,
                  "--no-verify", "--json")
    assert result.rc == 0, result.err
    assert result.json()["engines"]["llm"]["state"] == "ready"  # stdout: still exactly one JSON document
    events = [json.loads(line) for line in result.err.splitlines() if line.startswith("{")]
    waits = [e for e in events if e["event"] == "wait"]
    assert waits and {e["engine"] for e in waits} == {"llm"}
    assert all(set(e) == {"event", "engine", "state", "waited_s", "timeout_s", "detail", "final"} for e in waits)
    loading = [e for e in waits if e["state"] == "loading"]
    assert loading, waits  # the stub logs and answers 503 while it "loads"
    assert re.search(r"GET http://127\.0\.0\.1:\d+/health → HTTP 503", loading[0]["detail"]), loading[0]
    assert "log: stub: loading (ready after 4s)" in loading[-1]["detail"]
    # The candidate's startup allowance (20 s), counted from its deadline: the wait begins a moment after the
    # deadline is set, so a busy machine may show 19.9.
    assert all(19.5 <= e["timeout_s"] <= 20 for e in waits), waits
    last = waits[-1]
    assert last["final"] and last["state"] == "ready" and last["waited_s"] >= 3
    assert not any(e["final"] for e in waits[:-1])
    # Not one event per probe (every 0.1 s): on a change of state or answer, or every 10 s.
    assert len(waits) < 10, waits


def test_up_in_a_log_prints_plain_wait_lines(engine, engine_env, stub_image, stacks, tmp_path):
    stack_file = _loading_stack(stacks, tmp_path, 3)
    result = aima("up", "--images", catalog(tmp_path, "images.yaml", stub_image), "--stack", stack_file,
                  "--no-verify")
    assert result.rc == 0, result.err
    lines = [line for line in result.err.splitlines() if line.startswith("llm: waiting")]
    assert lines and all(re.match(r"llm: waiting \d+ s of 20 s: (container starting|model loading)", x) for x in lines)
    assert any("model loading (log: stub: loading (ready after 3s)); GET http://127.0.0.1:" in x for x in lines)
    assert re.search(r"^llm: ready after \d+\.\d s$", result.err, re.MULTILINE)
    assert len(lines) < 10


def test_up_on_a_terminal_draws_the_live_table_and_finishes(engine, engine_env, stub_image, stacks,
                                                           tmp_path):
    # A real pseudo-terminal: rich draws its live table there (it once hung `up` for good).
    from tests.harness.terminal import run_on_terminal

    stack_file = _loading_stack(stacks, tmp_path, 2)
    code, text = run_on_terminal("up", "--images", catalog(tmp_path, "images.yaml", stub_image),
                                 "--stack", stack_file, "--no-verify")
    assert code == 0, text[-2000:]
    assert "waiting for the engines" in text and "loading" in text and "ready" in text
