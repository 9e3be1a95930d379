"""docs/compatibility.md is generated from the matrix and must not go stale."""

from __future__ import annotations

import os
import subprocess
import sys

from aima.catalog.load import load_catalog
from aima.hardware.profiles import all_profiles
from aima.matrix import REGENERATE, run_matrix, to_markdown
from aima.stack import Stack
from tests.conftest import PROFILES, REPO

DOC = REPO / "docs" / "compatibility.md"


def _expected() -> str:
    return to_markdown(run_matrix(all_profiles(PROFILES), load_catalog(include_user_config=False), Stack()))


def test_compatibility_doc_matches_the_matrix():
    actual = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
    assert actual == _expected(), f"docs/compatibility.md is stale; regenerate it with:  {REGENERATE}"


def test_doc_has_a_row_per_profile_and_the_reasons():
    doc = _expected()
    for profile in all_profiles(PROFILES):
        name = profile.hardware.name
        assert f"| [{name}](#profile-" in doc and f"</a>{name}\n" in doc
    assert "| `whisper-cpp-cpu-arm64` (CPU) | `vllm-ngc-spark` (GPU 0) | `kokoro-cpu` (CPU) |" in doc
    assert "- **llm**: `vllm-ngc-spark` on GPU 0 (`nvcr.io/nvidia/vllm:26.01-py3`): sm\\_120" not in doc  # '_' readable
    ngc = "- **llm**: `vllm-ngc-spark` on GPU 0 (`nvcr.io/nvidia/vllm:26.01-py3`)"
    assert f"{ngc}: sm_120 SASS runs on this 12.1 GPU" in doc


def test_regeneration_command_writes_the_doc(tmp_path):
    out = tmp_path / "compatibility.md"
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path)}  # no user catalogue may leak into the doc
    subprocess.run([sys.executable, "-m", "aima", "matrix", "--format", "markdown", "-o", str(out)], cwd=REPO,
                   env=env, check=True, capture_output=True)
    assert out.read_text(encoding="utf-8") == _expected()
