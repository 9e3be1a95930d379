"""Write `verified:` pins into a catalogue file in place, keeping its comments and layout.

Each candidate gets one flow-style line right after its ``image:`` line (an existing one-line
``verified:`` is replaced): ``verified: {linux/amd64: {digest: "sha256:…", at: "2026-11-30"}}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from aima import yamlfile
from aima.errors import AimaError


def pin_line(indent: str, pins: Mapping[str, str], at: str) -> str:
    """The ``verified:`` line for platform -> digest, read at ``at``."""
    inner = ", ".join(f'{p}: {{digest: "{d}", at: "{at}"}}' for p, d in sorted(pins.items()))
    return f"{indent}verified: {{{inner}}}\n"


def write_pins(path: Path, pins: Mapping[tuple[str, str], Mapping[str, str]], at: str) -> int:
    """Set (engine, candidate id) -> {platform: digest} in the file; return how many candidates changed."""
    root = yamlfile.load(path)
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    edits: list[tuple[int, int, str]] = []  # (first line index, lines replaced, new text)
    engines = root.mapping()["engines"].mapping()
    for (engine, cid), by_platform in pins.items():
        if engine not in engines or "candidates" not in engines[engine].mapping():
            continue
        for item in engines[engine].mapping()["candidates"].items():
            c = item.mapping()
            if c["id"].str() != cid:
                continue
            image_line = c["image"].line  # 1-based
            indent = lines[image_line - 1][: len(lines[image_line - 1]) - len(lines[image_line - 1].lstrip())]
            text = pin_line(indent, by_platform, at)
            if "verified" in c:
                line = c["verified"].line
                key_line = next(i for i in range(line, 0, -1) if lines[i - 1].lstrip().startswith("verified:"))
                if "{" not in lines[key_line - 1] or lines[key_line - 1].count("{") != lines[key_line - 1].count("}"):
                    raise AimaError(f"{path}:{key_line}: verified: write it on one line (flow style) so that "
                                    "`aima catalog verify --pin` can replace it")
                edits.append((key_line - 1, 1, text))
            else:
                edits.append((image_line, 0, text))
    for index, count, text in sorted(edits, reverse=True):
        lines[index:index + count] = [text]
    path.write_text("".join(lines), encoding="utf-8")
    return len(edits)
