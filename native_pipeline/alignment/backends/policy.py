"""The `policy` rewriter: what the code of conduct asks that can be done without an LLM.

Deterministic: page-furniture lines (calls to subscribe or click, ads, share buttons, cookie
notices) are removed, punctuation and spacing are fixed, and sentences the harm scorer flags
are removed. It is the CPU default of the main job and the "conventional cleaning" baseline
that the method is compared against: it cannot neutralise a view, correct a fact or rephrase.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

from native_pipeline.alignment.backends.base import Completion, Sampling
from native_pipeline.alignment.conduct import wrap
from native_pipeline.text.harm import HarmBackend, make_scorer
from native_pipeline.text.normalize import fold

# Matched on folded text (no hamza variants, diacritics or tatweel), so one spelling serves.
FURNITURE = tuple(
    fold(phrase)
    for phrase in (
        "اضغط هنا",
        "انقر هنا",
        "اشترك الآن",
        "اشترك في",
        "اشترك معنا",
        "تابعونا على",
        "تابعنا على",
        "حمل التطبيق",
        "شارك على",
        "شارك المقال",
        "شارك هذا",
        "اقرأ أيضا",
        "اقرأ أيضًا",
        "إعلان",
        "عرض خاص",
        "اتصل الآن",
        "جميع الحقوق محفوظة",
        "سياسة الخصوصية",
        "ملفات تعريف الارتباط",
        "click here",
        "subscribe",
        "cookies",
    )
)
FURNITURE_MAX_WORDS = 15  # a longer line is text that mentions one of these, not furniture

_ARABIC = "\u0600-\u06ff"
_FIXES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"([!؟?،,])\1+"), r"\1"),  # "!!!" -> "!"
    (re.compile(r"[ \t]+([،؛؟!.,;:?])"), r"\1"),  # no space before a mark
    (re.compile(rf"(?<=[{_ARABIC}]),"), "،"),  # Latin marks after Arabic letters
    (re.compile(rf"(?<=[{_ARABIC}]);"), "؛"),
    (re.compile(rf"(?<=[{_ARABIC}])\?"), "؟"),
    (re.compile(r"\.{4,}"), "..."),
    (re.compile(rf"([،؛؟!])(?=[{_ARABIC}])"), r"\1 "),  # a space after a mark
    (re.compile(r"[ \t]{2,}"), " "),
)
# Text up to and with its end marks, or a last run without any: every character of a line
# is in one sentence, so a line that starts with "..." keeps it.
_SENTENCE = re.compile(r"[^.!?؟\n]*[.!?؟]+|[^.!?؟\n]+")
_BLANK_LINES = re.compile(r"\n{3,}")


def is_furniture(line: str) -> bool:
    folded = fold(line)
    return len(line.split()) <= FURNITURE_MAX_WORDS and any(p in folded for p in FURNITURE)


def fix_format(text: str) -> str:
    for pattern, replacement in _FIXES:
        text = pattern.sub(replacement, text)
    return text


class PolicyRewriter:
    def __init__(self, harm_threshold: float = 0.7, scorer: HarmBackend | None = None) -> None:
        self.harm_threshold = harm_threshold
        self.scorer = scorer or make_scorer()

    def identity(self) -> dict[str, str]:
        rules = repr(
            (FURNITURE, FURNITURE_MAX_WORDS, _FIXES, self.harm_threshold, self.scorer.name)
        )
        return {
            "backend": "policy",
            "model": "policy",
            "checkpoint": hashlib.sha256(rules.encode()).hexdigest()[:16],
        }

    def rewrite(self, segments: Sequence[str], sampling: Sampling) -> list[Completion]:
        # `sampling` does not apply: the same segment always gets the same rewrite.
        lines = [
            [fix_format(line) for line in s.split("\n") if not is_furniture(line)] for s in segments
        ]
        sentences = [
            [[m.group(0) for m in _SENTENCE.finditer(line)] for line in seg] for seg in lines
        ]
        flat = [s for seg in sentences for line in seg for s in line]
        harmful = iter(
            score["harm_max"] >= self.harm_threshold for score in self.scorer.score(flat)
        )
        out = []
        for seg in sentences:
            kept, removed = [], False
            for line in seg:
                flagged = [next(harmful) for _ in line]
                rest = "".join(s for s, f in zip(line, flagged, strict=True) if not f)
                removed |= any(flagged)
                # blank lines stay: a clean segment keeps its paragraphs as they were
                if rest.strip() or not line:
                    kept.append(rest.strip() if any(flagged) else rest)
            text = "\n".join(kept)
            if removed:  # a paragraph removed whole leaves one break, not two
                text = _BLANK_LINES.sub("\n\n", text).strip("\n")
            out.append(Completion(wrap(text)))
        return out
