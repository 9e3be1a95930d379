"""With --json every error is also JSON on stdout ({"ok": false, "error", "hint"}), exactly one document."""

from __future__ import annotations

import contextlib
import io
import json

from aima.render import console
from tests.harness.cli import run_cli as run


def test_an_unknown_profile_is_a_json_error_on_stdout_and_a_line_on_stderr():
    rc, out, err = run("plan", "--hardware", "no-such-profile", "--json")
    assert rc == 1
    doc = json.loads(out)
    assert doc["ok"] is False and "no-such-profile" in doc["error"] and "shipped" in doc["hint"]
    assert err.startswith("error: no hardware profile 'no-such-profile'")


def test_a_missing_stack_file_and_an_unreachable_docker_are_json_errors(tmp_path, monkeypatch):
    rc, out, _ = run("plan", "--stack", str(tmp_path / "missing.yaml"), "--json")
    assert rc == 1 and str(tmp_path / "missing.yaml") in json.loads(out)["error"]
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no.sock")
    rc, out, _ = run("status", "--json")
    assert rc == 1 and "cannot connect to Docker" in json.loads(out)["error"]


def test_a_usage_error_with_json_is_json_too():
    rc, out, _ = run("up", "--timeout", "0", "--json")
    assert rc == 2 and "--timeout" in json.loads(out)["error"]


def test_json_a_command_already_printed_is_not_followed_by_a_second_document():
    rc, out, _ = run("plan", "--hardware", "cpu-x86_64", "--json")
    assert rc == 0 and json.loads(out)["ok"] is True
    console.json_begin()
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        console.print_json({"ok": False, "engines": {}})
        console.error_json("2 of 3 engines did not come up")
    assert json.loads(buf.getvalue()) == {"ok": False, "engines": {}}
    # the next command starts afresh
    rc, out, _ = run("plan", "--hardware", "no-such-profile", "--json")
    assert json.loads(out)["ok"] is False
