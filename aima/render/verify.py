"""Verify results for people: one line per engine, the loop's figures, and for a failure what was sent and seen."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from aima.render import console
from aima.render.console import escape

_FIGURES = (  # key, label, format
    ("asr.real_time_factor", "ASR real-time factor", "{:.2f}"),
    ("llm.ttft_s", "LLM TTFT", "{:.0f} ms"),
    ("llm.tokens_per_s", "LLM", "{:.0f} tok/s"),
    ("tts.audio_s_per_s", "TTS", "{:.1f} s of audio/s"),
)


def figures_line(figures: dict[str, float]) -> str:
    """'ASR real-time factor 0.12 · LLM TTFT 85 ms · LLM 42 tok/s · TTS 12.3 s of audio/s' ('' when none)."""
    parts = []
    for key, label, fmt in _FIGURES:
        if key in figures:
            value = figures[key] * (1000 if key == "llm.ttft_s" else 1)
            parts.append(f"{label} {fmt.format(value)}")
    return " · ".join(parts)


def report(data: dict[str, Any]) -> None:
    """A verify report (Report.as_dict()): a table of engines, the figures, then each failure on stderr."""
    rows = []
    for engine, c in data["engines"].items():
        rows.append([engine, c["result"], c["got"] if c["ok"] else c["reason"], f"{c['elapsed_s']:.2f} s"])
    console.table("verify", ["engine", "result", "answer", "took"], rows)
    line = figures_line(data.get("figures") or {})
    if line:
        console.out(escape(f"loop: {line} ({data['elapsed_s']:.2f} s)"))
    for engine, c in data["engines"].items():
        if c["ok"]:
            continue
        console.error(f"{engine}: {c['result']}: {c['reason']}")
        err = console.rich_console(stderr=True)
        err.print(f"  sent: {escape(c['sent'])}")
        err.print(f"  got: {escape(c['got'] or 'nothing')}")
        if c.get("cause"):
            err.print(f"  likely cause: {escape(c['cause'])}")


def failures(data: dict[str, Any]) -> str:
    """'llm (empty answer), asr (no answer within 30 s)' for the one-line error; a cause's first clause joins it."""
    return ", ".join(f"{e} ({c['reason']}" + (f"; {c['cause'].split(';')[0]}" if c.get("cause") else "") + ")"
                     for e, c in data["engines"].items() if not c["ok"])


def last_result(data: dict[str, Any] | None, now: datetime | None = None) -> str:
    """The status line for a stored verify result: 'last verify: passed 5 min ago (2026-…): figures'."""
    if data is None:
        return "last verify: never (`aima verify` runs it)"
    when = data.get("at", "?")
    try:
        age = ((now or datetime.now(timezone.utc)) - datetime.fromisoformat(when)).total_seconds()
        ago = f"{age / 60:.0f} min ago" if age < 5400 else f"{age / 3600:.1f} h ago"
    except (TypeError, ValueError):
        ago = "at an unknown time"
    if data.get("ok"):
        line = figures_line(data.get("figures") or {})
        return f"last verify: passed {ago} ({when})" + (f": {line}" if line else "")
    return f"last verify: FAILED {ago} ({when}): {failures(data)}"
