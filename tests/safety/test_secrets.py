"""Secrets: redaction by key name and by value shape; never echoed in errors; --docker-run takes them from the
environment; the Compose export never writes them as literals; a NUL in a token is refused without showing it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from aima.catalog.load import load_catalog
from aima.export.compose import dump_compose
from aima.hardware.profiles import load_profile
from aima.plan import make_plan
from aima.render.plan import docker_run_lines, plan_to_dict
from aima.secrets import is_secret, redact_text
from aima.stack import load_stack
from tests.conftest import PROFILES, REPO

CATALOG = load_catalog(include_user_config=False)
TOKEN = "hf_" + "Ab3" * 10
BEARER = "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"


@pytest.mark.parametrize(("key", "value", "secret"), [
    ("HF_TOKEN", "x", True), ("DB_PASS", "hunter2", True), ("MYSQL_PWD", "hunter2", True),
    ("EXTRA_HEADERS", f"Authorization: {BEARER}", True), ("NOTES", TOKEN, True),
    ("PROXY", "http://user:s3cret@proxy:3128", True), ("OPENAI_BASE", "sk-" + "a1" * 12, True),
    ("LOG_LEVEL", "debug", False), ("PASSAGE", "the quick brown fox", False), ("HF_TOKEN", "", False),
], ids=["key-token", "key-pass", "key-pwd", "bearer-value", "hf-value", "url-credentials", "sk-value",
        "plain", "passage-not-pass", "empty"])
def test_secret_by_key_or_value(key, value, secret):
    assert is_secret(key, value) is secret


def test_redact_text_hides_token_shapes():
    text = redact_text(f"failed with {BEARER} and {TOKEN} at https://u:p4ss@host/x")
    assert TOKEN not in text and "eyJ" not in text and "p4ss" not in text


def _plan(tmp_path, env):
    path = tmp_path / "aima.yaml"
    path.write_text(yaml.safe_dump({"engines": {"llm": {"env": env}}}))
    return make_plan(load_profile(PROFILES / "h100.yaml").hardware, CATALOG, load_stack(path)), path


def test_values_that_look_secret_are_redacted_everywhere(tmp_path):
    env = {"DB_PASS": "hunter2", "EXTRA_HEADERS": f"Authorization: {BEARER}", "NOTES": TOKEN, "LOG_LEVEL": "debug"}
    plan, _ = _plan(tmp_path, env)
    shown = json.dumps(plan_to_dict(plan))
    runs = "\n".join(docker_run_lines(plan))
    compose = dump_compose(plan)
    for text in (shown, runs, compose):
        assert "hunter2" not in text and "eyJ" not in text and TOKEN not in text, text
        assert "debug" in text
    for key in ("DB_PASS", "EXTRA_HEADERS", "NOTES"):
        assert f" -e {key} " in runs  # Docker takes it from the environment of whoever runs the line
        assert f"${{{key}:?" in compose  # Compose refuses to start without it, never a literal


def test_nul_in_hf_token_is_refused_without_showing_the_token(tmp_path):
    path = tmp_path / "aima.yaml"
    path.write_text(f'engines:\n  llm:\n    env: {{HF_TOKEN: "{TOKEN}\\0x"}}\n')
    for args in (["plan"], ["plan", "--json"]):
        proc = subprocess.run([sys.executable, "-m", "aima", *args, "--stack", str(path), "--hardware",
                               str(PROFILES / "h100.yaml")], capture_output=True, text=True, cwd=REPO, timeout=60)
        assert proc.returncode != 0
        assert "HF_TOKEN contains a NUL" in proc.stderr + proc.stdout
        assert TOKEN not in proc.stderr + proc.stdout
        assert f"{path}:3" in proc.stderr


def test_env_newline_and_escape_sequences_stay_on_one_escaped_plan_line(tmp_path):
    path = tmp_path / "aima.yaml"
    path.write_text('engines:\n  llm:\n    env: {GREETING: "hello\\nworld\\u001b[2J", LOG_LEVEL: debug}\n')
    proc = subprocess.run([sys.executable, "-m", "aima", "plan", "--stack", str(path), "--hardware",
                           str(PROFILES / "h100.yaml")], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert proc.returncode == 0, proc.stderr
    env_lines = [line for line in proc.stdout.splitlines() if "GREETING=" in line]
    assert len(env_lines) == 1 and "hello\\x0aworld\\x1b[2J" in env_lines[0]
    assert "\x1b" not in proc.stdout


def test_control_characters_in_an_error_are_escaped(tmp_path):
    path = tmp_path / "aima.yaml"
    path.write_text('engines:\n  llm:\n    "mo\\u001b[31mdel": x\n')
    proc = subprocess.run([sys.executable, "-m", "aima", "plan", "--stack", str(path)], capture_output=True,
                          text=True, cwd=REPO, timeout=60)
    assert proc.returncode != 0 and "\x1b" not in proc.stderr and "\\x1b[31m" in proc.stderr
    assert len([line for line in proc.stderr.splitlines() if line.startswith("error:")]) == 1
