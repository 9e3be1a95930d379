"""What aima has built on this machine: image reference -> recipe hash, image id, proven archs.

Light (json and pathlib only): `aima plan` reads it on every run to say "built here" without asking Docker.
It lives next to the inspect cache: ``$XDG_CACHE_HOME/aima/builds.json``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from aima.inspect.cache import default_cache_dir, write_json_atomically

FILE = "builds.json"


@dataclass(frozen=True)
class Record:
    """One proven build."""

    recipe_hash: str
    image_id: str
    archs: tuple[str, ...]
    seconds: float


def _path(inspect_dir: Path | None) -> Path:
    return (default_cache_dir() if inspect_dir is None else Path(inspect_dir)).parent / FILE


def load(inspect_dir: Path | None = None) -> dict[str, Record]:
    """Every record; an unreadable file counts as none (a cache, never an error)."""
    try:
        data = json.loads(_path(inspect_dir).read_text(encoding="utf-8"))
        return {ref: Record(str(r["recipe_hash"]), str(r["image_id"]), tuple(r["archs"]), float(r["seconds"]))
                for ref, r in data.items()}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return {}


def save(image: str, record: Record, inspect_dir: Path | None = None) -> None:
    """Remember one proven build of an image reference."""
    found = {ref: asdict(r) for ref, r in load(inspect_dir).items()}
    found[image] = asdict(record)
    write_json_atomically(_path(inspect_dir), found)
