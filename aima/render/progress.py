"""What `up` tells people while it works: a line per step, and pull progress per layer (rich).

Implements aima.launch.progress.Reporter; the executor itself never prints.
"""

from __future__ import annotations

import threading
from typing import Any

from aima.engine.model import PullEvents
from aima.launch.images import PullDisplay
from aima.render.console import escape, rich_console

_DONE = ("Pull complete", "Download complete")


class ConsoleReporter:
    """Prints progress on stderr with rich, so stdout stays for endpoints and JSON."""

    def __init__(self) -> None:
        self.console = rich_console(stderr=True)

    def say(self, message: str) -> None:
        """Print one line."""
        self.console.print(message)

    def warn(self, message: str) -> None:
        """Print a warning."""
        self.console.print(f"[yellow]warning:[/] {escape(message)}")

    def pulls(self) -> PullDisplay:
        """Per-layer bars on a terminal; one line per image elsewhere (CI logs)."""
        return RichPulls(self.console)


class RichPulls:
    """Per-layer progress from the SDK's streamed pull status (Downloading/Extracting current/total)."""

    def __init__(self, console: Any) -> None:
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

        self.console = console
        self.live = console.is_terminal
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
