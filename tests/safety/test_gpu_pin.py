"""Issue 13 item 9: a stack's `gpu: 7` on a machine without GPU 7 is an error at file:line naming the GPUs there are."""

from __future__ import annotations

from tests.harness.cli import run_cli as run


def test_a_pin_to_a_missing_gpu_names_file_line_and_the_gpus(tmp_path):
    stack = tmp_path / "aima.yaml"
    stack.write_text("engines:\n  llm:\n    gpu: 7\n")
    rc, _, err = run("plan", "--hardware", "2x-rtx-3090", "--stack", str(stack))
    assert rc == 1
    assert err.startswith(f"error: {stack}:3: engines.llm.gpu: no GPU 7 on 2x-rtx-3090; its GPUs: 0 (")
    assert ", 1 (" in err


def test_a_pin_to_an_existing_gpu_plans(tmp_path):
    stack = tmp_path / "aima.yaml"
    stack.write_text("engines:\n  llm:\n    gpu: 1\n")
    rc, out, err = run("plan", "--hardware", "2x-rtx-3090", "--stack", str(stack))
    assert rc == 0, err
    assert "llm -> " in out
