"""`aima inspect` progress: a line per tenth of the image (or every 10 s) and at the end; the same as JSON events."""

from __future__ import annotations

import json

from aima.inspect.image import ScanProgress
from aima.render.inspect import InspectLines
from tests.launch.test_wait import FakeClock

GB = 10**9


def _read(out: InspectLines, clock: FakeClock, steps: list[tuple[float, int]], total: int = 8 * GB) -> None:
    for when, read in steps:
        clock.now = when
        out(ScanProgress("vllm/vllm-openai:v0.11.0", read, total, read // 10**6, read // 10**8, f"/usr/lib/f{read}"))


def test_plain_lines_each_tenth_and_every_ten_seconds_not_each_file():
    clock, lines = FakeClock(0), []
    out = InspectLines(lines.append, clock=clock)
    _read(out, clock, [(0.1 * i, i * 10**7) for i in range(1, 50)])  # 49 files within 5 s, 0.49 GB: under 10 %
    assert len(lines) == 1 and lines[0].startswith("inspect vllm/vllm-openai:v0.11.0: 10.0 MB of 8.00 GB (0 %) read")
    _read(out, clock, [(5, 9 * 10**8)])  # passes 10 %
    _read(out, clock, [(16, 9 * 10**8 + 1)])  # 11 s later, same tenth
    _read(out, clock, [(17, 9 * 10**8 + 2)])
    assert [line.split(" read")[0] for line in lines[1:]] == [
        "inspect vllm/vllm-openai:v0.11.0: 900.0 MB of 8.00 GB (11 %)",
        "inspect vllm/vllm-openai:v0.11.0: 900.0 MB of 8.00 GB (11 %)"]
    out(ScanProgress("vllm/vllm-openai:v0.11.0", 8 * GB, 8 * GB, 0, 412, "/usr/lib/last", final=True))
    assert lines[-1] == "inspect vllm/vllm-openai:v0.11.0: read 8.00 GB in 17.0 s, 412 ELF files"


def test_json_events_carry_bytes_files_and_the_path():
    clock, lines = FakeClock(0), []
    out = InspectLines(lines.append, as_json=True, clock=clock)
    _read(out, clock, [(1, GB)])
    out(ScanProgress("img", 2 * GB, 8 * GB, 10, 2, "/x", final=True))
    assert [json.loads(line) for line in lines] == [
        {"event": "inspect", "image": "vllm/vllm-openai:v0.11.0", "read_bytes": GB, "total_bytes": 8 * GB,
         "files": 1000, "elf_files": 10, "path": f"/usr/lib/f{GB}", "final": False},
        {"event": "inspect", "image": "img", "read_bytes": 2 * GB, "total_bytes": 8 * GB, "files": 10,
         "elf_files": 2, "path": "/x", "final": True}]


def test_a_path_with_control_characters_is_escaped():
    lines: list[str] = []
    InspectLines(lines.append)(ScanProgress("img", 1, 10, 1, 0, "/usr/lib/\x1b[2Jevil\nx"))
    assert "\x1b" not in lines[0] and "\n" not in lines[0]
