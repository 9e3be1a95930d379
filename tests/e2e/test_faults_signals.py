"""Ctrl-C at each phase of `aima up`, and a second `up` or a `down` while one runs, on each engine (the test dockerd,
the test Podman service).

The phase is pinned with the kit's proxy: the pull or the container create is held there until the test has
sent SIGINT, and the readiness wait is recognised by the engine's followed log request. After each: exit 130,
the message says what was removed and what is left, exactly that exists, and the lock is free (a following `up`
works). The `fault` fixture checks that no output holds a traceback and that an unlabelled neighbour is untouched.
"""

from __future__ import annotations

import signal
import time
import uuid

import pytest

from tests.e2e import test_faults_kit as kit
from tests.e2e.upkit import catalog

engine_proxy, fault, foreign = kit.engine_proxy, kit.fault, kit.foreign  # the kit's fixtures, for this module

NEVER_READY = {"env": {"STUB_NEVER_READY": "1"}}
QUICK = {"env": {"STUB_READY_AFTER": "0"}}


def _following_up_works(fault, images, **engines) -> None:
    """The lock was released: `up` runs to the end, then `down` leaves nothing."""
    again = fault.cli("up", "--images", images, "--stack", fault.stack_file(**engines))
    assert again.rc == 0, again.err
    fault.down_leaves_nothing()


def test_ctrl_c_during_the_pull_leaves_nothing(fault, engine_proxy, docker_engine, registry, stub_image):
    ref = kit.pushed_not_here(docker_engine, registry, stub_image, f"faults-sigint-{uuid.uuid4().hex[:8]}")
    images = catalog(fault.tmp_path, "images.yaml", ref)
    engine_proxy.hold("POST", fault.engine.pull_path())  # dropped, never forwarded, when the proxy is cut
    up = fault.start("up", "--images", images, "--stack", fault.stack_file(llm=QUICK), via=engine_proxy.url)
    engine_proxy.wait_for("POST", fault.engine.pull_path())
    rc, _, err, took = fault.interrupt(up)

    assert rc == 130 and took < 3, err
    assert f"error: interrupted; this run had created nothing yet; nothing of stack {fault.name} is left" in err
    assert fault.left() == {} and fault.networks() == []
    _following_up_works(fault, images, llm=QUICK)  # pulls for real this time


@pytest.mark.parametrize("request_path", [r"/containers/create", r"/containers/[0-9a-f]{64}/start"],
                         ids=["create", "start"])
def test_ctrl_c_while_a_container_is_being_created_or_started_removes_it(fault, engine_proxy, request_path):
    release = engine_proxy.hold("POST", request_path)
    up = fault.start("up", "--images", fault.images, "--stack", fault.stack_file(llm=QUICK),
                     via=engine_proxy.url)
    engine_proxy.wait_for("POST", request_path)
    time.sleep(0.2)
    up.send_signal(signal.SIGINT)  # Ctrl-C while the engine is still creating (starting) the container ...
    time.sleep(0.3)
    release.set()  # ... which then lands: up must still find it and remove it
    rc, _, err, took = fault.finish(up)

    assert rc == 130 and took < 10, err
    name = fault.container("llm")
    assert (f"error: interrupted; removed what this run created: {name}; nothing of stack {fault.name} is left"
            in err)
    assert fault.left() == {} and fault.networks() == []
    _following_up_works(fault, fault.images, llm=QUICK)


def test_ctrl_c_during_the_readiness_wait_keeps_what_was_there_before(fault, engine_proxy):
    first = fault.cli("up", "--images", fault.images, "--stack", fault.stack_file(asr=QUICK))
    assert first.rc == 0, first.err
    asr, llm = fault.container("asr"), fault.container("llm")
    asr_id = fault.client.containers.get(asr).id

    up = fault.start("up", "--images", fault.images, "--stack", fault.stack_file(asr=QUICK, llm=NEVER_READY),
                     via=engine_proxy.url)
    created = fault.wait_created("llm")
    engine_proxy.wait_for("GET", fault.engine.follow_logs_path(created.id))
    time.sleep(0.2)
    rc, _, err, took = fault.interrupt(up)

    assert rc == 130 and took < 10, err
    assert f"error: interrupted; removed what this run created: {llm}; left as they were: {asr}" in err
    assert fault.left() == {asr: "running"}
    assert fault.client.containers.get(asr).id == asr_id
    _following_up_works(fault, fault.images, asr=QUICK, llm=QUICK)


def _first_up_waiting(fault, engine_proxy):
    """An `up` that takes 2 s to get ready, caught while it waits; its stack file."""
    stack_file = fault.stack_file(llm={"env": {"STUB_READY_AFTER": "2"}})
    up = fault.start("up", "--images", fault.images, "--stack", stack_file, via=engine_proxy.url)
    created = fault.wait_created("llm")
    engine_proxy.wait_for("GET", fault.engine.follow_logs_path(created.id))
    return up, stack_file, created


def test_second_up_on_the_same_stack_is_refused_and_the_first_completes(fault, engine_proxy):
    first, stack_file, created = _first_up_waiting(fault, engine_proxy)
    began = time.monotonic()
    second = fault.cli("up", "--images", fault.images, "--stack", stack_file)
    assert time.monotonic() - began < 2  # refused at once, not after waiting its turn
    assert second.rc == 1
    assert f"error: stack {fault.name} is busy: `aima up` (pid {first.pid}) is working on it" in second.err

    rc, out, err, _ = fault.finish(first)
    assert rc == 0, err
    assert "ready" in out and created.id in {c.id for c in fault.client.containers.list()}
    again = fault.cli("up", "--images", fault.images, "--stack", stack_file, "--json")
    assert again.rc == 0 and again.json()["engines"]["llm"]["action"] == "noop"
    fault.down_leaves_nothing()


def test_down_while_up_runs_is_refused_and_the_stack_stays_consistent(fault, engine_proxy):
    up, stack_file, created = _first_up_waiting(fault, engine_proxy)
    down = fault.cli("down", "--stack", stack_file)
    assert down.rc == 1
    assert f"error: stack {fault.name} is busy: `aima up` (pid {up.pid}) is working on it" in down.err
    assert "before `aima down` again" in down.err
    assert fault.left() == {fault.container("llm"): "running"}  # down touched nothing

    rc, _, err, _ = fault.finish(up)
    assert rc == 0, err
    status = fault.cli("status", "--stack", stack_file, "--json")
    assert status.json()["engines"]["llm"]["state"] == "running"
    assert status.json()["engines"]["llm"]["health"] == "ok"
    fault.down_leaves_nothing()
