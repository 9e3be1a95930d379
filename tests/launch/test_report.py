"""The pull display: per-layer bars from the SDK's streamed status on a terminal, one line per image elsewhere."""

from __future__ import annotations

import io

from rich.console import Console

from aima.render.progress import RichPulls

EVENTS = [
    {"status": "Pulling from vllm/vllm-openai", "id": "v0.15.0"},
    {"status": "Pulling fs layer", "progressDetail": {}, "id": "a1b2c3"},
    {"status": "Downloading", "progressDetail": {"current": 1024, "total": 4096}, "id": "a1b2c3"},
    {"status": "Downloading", "progressDetail": {"current": 4096, "total": 4096}, "id": "a1b2c3"},
    {"status": "Download complete", "progressDetail": {}, "id": "a1b2c3"},
    {"status": "Extracting", "progressDetail": {"current": 2048, "total": 4096}, "id": "a1b2c3"},
    {"status": "Pull complete", "progressDetail": {}, "id": "a1b2c3"},
    {"status": "Already exists", "progressDetail": {}, "id": "d4e5f6"},
    {"status": "Digest: sha256:0123"},
    {"status": "Status: Downloaded newer image for vllm/vllm-openai:v0.15.0"},
]


def _run(terminal: bool) -> tuple[RichPulls, str]:
    buffer = io.StringIO()
    pulls = RichPulls(Console(file=buffer, force_terminal=terminal, width=100, highlight=False))
    on_event = pulls.events("vllm/vllm-openai:v0.15.0")
    for event in EVENTS:
        on_event(event)
    pulls.done("vllm/vllm-openai:v0.15.0", True)
    return pulls, buffer.getvalue()


def test_each_layer_gets_a_bar_that_ends_complete():
    pulls, out = _run(terminal=True)
    tasks = {t.description.split()[1]: t for t in pulls.progress.tasks}
    assert set(tasks) == {"a1b2c3", "d4e5f6"}
    assert tasks["a1b2c3"].completed == tasks["a1b2c3"].total == 4096
    assert "pull complete" in tasks["a1b2c3"].description
    assert not tasks["d4e5f6"].visible  # a cached layer has nothing to show
    assert "pulled vllm/vllm-openai:v0.15.0 (1 layer downloaded)" in out


def test_without_a_terminal_one_line_per_image():
    _, out = _run(terminal=False)
    assert out.splitlines() == ["pulling vllm/vllm-openai:v0.15.0 …",
                                "pulled vllm/vllm-openai:v0.15.0 (1 layer downloaded)"]
