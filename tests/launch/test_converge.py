"""convergence_plan, ports_to_check and next_fallback: up's decisions as a table, no Docker."""

from __future__ import annotations

import dataclasses

import pytest

from aima.engine.labels import LABEL_STACK
from aima.engine.model import Container, PortBinding
from aima.engine.spec import container_spec
from aima.launch.converge import CREATE, NOOP, RECREATE, REMOVE, START, convergence_plan, next_fallback, ports_to_check
from tests.launch.fakes import engine_plan, plan_of

ASR = engine_plan("asr", port=18001)
LLM = engine_plan("llm", port=18000)
PLAN = plan_of(ASR, LLM)


def observed(engine, *, state="running", plan=PLAN, cid=None, **changes):
    """A container as an earlier `up` created it for this engine, optionally with changed labels."""
    spec = container_spec(engine, plan)
    labels = {**spec.labels, **changes}
    return Container(cid or f"id-{engine.engine}-{state}", spec.name, labels, state,
                     ports=tuple(PortBinding(p.host_ip, p.host_port, p.container_port) for p in engine.ports))


def kinds(actions):
    return [(a.engine, a.kind) for a in actions]


@pytest.mark.parametrize("state, expected", [
    ("running", NOOP), ("exited", START), ("created", START),
    ("paused", RECREATE), ("dead", RECREATE), ("restarting", RECREATE),
], ids=lambda v: str(v))
def test_unchanged_container_by_state(state, expected):
    actions = convergence_plan(PLAN, [observed(ASR, state=state), observed(LLM)])
    assert kinds(actions) == [("asr", expected), ("llm", NOOP)]


def test_fresh_machine_creates_every_engine():
    actions = convergence_plan(PLAN, [])
    assert kinds(actions) == [("asr", CREATE), ("llm", CREATE)]
    assert all(a.target is PLAN.engine(a.engine) for a in actions)


def test_changed_engine_alone_is_recreated_and_says_what_changed():
    changed = dataclasses.replace(ASR, env=(("NEW", "1"),))
    plan = plan_of(changed, LLM)
    actions = convergence_plan(plan, [observed(ASR), observed(LLM)])
    assert kinds(actions) == [("asr", RECREATE), ("llm", NOOP)]
    assert "configuration changed" in actions[0].reason


def test_candidate_change_is_named():
    other = dataclasses.replace(ASR, candidate="asr-b", image="stub:2")
    actions = convergence_plan(plan_of(other, LLM), [observed(ASR), observed(LLM)])
    assert actions[0].kind == RECREATE and actions[0].reason == "candidate changed: asr-a -> asr-b"


def test_running_fallback_from_an_earlier_up_is_kept():
    fallback = engine_plan("asr", "asr-b", image="stub:2", port=18001)
    primary = dataclasses.replace(ASR, fallbacks=(fallback,))
    plan = plan_of(primary, LLM)
    actions = convergence_plan(plan, [observed(fallback, plan=plan), observed(LLM)])
    assert kinds(actions) == [("asr", NOOP), ("llm", NOOP)]
    assert actions[0].target is fallback and "keeps fallback asr-b" in actions[0].reason


def test_engine_dropped_from_the_plan_is_removed_first():
    tts = engine_plan("tts", port=18002)
    actions = convergence_plan(PLAN, [observed(ASR), observed(LLM), observed(tts)])
    assert kinds(actions)[0] == ("tts", REMOVE)
    assert kinds(actions)[1:] == [("asr", NOOP), ("llm", NOOP)]


def test_duplicate_container_is_removed_and_running_match_kept():
    stopped, running = observed(ASR, state="exited", cid="old"), observed(ASR, cid="new")
    actions = convergence_plan(PLAN, [stopped, running, observed(LLM)])
    assert [(a.kind, a.container.id) for a in actions if a.engine == "asr"] == [(REMOVE, "old"), (NOOP, "new")]


def test_other_stacks_are_not_ours():
    foreign = observed(ASR, **{LABEL_STACK: "other"})
    assert kinds(convergence_plan(PLAN, [foreign])) == [("asr", CREATE), ("llm", CREATE)]


def test_ports_to_check_skips_ports_this_stack_already_holds():
    changed = dataclasses.replace(ASR, env=(("NEW", "1"),))
    tts = engine_plan("tts", port=18002)
    plan = plan_of(changed, LLM, tts)
    seen = [observed(ASR), observed(LLM)]
    ports = ports_to_check(convergence_plan(plan, seen), seen)
    assert [p.host_port for p in ports] == [18002]  # asr's own port is freed by the recreate; llm is a noop


GPU_A = engine_plan("asr", "gpu-a", gpu=True, devices=("0",))
GPU_B = engine_plan("asr", "gpu-b", gpu=True, devices=("0",))
CPU_C = engine_plan("asr", "cpu-c")


@pytest.mark.parametrize("fallbacks, tried, allow_cpu, expected, why", [
    ((GPU_B, CPU_C), ["gpu-a"], False, "gpu-b", ""),
    ((GPU_B, CPU_C), ["gpu-a", "gpu-b"], False, None, "runs on the CPU"),
    ((GPU_B, CPU_C), ["gpu-a", "gpu-b"], True, "cpu-c", ""),
    ((CPU_C,), ["gpu-a"], False, None, "--allow-cpu"),
    ((), ["gpu-a"], True, None, "no other candidate fits"),
    ((GPU_B,), ["gpu-a", "gpu-b"], True, None, "every fallback candidate failed"),
], ids=["next-gpu", "gpu-to-cpu-refused", "gpu-to-cpu-allowed", "only-cpu-left", "no-fallbacks", "all-tried"])
def test_next_fallback(fallbacks, tried, allow_cpu, expected, why):
    primary = dataclasses.replace(GPU_A, fallbacks=fallbacks)
    chosen, reason = next_fallback(primary, tried, allow_cpu)
    assert (chosen.candidate if chosen else None) == expected
    assert why in reason


def test_cpu_engine_may_fall_back_to_another_cpu_image_without_flag():
    primary = dataclasses.replace(CPU_C, fallbacks=(engine_plan("asr", "cpu-d"),))
    assert next_fallback(primary, ["cpu-c"], False)[0].candidate == "cpu-d"
