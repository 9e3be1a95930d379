"""Word error rate after normalisation: how far what the ASR engine heard is from what was said.

WER = (substitutions + deletions + insertions) / words said, by word-level edit distance (Levenshtein).
Normalisation first, so that spelling choices an engine may make are not errors: lower case, Unicode
accents folded, punctuation dropped (apostrophes inside words kept), hyphens split words, digits spelled
out (0–999 999, as whisper sometimes writes "3" for "three"), and bracketed non-speech tags
("[BLANK_AUDIO]", "(music)") removed.
"""

from __future__ import annotations

import re
import unicodedata

_TAGS = re.compile(r"\[[^\]]*\]|\([^)]*\)|<[^>]*>|\*[^*]*\*")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
         "seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def spell_number(n: int) -> str:
    """English words for 0 <= n < 1 000 000 ('forty two'); digits beyond that stay digits."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    if n < 1000:
        rest = n % 100
        return _ONES[n // 100] + " hundred" + ("" if rest == 0 else " " + spell_number(rest))
    if n < 1_000_000:
        rest = n % 1000
        return spell_number(n // 1000) + " thousand" + ("" if rest == 0 else " " + spell_number(rest))
    return str(n)


def _digits(match: re.Match[str]) -> str:
    parts = re.split(r"[.,]", match.group(0))
    if len(parts) == 2 and len(parts[1]) != 3:  # 3.5 -> three point five (a thousands comma has 3 digits)
        return f" {spell_number(int(parts[0]))} point {' '.join(_ONES[int(d)] for d in parts[1])} "
    return f" {spell_number(int(''.join(parts)))} "


def normalise(text: str) -> list[str]:
    """The words of text as compared: lower case, no accents, no punctuation, numbers spelled out."""
    text = _TAGS.sub(" ", text)
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    text = text.replace("\u2019", "'").replace("-", " ")
    text = _NUMBER.sub(_digits, text)
    text = re.sub(r"[^\w\s']", " ", text)
    words = (w.strip("'_") for w in text.split())
    return [w for w in words if w]


def edit_distance(said: list[str], heard: list[str]) -> int:
    """Word-level Levenshtein distance: substitutions + deletions + insertions."""
    previous = list(range(len(heard) + 1))
    for i, word in enumerate(said, 1):
        current = [i]
        for j, other in enumerate(heard, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (word != other)))
        previous = current
    return previous[-1]


def word_error_rate(said: str, heard: str) -> float:
    """WER of heard against said after normalisation (0.0 = identical; may exceed 1.0 with insertions)."""
    reference, hypothesis = normalise(said), normalise(heard)
    if not reference:
        return 0.0 if not hypothesis else 1.0
    return edit_distance(reference, hypothesis) / len(reference)
