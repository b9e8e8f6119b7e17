"""Does a rewrite still say what the original said? Knowledge preservation, checked by rule.

The code of conduct lets a rewrite fix format, remove advertising and boilerplate and neutralise
harm, never change the facts. `compare` lines the rewrite up against the original word by word
(folded, light-stemmed words, so punctuation, spacing, line breaks and joined conjunctions do not
count) and gives, per sentence of the original, the share of its words kept in order, its
numbers, its names and rare words, and its quotations. `Comparison.check` then says which rule
the rewrite breaks, if any:

- `quote_changed`: the words of a quotation (Qur'an in ﴿ ﴾ or braces, speech in quotation
  marks) are not in the rewrite letter for letter, diacritics included (its punctuation and
  spacing may be fixed);
- `numbers_changed`: the numbers (digits of any script, decimal and thousands separators, small
  number words) of the rewrite differ from the original's;
- `names_lost`: names and rare words (every word that is not a function word) are missing;
- `summarised`: less than `coverage_min` of the original's words survive;
- `sentence_dropped`: a sentence is gone (or rewritten beyond recognition) without a reason;
- `content_added`: a run of new words as long as a sentence, which the original never had;
- `names_added`: new names or rare words (a likely invented fact).

Removing a sentence is allowed when it has a reason: it is page furniture (an ad, a call to
subscribe, boilerplate; `policy.is_furniture`) or harmful (the harm scorer, run by the caller on
`Comparison.questioned` only, so a faithful rewrite costs no harm scoring). Numbers, names and
quotations of such a sentence may go with it, and new words may take its place (neutralised);
a harmful sentence edited in place (most of its words kept) keeps its facts like any other.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

from native_pipeline.alignment.backends.policy import is_furniture
from native_pipeline.text.normalize import fold, words

FIDELITY_REJECTIONS = (
    "quote_changed",
    "numbers_changed",
    "names_lost",
    "summarised",
    "sentence_dropped",
    "content_added",
    "names_added",
)


class FidelityLimits(Protocol):
    """The thresholds `check` reads (validate.Limits has them all)."""

    sentence_kept_min: float
    coverage_min: float
    names_lost_max: float
    new_names_max: float
    added_run_min: float


# A sentence ends at . ! ? ؟ (not a decimal point: "2.3") or at a line break.
_SENTENCE_END = re.compile(r"[.!?؟]+(?!\d)|\n")
# Quotations: Qur'an in ornate parentheses or braces, speech in guillemets or quotation marks.
_QUOTE = re.compile(r"﴿([^﴾]+)﴾|\{([^{}]+)\}|«([^»]+)»|“([^”]+)”|\"([^\"\n]+)\"")
# A number: digits with decimal or thousands separators (ASCII, Arabic ٫ ٬ and the comma).
_NUMBER = re.compile(r"\d+(?:[.,٫٬،]\d+)*")
_THOUSANDS = re.compile(r"\d{1,3}(?:[,٬،]\d{3})+")

# Folded function words: prepositions, conjunctions, particles, pronouns, demonstratives,
# relatives, auxiliaries and common adverbs. What is left of a text are its names and content
# words, which a faithful rewrite keeps.
_FUNCTION_WORDS = """
    في من على إلى الى عن مع أن إن أو أم ثم حتى لكن لكنّ بل لا لم لن ما ماذا متى أين كيف كم هل قد
    لقد سوف كل بعض غير سوى بين بعد قبل عند عندما حين حيث منذ خلال ضد نحو لدى لدي دون تحت فوق أمام
    خلف حول عبر وفق إذا إذ لو لولا كي لكي لأن إلا أي أيّ أيضا أيضاً كما مثل جدا فقط هنا هناك الآن
    هو هي هم هن هما أنا نحن أنت أنتم إياه إياها له لها لهم لهن به بها بهم منه منها منهم عنه عنها
    عليه عليها عليهم إليه إليها فيه فيها فيهم هذا هذه هذان هاتان هؤلاء ذلك تلك أولئك الذي التي
    اللذان اللتان الذين اللواتي اللاتي كان كانت كانوا يكون تكون يكن ليس ليست ليسوا أصبح أصبحت
    صار ظل مازال لازال ما زال تم تمت يتم وقد فقد وإن وأن أنه أنها إنه إنها بأن لأنه كذلك ذلك
    عليك إليك لك لكم منكم عنكم فيكم وهو وهي وهم
