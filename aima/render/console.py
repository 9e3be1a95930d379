"""A thin wrapper over rich for the CLI: errors, warnings, tables, JSON, output files; rich is imported on first use.

``rich_console`` is the one place a rich Console is built; every other module of aima.render prints through it.
Lines of markup meant for a pipe or a file (stdout or stderr not a terminal, no FORCE_COLOR) are written as
plain text without importing rich at all: that is most of what `aima plan | ...` or a CI log would pay for it.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Collection
from pathlib import Path
from typing import Any, TextIO

# Rich's markup grammar: a tag is [name ...] starting with a-z, #, / or @; backslashes before it escape it.
_TAG = re.compile(r"(\\*)(\[[a-z#/@][^[]*?])")
_CONTROL = dict.fromkeys((7, 8, 11, 12, 13))  # bell, backspace, vertical tab, form feed, CR: rich drops them too


def rich_console(stderr: bool = False, soft_wrap: bool = True) -> Any:
    """The rich Console for stdout (or stderr): no automatic highlighting; long lines wrap softly unless told."""
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=soft_wrap)


def escape(text: str) -> str:
    """Text that prints as itself inside markup: every [tag-like] part is escaped."""
    text = _TAG.sub(lambda m: f"{m[1]}{m[1]}\\{m[2]}", text)
    return text + "\\" if text.endswith("\\") and not text.endswith("\\\\") else text


def plain(markup: str) -> str:
    """What rich prints for this markup without colour: tags dropped, escapes resolved, control codes gone."""
    def tag(m: re.Match[str]) -> str:
        backslashes, escaped = divmod(len(m[1]), 2)
        return "\\" * backslashes + (m[2] if escaped else "")

    parts, position = [], 0
    for m in _TAG.finditer(markup):  # escaped "\\[" outside tags is an ordinary "[" to rich as well
        parts += [markup[position:m.start()].replace("\\[", "["), tag(m)]
        position = m.end()
    parts.append(markup[position:].replace("\\[", "["))
    return "".join(parts).translate(_CONTROL)


def _is_plain(stream: TextIO) -> bool:
    """True when rich would print no colour here either: not a terminal, and no FORCE_COLOR/TTY_COMPATIBLE."""
    try:
        terminal = stream.isatty()
    except (AttributeError, ValueError):
        terminal = False
    return not terminal and not os.environ.get("FORCE_COLOR") and not os.environ.get("TTY_COMPATIBLE")


def _print(markup: str, stderr: bool = False) -> None:
    from aima.textsafe import printable

    markup = printable(markup)  # an escape sequence from a file or a container never acts on the terminal
    stream = sys.stderr if stderr else sys.stdout
    if _is_plain(stream):
        stream.write(plain(markup) + "\n")
    else:
        rich_console(stderr=stderr).print(markup)


def out(message: str = "") -> None:
    """Print rich markup to stdout."""
    _print(message)


_json_written = False


def json_begin() -> None:
    """A new command starts: nothing of it printed as JSON yet (cli.main calls this; tests run many in-process)."""
    global _json_written
    _json_written = False


def print_json(data: Any) -> None:
    """Machine output: plain JSON on stdout, no colour, stable key order."""
    global _json_written
    _json_written = True
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False) + "\n")


def error_json(message: str, hint: str | None = None) -> None:
    """With --json: the error as JSON on stdout too ({"ok": false, "error", "hint"}), unless the command already
    printed its JSON (which then carries the failure), so stdout always holds exactly one JSON document."""
    if not _json_written:
        print_json({"ok": False, "error": message, "hint": hint})


def error(message: str, hint: str | None = None) -> None:
    """One line on stderr: 'error: ...', then 'Hint: ...' when there is one (token-shaped text redacted)."""
    _print(f"[bold red]error:[/] {escape(_one_line(message))}", stderr=True)
    if hint:
        _print(f"[dim]Hint:[/] {escape(_one_line(hint))}", stderr=True)


def _one_line(text: str) -> str:
    from aima.secrets import redact_text
    from aima.textsafe import printable

    return printable(redact_text(text), newlines=False)


def warning(message: str) -> None:
    """A warning line on stderr."""
    _print(f"[yellow]warning:[/] {escape(_one_line(message))}", stderr=True)


def table(title: str | None, columns: list[str], rows: list[list[str]], nowrap: Collection[str] = ()) -> None:
    """A simple table on stdout; the ``nowrap`` columns (URLs) are never broken, however narrow the terminal:
    the other columns fold to make room."""
    from rich.table import Table

    t = Table(title=title, title_justify="left", show_lines=False)
    for i, column in enumerate(columns):
        if column in nowrap:
            widest = max([len(column), *(len(row[i]) for row in rows)])
            t.add_column(column, no_wrap=True, overflow="ignore", min_width=widest)
        else:
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
