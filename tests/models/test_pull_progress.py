"""`aima pull`'s progress as a user sees it: a rich bar per file on a terminal, plain lines in a log or a pipe."""

from __future__ import annotations

import hashlib
import re

from aima.models.cache import RepoCache
from tests.e2e.upkit import aima
from tests.harness.terminal import run_on_terminal

from .conftest import BIG
from .test_pull_cli import _args

LABEL = "ggerganov/whisper.cpp/ggml-tiny.bin"


def test_on_a_terminal_each_file_has_a_bar_with_its_bytes_rate_and_time_left(hf, env, tmp_path):
    hf.faults.rate = 3 * 2**20  # about a second: the bar is redrawn while the file arrives
    code, text = run_on_terminal("pull", *_args(tmp_path))
    assert code == 0, text[-2000:]
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)
    bars = [line for line in re.split(r"[\r\n]+", plain) if line.startswith(LABEL) and "━" in line]
    assert bars, plain[-2000:]
    assert re.search(r"\b1\.\d/3\.0 MiB\b", " ".join(bars))  # redrawn part way
    assert re.search(r"3\.0/3\.0 MiB +\d+\.\d MiB/s +0:00:00$", bars[-1].rstrip()), bars[-1]  # bytes, rate, ETA
    assert re.search(r"\d:\d\d:0[1-9]", " ".join(bars))  # a time left while it ran
    assert "MB/s" not in plain  # one unit: MiB
    assert "1 downloaded (3.0 MiB over the network)" in plain


def test_in_a_log_plain_lines_say_the_start_each_ten_percent_and_the_end(hf, env, tmp_path):
    hf.faults.rate = 6 * 2**20  # buffers handed over every 0.1 s: several 10 % steps
    result = aima("pull", *_args(tmp_path))  # stderr is not a terminal
    assert result.rc == 0, result.err
    lines = result.err.splitlines()
    assert lines[0] == "models: 1 file(s), 3.0 MiB to download"
    assert lines[1] == f"{LABEL}: downloading 3.0 MiB"
    steps = [int(m[1]) for line in lines if (m := re.match(rf"{re.escape(LABEL)}: (\d+) % \(", line))]
    assert len(steps) >= 2 and steps == sorted(set(steps)) and all(s % 10 == 0 and 0 < s < 100 for s in steps)
    assert lines[-1] == f"{LABEL}: downloaded and verified (3.0 MiB)"
    assert "\x1b[" not in result.err  # no terminal codes in a log


def test_in_a_log_a_resumed_file_says_where_it_resumed(hf, env, tmp_path):
    partial = RepoCache(env, "ggerganov/whisper.cpp").partial(hashlib.sha256(BIG).hexdigest())
    partial.parent.mkdir(parents=True)
    partial.write_bytes(BIG[:2**20])  # what an earlier, interrupted pull left
    result = aima("pull", *_args(tmp_path))
    assert result.rc == 0, result.err
    assert "models: 1 file(s), 2.0 MiB to download" in result.err
    assert f"{LABEL}: resuming at 1.0 MiB of 3.0 MiB" in result.err
    assert f"{LABEL}: resumed, downloaded and verified (3.0 MiB)" in result.err
    assert hf.log.body_bytes == len(BIG) - 2**20