"""
FUNCTION_WORDS = frozenset(fold(w) for w in _FUNCTION_WORDS.split())
# Small number words and their values, folded. Ambiguous ones ("واحد" in "في آن واحد") are left
# out: a rewrite that writes one as a digit then fails safe (numbers_changed).
NUMBER_WORDS = {
    fold(w): v
    for v, ws in {
        2: "اثنان اثنين اثنتان اثنتين",
        3: "ثلاث ثلاثة",
        4: "أربع أربعة",
        5: "خمس خمسة",
        7: "سبع سبعة",
        8: "ثماني ثمانية ثمان",
        9: "تسع تسعة",
        10: "عشر عشرة",
        20: "عشرون عشرين",
        30: "ثلاثون ثلاثين",
        40: "أربعون أربعين",
        50: "خمسون خمسين",
        60: "ستون ستين",
        70: "سبعون سبعين",
        80: "ثمانون ثمانين",
        90: "تسعون تسعين",
        100: "مئة مائة",
        1000: "ألف",
    }.items()
    for w in ws.split()
}
_PREFIXES = ("بال", "كال", "لل", "ال", "ب", "ل")


def stem(word: str) -> str:
    """A folded word without the article and joined conjunctions or prepositions: "وبالرياض"
    and "الرياض" meet. Applied to both texts alike, so an over-cut word still matches itself."""
    return _stem_folded(fold(word))


def stems(text: str) -> list[str]:
    """The stem of each word of a text (each distinct word cut once)."""
    return _stems_folded(fold(text))


def _stems_folded(folded: str) -> list[str]:
    return [_stem_folded(w) for w in words(folded)]


@lru_cache(maxsize=1 << 17)
def _stem_folded(word: str) -> str:
    if word[:1] in ("و", "ف") and len(word) >= 4:
        word = word[1:]
    for prefix in _PREFIXES:
        if word.startswith(prefix) and len(word) - len(prefix) >= 3:
            return word[len(prefix) :]
    return word


def number_value(token: str) -> str:
    """One spelling per number: "1,500" "١٬٥٠٠" "1500" -> "1500"; "2,3" "٢٫٣" "2.30" -> "2.3"."""
    token = fold(token)
    if _THOUSANDS.fullmatch(token):
        token = re.sub(r"[,٬،]", "", token)
    whole, _, fraction = re.sub(r"[,٫،]", ".", token).partition(".")
    whole = whole.lstrip("0") or "0"
    fraction = fraction.replace(".", "").rstrip("0")
    return f"{whole}.{fraction}" if fraction else whole


def numbers(text: str) -> Counter[str]:
    """How many times each number occurs (a number repeated and changed once still counts)."""
    folded = fold(text)
    return _numbers_folded(folded, _stems_folded(folded))


def _numbers_folded(folded: str, text_stems: list[str]) -> Counter[str]:
    found = Counter(number_value(m.group(0)) for m in _NUMBER.finditer(folded))
    found.update(str(NUMBER_WORDS[w]) for w in text_stems if w in NUMBER_WORDS)
    return found


def names(text_stems: list[str]) -> Counter[str]:
    """The names and rare words among a text's `stems`."""
    return Counter(w for w in text_stems if is_name(w))


@lru_cache(maxsize=1 << 17)
def is_name(stemmed: str) -> bool:
    """A name or rare word: not a function word, a number or a letter or two."""
    return (
        len(stemmed) >= 3
        and stemmed not in FUNCTION_WORDS
        and stemmed not in NUMBER_WORDS
        and not stemmed.isdigit()
    )


def letters(text: str) -> str:
    """The words of a text as written (diacritics included), one space apart and around: what a
    quotation must keep. Punctuation and spacing may be fixed."""
    return f" {' '.join(words(text))} "


def quotes(text: str) -> list[tuple[int, str]]:
    """(offset, `letters` of the quoted text) of each quotation."""
    found = [(m.start(), next(g for g in m.groups() if g)) for m in _QUOTE.finditer(text)]
    return [(offset, letters(quoted)) for offset, quoted in found if words(quoted)]


@dataclass(frozen=True)
class Sentence:
    text: str
    line: str  # the line it is on: a harmful comment is often scored right only as a whole
    start: int  # offset in the original
    kept: float  # share of its words found in the rewrite, in order (1 when it has none)
    size: int  # its words
    furniture: bool  # an ad or boilerplate line: may be removed
    numbers: Counter[str]
    names: Counter[str]


