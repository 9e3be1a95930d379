"""The inspection cache on disk: JSON per image ID, plus an index from image references to IDs.

Light on purpose (json and pathlib only): `aima plan` reads it on every run to prefer the archs read
from the binaries over the catalogue's declared ones.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

REFS_FILE = "refs.json"


def default_cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where inspections are cached: ``$XDG_CACHE_HOME/aima/inspect``, else ``~/.cache/aima/inspect``."""
    from aima.parsecache import cache_home

    return cache_home(environ) / "inspect"


def cache_path(image_id: str, cache_dir: Path) -> Path:
    """The JSON file of one image ID."""
    # "sha256:abc..." -> "sha256-abc....json"; anything odd is flattened so a name can never leave the dir.
    return Path(cache_dir) / (re.sub(r"[^A-Za-z0-9._-]", "-", image_id).lstrip(".") + ".json")


def write_json_atomically(path: Path, data: object) -> None:
    """Write JSON so that a reader never sees half a file; a cache folder that cannot be written only warns (once):
    the result in hand is used all the same, it is just not kept."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    except OSError as exc:
        from aima.paths import warn_once

        warn_once(f"cannot write aima's cache in {path.parent} ({exc.strerror or exc}): results are used but not "
                  "kept (set XDG_CACHE_HOME to a writable absolute path)")
        return
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=1, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # a cache is a convenience: unreadable means "not cached"
    return data if isinstance(data, dict) else None


def record_ref(image_ref: str, image_id: str, cache_dir: Path) -> None:
    """Remember which image ID a reference pointed at when it was inspected."""
    refs = _read_json(Path(cache_dir) / REFS_FILE) or {}
    refs[image_ref] = image_id
    write_json_atomically(Path(cache_dir) / REFS_FILE, refs)


def cached_archs(images: Iterable[str], cache_dir: Path | None = None) -> dict[str, tuple[str, str]]:
    """image ref -> (archs in parse_targets spelling, "inspected <image id>") for refs with a cached inspection."""
    from aima.errors import AimaError

    try:
        folder = default_cache_dir() if cache_dir is None else Path(cache_dir)
    except AimaError:  # no usable home folder: nothing is cached there (the caller reports the home folder)
        return {}
    refs = _read_json(folder / REFS_FILE)
    if not refs:
        return {}
    found: dict[str, tuple[str, str]] = {}
    for ref in images:
        image_id = refs.get(ref)
        if not isinstance(image_id, str):
            continue
        data = _read_json(cache_path(image_id, folder))
        if not data or data.get("image_id") != image_id:
            continue
        archs = [str(a) for a in list(data.get("sass", [])) + list(data.get("ptx", []))
                 if str(a).startswith(("sm_", "compute_"))]
        if archs:
            found[ref] = (";".join(archs), f"inspected {image_id[:19]}")
    return found
