"""The doctor's check framework: every check runs on its own, a broken one becomes a fail, the others still run."""

from __future__ import annotations

import pytest

from aima.diagnose.checks import (
    FAIL,
    OK,
    WARN,
    Check,
    NotChecked,
    Outcome,
    counts,
    exit_code,
    fail,
    ok,
    run_checks,
    warn,
)
from aima.errors import AimaError


def _boom() -> Outcome:
    raise RuntimeError("adapter exploded")


def _user_error() -> Outcome:
    raise AimaError("cannot connect to Docker at unix:///nope.sock", hint="start it")


def _skipped() -> Outcome:
    raise NotChecked("Docker is not reachable", "fix docker.reachable first")


def test_a_check_that_raises_becomes_a_fail_and_the_next_checks_still_run():
    calls = []

    def later() -> Outcome:
        calls.append("later")
        return ok("fine")

    results = run_checks([("host", lambda: [Check("a.boom", "host", _boom), Check("a.later", "host", later)])])
    assert [r.status for r in results] == [FAIL, OK]
    assert "RuntimeError: adapter exploded" in results[0].summary
    assert "bug in aima doctor" in results[0].remedy
    assert results[0].details["exception"] == "RuntimeError"
    assert "adapter exploded" in results[0].details["traceback"]
    assert calls == ["later"]


def test_an_aima_error_is_a_fail_with_its_message_and_hint_as_remedy():
    (result,) = run_checks([("docker", lambda: [Check("docker.reachable", "docker", _user_error)])])
    assert result.status == FAIL
    assert result.summary == "cannot connect to Docker at unix:///nope.sock"
    assert result.remedy == "start it"


def test_not_checked_is_a_warning_that_points_at_the_cause():
    (result,) = run_checks([("engines", lambda: [Check("engine.llm.image-present", "engines", _skipped)])])
    assert result.status == WARN
    assert result.summary == "not checked: Docker is not reachable"
    assert result.remedy == "fix docker.reachable first"


def test_a_group_that_cannot_list_its_checks_reports_one_fail_and_other_groups_run():
    def broken_group():
        yield Check("gpu.nvml", "gpu", lambda: ok("loaded"))
        raise RuntimeError("GPU list unreadable")

    results = run_checks([("gpu", broken_group), ("docker", lambda: [Check("docker.reachable", "docker",
                                                                         lambda: ok("answers"))])])
    assert [(r.id, r.status) for r in results] == [("gpu.nvml", OK), ("gpu.checks", FAIL),
                                                   ("docker.reachable", OK)]
    assert "GPU list unreadable" in results[1].summary


def test_a_check_returning_something_else_than_an_outcome_is_a_fail():
    (result,) = run_checks([("host", lambda: [Check("host.platform", "host", lambda: "ok")])])
    assert result.status == FAIL and "not an Outcome" in result.summary


def test_outcome_refuses_an_unknown_status():
    with pytest.raises(ValueError, match="status must be one of"):
        Outcome("maybe", "?")


@pytest.mark.parametrize(("statuses", "code"), [
    ([OK, WARN], 0),
    ([OK, OK], 0),
    ([], 0),
    ([WARN, FAIL, OK], 1),
], ids=["warnings-do-not-fail", "all-ok", "nothing", "one-fail"])
def test_exit_code_is_one_only_when_something_fails(statuses, code):
    makers = {OK: lambda: ok("x"), WARN: lambda: warn("x"), FAIL: lambda: fail("x")}
    results = run_checks([("host", lambda: [Check(f"c{i}", "host", makers[s]) for i, s in enumerate(statuses)])])
    assert exit_code(results) == code
    assert sum(counts(results).values()) == len(statuses)


def test_json_form_has_the_stable_keys():
    (result,) = run_checks([("host", lambda: [Check("host.platform", "host", lambda: ok("x86_64", cores=2))])])
    assert result.to_dict() == {"id": "host.platform", "group": "host", "status": "ok", "summary": "x86_64",
                                "remedy": None, "details": {"cores": 2}}