def sentences(text: str) -> list[tuple[int, str]]:
    """(offset, text) of each non-blank sentence."""
    out, start = [], 0
    for end in [m.end() for m in _SENTENCE_END.finditer(text)] + [len(text)]:
        if text[start:end].strip():
            out.append((start, text[start:end]))
        start = end
    return out


@dataclass(frozen=True)
class Fidelity:
    """The verdict of `check` and what the audit follows: is the worker drifting?"""

    reason: str | None  # None: faithful
    numbers_kept: float  # share of the original's numbers found in the rewrite
    names_kept: float  # share of the original's names and rare words found in the rewrite
    new_names: int  # names and rare words the rewrite has and the original had not
    dropped: int  # sentences removed without a reason
    new_words: int  # words of the rewrite the original does not have (any kind, with repeats)


# A rewrite equal to its original says what it said: nothing to line up.
UNCHANGED = Fidelity(
    reason=None, numbers_kept=1.0, names_kept=1.0, new_names=0, dropped=0, new_words=0
)


@dataclass(frozen=True)
class Comparison:
    sentences: tuple[Sentence, ...]
    quotes: tuple[tuple[int, str], ...]  # of the original
    numbers: Counter[str]  # of the original
    names: Counter[str]  # of the original
    rewrite_letters: str  # for the quotations
    rewrite_numbers: Counter[str]
    rewrite_names: Counter[str]
    # Runs of new words in the rewrite: (its words' stems, indexes of the original sentences
    # whose words it replaced or that it sits between).
    added: tuple[tuple[tuple[str, ...], frozenset[int]], ...]
    new_words: int

    @property
    def questioned(self) -> list[str]:
        """Sentences not kept whole and not furniture, and their lines: the caller asks the harm
        scorer which of them are harmful, and passes those to `check`."""
        out = []
        for s in self.sentences:
            if s.kept < 1.0 and not s.furniture:
                out += [s.text] if s.text == s.line else [s.text, s.line]
        return out

    def check(self, limits: FidelityLimits, harmful: Collection[str] = ()) -> Fidelity:
        # Only what was removed is excused: a harmful sentence edited in place keeps its facts.
        # A flagged line excuses its sentences only when it went as a whole: one harmful
        # sentence must not excuse dropping the rest of its paragraph.
        line_kept = {
            s.line for s in self.sentences if s.size and s.kept >= limits.sentence_kept_min
        }
        excused = [
            s.furniture
            or s.kept < limits.sentence_kept_min
            and (s.text in harmful or (s.line in harmful and s.line not in line_kept))
            for s in self.sentences
        ]
        required = [s for s, e in zip(self.sentences, excused, strict=True) if not e]
        all_numbers, all_names = self.numbers, self.names
        need_numbers, need_names = all_numbers, all_names
        if len(required) < len(self.sentences):
            need_numbers = _total(s.numbers for s in required)
            need_names = _total(s.names for s in required)
        # New words that replaced harmful or furniture sentences are a neutralised rewrite.
        new_runs = [run for run, replaced in self.added if not any(excused[i] for i in replaced)]
        new_names = {w for run in new_runs for w in run if is_name(w) and w not in all_names}
        required_chars = sum(len(s.text) for s in required)
        kept_chars = sum(s.kept * len(s.text) for s in required)
        coverage = kept_chars / required_chars if required_chars else 1.0
        dropped = sum(s.kept < limits.sentence_kept_min for s in required)
        lost_names = need_names - self.rewrite_names
        starts = [s.start for s in self.sentences]
        lost_quotes = [
            q
            for offset, q in self.quotes
            if q not in self.rewrite_letters
            and not excused[max(0, sum(st <= offset for st in starts) - 1)]
        ]
        reason = None
        if lost_quotes:
            reason = "quote_changed"
        elif need_numbers - self.rewrite_numbers or self.rewrite_numbers - all_numbers:
            reason = "numbers_changed"
        elif lost_names.total() > limits.names_lost_max:
            reason = "names_lost"
        elif coverage < limits.coverage_min:
            reason = "summarised"
        elif dropped:
            reason = "sentence_dropped"
        elif any(len(run) >= limits.added_run_min for run in new_runs):
            reason = "content_added"
        elif len(new_names) > limits.new_names_max:
            reason = "names_added"
        return Fidelity(
            reason,
            numbers_kept=_share(need_numbers, self.rewrite_numbers),
            names_kept=_share(need_names, self.rewrite_names),
            new_names=len(new_names),
            dropped=dropped,
            new_words=self.new_words,
        )


