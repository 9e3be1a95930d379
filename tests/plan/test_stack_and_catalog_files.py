"""Stack and catalogue files: strict validation with file:line: key, user catalogue merge."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from aima.catalog.load import load_catalog, read_catalog
from aima.errors import ConfigError
from aima.stack import load_stack
from tests.conftest import REPO


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip())
    return path


@pytest.mark.parametrize(
    ("text", "line", "key", "words"),
    [
        ("engines:\n  asr:\n    modle: base\n", 3, "engines.asr.modle", "unknown key"),
        ("engines:\n  stt: {}\n", 2, "engines.stt", "unknown key"),
        ("engines:\n  asr: {port: 99999}\n", 2, "engines.asr.port", "at most"),
        ("engines:\n  asr: {device: tpu}\n", 2, "engines.asr.device", "one of"),
        ("name: My Stack\n", 1, "name", "lower-case"),
        ("engines:\n  asr: {port: 9000}\n  llm: {port: 9000}\n", 1, "engines", "both ask for host port 9000"),
        ("engines:\n  llm:\n    model: 5\n", 3, "engines.llm.model", "got a number (5)"),
        ("engines:\n  llm:\n    model: no\n", 3, "engines.llm.model", "got true/false (no)"),
        ("engines:\n  llm:\n    candidate: 7\n", 3, "engines.llm.candidate", "got a number (7)"),
        ("engines:\n  llm:\n    port: abc\n", 3, "engines.llm.port", "must be an integer"),
        ("engines:\n  llm:\n    limits: 3\n", 3, "engines.llm.limits", "must be a mapping"),
        ("engines:\n  llm:\n    env: [A, B]\n", 3, "engines.llm.env", "must be a mapping"),
    ],
    ids=["typo", "unknown-engine", "port-range", "device", "name", "port-clash", "model-number", "model-bool",
         "candidate-number", "port-text", "limits-scalar", "env-list"],
)
def test_bad_stack_file_names_file_line_key(tmp_path, text, line, key, words):
    path = write(tmp_path, "aima.yaml", text)
    with pytest.raises(ConfigError) as info:
        load_stack(path)
    assert (info.value.line, info.value.key) == (line, key), str(info.value)
    assert words in str(info.value) and str(path) in str(info.value)


CANDIDATE = """
engines:
  asr:
    candidates:
      - id: mine
        image: example/whisper:1
        gpu: true
        archs: {archs}
        port: 8080
"""


def test_a_quoted_number_is_a_model_name(tmp_path):
    assert load_stack(write(tmp_path, "aima.yaml", 'engines:\n  llm: {model: "5"}\n')).engine("llm").model == "5"


def test_env_values_keep_the_spelling_of_the_file(tmp_path):
    """YAML 1.1 would hand the container 1.5 for 1.50, 31 for 0x1F, 15 for 017 and true for yes."""
    path = write(tmp_path, "aima.yaml", """
        engines:
          llm:
            env: {A: 1.50, B: 0x1F, C: 017, D: yes, E: 1_000, F: "x", G: ~, H: true}
        """)
    env = dict(load_stack(path).engine("llm").env)
    assert env == {"A": "1.50", "B": "0x1F", "C": "017", "D": "yes", "E": "1_000", "F": "x", "G": "", "H": "true"}


@pytest.mark.parametrize(
    ("archs", "words"),
    [("sm_8x", "sm_8x"), ("native", "native"), ("'86;banana'", "banana")],
)
def test_bad_arch_string_in_catalogue_names_file_line_key(tmp_path, archs, words):
    path = write(tmp_path, "images.yaml", CANDIDATE.format(archs=archs))
    with pytest.raises(ConfigError) as info:
        read_catalog(path, partial=True)
    assert info.value.line == 7 and info.value.key == "engines.asr.candidates[0].archs"
    assert words in str(info.value)


def test_unknown_candidate_key_and_unknown_placeholder(tmp_path):
    path = write(tmp_path, "a.yaml", CANDIDATE.format(archs="'86'") + "        colour: red\n")
    with pytest.raises(ConfigError, match=r"a.yaml:9: engines.asr.candidates\[0\].colour: unknown key"):
        read_catalog(path, partial=True)
    path = write(tmp_path, "b.yaml", CANDIDATE.format(archs="'86'") + "        command: ['--port', '{prot}']\n")
    with pytest.raises(ConfigError, match=r"unknown placeholder \{prot\}"):
        read_catalog(path, partial=True)


def test_gpu_candidate_without_archs_and_bad_require_cuda(tmp_path):
    path = write(tmp_path, "c.yaml", CANDIDATE.format(archs="'86'").replace("        archs: '86'\n", ""))
    with pytest.raises(ConfigError, match="archs"):
        read_catalog(path, partial=True)
    path = write(tmp_path, "d.yaml", CANDIDATE.format(archs="'86'") + "        require_cuda: 'cuda>>12'\n")
    with pytest.raises(ConfigError, match="require_cuda"):
        read_catalog(path, partial=True)


def test_user_catalogue_puts_new_candidates_first_and_replaces_same_ids(tmp_path):
    path = write(tmp_path, "user.yaml", """
        engines:
          asr:
            candidates:
              - id: mine
                image: example/whisper:1
                gpu: false
                port: 8080
              - id: whisper-cpp-cpu
                image: example/whisper-cpu:pinned
                gpu: false
                port: 8080
        """)
    catalog = load_catalog(path)
    ids = [c.id for c in catalog.engine("asr").candidates]
    assert ids[0] == "mine" and ids.count("whisper-cpp-cpu") == 1
    assert catalog.candidate("asr", "whisper-cpp-cpu").image == "example/whisper-cpu:pinned"
    assert len(catalog.engine("llm").candidates) > 0


def test_shipped_catalogue_loads_and_every_fact_has_a_source():
    catalog = read_catalog(REPO / "images.yaml")
    for engine in catalog.engines:
        for c in engine.candidates:
            assert c.source, c.id


def test_cli_bad_stack_is_one_line_non_zero_and_no_traceback(tmp_path):
    path = write(tmp_path, "aima.yaml", "engines:\n  asr:\n    modle: base\n")
    result = subprocess.run([sys.executable, "-m", "aima", "plan", "--stack", str(path), "--hardware", "h100"],
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"{path}:3: engines.asr.modle: unknown key" in result.stderr


def test_known_failures_in_the_shipped_catalogue_are_knowledge_base_ids():
    from aima.knowledge import load_knowledge

    known = {s.id for s in load_knowledge()}
    catalog = read_catalog(REPO / "images.yaml")
    for engine in catalog.engines:
        for c in engine.candidates:
            assert set(c.known_failures) <= known, (c.id, set(c.known_failures) - known)
