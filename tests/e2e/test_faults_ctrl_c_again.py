"""Ctrl-C pressed again while `aima up` cleans up after the first one, on each engine (the test dockerd, the test
Podman service).

`timeout -s INT` and an impatient user both send a second SIGINT a moment after the first. The second must not
abandon the cleanup (the stack would be left running); only a third does, and then the message names exactly
what is left and the command that removes it.
"""

from __future__ import annotations

import signal
import time

from tests.e2e import test_faults_kit as kit

engine_proxy, fault, foreign = kit.engine_proxy, kit.fault, kit.foreign  # the kit's fixtures, for this module

NEVER_READY = {"env": {"STUB_NEVER_READY": "1"}}


def _up_waiting(fault, engine_proxy):
    """An `up` of asr + llm caught in the readiness wait (both created, neither ready); its stack file."""
    stack_file = fault.stack_file(asr=NEVER_READY, llm=NEVER_READY)
    up = fault.start("up", "--images", fault.images, "--stack", stack_file, via=engine_proxy.url)
    for engine in ("asr", "llm"):
        created = fault.wait_created(engine)
        engine_proxy.wait_for("GET", fault.engine.follow_logs_path(created.id))
    time.sleep(0.2)
    return up, stack_file


def test_two_ctrl_c_50_ms_apart_still_clean_up_everything(fault, engine_proxy):
    up, _ = _up_waiting(fault, engine_proxy)
    up.send_signal(signal.SIGINT)
    time.sleep(0.05)  # what `timeout -s INT` does: the child and its process group each get one
    up.send_signal(signal.SIGINT)
    rc, _, err, took = fault.finish(up)

    assert rc == 130 and took < 15, err
    assert "cleaning up, press Ctrl-C again to abandon" in err
    assert "cleaning up failed" not in err
    removed = ", ".join(sorted(fault.container(e) for e in ("asr", "llm")))
    assert f"error: interrupted; removed what this run created: {removed}; nothing of stack {fault.name} is left" \
        in err
    assert fault.left() == {} and fault.networks() == []


def test_a_third_ctrl_c_abandons_the_cleanup_and_names_what_is_left(fault, engine_proxy):
    up, stack_file = _up_waiting(fault, engine_proxy)
    engine_proxy.hold("DELETE", r"/containers/[0-9a-f]{64}")  # the cleanup's removals hang at the engine
    up.send_signal(signal.SIGINT)
    time.sleep(0.05)
    up.send_signal(signal.SIGINT)
    engine_proxy.wait_for("DELETE", r"/containers/[0-9a-f]{64}")
    time.sleep(0.2)
    up.send_signal(signal.SIGINT)
    rc, _, err, took = fault.finish(up)
    engine_proxy.cut()  # the held removals are dropped, never forwarded: what aima said is left stays left

    assert rc == 130 and took < 10, err
    assert "cleaning up, press Ctrl-C again to abandon" in err
    line = next(line for line in err.splitlines() if line.startswith("error: "))
    assert "cleanup abandoned" in line, err
    left = fault.left()  # stopped by the cleanup, their removal held: what aima named must be exactly this
    assert set(left) == {fault.container("asr"), fault.container("llm")}
    listed = ", ".join(f"{name} ({state})" for name, state in sorted(left.items()))
    assert f"left: containers {listed} and network aima-{fault.name}" in line, line
    assert fault.networks() == [f"aima-{fault.name}"]
    assert "was under way and may still finish" in line
    assert f"`aima down --stack {stack_file}` removes them" in err
    fault.down_leaves_nothing()
