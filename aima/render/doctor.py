"""Doctor results for people (one rich table per group) and for programs (JSON with stable check ids)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aima.diagnose.checks import FAIL, GROUPS, OK, WARN, CheckResult, counts, exit_code
from aima.render.console import escape, rich_console

_STYLE = {OK: "[green]ok[/]", WARN: "[yellow]warn[/]", FAIL: "[bold red]FAIL[/]"}


def to_dict(results: Sequence[CheckResult], elapsed_s: float) -> dict[str, Any]:
    """The --json document: ok, counts, elapsed seconds, and every check as {id, group, status, ...}."""
    return {"ok": exit_code(results) == 0, "counts": counts(results), "elapsed_s": round(elapsed_s, 3),
            "checks": [r.to_dict() for r in results]}


def _cell(result: CheckResult) -> str:
    text = escape(result.summary)
    if result.remedy:
        text += f"\n[cyan]-> {escape(result.remedy)}[/]"
    source = result.details.get("source") if result.details.get("signature") else None
    if source:
        text += f"\n[dim]source: {escape(str(source))}[/]"
    return text


def print_report(results: Sequence[CheckResult], elapsed_s: float) -> None:
    """Print one table per group (status, check id, what was found and what to do), then a one-line verdict."""
    from rich.table import Table

    console = rich_console(soft_wrap=False)  # lines wrap at the terminal's width, like the tables
    order = list(GROUPS) + sorted({r.group for r in results} - set(GROUPS))
    for group in order:
        rows = [r for r in results if r.group == group]
        if not rows:
            continue
        table = Table(title=group, title_justify="left", show_header=False, show_lines=True, expand=False)
        table.add_column("status", no_wrap=True)
        table.add_column("check", no_wrap=True)
        table.add_column("result", overflow="fold")
        for r in rows:
            table.add_row(_STYLE[r.status], escape(r.id), _cell(r))
        console.print(table)
    found = counts(results)
    verdict = "[bold red]something will fail[/]" if found[FAIL] else "[green]nothing fails[/]"
    console.print(f"{verdict}: {found[OK]} ok, {found[WARN]} warnings, {found[FAIL]} failures "
                  f"({elapsed_s:.1f} s)")
