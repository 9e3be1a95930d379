"""`aima pull` progress three ways: a rich bar per file on a terminal, plain lines otherwise, JSON events (--json)."""

from __future__ import annotations

import json
import sys
import time
from typing import Any, TextIO


def _size(n: int) -> str:
    if n < 2**20:  # a folder model's config and tokenizer files: "0.0 MiB" said nothing
        return f"{n} B" if n < 2**10 else f"{n / 2**10:.1f} KiB"
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


class JsonReporter:
    """One JSON object per line: begin, start, progress (at most twice a second per file), done, note."""

    def __init__(self, stream: TextIO | None = None, interval_s: float = 0.5) -> None:
        self.stream = stream or sys.stdout
        self.interval_s = interval_s
        self._have: dict[str, int] = {}
        self._total: dict[str, int] = {}
        self._last: dict[str, float] = {}

    def _emit(self, **event: Any) -> None:
        self.stream.write(json.dumps(event) + "\n")
        self.stream.flush()

    def begin(self, files: int, to_fetch: int) -> None:
        self._emit(event="begin", files=files, bytes_to_fetch=to_fetch)

    def start(self, label: str, total: int, have: int) -> None:
        self._have[label], self._total[label], self._last[label] = have, total, 0.0
        self._emit(event="start", file=label, size=total, have=have)

    def advance(self, label: str, nbytes: int) -> None:
        self._have[label] = self._have.get(label, 0) + nbytes
        now = time.monotonic()
        if now - self._last.get(label, 0.0) >= self.interval_s:
            self._last[label] = now
            self._emit(event="progress", file=label, have=self._have[label], size=self._total.get(label))

    def done(self, label: str, outcome: str, size: int) -> None:
        self._emit(event="done", file=label, outcome=outcome, size=size)

    def note(self, message: str) -> None:
        self._emit(event="note", message=message)

    def close(self) -> None:
        return None


class PlainReporter:
    """Lines for logs and pipes: one when a file starts, one every 10 %, one when it is done."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self._have: dict[str, int] = {}
        self._total: dict[str, int] = {}
        self._step: dict[str, int] = {}

    def _line(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def begin(self, files: int, to_fetch: int) -> None:
        self._line(f"models: {files} file(s), {_size(to_fetch)} to download")

    def start(self, label: str, total: int, have: int) -> None:
        self._have[label], self._total[label], self._step[label] = have, total, have * 10 // max(total, 1)
        self._line(f"{label}: " + (f"resuming at {_size(have)} of {_size(total)}" if have else
                                   f"downloading {_size(total)}"))

    def advance(self, label: str, nbytes: int) -> None:
        self._have[label] = self._have.get(label, 0) + nbytes
        total = max(self._total.get(label, 1), 1)
        step = self._have[label] * 10 // total
        if step > self._step.get(label, 0) and step < 10:
            self._step[label] = step
            self._line(f"{label}: {step * 10} % ({_size(self._have[label])} of {_size(total)})")

    def done(self, label: str, outcome: str, size: int) -> None:
        words = {"present": "already present", "linked": "already in the cache (linked)",
                 "downloaded": "downloaded and verified", "resumed": "resumed, downloaded and verified"}
        self._line(f"{label}: {words.get(outcome, outcome)} ({_size(size)})")

    def note(self, message: str) -> None:
        self._line(message)

    def close(self) -> None:
        return None


class RichReporter(PlainReporter):
    """A rich progress bar per file (bytes, rate, ETA); finished and present files as lines above the bars."""

    def __init__(self) -> None:
        super().__init__()
        from rich.console import Console
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

        self._progress = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(binary_units=True),
                                  _rate_column(), TimeRemainingColumn(),
                                  console=Console(stderr=True), transient=False)
        self._tasks: dict[str, Any] = {}
        self._progress.start()

    def _line(self, text: str) -> None:
        from rich.markup import escape

        self._progress.console.print(escape(text))

    def start(self, label: str, total: int, have: int) -> None:
        self._tasks[label] = self._progress.add_task(label, total=total, completed=have)

    def advance(self, label: str, nbytes: int) -> None:
        task = self._tasks.get(label)
        if task is not None:
            self._progress.advance(task, nbytes)

    def done(self, label: str, outcome: str, size: int) -> None:
        task = self._tasks.get(label)
        if task is not None:
            self._progress.update(task, completed=size)
        else:
            super().done(label, outcome, size)

    def close(self) -> None:
        self._progress.stop()


def _rate_column() -> Any:
    """The transfer rate in the units of the sizes beside it (rich's own column says MB/s, decimal, next to MiB)."""
    from rich.progress import ProgressColumn
    from rich.text import Text

    class BinaryRate(ProgressColumn):
        def render(self, task: Any) -> Text:
            speed = task.finished_speed or task.speed
            return Text("?" if speed is None else f"{_size(int(speed))}/s", style="progress.data.speed")

    return BinaryRate()


def reporter_for(json_out: bool) -> Any:
    """JSON events with --json; rich bars on a terminal; plain lines otherwise."""
    if json_out:
        return JsonReporter()
    return RichReporter() if sys.stderr.isatty() else PlainReporter()


def print_models(rows: list[dict]) -> None:
    """`aima plan`'s model section: per engine the files, their source, and what the cache already holds."""
    from aima.render import console
    from aima.render.console import escape  # no rich import on a pipe

    if not rows:
        return
    console.out("[bold]models[/]")
    for row in rows:
        if not row["files"]:
            source = f" from {escape(row['source'])}" if row.get("source") else ""
            console.out(f"  {row['engine']}: {escape(row['model'] or '-')}{source}: {escape(row['note'] or '')}")
            continue
        missing = [f for f in row["files"] if not f["present"]]
        need = sum(f["size"] or 0 for f in missing)
        state = "present" if not missing else f"{len(missing)} of {len(row['files'])} file(s) to pull" + (
            f" ({_size(need)})" if need else "")
        console.out(f"  {row['engine']}: {escape(row['model'])} from {escape(row['source'])}"
                    + (" [gated: needs HF_TOKEN]" if row.get("gated") else "") + f": {state}")
        for f in row["files"]:
            mark = "ok  " if f["present"] else ("part" if f["partial_bytes"] else "miss")
            size = _size(f["size"]) if f["size"] else "size from the server"
            console.out(f"    {mark} {escape(f['path'])} ({size})")
    console.out(f"  cache: {escape(rows[0].get('hub') or next((r['hub'] for r in rows if r.get('hub')), '-'))}")
