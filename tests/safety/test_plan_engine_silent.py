"""`aima plan` on a host whose catalogue has local-only images asks the engine whether it has them. When the engine
does not answer, the plan says so (a warning naming what was found) instead of waiting in silence and passing the
images over without a word. Real silent server on 127.0.0.1; the real CLI."""

from __future__ import annotations

import json

from tests.e2e.upkit import aima
from tests.harness.listeners import SILENT, listening, refused_port

CATALOGUE = """\
version: 1
engines:
  asr:
    candidates:
      - id: asr-built-by-hand
        image: aima-test/asr:local
        gpu: false
        platforms: [linux/amd64, linux/arm64]
        port: 8080
        health: {path: /health}
        local_only: built by hand from a private recipe
"""


def test_plan_says_the_engine_was_not_asked_about_local_only_images(tmp_path, monkeypatch):
    monkeypatch.setenv("AIMA_CONNECT_TIMEOUT", "1")
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{refused_port()}")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    images = tmp_path / "images.yaml"
    images.write_text(CATALOGUE)
    with listening(SILENT) as server:
        monkeypatch.setenv("DOCKER_HOST", server.url)
        result = aima("plan", "--images", images, "--json")
        text = aima("plan", "--images", images)
    doc = json.loads(result.out)
    said = [w for w in doc["warnings"] if "local-only images aima-test/asr:local" in w]
    assert said and "did not answer GET /_ping within 1 s" in said[0], doc["warnings"]
    assert "could not ask the container engine" in text.out + text.err
