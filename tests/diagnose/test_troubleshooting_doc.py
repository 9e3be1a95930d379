"""docs/troubleshooting.md is generated from signatures.yaml and must not go stale."""

from __future__ import annotations

import subprocess
import sys

from aima.knowledge import REGENERATE, load_knowledge, render_markdown
from tests.conftest import REPO

DOC = REPO / "docs" / "troubleshooting.md"


def test_troubleshooting_doc_matches_the_signatures_file():
    expected = render_markdown(load_knowledge())
    actual = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
    assert actual == expected, f"docs/troubleshooting.md is stale; regenerate it with:  {REGENERATE}"


def test_doc_lists_every_signature_with_its_exact_pattern_meaning_and_remedy():
    kb = load_knowledge()
    doc = render_markdown(kb)
    for s in kb:
        assert f"](#{s.id})" in doc and f'<a id="{s.id}"></a>' in doc
        for pattern in s.patterns:
            assert f"\n{pattern}\n" in doc
        assert s.meaning in doc and s.remedy in doc


def test_regeneration_command_prints_the_doc():
    result = subprocess.run([sys.executable, "-m", "aima.knowledge", "--markdown"], cwd=REPO,
                            capture_output=True, text=True, check=True)
    assert result.stdout == render_markdown(load_knowledge())
