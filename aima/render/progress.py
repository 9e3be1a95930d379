"""What `up` tells people while it works: a line per step, pull progress per layer, and per engine what its wait is
waiting for — a live table on a terminal, plain lines in logs, JSON events with --json (docs/launch.md).

Implements aima.launch.progress.Reporter; the executor itself never prints.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

from aima.engine.model import PullEvents
from aima.launch.images import PullDisplay
from aima.launch.progress import QuietReporter
from aima.launch.wait import WaitUpdate
from aima.render.console import escape, rich_console

_DONE = ("Pull complete", "Download complete")
EVERY_S = 10.0  # plain lines and JSON events: on a change of state or probe answer, else this often per engine
NEWS_S = 2.0  # ... and on other news in the detail (a new log line), at most this often per engine


class ConsoleReporter:
    """Prints progress on stderr with rich, so stdout stays for endpoints and JSON."""

    def __init__(self) -> None:
        self.console = rich_console(stderr=True)
        self._waits: WaitTable | WaitLines | None = None
        self._waits_lock = threading.Lock()  # engines report from their own threads

    def say(self, message: str) -> None:
        """Print one line."""
        self.console.print(message)

    def warn(self, message: str) -> None:
        """Print a warning."""
        self.console.print(f"[yellow]warning:[/] {escape(message)}")

    def pulls(self) -> PullDisplay:
        """Per-layer bars on a terminal; one line per image elsewhere (CI logs), or while the wait table is live."""
        live_waits = isinstance(self._waits, WaitTable) and self._waits.live is not None
        return RichPulls(self.console, live=not live_waits)

    def waiting(self, update: WaitUpdate) -> None:
        """A live table on a terminal, else plain lines on a change or every 10 s."""
        with self._waits_lock:
            if self._waits is None:
                self._waits = WaitTable(self.console) if self.console.is_terminal else \
                    WaitLines(lambda line: self.console.print(escape(line)))
            waits = self._waits
        waits.update(update)

    def waits_done(self) -> None:
        """Stop the live table (its last state stays on the screen)."""
        with self._waits_lock:
            waits, self._waits = self._waits, None
        if waits is not None:
            waits.close()


class JsonReporter(QuietReporter):
    """`up --json`: stdout keeps the one result document (the lines and warnings are kept, as QuietReporter
    keeps them, with no pull display); each engine's wait goes to stderr as JSON events."""

    def __init__(self, stream: TextIO | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._lines = WaitLines(self._write, clock, as_json=True)
        self._stream = stream

    def _write(self, line: str) -> None:
        stream = self._stream or sys.stderr
        stream.write(line + "\n")
        stream.flush()

    def waiting(self, update: WaitUpdate) -> None:
        """One JSON object per line, on a change or every 10 s, and one at the end of each wait."""
        self._lines.update(update)


def wait_event(u: WaitUpdate) -> dict:
    """One wait as a JSON event: {"event": "wait", engine, state, waited_s, timeout_s, detail, final}."""
    return {"event": "wait", "engine": u.engine, "state": u.state, "waited_s": round(u.waited_s, 1),
            "timeout_s": round(u.timeout_s, 1), "detail": u.detail, "final": u.final}


def wait_line(u: WaitUpdate) -> str:
    """One wait as a plain line: 'llm: waiting 12 s of 900 s: model loading (log: ...); GET ... → HTTP 503'."""
    if u.final:
        return f"{u.engine}: {u.state} after {u.waited_s:.1f} s"
    return f"{u.engine}: waiting {u.waited_s:.0f} s of {u.timeout_s:.0f} s: {u.detail}"


class WaitLines:
    """Lines (or JSON events) for logs: per engine one when its state or probe answer changes, one when the detail
    has other news (the engine logged a new line) at most every 2 s, else one every 10 s."""

    def __init__(self, write: Callable[[str], None], clock: Callable[[], float] = time.monotonic,
                 as_json: bool = False, every_s: float = EVERY_S, news_s: float = NEWS_S) -> None:
        self.write, self.clock, self.as_json, self.every_s, self.news_s = write, clock, as_json, every_s, news_s
        self._last: dict[str, tuple[tuple[str, str], str, float]] = {}  # engine -> (state and answer, detail, when)
        self._lock = threading.Lock()

    def update(self, u: WaitUpdate) -> None:
        """Write the update when it says something new, or when the engine has been quiet for every_s."""
        from aima.textsafe import printable

        key, now = (u.state, u.probe), self.clock()
        with self._lock:
            last = self._last.get(u.engine)
            if not (u.final or last is None or last[0] != key or now - last[2] >= self.every_s
                    or (last[1] != u.detail and now - last[2] >= self.news_s)):
                return
            self._last[u.engine] = (key, u.detail, now)
            if u.final:
                self._last.pop(u.engine)  # a fallback's new wait starts afresh
            self.write(json.dumps(wait_event(u)) if self.as_json else printable(wait_line(u), newlines=False))

    def close(self) -> None:
        """Nothing to close."""


class WaitTable:
    """A live table on a terminal: engine, state, what it waits for, seconds waited of its allowance."""

    def __init__(self, console: Any, clock: Callable[[], float] = time.monotonic) -> None:
        self.console, self.clock = console, clock
        self._rows: dict[str, tuple[WaitUpdate, float]] = {}  # engine -> (last update, when it came)
        self._lock = threading.Lock()  # the rows
        self._start_lock = threading.Lock()  # starting and stopping the live display
        self.live: Any = None

    def update(self, u: WaitUpdate) -> None:
        """Keep the engine's latest state; the table redraws itself a few times a second."""
        from rich.live import Live

        with self._lock:
            self._rows[u.engine] = (u, self.clock())
        # Never under self._lock: Live() and start() draw, and drawing (render) takes self._lock.
        with self._start_lock:
            if self.live is None:
                live = Live(console=self.console, refresh_per_second=4, transient=False, get_renderable=self.render)
                live.start()
                self.live = live

    def render(self) -> Any:
        """The table now; a waiting engine's seconds run on between its updates."""
        from rich.table import Table
        from rich.text import Text

        from aima.textsafe import printable

        table = Table(title="waiting for the engines", title_justify="left", expand=False)
        for column in ("engine", "state", "waiting for", "waited", "timeout"):
            table.add_column(column, overflow="fold" if column == "waiting for" else "ellipsis",
                             no_wrap=column != "waiting for")
        now = self.clock()
        with self._lock:
            rows = sorted(self._rows.items())
        for engine, (u, when) in rows:
            waited = u.waited_s if u.final else u.waited_s + (now - when)
            style = "green" if u.state == "ready" else "red" if u.final else ""
            table.add_row(Text(engine), Text(u.state, style=style),
                          Text(printable(u.detail if not u.final or u.state != "ready" else "", newlines=False)),
                          Text(f"{waited:.0f} s"), Text(f"{u.timeout_s:.0f} s"))
        return table

    def close(self) -> None:
        """Stop redrawing; the last table stays."""
        with self._start_lock:
            live, self.live = self.live, None
            if live is not None:
                live.stop()


class RichPulls:
    """Per-layer progress from the SDK's streamed pull status (Downloading/Extracting current/total)."""

    def __init__(self, console: Any, live: bool = True) -> None:
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

        self.console = console
        self.live = live and console.is_terminal  # not while another live display (the wait table) runs
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                                 console=console, transient=False)
        self._tasks: dict[tuple[str, str], Any] = {}
        self._open = 0
        self._lock = threading.Lock()

    def events(self, image: str) -> PullEvents:
        """The callback for one image's events."""
        with self._lock:
            if self._open == 0 and self.live:
                self.progress.start()
            self._open += 1
        if not self.live:
            self.console.print(f"pulling {image} …")
        return lambda event: self._event(image, event)

    def _event(self, image: str, event: dict) -> None:
        layer = event.get("id")
        status = str(event.get("status", ""))
        if not layer or status.startswith("Pulling from"):
            return
        detail = event.get("progressDetail") or {}
        with self._lock:
            key = (image, layer)
            if key not in self._tasks:
                self._tasks[key] = self.progress.add_task(f"{_short(image)} {layer}", total=None)
            task = self._tasks[key]
        if status == "Downloading" and detail.get("total"):
            self.progress.update(task, description=f"{_short(image)} {layer} downloading",
                                 completed=detail.get("current", 0), total=detail["total"])
        elif status == "Extracting" and detail.get("total"):
            self.progress.update(task, description=f"{_short(image)} {layer} extracting",
                                 completed=detail.get("current", 0), total=detail["total"])
        elif status == "Already exists":
            self.progress.update(task, visible=False)  # cached: nothing to download, nothing to show
        elif status in _DONE:
            total = self.progress.tasks[task].total or 1
            self.progress.update(task, description=f"{_short(image)} {layer} {status.lower()}", total=total,
                                 completed=total)
        else:
            self.progress.update(task, description=f"{_short(image)} {layer} {status.lower()}")

    def done(self, image: str, ok: bool) -> None:
        """One image finished: stop the display after the last one."""
        with self._lock:
            self._open -= 1
            last = self._open == 0
        layers = sum(1 for (i, _), task in self._tasks.items() if i == image and self._visible(task))
        if ok:  # also on a terminal: a pull whose layers were all cached shows no bar at all
            self.console.print(f"pulled {image} ({layers} layer{'' if layers == 1 else 's'} downloaded)")
        if last and self.live:
            self.progress.stop()


    def _visible(self, task: Any) -> bool:
        return next((t.visible for t in self.progress.tasks if t.id == task), False)


def _short(image: str, width: int = 40) -> str:
    return image if len(image) <= width else "…" + image[-(width - 1):]
