"""Issue 13 item 9: --expose warns that it binds every interface, and the plan shows the real bind address."""

from __future__ import annotations

import json

from tests.harness.cli import run_cli as run


def test_expose_warns_and_the_plan_shows_the_bind_address():
    rc, out, _ = run("plan", "--hardware", "rtx-4090", "--expose")
    assert rc == 0
    assert "endpoint: http://127.0.0.1:8000 (bound to 0.0.0.0:8000," in out
    assert "warning: llm: --expose publishes port 8000 on 0.0.0.0, every network interface" in out

    rc, out, _ = run("plan", "--hardware", "rtx-4090", "--expose", "--json")
    doc = json.loads(out)
    assert any("--expose publishes port 8000 on 0.0.0.0" in w for w in doc["warnings"])


def test_without_expose_the_plan_shows_loopback_and_no_warning():
    rc, out, _ = run("plan", "--hardware", "rtx-4090")
    assert rc == 0
    assert "(bound to 127.0.0.1:8000," in out and "--expose" not in out
