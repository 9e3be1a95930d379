"""aima matrix: every shipped profile x engine meets its expectation; a difference fails, in every format."""

from __future__ import annotations

import json
import shutil
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aima.catalog.load import load_catalog
from aima.catalog.model import ENGINES
from aima.cli import app
from aima.errors import ConfigError
from aima.hardware.profiles import all_profiles
from aima.matrix import REFUSED, run_matrix, to_dict, to_junit
from aima.stack import Stack, load_stack
from tests.conftest import PROFILES

CATALOG = load_catalog(include_user_config=False)


def _profiles_with(tmp_path: Path, name: str, expect: dict[str, str]) -> Path:
    """A profiles folder holding one shipped profile whose expect: block is replaced."""
    folder = tmp_path / "profiles"
    folder.mkdir(exist_ok=True)
    text = (PROFILES / f"{name}.yaml").read_text()
    text = text[:text.index("\nexpect:")] + "\nexpect:\n" + "".join(f"  {k}: {v}\n" for k, v in expect.items())
    (folder / f"{name}.yaml").write_text(text)
    return folder


def test_every_shipped_profile_states_an_expectation_for_every_engine():
    for profile in all_profiles(PROFILES):
        assert sorted(profile.expect) == sorted(ENGINES), f"{profile.path}: expect: must name asr, llm and tts"


def test_shipped_profiles_meet_their_expectations():
    result = run_matrix(all_profiles(PROFILES), CATALOG, Stack())
    assert result.ok, "\n".join(result.failures)
    assert len(result.cells) == len(all_profiles(PROFILES)) * len(ENGINES)
    assert all(cell.checked for cell in result.cells)


