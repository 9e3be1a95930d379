"""Issue 13 item 9: odd option values are refused on one line; the --debug hint says where the flag goes."""

from __future__ import annotations

import pytest

import aima.cli
from tests.harness.cli import run_cli as run


@pytest.mark.parametrize("argv", [
    ("up", "--timeout"), ("up", "--verify-timeout"), ("verify", "--timeout"),
    ("catalog", "verify", "--timeout"), ("doctor", "--deep-timeout"),
])
@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "-5"])
def test_non_finite_or_negative_seconds_are_refused(argv, value):
    # --hardware no-such would fail later with a different message: the option must be refused first.
    later = ["--images", "/no-such-profile.yaml"] if argv[0] == "catalog" else ["--hardware", "no-such-profile"]
    rc, out, err = run(*argv, value, *later)
    assert rc == 2, err
    assert "Invalid value for" in err and argv[-1] in err and "no-such-profile" not in err
    assert "Traceback" not in err
    assert sum(line.startswith("Error:") for line in err.splitlines()) == 1


def test_the_internal_error_hint_puts_debug_before_the_command(monkeypatch):
    def boom(**_kw):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(aima.cli, "app", boom)
    rc, _, err = run("status")
    assert rc == 70 and "internal error: RuntimeError: kaboom" in err
    assert "aima --debug COMMAND" in err
