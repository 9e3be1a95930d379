"""A thin wrapper over rich for the CLI: errors, warnings, tables, JSON, output files; rich is imported on first use.

``rich_console`` is the one place a rich Console is built; every other module of aima.render prints through it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def rich_console(stderr: bool = False, soft_wrap: bool = True) -> Any:
    """The rich Console for stdout (or stderr): no automatic highlighting; long lines wrap softly unless told."""
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=soft_wrap)


def out(message: str = "") -> None:
    """Print rich markup to stdout."""
    rich_console().print(message)


def print_json(data: Any) -> None:
    """Machine output: plain JSON on stdout, no colour, stable key order."""
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False) + "\n")


def error(message: str, hint: str | None = None) -> None:
    """One line on stderr: 'error: ...', then 'Hint: ...' when there is one."""
    from rich.markup import escape

    console = rich_console(stderr=True)
    console.print(f"[bold red]error:[/] {escape(message)}")
    if hint:
        console.print(f"[dim]Hint:[/] {escape(hint)}")


def warning(message: str) -> None:
    """A warning line on stderr."""
    from rich.markup import escape

    rich_console(stderr=True).print(f"[yellow]warning:[/] {escape(message)}")


def table(title: str | None, columns: list[str], rows: list[list[str]]) -> None:
    """A simple table on stdout."""
    from rich.table import Table

    t = Table(title=title, title_justify="left", show_lines=False)
    for column in columns:
        t.add_column(column, overflow="fold")
    for row in rows:
        t.add_row(*row)
    rich_console().print(t)


def write_output(text: str, output: Path | None) -> None:
    """Write text to output, or stdout when output is None."""
    from aima.errors import AimaError

    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise AimaError(f"cannot write {output}: {exc.strerror}") from None
