"""Run the real CLI in this test's process, through aima.cli.main (the CLI's own error boundary)."""

from __future__ import annotations

import contextlib
import io


def run_cli(*args: object) -> tuple[int, str, str]:
    """`aima ARGS` in this process: (exit code, stdout, stderr)."""
    from aima.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main([str(a) for a in args])
    return rc, out.getvalue(), err.getvalue()
