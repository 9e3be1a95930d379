"""While `up` waits: what each engine waits for (state, detail), told as a live table, plain lines or JSON events."""

from __future__ import annotations

import io
import json
import threading

import pytest

from aima.knowledge import load_knowledge
from aima.launch.logwatch import LogWatcher
from aima.launch.reach import ProbeResult
from aima.launch.wait import LOADING, READY, STARTING, TIMEOUT, Waiting, WaitUpdate, wait_for_engine, waiting_for
from aima.render.progress import JsonReporter, WaitLines, WaitTable, wait_line
from tests.launch.test_wait import Docker, FakeClock, _SleepingEvent

URL = "http://127.0.0.1:8000/health"
REFUSED = ProbeResult(False, f"ConnectError from {URL}", None, "[Errno 111] Connection refused")
LOADING_503 = ProbeResult(False, "HTTP 503 {\"status\":\"loading\"}", 503, "{\"status\":\"loading\"}")


@pytest.mark.parametrize("result, url, log, state, detail", [
    (REFUSED, URL, [], STARTING, f"container starting; GET {URL} → connection refused"),
    (REFUSED, URL, ["INFO Loading safetensors checkpoint shards:  40% 2/5"], LOADING,
     f"model loading (log: INFO Loading safetensors checkpoint shards: 40% 2/5); GET {URL} → connection refused"),
    (LOADING_503, URL, [], LOADING, f"model loading; GET {URL} → HTTP 503 {{\"status\":\"loading\"}}"),
    (ProbeResult(False, "ReadTimeout from x", None, "timed out"), URL, [], STARTING,
     f"container starting; GET {URL} → timed out"),
    (ProbeResult(False, "container state"), None, [], STARTING, "container starting; container not running yet"),
], ids=["refused", "refused-logging", "503", "timeout", "no-endpoint"])
def test_what_an_engine_waits_for_in_words(result, url, log, state, detail):
    assert waiting_for(result, url, log)[:2] == (state, detail)


def test_the_wait_tells_every_probe_and_its_end():
    clock, updates = FakeClock(), []
    watcher = LogWatcher(load_knowledge(), "llm", wake=_SleepingEvent(clock))
    answers = iter([REFUSED, REFUSED, LOADING_503, ProbeResult(True, "HTTP 200")])

    class Probe:
        url = URL

        def __call__(self):
            return next(answers)

    w = Waiting("cid", Probe(), watcher, clock() + 900, 0.5, "startup allowance 900 s", "llm", updates.append)
    outcome = wait_for_engine(Docker(), w, clock, threading.Event())
    assert outcome.kind == READY
    assert [(u.state, u.waited_s, u.final) for u in updates] == [
        (STARTING, 0.0, False), (STARTING, 0.5, False), (LOADING, 1.0, False), (READY, 1.5, True)]
    assert {u.engine for u in updates} == {"llm"} and {u.timeout_s for u in updates} == {900}


def test_a_timed_out_wait_ends_with_a_final_timeout_update():
    clock, updates = FakeClock(), []
    watcher = LogWatcher(load_knowledge(), "asr", wake=_SleepingEvent(clock))
    w = Waiting("cid", lambda: REFUSED, watcher, clock() + 2, 0.5, "--timeout 2 s", "asr", updates.append)
    wait_for_engine(Docker(), w, clock, threading.Event())
    assert updates[-1].final and updates[-1].state == TIMEOUT and updates[-1].waited_s == pytest.approx(2)


def _update(state=LOADING, waited=3.0, probe="HTTP 503", final=False, engine="llm", detail="model loading; GET x"):
    return WaitUpdate(engine, state, waited, 900, detail, probe, final)


def test_plain_lines_come_on_a_change_or_every_ten_seconds_not_on_every_probe():
    clock, lines = FakeClock(0), []
    out = WaitLines(lines.append, clock)
    for second in range(25):  # a probe every second, the same answer
        clock.now = second
        out.update(_update(waited=second))
    assert lines == ["llm: waiting 0 s of 900 s: model loading; GET x", "llm: waiting 10 s of 900 s: model loading; "
                     "GET x", "llm: waiting 20 s of 900 s: model loading; GET x"]
    clock.now = 21
    out.update(_update(waited=21, probe="connection refused"))  # the answer changed: said at once
    out.update(_update(READY, 22, final=True))
    assert lines[3:] == ["llm: waiting 21 s of 900 s: model loading; GET x", "llm: ready after 22.0 s"]


