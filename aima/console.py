"""A thin wrapper over rich for the CLI: errors, warnings, tables, JSON; rich is imported on first use."""

from __future__ import annotations

import json
import sys
from typing import Any


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def out(message: str = "") -> None:
    """Print rich markup to stdout."""
    _console().print(message)


def print_json(data: Any) -> None:
    """Machine output: plain JSON on stdout, no colour, stable key order."""
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False) + "\n")


def error(message: str, hint: str | None = None) -> None:
    """One line on stderr: 'error: ...', then 'Hint: ...' when there is one."""
    from rich.markup import escape

    console = _console(stderr=True)
    console.print(f"[bold red]error:[/] {escape(message)}")
    if hint:
        console.print(f"[dim]Hint:[/] {escape(hint)}")


def warning(message: str) -> None:
    """A warning line on stderr."""
    from rich.markup import escape

    _console(stderr=True).print(f"[yellow]warning:[/] {escape(message)}")


def table(title: str | None, columns: list[str], rows: list[list[str]]) -> None:
    """A simple table on stdout."""
    from rich.table import Table

    t = Table(title=title, title_justify="left", show_lines=False)
    for column in columns:
        t.add_column(column, overflow="fold")
    for row in rows:
        t.add_row(*row)
    _console().print(t)
