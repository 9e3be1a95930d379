"""Dotted version numbers compare part by part as numbers, the way the toolkit and Docker compare them."""

from __future__ import annotations

import pytest

from aima.versions import compare


@pytest.mark.parametrize("left, op, right, holds", [
    ("12.0", "=", "12", True),  # dsl_compare_version: trailing zeros do not count
    ("580.65.06", "=", "580.65.6", True),
    ("580.65.06", ">=", "580", True),
    ("535.104.05", "<", "535.104.12", True),
    ("1.4", "<", "1.40", True),  # numbers, not text: a Docker API 1.4 is older than 1.40
    ("1.41", "<", "1.40", False),
    ("12.8", "!=", "12.8.0", False),
    ("13", ">", "12.9", True),
    ("12.", "=", "12", True),  # the NVIDIA_REQUIRE grammar lets empty parts through; they count for nothing
], ids=lambda v: str(v))
def test_dotted_numbers(left, op, right, holds):
    assert compare(left, op, right) is holds


def test_not_a_number_is_a_value_error():
    with pytest.raises(ValueError, match="not a version number"):
        compare("abc", "<", "1.40")
