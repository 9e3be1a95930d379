"""poll_until and one engine's wait, on a fake clock: ready, crash line, exit, timeout, Ctrl-C."""

from __future__ import annotations

import threading

import pytest

from aima.engine.model import Container
from aima.knowledge import load_knowledge
from aima.launch.logwatch import LogWatcher
from aima.launch.wait import (
    CANCELLED,
    CRASHED,
    EXITED,
    READY,
    TIMEOUT,
    ProbeResult,
    Waiting,
    poll_until,
    wait_for_engine,
)

SEED_000 = "CUDA kernel mul_mat_vec has no device code compatible with CUDA arch 520"


class FakeClock:
    """Time that only moves when the code under test sleeps."""

    def __init__(self, now: float = 100.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_poll_until_returns_the_first_answer_without_sleeping_after_it():
    clock, answers = FakeClock(), iter([None, None, "ready"])
    assert poll_until(lambda: next(answers), clock() + 10, clock, clock.sleep, 0.5) == "ready"
    assert clock.sleeps == [0.5, 0.5]


def test_poll_until_times_out_exactly_at_the_deadline():
    clock = FakeClock()
    calls = []
    assert poll_until(lambda: calls.append(clock()) and None, clock() + 1.2, clock, clock.sleep, 0.5) is None
    assert clock.sleeps == [0.5, 0.5, pytest.approx(0.2)]  # the last sleep is cut to the deadline
    assert calls[-1] == pytest.approx(101.2)  # one last check at the deadline itself


def test_poll_until_with_a_past_deadline_checks_once():
    clock, calls = FakeClock(), []
    assert poll_until(lambda: calls.append(1), clock() - 1, clock, clock.sleep) is None
    assert calls == [1] and clock.sleeps == []


class Docker:
    def __init__(self, state: str = "running", exit_code: int | None = None, oom_killed: bool = False) -> None:
        self.current = Container("cid", "c", {}, state, exit_code, oom_killed=oom_killed)

    def inspect(self, container_id):
        return self.current


def waiting(watcher, probe, clock, timeout=5.0, interval=0.5):
    return Waiting("cid", probe, watcher, clock() + timeout, interval, f"startup allowance {timeout:g} s")


def test_ready_when_the_probe_passes():
    clock, kb = FakeClock(), load_knowledge()
    answers = iter([ProbeResult(False, "HTTP 503"), ProbeResult(True, "HTTP 200")])
    watcher = LogWatcher(kb, "asr", wake=_SleepingEvent(clock))
    outcome = wait_for_engine(Docker(), waiting(watcher, lambda: next(answers), clock), clock, threading.Event())
    assert outcome.kind == READY and outcome.waited_s == pytest.approx(0.5)


def test_timeout_names_the_last_probe_and_keeps_the_log_tail():
    clock, kb = FakeClock(), load_knowledge()
    watcher = LogWatcher(kb, "llm", wake=_SleepingEvent(clock))
    for n in range(30):
        watcher.line(f"loading shard {n}")
    outcome = wait_for_engine(Docker(), waiting(watcher, lambda: ProbeResult(False, "HTTP 503 Loading model"), clock,
                                                timeout=3), clock, threading.Event())
    assert outcome.kind == TIMEOUT and outcome.waited_s == pytest.approx(3)
    assert outcome.detail == "not ready after 3.0 s (startup allowance 3 s); last probe: HTTP 503 Loading model"
    assert outcome.tail[-1] == "loading shard 29" and len(outcome.tail) == 20


def test_seed_000_line_ends_the_wait_with_its_diagnosis():
    clock, kb = FakeClock(), load_knowledge()
    watcher = LogWatcher(kb, "asr", clock=lambda: 1767323046.0, wake=_SleepingEvent(clock))
    watcher.feed(b"2026-01-02T03:04:05.500000000Z whisper_init: loading model\n"
                 b"2026-01-02T03:04:05.750000000Z " + SEED_000.encode() + b"\n")
    outcome = wait_for_engine(Docker(), waiting(watcher, lambda: ProbeResult(False, "x"), clock), clock,
                              threading.Event())
    assert outcome.kind == CRASHED and outcome.waited_s == 0
    assert outcome.diagnosis.signature_id == "ggml-no-device-code-for-arch" and outcome.diagnosis.fallback
    assert outcome.latency_s == pytest.approx(0.25)


def test_exit_without_a_known_line_reports_the_exit_code():
    clock, kb = FakeClock(), load_knowledge()
    watcher = LogWatcher(kb, "tts", wake=_SleepingEvent(clock))
    watcher.line("Segmentation fault")
    watcher.finish()
    outcome = wait_for_engine(Docker("exited", 139), waiting(watcher, lambda: ProbeResult(False, ""),
                                                                             clock), clock, threading.Event())
    assert outcome.kind == EXITED and outcome.exit_code == 139 and "exited with code 139" in outcome.detail
    assert outcome.tail == ("Segmentation fault",)


def test_oom_kill_is_named():
    clock, kb = FakeClock(), load_knowledge()
    watcher = LogWatcher(kb, "llm", wake=_SleepingEvent(clock))
    watcher.finish()
    outcome = wait_for_engine(Docker("exited", 137, oom_killed=True),
                              waiting(watcher, lambda: ProbeResult(False, ""), clock), clock, threading.Event())
    assert "out of memory" in outcome.detail


def test_cancel_ends_the_wait():
    clock, kb = FakeClock(), load_knowledge()
    cancel = threading.Event()
    cancel.set()
    watcher = LogWatcher(kb, "asr", wake=_SleepingEvent(clock))
    outcome = wait_for_engine(Docker(), waiting(watcher, lambda: ProbeResult(False, ""), clock), clock, cancel)
    assert outcome.kind == CANCELLED


def test_a_crash_line_wakes_a_sleeping_wait_at_once():
    """Real threads and clock: the wait sleeps in 10 s steps, yet the diagnosis comes within milliseconds."""
    import time

    kb = load_knowledge()
    watcher = LogWatcher(kb, "asr")
    w = Waiting("cid", lambda: ProbeResult(False, "503"), watcher, time.monotonic() + 30, 10.0, "30 s")
    threading.Timer(0.2, lambda: watcher.line(SEED_000)).start()
    started = time.monotonic()
    outcome = wait_for_engine(Docker(), w, time.monotonic, threading.Event())
    assert outcome.kind == CRASHED
    assert time.monotonic() - started < 1.0


class _SleepingEvent(threading.Event):
    """A wake event whose wait advances the fake clock instead of blocking."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__()
        self.clock = clock

    def wait(self, timeout=None):
        if self.is_set():
            return True
        self.clock.sleep(timeout or 0)
        return False
