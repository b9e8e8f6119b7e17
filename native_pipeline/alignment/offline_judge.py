"""The offline rubric judge: the published 1-10 rubric (judge.CRITERIA) scored by rules on the
project's own measurements, where no LLM judge is at hand (the CPU sample). It is not an LLM
and does not read meaning: a cheap, deterministic proxy that says what each score measures.

- format: 10, less 2 per defect left in the rewrite: a line the policy's format fixes would
  change (spacing, repeated or Latin marks), HTML markup or entities, runs of blank lines;
- accuracy: 10 × the share of the original's facts (numbers and protected words) the rewrite
  keeps (fidelity.compare), at most 5 when a fidelity rule fails (a negation, a quotation ...);
- moderation: 10 when the harm scorer finds the rewrite under its policy threshold
  (limits.harm_removal_min), else 1 + 9 × (1 - its harm): the more harm left, the lower;
- advertisement_removal: 10 when no furniture line (policy.is_furniture) is left, else the
  share of the original's furniture lines removed, 1 to 10;
- detail: 1 + 9 × the share of the original's content words the rewrite keeps, furniture
  lines and sentences the harm scorer flags left out (they may go).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from native_pipeline.alignment.backends.policy import fix_format, is_furniture
from native_pipeline.alignment.fidelity import (
    FUNCTION,
    Comparison,
    Original,
    compare,
    kind,
    prepare,
)
from native_pipeline.alignment.lexicon import stems_folded
from native_pipeline.alignment.rewrite import harmful_sentences
from native_pipeline.settings import Limits
from native_pipeline.text.harm import HarmBackend, text_harm
from native_pipeline.text.normalize import fold

NAME = "offline rubric (rules on the project's measurements, not an LLM)"
_MARKUP = re.compile(r"</?[a-zA-Z][^<>]*>|&(?:[a-z]+|#\d+);")
_BLANK_RUN = re.compile(r"\n[ \t]*\n[ \t]*\n")


def _score(share: float) -> int:
    """A share in [0, 1] on the rubric's 1-10 scale."""
    return max(1, min(10, round(1 + 9 * share)))


def content_stems(text: str) -> Counter[str]:
    """The stems of a text's content words (function words and short particles left out)."""
    return Counter(w for w in stems_folded(fold(text)) if kind(w) != FUNCTION)


def format_score(rewrite: str) -> int:
    defects = sum(fix_format(line) != line for line in rewrite.split("\n"))
    defects += len(_MARKUP.findall(rewrite)) + len(_BLANK_RUN.findall(rewrite))
    return max(1, 10 - 2 * defects)


def accuracy_score(comparison: Comparison, harmful: frozenset[str], limits: Limits) -> int:
    fidelity = comparison.check(limits, harmful)
    score = round(10 * (fidelity.numbers_kept + fidelity.names_kept) / 2)
    return max(1, min(5 if fidelity.reason else 10, score))


def moderation_score(harm_after: float, limits: Limits) -> int:
    return 10 if harm_after < limits.harm_removal_min else _score(1 - harm_after)


def advertisement_score(original: str, rewrite: str) -> int:
    had = sum(is_furniture(line) for line in original.split("\n") if line.strip())
    left = sum(is_furniture(line) for line in rewrite.split("\n") if line.strip())
    return 10 if not left else _score(max(0, had - left) / max(had, left))


def detail_score(before: Original, rewrite: str, harmful: frozenset[str]) -> int:
    may_go = {
        i
        for i, ((_, text), line, furniture) in enumerate(
            zip(before.spans, before.lines, before.furniture, strict=True)
        )
        if furniture or text in harmful or line in harmful
    }
    needed = Counter(
        stem
        for stem, kind, owner in zip(before.stems, before.kinds, before.owner, strict=True)
        if kind != FUNCTION and owner not in may_go
    )
    if not needed:
        return 10
    return _score((needed & content_stems(rewrite)).total() / needed.total())


def offline_judge(
    pairs: Sequence[tuple[str, str]], limits: Limits, scorer: HarmBackend | None = None
) -> list[dict[str, int]]:
    """The rubric's five scores of each (original, rewrite) pair, in order; harm is scored in
    two batches (the rewrites, and the sentences they removed or changed)."""
    prepared = [prepare(original) for original, _ in pairs]
    comparisons = [compare(b, rewrite) for b, (_, rewrite) in zip(prepared, pairs, strict=True)]
    questioned = sorted({s for c in comparisons for s in c.questioned})
    harmful = harmful_sentences(questioned, limits.harm_removal_min, scorer)
    after = text_harm([rewrite for _, rewrite in pairs], scorer)
    scores = []
    for (original, rewrite), before, comparison, harm in zip(
        pairs, prepared, comparisons, after, strict=True
    ):
        flagged = harmful & frozenset(comparison.questioned)
        scores.append(
            {
                "format": format_score(rewrite),
                "accuracy": accuracy_score(comparison, flagged, limits),
                "moderation": moderation_score(harm["harm_max"], limits),
                "advertisement_removal": advertisement_score(original, rewrite),
                "detail": detail_score(before, rewrite, flagged),
            }
        )
    return scores