def test_a_new_log_line_is_said_within_two_seconds_but_not_on_every_probe():
    clock, lines = FakeClock(0), []
    out = WaitLines(lines.append, clock)
    for tenth in range(40):  # a probe every 0.1 s, the same answer; the engine logs a new line on each
        clock.now = tenth / 10
        out.update(_update(waited=clock.now, detail=f"model loading (log: step {tenth}); GET x"))
    assert [line.split("(log: ")[1].split(")")[0] for line in lines] == ["step 0", "step 20"]
    clock.now = 4.1
    out.update(_update(waited=4.1, detail="model loading (log: step 20); GET x"))  # nothing new: quiet
    assert len(lines) == 2


def test_each_engine_is_throttled_on_its_own():
    clock, lines = FakeClock(0), []
    out = WaitLines(lines.append, clock)
    out.update(_update(engine="asr"))
    out.update(_update(engine="llm"))
    out.update(_update(engine="asr"))
    assert [line.split(":")[0] for line in lines] == ["asr", "llm"]


def test_json_events_are_one_object_per_line_on_their_own_stream():
    clock, stream = FakeClock(0), io.StringIO()
    reporter = JsonReporter(stream, clock)
    reporter.waiting(_update(STARTING, 0, "connection refused", detail="container starting; GET x → refused"))
    reporter.waiting(_update(STARTING, 0.5, "connection refused"))  # same state and answer: not repeated
    reporter.waiting(_update(READY, 4.25, final=True, detail="HTTP 200"))
    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert events == [
        {"event": "wait", "engine": "llm", "state": "starting", "waited_s": 0.0, "timeout_s": 900.0,
         "detail": "container starting; GET x → refused", "final": False},
        {"event": "wait", "engine": "llm", "state": "ready", "waited_s": 4.2, "timeout_s": 900.0,
         "detail": "HTTP 200", "final": True}]


def test_the_live_table_shows_engine_state_what_it_waits_for_and_seconds():
    from rich.console import Console

    clock = FakeClock(0)
    console = Console(file=io.StringIO(), width=160, force_terminal=False, record=True)
    table = WaitTable(console, clock)
    table._rows = {"llm": (_update(waited=12, detail="model loading (log: \x1b[2Jshard 2/5); GET x → HTTP 503"), 0.0),
                   "asr": (_update(READY, 3.2, final=True, engine="asr", detail="HTTP 200"), 0.0)}
    clock.now = 5  # the waiting engine's seconds run on between updates
    console.print(table.render())
    text = console.export_text()
    assert "waiting for the engines" in text
    llm = next(line for line in text.splitlines() if "llm" in line)
    assert "loading" in llm and "model loading (log: \\x1b[2Jshard 2/5)" in llm and "17 s" in llm and "900 s" in llm
    asr = next(line for line in text.splitlines() if "asr" in line)
    assert "ready" in asr and "3 s" in asr


def test_a_line_never_carries_a_control_character():
    lines = []
    WaitLines(lines.append).update(_update(detail="model loading (log: \x1b]0;x\x07evil\nnext)"))
    assert "\x1b" not in lines[0] and "\n" not in lines[0]


def test_wait_line_words():
    assert wait_line(_update(TIMEOUT, 900, final=True)) == "llm: timeout after 900.0 s"


def test_the_live_table_takes_updates_from_engine_threads_without_deadlock():
    # Live() draws as it is made, and drawing takes the table's lock: it once hung `up` on a terminal.
    from rich.console import Console

    out = io.StringIO()
    table = WaitTable(Console(file=out, width=120, force_terminal=True))

    def engine(name):
        for i in range(30):
            table.update(_update(engine=name, waited=i * 0.01, probe=f"HTTP 503 {i}"))
        table.update(_update(READY, 1.0, final=True, engine=name))

    threads = [threading.Thread(target=engine, args=(n,), daemon=True) for n in ("asr", "llm", "tts")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert not any(t.is_alive() for t in threads), "an engine thread hangs in the live table"
    table.close()
    assert table.live is None and "waiting for the engines" in out.getvalue() and "ready" in out.getvalue()


def test_a_fallback_pull_while_the_live_table_runs_prints_lines_instead_of_a_second_live_display():
    # rich allows one live display at a time: a fallback's pull during the waits must not start another.
    from rich.console import Console

    from aima.render.progress import ConsoleReporter

    reporter = ConsoleReporter()
    out = io.StringIO()
    reporter.console = Console(file=out, width=120, force_terminal=True, highlight=False, color_system=None)
    reporter.waiting(_update(engine="tts"))
    pulls = reporter.pulls()
    events = pulls.events("ghcr.io/x/tts-cpu:1")
    events({"id": "abc", "status": "Downloading", "progressDetail": {"current": 1, "total": 2}})
    pulls.done("ghcr.io/x/tts-cpu:1", True)
    reporter.waiting(_update(READY, 2.0, final=True, engine="tts"))
    reporter.waits_done()
    text = out.getvalue()
    assert "pulling ghcr.io/x/tts-cpu:1" in text and "pulled ghcr.io/x/tts-cpu:1" in text and "ready" in text
