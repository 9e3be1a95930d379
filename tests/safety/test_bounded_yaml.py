"""Bounded input: alias bombs, endless or huge files and millions of keys are refused in well under a
second with file:line, through every loader and through the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from aima import yamlfile
from aima.errors import ConfigError
from tests.conftest import REPO
from tests.fuzz import targets


def alias_bomb(levels: int) -> str:
    """The billion-laughs document: each level repeats the previous one eight times."""
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 8) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


HOSTILE = {
    "alias-bomb": (alias_bomb(12), "expands to more than"),
    "recursive-alias": ("engines: &e {asr: *e}\n", "refers to itself"),
    "many-keys": ("".join(f"k{i}: v\n" for i in range(yamlfile.MAX_KEYS + 1)), "keys; aima reads at most"),
    "deep-nesting": ("a: " + "[" * 80 + "]" * 80 + "\n", "nested more than"),
    "huge": ("# " + "x" * yamlfile.MAX_FILE_BYTES + "\n", "too large"),
}


@pytest.mark.parametrize("loader", ["catalog", "profile", "stack", "signatures"])
@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_yaml_is_refused_fast_by_every_loader(loader, case, tmp_path):
    text, words = HOSTILE[case]
    path = tmp_path / "f.yaml"
    path.write_text(text)
    started = time.monotonic()
    with pytest.raises(ConfigError) as info:
        targets.reader(loader)(path)
    assert words in str(info.value) and str(path) in str(info.value)
    assert "\n" not in str(info.value)
    # Not a timed assert on speed, a guard against the minutes an unbounded walk took.
    assert time.monotonic() - started < 30


def test_alias_bomb_names_the_line_of_the_alias(tmp_path):
    with pytest.raises(ConfigError) as info:
        yamlfile.parse(alias_bomb(12), "bomb.yaml")
    assert info.value.line is not None and 1 < info.value.line <= 12


def test_ordinary_aliases_still_work():
    root = yamlfile.parse("base: &b {cpus: 2}\nllm: *b\nasr: *b\n", "ok.yaml")
    assert root.plain() == {"base": {"cpus": 2}, "llm": {"cpus": 2}, "asr": {"cpus": 2}}


@pytest.mark.parametrize("special", ["/dev/zero", "/dev/null", "fifo", "directory"])
def test_non_regular_files_are_refused_without_reading(special, tmp_path):
    path = special
    if special == "fifo":
        path = str(tmp_path / "pipe.yaml")
        os.mkfifo(path)  # opening it would block until a writer comes
    elif special == "directory":
        path = str(tmp_path)
    with pytest.raises(ConfigError) as info:
        yamlfile.load(path)
    assert "regular file" in str(info.value) or "directory" in str(info.value)


def test_stack_dev_zero_through_the_cli_is_one_line_and_quick():
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "aima", "plan", "--stack", "/dev/zero", "--hardware",
                           str(REPO / "profiles" / "a100.yaml")], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "/dev/zero: not a regular file" in proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr
    assert time.monotonic() - started < 60


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_fuzz_target_accepts_the_hostile_documents(case, tmp_path):
    targets.load_yaml("stack", HOSTILE[case][0], tmp_path)
