"""Word error rate after normalisation: what whisper writes for what was said."""

from __future__ import annotations

import pytest

from aima.verify.wer import normalise, word_error_rate


@pytest.mark.parametrize("said, heard, expected", [
    ("The quick brown fox jumps over the lazy dog.", " The quick brown fox jumps over the lazy dog.", 0.0),
    ("The quick brown fox jumps over the lazy dog.", "the quick brown fox jumped over the lazy dog", 1 / 9),
    ("The quick brown fox jumps over the lazy dog.", "[BLANK_AUDIO]", 1.0),
    ("It costs 42 dollars.", "It costs forty-two dollars!", 0.0),
    ("Café au lait, s'il vous plaît.", "cafe au lait s'il vous plait", 0.0),
    ("Please turn on the lights.", "please turn on the lights in the kitchen", 3 / 5),
    ("one two three", "", 1.0),
    ("", "", 0.0),
], ids=["leading-space", "one-substitution", "blank-tag", "digits", "accents", "insertions", "nothing-heard",
        "nothing-said"])
def test_word_error_rate(said, heard, expected):
    assert word_error_rate(said, heard) == pytest.approx(expected)


def test_normalise_spells_numbers_and_drops_punctuation():
    assert normalise("At 3.5 GHz, 1,200 users (music) said: \u201cdon\u2019t!\u201d") == \
        "at three point five ghz one thousand two hundred users said don't".split()
