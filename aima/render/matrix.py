"""`aima matrix` shown: a table with a summary line on a terminal, or a document (JSON, JUnit, Markdown, TSV)."""

from __future__ import annotations

import json

from aima import matrix
from aima.render import console


def matrix_table(result: matrix.MatrixResult) -> None:
    """The profile x engine table, each failure on stderr, then how many cells were checked."""
    console.table("aima matrix", ["profile", *result.engines], matrix.table_rows(result))
    failures(result)
    checked = sum(c.checked for c in result.cells)
    console.out(f"{len(result.cells)} cells, {checked} with expectations, {len(result.failures)} failures")


def matrix_text(result: matrix.MatrixResult, fmt: str) -> str:
    """The whole matrix as one document: json, junit, markdown, or table (tab-separated)."""
    if fmt == "json":
        return json.dumps(matrix.to_dict(result), indent=2) + "\n"
    if fmt == "junit":
        return matrix.to_junit(result)
    if fmt == "markdown":
        return matrix.to_markdown(result)
    return "\n".join("\t".join(row) for row in [["profile", *result.engines], *matrix.table_rows(result)]) + "\n"


def failures(result: matrix.MatrixResult) -> None:
    """Each cell that differs from its profile's expectation, one error line each."""
    for line in result.failures:
        console.error(line)
