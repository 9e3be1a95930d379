"""`aima plan` says which facts were read from an image digest and which are only cited."""

from __future__ import annotations

import json

from aima.cli import main

DIGEST = "sha256:" + "ab" * 32


def test_plan_says_verified_from_which_digest_or_only_cited(tmp_path, capsys):
    override = tmp_path / "images.yaml"
    override.write_text(f"""version: 1
engines:
  asr:
    candidates:
      - id: whisper-cpp-cpu
        image: ghcr.io/ggml-org/whisper.cpp:main
        verified: {{linux/amd64: {{digest: "{DIGEST}", at: "2026-11-30"}}}}
        gpu: false
        platforms: [linux/amd64]
        source: a test
        port: 8080
        entrypoint: [bash, -c]
        command: ["whisper-server --host 0.0.0.0 --port {{port}} -t {{threads}} -m {{model_path}}"]
        model_format: ggml
""")
    assert main(["plan", "--hardware", "cpu-x86_64", "--images", str(override), "--json"]) == 0
    engines = json.loads(capsys.readouterr().out)["engines"]
    assert engines["asr"]["facts"] == {"status": "verified", "digest": DIGEST, "read_at": "2026-11-30",
                                       "source": "a test"}
    assert engines["llm"]["facts"]["status"] == "cited" and engines["llm"]["facts"]["digest"] is None
    assert main(["plan", "--hardware", "cpu-x86_64", "--images", str(override)]) == 0
    out = capsys.readouterr().out
    assert f"facts: verified from {DIGEST} (read 2026-11-30)" in out
    assert "facts: only cited: ggml-org/llama.cpp docs/docker.md" in out
