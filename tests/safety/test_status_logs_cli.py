"""`aima logs` with an engine aima does not have, and the status decisions, without a daemon."""

from __future__ import annotations

from aima.launch.status import EngineStatus, stack_problems
from aima.render.launch import status_dict
from tests.e2e.upkit import aima


def _row(engine, container, state="running", health="ok"):
    return EngineStatus(engine, container, "c", "img", state, health, "http://127.0.0.1:1", None)


def test_logs_names_an_unknown_engine_and_the_known_ones(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nothing.sock")  # refused before any daemon is asked
    result = aima("logs", "whisper")
    assert result.rc == 2
    assert "error: unknown engine 'whisper': aima's engines are asr, llm, tts" in result.err


def test_status_problems_name_missing_stopped_and_unhealthy_engines():
    rows = [_row("llm", "aima-s-llm", health="HTTP 503 loading"), _row("tts", "aima-s-tts", state="exited"),
            _row("llm", "copy", health="ok")]
    assert stack_problems(rows, ["asr", "llm", "tts"]) == [
        "asr: no container", "llm (aima-s-llm): not healthy: HTTP 503 loading", "tts (aima-s-tts): exited"]
    assert stack_problems([_row("llm", "aima-s-llm"), _row("asr", "a", health="-")], ["asr", "llm"]) == []


def test_status_json_keeps_every_container_and_the_old_engine_keys():
    rows = [_row("llm", "aima-s-llm"), _row("llm", "copy")]
    data = status_dict(rows, "s", [])
    assert data["ok"] is True and data["problems"] == []
    assert [c["container"] for c in data["containers"]] == ["aima-s-llm", "copy"]
    assert data["engines"]["llm"]["container"] == "aima-s-llm"
