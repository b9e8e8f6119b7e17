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

# Page furniture is recognised by what the line is, never by a word that news prose also uses
# ("إعلان" is an announcement as often as an advert). Matched on folded text.
# A line that opens with one of these (a reading link, a source tag, a share or follow widget).
_OPENERS = (
    "اقرأ أيضا",
    "اقرأ أيضًا",
    "اقرأ المزيد",
    "اقرأ ايضا",
    "للمزيد",
    "المزيد:",
    "المصدر:",
    "مصدر الخبر",
    "رابط الخبر",
    "رابط القصة",
    "رابط المقال",
    "رابط مختصر",
    "اضغط هنا",
    "انقر هنا",
    "اشترك الآن",
    "اشترك في",
    "اشترك معنا",
    "تابعونا على",
    "تابعنا على",
    "تابعوا",
    "حمل التطبيق",
    "شارك على",
    "شارك المقال",
    "شارك هذا",
    "عرض خاص",
    "اتصل الآن",
    "read more",
    "click here",
    "subscribe",
    "follow us",
    "share",
)
# A line that holds one of these anywhere (the footer's notices).
_NOTICES = (
    "جميع الحقوق محفوظة",
    "سياسة الخصوصية",
    "ملفات تعريف الارتباط",
    "©",
    "cookies",
)
# A whole line that is only a label: an advert slot, a sponsor tag.
_LABELS = ("إعلان", "اعلان ممول", "محتوى ممول", "مساحة إعلانية", "advertisement", "sponsored")
_URL = re.compile(r"(?:https?://|www\.)\S+")
_EDGES = re.compile(r"^[\W_]+|[\W_]+$")  # bullets, dashes and marks around a line
FURNITURE = tuple(fold(p) for p in (*_OPENERS, *_NOTICES, *_LABELS))
FURNITURE_MAX_WORDS = 20  # a longer line is text: "read also: <a headline>" runs to 20
_OPENER_RE = re.compile("|".join(re.escape(fold(p)) for p in _OPENERS))
_LABEL_SET = frozenset(fold(p) for p in _LABELS)
# ... or a label that opens the line: "إعلان: خصم 50%", "إعلان | تمويل فوري"
_LABELLED = re.compile("(?:" + "|".join(re.escape(p) for p in _LABEL_SET) + r")\s*[:|–-]")
_NOTICES_FOLDED = tuple(fold(p) for p in _NOTICES)

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
    """A short line that is page furniture by its shape: only a link, an advert label, a line
    that opens as a reading link, source tag or widget does, or a footer notice."""
    if len(line.split()) > FURNITURE_MAX_WORDS:
        return False
    folded = fold(line).strip()
    if any(p in folded for p in _NOTICES_FOLDED):
        return True
    bare = _EDGES.sub("", folded)
    if not _URL.sub("", bare).strip(" :-|"):
        return bool(bare)  # a link and nothing else
    return (
        bare in _LABEL_SET
        or _OPENER_RE.match(bare) is not None
        or _LABELLED.match(bare) is not None
    )


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
