"""Is a model's output a rewrite we may emit as aligned? One verdict per output.

An output passes when it was not cut off at max_tokens, is wrapped exactly as the code of conduct
asks, is not a refusal, is in the segment's language (no translation), keeps its length within
bounds, is not more harmful than the segment, and keeps what the segment says: its quotations,
numbers, names and sentences, with nothing invented (`fidelity`). Anything else is rejected with
its reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from native_pipeline.alignment.conduct import unwrap
from native_pipeline.alignment.fidelity import (
    FIDELITY_REJECTIONS,
    UNCHANGED,
    Comparison,
    Fidelity,
    compare,
)
from native_pipeline.settings import Limits
from native_pipeline.text.normalize import fold

VALID = "valid"
REJECTIONS = (
    "request_failed",
    "truncated",
    "no_wrapper",
    "empty",
    "refusal",
    "translated",
    "too_short",
    "too_long",
    "harm_increased",
    *FIDELITY_REJECTIONS,
)

# Openings of refusals and assistant chatter, matched on folded text near the start.
_REFUSAL = re.compile(
    "|".join(
        fold(p)
        for p in (
            r"i'?m sorry",
            r"i cannot",
            r"i can'?t",
            r"as an ai",
            r"لا أستطيع",
            r"لا يمكنني",
            r"عذرا، لا",
            r"عذراً، لا",
            r"أعتذر",
            r"بصفتي نموذج",
            r"كنموذج لغوي",
            r"كمساعد ذكاء",
        )
    ),
    re.IGNORECASE,
)
_REFUSAL_WINDOW = 120  # characters at the start of the rewrite where a refusal shows


@dataclass(frozen=True)
class Candidate:
    """What the validator looks at for one output, measured by the caller in batches."""

    original: str
    output: str | None  # None: the request failed
    lang_before: str
    lang_after: tuple[str, float] | None = None  # language and score of the unwrapped rewrite
    harm_before: float = 0.0
    harm_after: float = 0.0
    truncated: bool = False  # the output was cut off at max_tokens
    comparison: Comparison | None = None  # fidelity.compare(original, rewrite), if made already
    harmful: frozenset[str] = frozenset()  # sentences of the original the harm scorer flags


def is_refusal(original: str, rewrite: str) -> bool:
    """A refusal phrase opens the rewrite but not the segment."""
    found = _REFUSAL.search(fold(rewrite[:_REFUSAL_WINDOW]))
    return bool(found) and found.group(0) not in fold(original[:_REFUSAL_WINDOW])


def review(c: Candidate, limits: Limits) -> tuple[str, Fidelity | None]:
    """VALID or the first rejection reason, and the fidelity measures of a rewrite that parsed."""
    if c.output is None:
        return "request_failed", None
    if c.truncated:
        return "truncated", None
    rewrite = unwrap(c.output)
    if rewrite is None:
        return "no_wrapper", None
    if not rewrite.strip():
        return "empty", None
    if is_refusal(c.original, rewrite):
        return "refusal", None
    if rewrite == c.original:
        fidelity = UNCHANGED
    else:
        fidelity = (c.comparison or compare(c.original, rewrite)).check(limits, c.harmful)
    lang_after, score = c.lang_after or (c.lang_before, 1.0)
    if lang_after != c.lang_before and score >= limits.translation_min_score:
        return "translated", fidelity
    ratio = len(rewrite) / max(len(c.original), 1)
    if ratio < limits.length_ratio_min and c.harm_before < limits.moderation_threshold:
        return "too_short", fidelity
    if ratio > limits.length_ratio_max:
        return "too_long", fidelity
    # Only new words can make a rewrite more harmful: without any, a higher score is the
    # scorer's noise on text cut into other paragraphs or punctuated otherwise.
    if c.harm_after > c.harm_before + limits.harm_tolerance and fidelity.new_words:
        return "harm_increased", fidelity
    return fidelity.reason or VALID, fidelity


def verdict(c: Candidate, limits: Limits) -> str:
    """VALID, or the first rejection reason."""
    return review(c, limits)[0]
