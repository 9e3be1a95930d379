"""`aima doctor` through the real CLI: --logs offline diagnosis of every seed line, JSON shape, exit codes 0/1/2."""

from __future__ import annotations

import io
import json
import sys

import pytest

from aima.cli import main
from aima.knowledge import load_knowledge
from tests.diagnose.test_knowledge import SEED_LINES


def _run(capsys, *args):
    rc = main([str(a) for a in args])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


@pytest.mark.parametrize(("seed", "line"), SEED_LINES, ids=[f"seed-{n}-{i}" for i, (n, _) in enumerate(SEED_LINES)])
def test_every_seed_line_in_a_saved_log_is_diagnosed_with_its_remedy(tmp_path, capsys, seed, line):
    log = tmp_path / "engine.log"
    log.write_text(f"stub: starting\n{line}\nstub: exiting\n")
    rc, out, err = _run(capsys, "doctor", "--logs", log, "--json")
    expected = load_knowledge().match_line(line)
    report = json.loads(out)
    check = next(c for c in report["checks"] if c["id"] == f"logs.{expected.signature_id}")
    assert rc == 1 and not report["ok"] and err == ""
    assert check["status"] == "fail" and check["remedy"] == expected.remedy
    assert check["details"]["line_number"] == 2 and check["details"]["source"] == expected.source
    assert {c["group"] for c in report["checks"]} == {"logs"}


def test_seed_004_log_ranks_the_ptxas_cause_before_the_wrapper_lines(tmp_path, capsys):
    log = tmp_path / "vllm.log"
    log.write_text("PTXAS error\nptxas fatal: Value 'sm_121a' is not defined for option 'gpu-name'\n"
                   "RuntimeError: Engine core initialization failed. See root cause above.\n")
    rc, out, _ = _run(capsys, "doctor", "--logs", log, "--engine", "llm", "--json")
    ids = [c["id"] for c in json.loads(out)["checks"]]
    assert rc == 1
    assert ids == ["logs.read", "logs.triton-ptxas-unknown-arch", "logs.triton-ptxas-error",
                   "logs.vllm-engine-core-init-failed"]


def test_the_table_shows_meaning_remedy_and_source(tmp_path, capsys):
    log = tmp_path / "whisper.log"
    log.write_text("CUDA kernel mul_mat_vec has no device code compatible with CUDA arch 520\n")
    rc, out, _ = _run(capsys, "doctor", "--logs", log, "--engine", "asr")
    flat = " ".join(out.split())
    assert rc == 1
    assert "logs.ggml-no-device-code-for-arch" in out
    assert "compute capability 5.2" in flat and "CMAKE_CUDA_ARCHITECTURES" in flat
    assert "source:" in flat and "seed 000" not in flat  # the public sources, not the shorthand


def test_a_clean_log_exits_zero(tmp_path, capsys):
    log = tmp_path / "ok.log"
    log.write_text("stub: ready\n")
    rc, out, _ = _run(capsys, "doctor", "--logs", log, "--json")
    report = json.loads(out)
    assert rc == 0 and report["ok"] and report["checks"][0]["summary"].startswith("no known failure in 1 lines")


def test_logs_from_stdin(capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("GGML ASSERT(ptr == (void *)((char *)(pool_addr) + pool_used)) "
                                                  "failed\n"))
    rc, out, _ = _run(capsys, "doctor", "--logs", "-", "--json")
    ids = [c["id"] for c in json.loads(out)["checks"]]
    assert rc == 1 and "logs.ggml-vmm-pool-assert" in ids


@pytest.mark.parametrize("args", [
    ["doctor", "--engine", "llm"],
    ["doctor", "--logs", "/nonexistent/aima.log"],
    ["doctor", "--logs", "-", "--engine", "whisper"],
    ["doctor", "--images", "/nonexistent/images.yaml"],
    ["doctor", "--hardware", "no-such-machine"],
    ["doctor", "--no-such-option"],
], ids=["engine-without-logs", "missing-log", "unknown-engine", "missing-catalogue", "unknown-profile",
        "unknown-option"])
def test_bad_usage_exits_2_without_a_traceback(capsys, args):
    rc, out, err = _run(capsys, *args)
    assert rc == 2
    assert "Traceback" not in out + err


def test_json_of_a_full_run_has_stable_ids_and_keys(capsys, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/aima-doctor-test.sock")
    rc, out, err = _run(capsys, "doctor", "--json")
    report = json.loads(out)
    assert rc == 1 and "Traceback" not in err
    assert set(report) == {"ok", "counts", "elapsed_s", "checks"}
    for check in report["checks"]:
        assert set(check) == {"id", "group", "status", "summary", "remedy", "details"}
        assert check["status"] in ("ok", "warn", "fail")
    ids = {c["id"] for c in report["checks"]}
    assert {"host.platform", "gpu.nvml", "docker.reachable", "engines.plan", "engine.llm.image",
            "engine.llm.port", "containers.found"} <= ids
    assert report["elapsed_s"] < 5
