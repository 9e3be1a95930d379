"""Plain output for pipes and files prints exactly what rich would, without importing rich."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console
from rich.markup import escape as rich_escape

from aima.render import console

# Text with the characters that matter to markup: brackets, backslashes, tag-like words, control codes.
PIECES = st.sampled_from(list("ab[]/\\#@= :\r\x07") + ["[bold]", "[/]", "\\[", "[x=1]", "\\\\"])
# No tabs: rich expands them to spaces, a pipe gets them as the text had them (the one difference on purpose).
TEXT = st.lists(PIECES | st.text(st.characters(blacklist_characters="\t"), max_size=3), max_size=12).map("".join)


def _rich_plain(markup: str) -> str:
    out = Console(file=None, force_terminal=False, color_system=None, highlight=False, soft_wrap=True, emoji=False)
    with out.capture() as captured:
        out.print(markup)
    return captured.get()


@given(TEXT)
def test_escape_is_richs_escape(text):
    assert console.escape(text) == rich_escape(text)


@given(TEXT, TEXT)
def test_plain_prints_what_rich_prints_without_colour(a, b):
    markup = f"[bold red]error:[/] {console.escape(a)} [dim]{console.escape(b)}[/]"
    assert console.plain(markup) + "\n" == _rich_plain(markup)


@pytest.mark.parametrize("markup, text", [
    ("[bold]Plan for[/] x", "Plan for x"),
    ("\\[not a tag]", "[not a tag]"),
    ("a\\\\[bold]b[/]", "a\\b"),
    ("[1, 2] stays", "[1, 2] stays"),
])
def test_plain_examples(markup, text):
    assert console.plain(markup) == text


def test_a_plan_on_a_pipe_does_not_import_rich():
    code = ("import sys; from aima.cli import main; main(['plan', '--hardware', 'rtx-3080']); "
            "print('rich' in sys.modules, file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.stderr.strip().splitlines()[-1] == "False", done.stderr
    assert "Plan for rtx-3080" in done.stdout
