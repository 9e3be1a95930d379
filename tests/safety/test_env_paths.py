"""Hostile environments through the real CLI: read-only or relative HOME, odd XDG_* values, a relative models_dir.

Each gives a clear line that names the variable or key and what to fix, never an internal error or a traceback;
no folder appears in the current directory or at the filesystem root; a cache that cannot be written costs a
warning (once), not the result. A relative XDG_* path is ignored, as the XDG Base Directory specification says.

Read-only HOME: these tests may run as root, where a 0555 folder stops nothing; a *file* where the home folder
should be fails every write for root too (ENOTDIR), so that is the trick used as root; as another user the home
is a 0555 folder.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _run(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("XDG_") and k != "HOME"}
    base.update(DOCKER_HOST=f"unix://{cwd}/no-docker.sock", NO_COLOR="1")
    return subprocess.run([sys.executable, "-m", "aima", *args], cwd=cwd, env={**base, **env}, capture_output=True,
                          text=True, timeout=120)


def _clean(result: subprocess.CompletedProcess) -> None:
    text = result.stdout + result.stderr
    assert "Traceback" not in text and "internal error" not in text, text


@pytest.fixture
def place(tmp_path):
    """An empty working directory (nothing may appear in it) and a writable home."""
    cwd, home = tmp_path / "cwd", tmp_path / "home"
    cwd.mkdir()
    home.mkdir()
    return cwd, home


@pytest.fixture
def read_only_home(tmp_path):
    if os.getuid() == 0:
        home = tmp_path / "home-is-a-file"
        home.write_text("")
        return home
    home = tmp_path / "home-0555"
    home.mkdir(mode=0o555)
    return home


def test_relative_xdg_paths_are_ignored_with_one_warning_each(place):
    cwd, home = place
    result = _run(cwd, "plan", HOME=str(home), XDG_CACHE_HOME="cache", XDG_STATE_HOME="state", XDG_DATA_HOME="data",
                  XDG_CONFIG_HOME="config")
    assert result.returncode == 0, result.stderr
    _clean(result)
    for variable, default in (("XDG_CACHE_HOME", ".cache"), ("XDG_DATA_HOME", ".local/share")):
        line = (f"warning: {variable}={variable.split('_')[1].lower()} is a relative path, which the XDG Base "
                f"Directory specification says to ignore: aima uses {home / default}")
        assert result.stderr.count(line) == 1, result.stderr
    assert "asr ->" in result.stdout  # the plan itself
    assert list(cwd.iterdir()) == []  # nothing relative to the working directory
    assert (home / ".cache" / "aima" / "parsed").is_dir()  # the default took the cache


def test_a_read_only_home_keeps_plan_and_detect_results_and_warns_once(place, read_only_home):
    cwd, _ = place
    plan = _run(cwd, "plan", HOME=str(read_only_home))
    assert plan.returncode == 0, plan.stderr
    _clean(plan)
    assert "asr ->" in plan.stdout and "endpoint:" in plan.stdout
    warnings = [line for line in plan.stderr.splitlines() if "cannot write aima's parse cache" in line]
    assert len(warnings) == 1 and "set XDG_CACHE_HOME to a writable absolute path" in warnings[0], plan.stderr
    detect = _run(cwd, "detect", "--json", HOME=str(read_only_home))
    assert detect.returncode == 0, detect.stderr
    _clean(detect)
    assert '"cpu_arch"' in detect.stdout or '"host"' in detect.stdout
    assert list(cwd.iterdir()) == []


@pytest.mark.parametrize("runtime", ["/proc", "missing", "relative"])
def test_an_unusable_xdg_runtime_dir_falls_back_for_the_stack_lock(place, runtime):
    cwd, home = place
    value = {"missing": str(cwd.parent / "no-such-run"), "relative": "run"}.get(runtime, runtime)
    # A stack of its own: the fallback lock folder is shared with every other aima run of this user.
    stack = cwd.parent / "stack.yaml"
    stack.write_text(f"name: rt-{uuid.uuid4().hex[:8]}\n")
    result = _run(cwd, "down", "--stack", str(stack), HOME=str(home), XDG_RUNTIME_DIR=value)
    _clean(result)
    assert result.returncode == 1  # then it needs Docker, which is not there: the usual one-line error
    assert "cannot connect to Docker" in result.stderr
    assert f"warning: XDG_RUNTIME_DIR={value} " in result.stderr
    assert f"aima keeps its stack locks in /tmp/aima-{os.getuid()} instead" in result.stderr
    assert not Path(value).is_absolute() or not Path(value, "aima").exists()
    assert list(cwd.iterdir()) == []


def test_a_relative_home_is_named_and_nothing_lands_in_the_working_directory(place):
    cwd, _ = place
    result = _run(cwd, "plan", HOME="home")
    _clean(result)
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == ("error: HOME=home is a relative path: aima would create its folders "
                                             "under the current directory")
    assert list(cwd.iterdir()) == []


def test_a_relative_models_dir_is_an_error_at_its_line(place):
    cwd, home = place
    stack = cwd.parent / "stack.yaml"
    stack.write_text("name: rel\nengines:\n  llm:\n    models_dir: models/llm\n")
    result = _run(cwd, "plan", "--stack", str(stack), HOME=str(home))
    _clean(result)
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: {stack}:4: engines.llm.models_dir: 'models/llm' is a relative path; "
                                    "write the folder as an absolute path (or ~/...)"), result.stderr
    assert list(cwd.iterdir()) == []


def test_a_cache_file_that_cannot_be_written_warns_and_goes_on(tmp_path, capsys):
    from aima.inspect.cache import record_ref, write_json_atomically

    blocked = tmp_path / "a-file"
    blocked.write_text("")
    write_json_atomically(blocked / "inspect" / "x.json", {"a": 1})  # no exception: the caller keeps its result
    record_ref("img:tag", "sha256:" + "0" * 64, blocked / "inspect")
    err = capsys.readouterr().err
    assert err.count("cannot write aima's cache in") == 1 and "XDG_CACHE_HOME" in err  # once per problem


@pytest.mark.parametrize("colour", ["", "1"], ids=["pipe", "rich"])
def test_plan_endpoints_stay_whole_on_a_narrow_terminal(place, colour):
    cwd, home = place
    result = _run(cwd, "plan", "--hardware", "rtx-4090", HOME=str(home), COLUMNS="60", FORCE_COLOR=colour)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if "endpoint:" in line]
    assert len(lines) == 3 and all("http://127.0.0.1:800" in line and "health /health" in line for line in lines)


def test_doctor_fails_host_files_when_up_could_not_record_what_it_creates(place, read_only_home):
    import json

    cwd, home = place
    bad = _run(cwd, "doctor", "--json", HOME=str(read_only_home))
    _clean(bad)
    found = {c["id"]: c for c in json.loads(bad.stdout)["checks"]}
    assert found["host.files"]["status"] == "fail"
    assert "`up` will refuse to start anything" in found["host.files"]["summary"]
    good = _run(cwd, "doctor", "--json", HOME=str(home))
    found = {c["id"]: c for c in json.loads(good.stdout)["checks"]}
    assert found["host.files"]["status"] == "ok", found["host.files"]
    assert list(cwd.iterdir()) == []
