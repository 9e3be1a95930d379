"""Follow a starting container's log and stop the wait the moment a line matches a known fatal failure."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator

from aima.engine.model import ContainerEngine, docker_time
from aima.knowledge import ENGINES, Diagnosis, KnowledgeBase

KEEP_LINES = 400  # enough for a Python traceback above a wrapper line


def split_timestamp(line: str) -> tuple[float | None, str]:
    """Docker's `timestamps=True` prefix ('2026-01-02T03:04:05.123456789Z text') -> (epoch seconds, text)."""
    stamp, sep, text = line.partition(" ")
    when = docker_time(stamp) if sep else None
    return (None, line) if when is None else (when, text)


class LogWatcher:
    """Reads one container's log lines (in a daemon thread or fed directly) and diagnoses fatal ones."""

    def __init__(self, knowledge: KnowledgeBase, engine: str, *, clock: Callable[[], float] = time.time,
                 wake: threading.Event | None = None) -> None:
        self.knowledge = knowledge
        self.engine = engine if engine in ENGINES else None
        self.clock = clock  # wall clock, comparable with Docker's log timestamps
        self.wake = wake or threading.Event()  # set on a fatal line or the end of the log: the waiter looks at once
        self.lines: deque[str] = deque(maxlen=KEEP_LINES)
        self.diagnosis: Diagnosis | None = None
        self.latency_s: float | None = None  # from the fatal line's Docker timestamp to its diagnosis
        self.ended = False
        self._partial = b""
        self._stream: Iterator[bytes] | None = None
        self._lock = threading.Lock()

    def feed(self, chunk: bytes) -> None:
        """Take a chunk of log output; complete lines are checked against the knowledge base."""
        data = self._partial + chunk
        *complete, self._partial = data.split(b"\n")
        for raw in complete:
            self.line(raw.decode("utf-8", "replace").rstrip("\r"))

    def line(self, raw: str) -> None:
        """Take one log line (with or without Docker's timestamp prefix)."""
        stamp, text = split_timestamp(raw)
        with self._lock:
            self.lines.append(text)
            if self.diagnosis is not None:
                return
            found = self.knowledge.match_line(text, self.engine)
            if found is None or not found.fatal:
                return
            # A wrapper line ("see root cause above") yields to a specific cause already printed.
            self.diagnosis = self.knowledge.first(list(self.lines), self.engine) or found
            if stamp is not None:
                self.latency_s = max(0.0, self.clock() - stamp)
        self.wake.set()

    def finish(self) -> None:
        """The log ended (the container stopped, or the stream broke)."""
        if self._partial:
            rest, self._partial = self._partial, b""
            self.line(rest.decode("utf-8", "replace").rstrip("\r"))
        self.ended = True
        self.wake.set()

    def tail(self, count: int = 20) -> list[str]:
        """The last lines seen."""
        with self._lock:
            return list(self.lines)[-count:]

    def best_diagnosis(self) -> Diagnosis | None:
        """The most telling diagnosis of everything seen so far (fatal or warning)."""
        with self._lock:
            return self.diagnosis or self.knowledge.first(list(self.lines), self.engine)

    def follow(self, docker: ContainerEngine, container_id: str, *, since: float | None = None,
               tail: int | None = None) -> threading.Thread:
        """Start a daemon thread that follows the container's log until it ends or ``stop`` is called."""

        def run() -> None:
            try:
                self._stream = stream = docker.logs(container_id, follow=True, timestamps=True, since=since,
                                                    tail=tail)
                self._consume(stream)
            except Exception:  # noqa: BLE001 - a broken stream only ends the watch; the waiter checks the state
                pass
            finally:
                self.finish()

        thread = threading.Thread(target=run, name=f"aima-logs-{self.engine}", daemon=True)
        thread.start()
        self._docker = docker
        return thread

    def _consume(self, stream: Iterable[bytes]) -> None:
        for chunk in stream:
            self.feed(chunk)

    def stop(self) -> None:
        """Close the followed stream, ending the thread."""
        if self._stream is not None:
            self._docker.close_logs(self._stream)
