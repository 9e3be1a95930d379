"""Dotted version numbers (driver 580.65.06, CUDA 12.8, Docker API 1.40) compared with packaging's Version.

Compared release part by release part as numbers, with missing parts as zero, so 12 == 12.0 and 1.4 < 1.40:
the rule nvidia-container-cli applies to NVIDIA_REQUIRE_* terms (dsl_compare_version) and Docker to API
versions. Callers check the shape first (digits and dots); PEP 440's extras (pre-releases, epochs) never reach
here. packaging is imported on the first comparison, not by `aima --help`.
"""

from __future__ import annotations

import functools
import operator
from typing import Any

_OPERATORS = {"=": operator.eq, "==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
              ">": operator.gt, ">=": operator.ge}


@functools.lru_cache(maxsize=256)
def version(text: str) -> Any:
    """A packaging Version for a dotted number; ValueError when the text is not one."""
    from packaging.version import InvalidVersion, Version

    try:
        # Empty parts are skipped ("12." is 12), as the old tuple reading of NVIDIA_REQUIRE terms did.
        return Version(".".join(part for part in text.split(".") if part))
    except InvalidVersion:
        raise ValueError(f"not a version number: {text!r}") from None


def compare(left: str, op: str, right: str) -> bool:
    """``left op right`` for dotted numbers; op is one of = == != < <= > >=."""
    return bool(_OPERATORS[op](version(left), version(right)))
