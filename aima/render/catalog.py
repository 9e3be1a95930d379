"""`aima images` for people (a table per engine, candidates in priority order) and for programs (JSON)."""

from __future__ import annotations

import dataclasses
from typing import Any

from aima.catalog.model import Catalog
from aima.render import console


def catalog_dict(catalog: Catalog) -> dict[str, Any]:
    """The catalogue as JSON: its source files and every engine's candidates, CUDA versions as text."""
    return {"sources": list(catalog.sources), "engines": {
        e.name: [{**dataclasses.asdict(c), "cuda": c.cuda and str(c.cuda),
                  "runtime_compiler_cuda": c.runtime_compiler_cuda and str(c.runtime_compiler_cuda)}
                 for c in e.candidates] for e in catalog.engines}}


def catalog_tables(catalog: Catalog) -> None:
    """One table per engine: candidate, image, GPU or CPU, platforms, CUDA, archs, official."""
    for e in catalog.engines:
        rows = [[c.id, c.image, "GPU" if c.gpu else "CPU", ",".join(p.split("/")[1] for p in c.platforms),
                 str(c.cuda or "-"), c.archs or "-", "yes" if c.official else "no"] for c in e.candidates]
        console.table(f"{e.name} (CPU allowed: {'yes' if e.allow_cpu else 'no'})",
                      ["candidate", "image", "runs on", "platforms", "CUDA", "archs", "official"], rows)
