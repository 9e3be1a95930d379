"""Readiness: one ``poll_until`` over an injected clock, an HTTP health probe, and the outcome of one engine's wait.

Outcomes are told apart as testcontainers does: ready; crashed (a known fatal log line, with its diagnosis);
exited (the process ended, with its exit code); timed out (with the last probe's answer and the log's tail);
cancelled (Ctrl-C).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from aima.engine.model import Container, ContainerEngine
from aima.knowledge import Diagnosis
from aima.launch.logwatch import LogWatcher
from aima.launch.reach import ProbeResult

T = TypeVar("T")
Clock = Callable[[], float]
Sleep = Callable[[float], None]

READY, CRASHED, EXITED, TIMEOUT, CANCELLED, FAILED = "ready", "crashed", "exited", "timeout", "cancelled", "failed"
STARTING, LOADING = "starting", "loading"  # while waiting: nothing heard yet | the engine logs or answers "not yet"


def poll_until(check: Callable[[], T | None], deadline: float, clock: Clock, sleep: Sleep,
               interval: float = 0.5) -> T | None:
    """Call ``check`` until it answers (anything but None) or ``deadline`` passes on ``clock``; None on timeout."""
    while True:
        answer = check()
        if answer is not None:
            return answer
        left = deadline - clock()
        if left <= 0:
            return None
        sleep(min(interval, left))


class Probe(Protocol):
    """A readiness check of one engine."""

    def __call__(self) -> ProbeResult:
        """Probe once."""


@dataclass(frozen=True)
class Outcome:
    """How one engine's wait ended."""

    kind: str  # ready | crashed | exited | timeout | cancelled | failed
    detail: str  # one line for people
    diagnosis: Diagnosis | None = None
    exit_code: int | None = None
    tail: tuple[str, ...] = ()
    latency_s: float | None = None  # crash line -> diagnosis
    waited_s: float = 0.0

    @property
    def ok(self) -> bool:
        """True when the engine is ready."""
        return self.kind == READY


@dataclass(frozen=True)
class WaitUpdate:
    """Where one engine's wait stands, after every probe and once at its end (final); the displays render it."""

    engine: str
    state: str  # starting | loading while waiting; then the outcome's kind (ready, crashed, exited, timeout, ...)
    waited_s: float
    timeout_s: float  # the engine's whole allowance: its deadline minus the moment the wait began
    detail: str  # what it waits for, in words: the probe and its answer, the log's last line
    probe: str = ""  # the probe's answer in short ("connection refused", "HTTP 503"): displays print on its change
    final: bool = False


Updates = Callable[[WaitUpdate], None]


@dataclass(frozen=True)
class Waiting:
    """Everything one engine's wait needs: where to look, how often, until when, and whom to tell."""

    container_id: str
    probe: Probe
    watcher: LogWatcher
    deadline: float  # on ``clock``; shared by every engine of one `up` (capped by --timeout)
    interval_s: float
    limit: str  # what set the deadline, for the timeout message: "startup allowance 120 s" or "--timeout 30 s"
    engine: str = ""
    updates: Updates | None = None  # told after every probe and at the end (aima.launch.progress.Reporter.waiting)


def wait_for_engine(docker: ContainerEngine, w: Waiting, clock: Clock, cancel: threading.Event,
                    tail_lines: int = 20) -> Outcome:
    """Wait until the engine answers its health check, exits, logs a known fatal line, or the deadline passes."""
    started = clock()
    last = ["no probe yet"]
    tell = w.updates or (lambda update: None)
    allowance = max(0.0, w.deadline - started)

    def check() -> Outcome | None:
        if cancel.is_set():
            return Outcome(CANCELLED, "interrupted", waited_s=clock() - started)
        if w.watcher.diagnosis is not None:
            d = w.watcher.diagnosis
            return Outcome(CRASHED, f"{d.title} (log: {d.line.strip()[:200]})", d, None,
                           tuple(w.watcher.tail(tail_lines)), w.watcher.latency_s, clock() - started)
        if w.watcher.ended:
            state = docker.inspect(w.container_id)
            if state is None or not state.running:
                return _exited(state, w.watcher, tail_lines, clock() - started)
        result = w.probe()
        if result.ok:
            return Outcome(READY, result.seen, waited_s=clock() - started)
        last[0] = result.seen
        phase, detail, answer = waiting_for(result, getattr(w.probe, "url", None), w.watcher.tail(1))
        tell(WaitUpdate(w.engine, phase, clock() - started, allowance, detail, answer))
        return None

    def sleep(seconds: float) -> None:
        # Woken early by a fatal log line, the end of the log, or Ctrl-C: that is what keeps diagnosis fast.
        w.watcher.wake.wait(seconds)
        if not (w.watcher.diagnosis or w.watcher.ended or cancel.is_set()):
            w.watcher.wake.clear()

    answer = poll_until(check, w.deadline, clock, sleep, w.interval_s)
    if answer is None:
        waited = clock() - started
        answer = Outcome(TIMEOUT, f"not ready after {waited:.1f} s ({w.limit}); last probe: {last[0]}",
                         w.watcher.best_diagnosis(), None, tuple(w.watcher.tail(tail_lines)), None, waited)
    tell(WaitUpdate(w.engine, answer.kind, answer.waited_s, allowance, answer.detail, final=True))
    return answer


def waiting_for(result: ProbeResult, url: str | None, last_log: list[str]) -> tuple[str, str, str]:
    """(state, what the engine is waiting for in words, the probe's answer in short) after a probe that failed."""
    if result.status is not None:
        answer = f"HTTP {result.status}"
        said = f" {result.body[:60]}" if result.body else ""
        probe = f"GET {url} → {answer}{said}"
    elif url is None:
        answer, probe = "not running yet", "container not running yet"
    else:
        answer = _short_reason(result.body or result.seen)
        probe = f"GET {url} → {answer}"
    log = " ".join(last_log[-1].split())[:120] if last_log and last_log[-1].strip() else ""
    if log or result.status is not None:
        return LOADING, f"model loading (log: {log}); {probe}" if log else f"model loading; {probe}", answer
    return STARTING, f"container starting; {probe}", answer


def _short_reason(reason: str) -> str:
    """'[Errno 111] Connection refused' -> 'connection refused'; timeouts and resets in the same words."""
    low = reason.lower()
    for words in ("connection refused", "connection reset", "timed out", "no route to host", "server disconnected"):
        if words in low:
            return words
    return " ".join(reason.split())[:80] or "no answer"


def _exited(state: Container | None, watcher: LogWatcher, tail_lines: int, waited: float) -> Outcome:
    if state is None:
        return Outcome(EXITED, "the container disappeared (removed by someone else?)", waited_s=waited)
    why = "killed: out of memory (the container's memory limit)" if state.oom_killed else \
        f"exited with code {state.exit_code}" + _signal(state.exit_code)
    # A process killed by SIGILL prints nothing: the exit code alone says what happened.
    diagnosis = watcher.best_diagnosis() or watcher.knowledge.match_exit(state.exit_code, watcher.engine)
    if diagnosis is not None:
        why += f": {diagnosis.title}"
    if state.error:
        why += f" ({state.error})"
    return Outcome(EXITED, why, diagnosis, state.exit_code, tuple(watcher.tail(tail_lines)), waited_s=waited)


def _signal(exit_code: int | None) -> str:
    """' (killed by SIGKILL)' for a shell-style exit code above 128, else ''."""
    try:
        return f" (killed by {signal.Signals(exit_code - 128).name})" if exit_code and exit_code > 128 else ""
    except ValueError:
        return ""
