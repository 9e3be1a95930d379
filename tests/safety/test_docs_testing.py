"""docs/testing.md: the venv comes before the harness commands that import its dependencies."""

from __future__ import annotations

from tests.conftest import REPO


def test_testing_doc_activates_the_venv_before_setup_docker_start():
    text = (REPO / "docs" / "testing.md").read_text()
    activate = text.find(". .venv/bin/activate")
    assert activate != -1, "docs/testing.md must say to activate the venv"
    assert activate < text.find("bash .ci/setup-docker --start")
