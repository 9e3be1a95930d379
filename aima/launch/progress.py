"""How `up` reports progress: the Reporter Protocol the executor talks to, and a silent one (tests).

The executor never prints; aima.render.progress holds the reporters that draw lines, pull bars and the live
table of waits (terminal), plain lines (logs), or JSON events (--json).
"""

from __future__ import annotations

from typing import Protocol

from aima.engine.model import PullEvents
from aima.launch.images import PullDisplay
from aima.launch.wait import WaitUpdate


class Reporter(Protocol):
    """Where `up` reports progress; the executor never prints by itself."""

    def say(self, message: str) -> None:
        """One line of progress (rich markup allowed)."""

    def warn(self, message: str) -> None:
        """A warning."""

    def pulls(self) -> PullDisplay:
        """The display for the pulls about to start."""

    def waiting(self, update: WaitUpdate) -> None:
        """Where one engine's wait stands (called from its thread after every probe, and at its end)."""

    def waits_done(self) -> None:
        """Every engine's wait is over: close a live display."""


class QuietPulls:
    """Pulls without display (--json, tests)."""

    def events(self, image: str) -> PullEvents:
        """Ignore the events."""
        return lambda event: None

    def done(self, image: str, ok: bool) -> None:
        """Nothing to close."""


class QuietReporter:
    """Collects messages instead of printing them (--json output, tests)."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def say(self, message: str) -> None:
        """Keep the line."""
        self.messages.append(message)

    def warn(self, message: str) -> None:
        """Keep the warning."""
        self.messages.append(f"warning: {message}")

    def pulls(self) -> PullDisplay:
        """A silent pull display."""
        return QuietPulls()

    def waiting(self, update: WaitUpdate) -> None:
        """Keep only how each wait ended."""
        if update.final:
            self.messages.append(f"{update.engine}: {update.state} after {update.waited_s:.1f} s")

    def waits_done(self) -> None:
        """Nothing to close."""