@pytest.mark.parametrize(("profile", "engine", "candidate", "placement"), [
    ("rtx-5070-ti", "asr", "whisper-cpp-cuda-sm120", "GPU 0"),  # seed 000: never the sm_52-only build
    ("gtx-1080", "asr", "whisper-cpp-cuda12-sm61", "GPU 0"),  # seed 003: the sm_61 rebuild
    ("gb10", "llm", "vllm-ngc-spark", "GPU 0"),  # seed 004: NVIDIA's Spark image; official vLLM's ptxas lacks sm_121a
    ("gb10", "asr", "whisper-cpp-cpu-arm64", "CPU"),  # seed 004: ASR and TTS on the CPU
    ("2x-rtx-3090", "llm", "llama-cpp-cuda", "GPU 0"),  # seed 001: one engine per GPU
    ("2x-rtx-3090", "asr", "whisper-cpp-cuda-sm120", "GPU 1"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_seed_machines_in_the_matrix(profile, engine, candidate, placement):
    result = run_matrix(all_profiles(PROFILES), CATALOG, Stack())
    cell = result.cell(profile, engine)
    assert (cell.candidate, cell.placement) == (candidate, placement)


def test_a_changed_outcome_fails_with_expected_got_and_reason(tmp_path):
    folder = _profiles_with(tmp_path, "rtx-5070-ti", {"asr": "whisper-cpp-cuda", "llm": "vllm-official",
                                                       "tts": "kokoro-gpu-cu128"})
    result = run_matrix(all_profiles(folder), CATALOG, Stack())
    assert not result.ok
    [failure] = result.failures
    assert failure.startswith("rtx-5070-ti/asr: expected whisper-cpp-cuda, got whisper-cpp-cuda-sm120: ")
    assert "sm_120a SASS" in failure
    assert "; whisper-cpp-cuda lost: GPU 0: NVIDIA_REQUIRE_CUDA not met" in failure and "cuda>=13.0" in failure


def test_an_expectation_naming_no_candidate_says_it_is_not_in_the_catalogue(tmp_path):
    folder = _profiles_with(tmp_path, "cpu-x86_64", {"asr": "whisper-cpu", "llm": "llama-cpp-cpu",
                                                      "tts": "kokoro-cpu"})
    [failure] = run_matrix(all_profiles(folder), CATALOG, Stack()).failures
    assert "expected whisper-cpu (not a candidate in the catalogue), got whisper-cpp-cpu" in failure


def test_an_expectation_for_an_engine_the_stack_does_not_run_fails(tmp_path):
    folder = _profiles_with(tmp_path, "cpu-x86_64", {"asr": "whisper-cpp-cpu", "llm": "llama-cpp-cpu",
                                                      "tts": "kokoro-cpu"})
    stack_file = tmp_path / "aima.yaml"
    stack_file.write_text("engines:\n  tts: {enabled: false}\n")
    result = run_matrix(all_profiles(folder), CATALOG, load_stack(stack_file))
    assert result.failures == ("cpu-x86_64: expects kokoro-cpu for engine 'tts', which the stack does not run "
                               "(it runs: asr, llm)",)


def test_refused_is_an_outcome_that_can_be_expected(tmp_path):
    folder = _profiles_with(tmp_path, "cpu-x86_64", {"asr": "whisper-cpp-cpu", "llm": REFUSED, "tts": "kokoro-cpu"})
    stack_file = tmp_path / "aima.yaml"
    stack_file.write_text("engines:\n  llm: {device: gpu}\n")
    result = run_matrix(all_profiles(folder), CATALOG, load_stack(stack_file))
    assert result.ok, result.failures
    cell = result.cell("cpu-x86_64", "llm")
    assert (cell.candidate, cell.outcome, cell.placement) == (None, REFUSED, "-")
    assert "no GPU image fits" in cell.reason


def test_a_profile_without_expectations_is_reported_unchecked_not_failed(tmp_path):
    folder = tmp_path / "profiles"
    folder.mkdir()
    text = (PROFILES / "h100.yaml").read_text()
    (folder / "h100.yaml").write_text(text[:text.index("\nexpect:")] + "\n")
    result = run_matrix(all_profiles(folder), CATALOG, Stack())
    assert result.ok and not any(c.checked for c in result.cells)
    root = ET.fromstring(to_junit(result))
    assert root.get("skipped") == "3" and len(root.findall(".//testcase/skipped")) == 3


# --- JUnit XML ------------------------------------------------------------------------------------------

def _check_junit_structure(xml_text: str) -> ET.Element:
    """The shape CI tools read (Jenkins/GitLab/GitHub reporters): suites of cases with consistent counts."""
    assert xml_text.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    root = ET.fromstring(xml_text)
    assert root.tag == "testsuites"
    totals = {"tests": 0, "failures": 0, "skipped": 0}
    for suite in root:
        assert suite.tag == "testsuite" and suite.get("name", "").startswith("matrix.")
        cases = suite.findall("testcase")
        counts = {"tests": len(cases), "failures": sum(c.find("failure") is not None for c in cases),
                  "skipped": sum(c.find("skipped") is not None for c in cases)}
        assert {k: int(suite.get(k)) for k in counts} == counts
        assert suite.get("errors") == "0" and float(suite.get("time")) == 0
        for case in cases:
            assert case.get("classname") == suite.get("name") and case.get("name")
            assert {child.tag for child in case} <= {"failure", "skipped", "system-out"}
            failure = case.find("failure")
            if failure is not None:
                assert failure.get("message") and failure.get("type") and failure.text
        for key in totals:
            totals[key] += counts[key]
    assert {k: int(root.get(k)) for k in totals} == totals
    return root


def test_junit_makes_every_profile_engine_pair_a_passing_test_case():
    result = run_matrix(all_profiles(PROFILES), CATALOG, Stack())
    root = _check_junit_structure(to_junit(result))
    names = {(case.get("classname"), case.get("name")) for case in root.iter("testcase")}
    assert len(names) == len(result.cells) and ("matrix.gb10", "llm") in names
    assert root.get("failures") == "0"
    out = root.find("testsuite[@name='matrix.gb10']/testcase[@name='llm']/system-out").text
    assert out.startswith("vllm-ngc-spark (GPU 0): sm_120 SASS runs on this 12.1 GPU")


def test_junit_mismatch_is_a_failing_case_with_the_reason(tmp_path):
    folder = _profiles_with(tmp_path, "gb10", {"asr": "whisper-cpp-cpu-arm64", "llm": "vllm-official",
                                               "tts": "kokoro-cpu"})
    root = _check_junit_structure(to_junit(run_matrix(all_profiles(folder), CATALOG, Stack())))
    assert root.get("failures") == "1"
    failure = root.find("testsuite/testcase[@name='llm']/failure")
    assert failure.get("message").startswith("gb10/llm: expected vllm-official, got vllm-ngc-spark")
    lines = failure.text.splitlines()
    assert lines[:2] == ["expected: vllm-official", "got: vllm-ngc-spark (GPU 0)"]
    assert lines[2].startswith("vllm-official lost: ") and "sm_121a" in lines[2]  # seed 004's ptxas
    assert "image: nvcr.io/nvidia/vllm:26.01-py3" in lines
    assert "aima matrix --format markdown" in failure.text


# --- the command ----------------------------------------------------------------------------------------

def test_cli_junit_to_file_passes_on_the_shipped_profiles(tmp_path):
    out = tmp_path / "matrix.xml"
    result = CliRunner().invoke(app, ["matrix", "--format", "junit", "-o", str(out)])
    assert result.exit_code == 0, result.output
    _check_junit_structure(out.read_text())


def test_cli_exits_1_and_names_the_mismatch(tmp_path):
    folder = _profiles_with(tmp_path, "t4", {"asr": "whisper-cpp-cpu", "llm": "vllm-official",
                                             "tts": "kokoro-gpu-cu128"})
    for fmt in ("table", "json", "junit"):
        result = CliRunner().invoke(app, ["matrix", "--profiles", str(folder), "--format", fmt])
        assert result.exit_code == 1, (fmt, result.output)
        assert "t4/asr: expected whisper-cpp-cpu, got whisper-cpp-cuda" in result.output
        assert "Traceback" not in result.output
    written = CliRunner().invoke(app, ["matrix", "--profiles", str(folder), "--format", "json",
                                       "-o", str(tmp_path / "m.json")])
    assert written.exit_code == 1
    data = json.loads((tmp_path / "m.json").read_text())
    assert data["ok"] is False and data["cells"][0]["expected"] == "whisper-cpp-cpu"


def test_cli_json_matches_to_dict():
    result = CliRunner().invoke(app, ["matrix", "--format", "json"])
    assert result.exit_code == 0
    expected = to_dict(run_matrix(all_profiles(PROFILES), load_catalog(), Stack()))
    assert json.loads(result.stdout) == expected


def test_cli_unknown_format_and_missing_folder_are_one_line_errors(tmp_path):
    from aima.cli import main

    assert main(["matrix", "--format", "xml"]) == 1
    assert main(["matrix", "--profiles", str(tmp_path / "nowhere")]) == 1


def test_a_bad_profile_names_file_and_key(tmp_path, capsys):
    from aima.cli import main

    folder = tmp_path / "profiles"
    folder.mkdir()
    shutil.copy(PROFILES / "h100.yaml", folder)
    (folder / "h100.yaml").write_text((folder / "h100.yaml").read_text() + textwrap.dedent("""\
        bogus: 1
        """))
    assert main(["matrix", "--profiles", str(folder)]) == 1
    err = capsys.readouterr().err
    assert "h100.yaml" in err and "bogus" in err and "Traceback" not in err


# --- issue 19 item 7: expect: pins devices, model and mode too -------------------------------------------------

def test_every_shipped_profile_pins_devices_model_and_mode():
    for profile in all_profiles(PROFILES):
        for engine, e in profile.expect.items():
            if e.candidate != "refused":
                assert None not in (e.devices, e.model, e.mode), f"{profile.path}: {engine} pins only {e}"


@pytest.mark.parametrize(("field", "wrong"), [
    ("devices", "[1]"),  # the right image on the wrong GPU
    ("devices", "cpu"),
    ("model", "qwen2.5-1.5b-instruct-q4_k_m"),
    ("mode", "ptx-jit"),
])
def test_the_right_candidate_with_a_wrong_pinned_field_fails(tmp_path, field, wrong):
    right = {"candidate": "llama-cpp-cuda", "devices": "[0]", "model": "qwen2.5-7b-instruct-q4_k_m",
             "mode": "native"}
    folder = _profiles_with(tmp_path, "mixed-rtx3060-gtx1070", {
        "llm": "{" + ", ".join(f"{k}: {wrong if k == field else v}" for k, v in right.items()) + "}"})
    result = run_matrix(all_profiles(folder), CATALOG, Stack())
    cell = result.cell("mixed-rtx3060-gtx1070", "llm")
    assert cell.candidate == "llama-cpp-cuda" and cell.mismatches == (field,)
    [failure] = result.failures
    assert failure.startswith("mixed-rtx3060-gtx1070/llm: expected llama-cpp-cuda (")
    assert "got llama-cpp-cuda (devices=0, model=qwen2.5-7b-instruct-q4_k_m, mode=native)" in failure


def test_an_expectation_mapping_is_validated(tmp_path):
    folder = _profiles_with(tmp_path, "t4", {"llm": "{candidate: vllm-official, mode: warp-speed}"})
    with pytest.raises(ConfigError, match="must be one of native"):
        all_profiles(folder)
