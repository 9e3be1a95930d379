"""Sources as users see them: the catalogue's and the knowledge base's internal shorthand left out.

The data files cite where each fact comes from with the project's own shorthand: "seed 004" (a field report in
shared/seeds/) and "facts §6c" (a section of shared/research/cuda-facts.md). Those stay in the files and the
docs, where a maintainer follows them; a user cannot, so every text printed to a user is passed through
``public`` and keeps only the public part (a repository path, a release note, an issue number).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# One reference: "facts §6c", "cuda-facts §8.1 and §2", "§4b", "facts U3", "seed 004", "seed 004's".
_ONE = r"(?:(?:cuda-)?facts\s+)?(?:§\s?[\w.]+|U\d+)(?:\s*(?:,|and)\s*§\s?[\w.]+)*|seed\s+\d{3}(?:'s)?"
_REF = rf"(?:{_ONE})(?:\s*[,;]\s*(?:{_ONE}))*"
_DETAIL = r"(?:\s*\([^()]*\))?"  # "seed 000 (RTX 5070 Ti rebuild)": a report's detail goes with it
_FACTS_WITH_DETAIL = r"(?:cuda-)?facts\s+(?:§\s?[\w.]+|U\d+)(?:\s*(?:,|and)\s*§\s?[\w.]+)*\s*\(([^()]*)\)"
_RULES = (
    (re.compile(_FACTS_WITH_DETAIL), r"\1"),  # "cuda-facts §8.1 (ggml/src/ggml-cuda/common.cuh)": the public part
    (re.compile(rf"\s*\(\s*(?:{_REF})\s*\)"), ""),  # "(facts §6a)", "(seed 002)"
    (re.compile(rf"\(\s*(?:{_REF}){_DETAIL}\s*[;,]\s*"), "("),  # "(seed 004; triton#8539)" -> "(triton#8539)"
    (re.compile(rf"\s*[;,]\s*(?:{_REF}){_DETAIL}(?=\s*(?:[;,)]|$))"), ""),  # "...; seed 004; facts §9" at the end
    (re.compile(rf"^\s*(?:{_REF}){_DETAIL}\s*(?:[;,]\s*|$)"), ""),  # "seed 000 (...); recipes/..." at the start
)
SHORTHAND = re.compile(r"§|\bseed\s+\d{3}|\bfacts\s+(?:§|U\d)")


def public(text: str) -> str:
    """``text`` without the internal shorthand references; what is left reads on its own."""
    before = None
    while before != text:
        before = text
        for pattern, replacement in _RULES:
            text = pattern.sub(replacement, text)
    return text.strip()


def public_list(sources: Iterable[str]) -> str:
    """Several sources as one line for users, each without its shorthand, the empty ones dropped."""
    return "; ".join(p for p in (public(s) for s in sources) if p)
