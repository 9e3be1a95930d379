"""`aima up`/`down` in hostile environments, on each engine (tests/safety/test_env_paths.py has the rest).

A home where nothing can be written: `up` cannot record what it would create, so it creates nothing and says
which folder and which variable to fix. XDG_RUNTIME_DIR=/proc: the stack lock falls back to /tmp/aima-<uid>
with a warning, and the stack comes up and goes down as usual.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

from tests.e2e.upkit import REPO, catalog, containers, stack


def _aima(*args, **env) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("XDG_")}
    return subprocess.run([sys.executable, "-m", "aima", *map(str, args)], cwd=REPO, env={**base, **env},
                          capture_output=True, text=True, timeout=120)


def test_up_with_a_read_only_home_creates_nothing_and_names_the_folder(engine, engine_env, stub_image,
                                                                       stacks, tmp_path):
    # As root a 0555 folder stops nothing; a file where the home folder should be stops root too.
    home = tmp_path / "home-is-a-file"
    home.write_text("")
    name = stacks.track(f"ro-{uuid.uuid4().hex[:6]}")
    up = _aima("up", "--images", catalog(tmp_path, "images.yaml", stub_image), "--stack", stack(tmp_path, name),
               "--no-verify", HOME=str(home), XDG_RUNTIME_DIR=str(tmp_path))
    assert up.returncode == 1, up.stderr
    assert "Traceback" not in up.stderr and "internal error" not in up.stderr
    assert f"aima records what it creates in {home}/.local/state/aima/owned.json, but {home} is not a folder" \
        in up.stderr
    assert "set XDG_STATE_HOME to a writable absolute path" in up.stderr
    assert containers(engine.client, name) == {}
    assert not engine.client.networks.list(names=[f"aima-{name}"])


def test_up_and_down_with_xdg_runtime_dir_in_proc(engine, engine_env, stub_image, stacks, tmp_path):
    name = stacks.track(f"rt-{uuid.uuid4().hex[:6]}")
    stack_file = stack(tmp_path, name)
    state = {"XDG_STATE_HOME": str(tmp_path / "state"), "XDG_RUNTIME_DIR": "/proc"}
    up = _aima("up", "--images", catalog(tmp_path, "images.yaml", stub_image), "--stack", stack_file, "--no-verify",
               **state)
    assert up.returncode == 0, up.stderr
    assert up.stderr.count("warning: XDG_RUNTIME_DIR=/proc ") == 1
    assert f"aima keeps its stack locks in /tmp/aima-{os.getuid()} instead" in up.stderr
    assert set(containers(engine.client, name)) == {"asr", "llm", "tts"}
    down = _aima("down", "--stack", stack_file, **state)
    assert down.returncode == 0, down.stderr
    assert containers(engine.client, name) == {}
    assert not os.path.exists("/proc/aima")
