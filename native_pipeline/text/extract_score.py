"""How close an extract is to a page's gold main text: one token F1 for benchmark and tests.

Tokens are Arabic-script words (letters and diacritics; Arabic punctuation and digits left
out), compared as bags, so line breaks and word order do not count, repeated words do.
"""

from __future__ import annotations

import re
from collections import Counter

ARABIC_WORD = re.compile(r"[\u0621-\u065F\u0670-\u06D3\u06FA-\u06FF]+")


def tokens(text: str) -> Counter[str]:
    return Counter(ARABIC_WORD.findall(text))


def token_prf(extracted: str, gold: str) -> tuple[float, float, float]:
    """Precision, recall and F1 of the extract's Arabic words against the gold's; all 0 when
    they share none (an empty extract scores 0)."""
    got, want = tokens(extracted), tokens(gold)
    overlap = sum((got & want).values())
    if not overlap:
        return 0.0, 0.0, 0.0
    precision, recall = overlap / sum(got.values()), overlap / sum(want.values())
    return precision, recall, 2 * precision * recall / (precision + recall)