def _total(counters: Iterable[Counter[str]]) -> Counter[str]:
    total: Counter[str] = Counter()
    for counter in counters:
        total.update(counter)
    return total


def _share(needed: Counter[str], found: Counter[str]) -> float:
    return (needed & found).total() / needed.total() if needed else 1.0


@dataclass(frozen=True)
class Original:
    """What `compare` needs of an original, made once and before the rewrite exists (the
    rewrite step prepares the originals while the engine generates)."""

    spans: tuple[tuple[int, str], ...]  # (offset, text) of each sentence
    lines: tuple[str, ...]  # the line each sentence is on
    furniture: tuple[bool, ...]
    stems: tuple[list[str], ...]
    numbers: tuple[Counter[str], ...]
    names: tuple[Counter[str], ...]
    quotes: tuple[tuple[int, str], ...]
    words: Counter[str]  # every stem, counted
    all_numbers: Counter[str]
    all_names: Counter[str]


def prepare(original: str) -> Original:
    spans = sentences(original)
    lines, furniture, all_stems, all_numbers, all_names = [], [], [], [], []
    is_ad: dict[str, bool] = {}  # per line: a paragraph holds many sentences
    for start, text in spans:
        line_end = original.find("\n", start)
        line = original[original.rfind("\n", 0, start) + 1 : line_end if line_end >= 0 else None]
        if line not in is_ad:
            is_ad[line] = is_furniture(line)
        folded = fold(text)
        text_stems = _stems_folded(folded)
        lines.append(line)
        furniture.append(is_ad[line])
        all_stems.append(text_stems)
        all_numbers.append(_numbers_folded(folded, text_stems))
        all_names.append(names(text_stems))
    return Original(
        spans=tuple(spans),
        lines=tuple(lines),
        furniture=tuple(furniture),
        stems=tuple(all_stems),
        numbers=tuple(all_numbers),
        names=tuple(all_names),
        quotes=tuple(quotes(original)),
        words=Counter(w for ws in all_stems for w in ws),
        all_numbers=_total(all_numbers),
        all_names=_total(all_names),
    )


def compare(original: str | Original, rewrite: str) -> Comparison:
    """Line the rewrite up against the original (a text, or one `prepare`d already)."""
    before = prepare(original) if isinstance(original, str) else original
    # Each word of the original, with the sentence it belongs to.
    tokens = [w for ws in before.stems for w in ws]
    owner = [i for i, ws in enumerate(before.stems) for _ in ws]
    rewrite_folded = fold(rewrite)
    new_tokens = _stems_folded(rewrite_folded)
    matcher = difflib.SequenceMatcher(None, tokens, new_tokens, autojunk=False)
    matched = [0] * len(before.spans)
    added = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            for i in range(i1, i2):
                matched[owner[i]] += 1
        elif op in ("insert", "replace"):
            # The sentences it replaced, or sits between: a neutral sentence written where a
            # harmful one was may share a word or two with it, which splits the edit.
            around = owner[max(i1 - 1, 0) : i2 + 1]
            added.append((tuple(new_tokens[j1:j2]), frozenset(around)))
    result = tuple(
        Sentence(
            text=text,
            line=line,
            start=start,
            kept=kept / len(ws) if ws else 1.0,
            size=len(ws),
            furniture=ad,
            numbers=found_numbers,
            names=found_names,
        )
        for (start, text), line, ad, ws, found_numbers, found_names, kept in zip(
            before.spans,
            before.lines,
            before.furniture,
            before.stems,
            before.numbers,
            before.names,
            matched,
            strict=True,
        )
    )
    return Comparison(
        sentences=result,
        quotes=before.quotes,
        numbers=before.all_numbers,
        names=before.all_names,
        rewrite_letters=letters(rewrite) if before.quotes else "",
        rewrite_numbers=_numbers_folded(rewrite_folded, new_tokens),
        rewrite_names=names(new_tokens),
        added=tuple(added),
        new_words=(Counter(new_tokens) - before.words).total(),
    )
