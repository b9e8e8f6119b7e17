"""Does a rewrite still say what the original said? Knowledge preservation, checked by rule.

The code of conduct lets a rewrite change wording, order, punctuation, the script of digits and
the format, and remove advertising, boilerplate and harm; never a fact: who, what, how many,
when, where, whether. `compare` lines the rewrite up against the original word by word (folded,
light-stemmed words: `lexicon.stem`), finds sentences that moved as a whole, and reads the facts
of each sentence: its numbers, its protected words (names, dates and rare words: every content
word that is not a common word, `lexicon.common_words`), its polarity and relation words, and its
quotations. `Comparison.check` then says which rule the rewrite breaks, if any:

- `quote_changed`: scripture (﴿ ﴾ or braces) not kept letter for letter, diacritics included;
  reported speech (quotation marks) with other words (digit script, diacritics and punctuation
  may change);
- `numbers_changed`: the numbers (any digit script, separators, number words) differ;
- `transposed`: two numbers or two protected words of one sentence traded places (each moved
  without the words around it), where a clause moved whole keeps its neighbours;
- `negation_changed`: a negation (لا لم لن ما ليس غير دون بلا عدم ...) added or removed;
- `relation_changed`: a relation word swapped for its opposite (قبل/بعد, فوق/تحت, كل/بعض,
  أكثر/أقل, ارتفع/انخفض ...), or added or removed;
- `names_lost`: a protected word is missing;
- `summarised`: less than `coverage_min` of the original's words survive;
- `sentence_dropped`: a sentence is gone (or rewritten beyond recognition) without a reason;
- `content_added`: more than `added_words_max` new content words in one place;
- `names_added`: new known names, or rare words where the original had nothing (a likely
  invented fact);
- `reworded`: more common words swapped for others than the synonym budget allows
  (`synonyms_max` in one sentence, `synonym_share_max` of the segment's).

`content_added` and `reworded` are what rules cannot decide (`UNDECIDED`): the rewrite step may
ask a judge about them (`judge.keeps_facts`) instead of rejecting.

Removing a sentence is allowed when it has a reason: it is page furniture by what the line is
(`policy.is_furniture`: a link-only line, "read also", "source:", share and follow widgets,
outlet tags) or harmful (the harm scorer, run by the caller on `Comparison.questioned` only, so a
faithful rewrite costs no harm scoring). Facts of such a sentence may go with it, and new words
may take its place (neutralised); a harmful sentence edited in place keeps its facts like any
other.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from native_pipeline.alignment.backends.policy import is_furniture
from native_pipeline.alignment.lexicon import (
    FUNCTION_WORDS,
    NEGATIONS,
    RELATIONS,
    common_words,
    known_names,
    stems_folded,
)
from native_pipeline.text.normalize import fold, words

FIDELITY_REJECTIONS = (
    "quote_changed",
    "numbers_changed",
    "transposed",
    "negation_changed",
    "relation_changed",
    "names_lost",
    "summarised",
    "sentence_dropped",
    "content_added",
    "names_added",
    "reworded",
)
# What the rules cannot decide: a judge may (off by default).
UNDECIDED = frozenset({"content_added", "reworded"})


class FidelityLimits(Protocol):
    """The thresholds `check` reads (validate.Limits has them all)."""

    sentence_kept_min: float
    coverage_min: float
    names_lost_max: float
    new_names_max: float
    added_words_max: float
    synonyms_max: float
    synonym_share_max: float


# A sentence ends at . ! ? ؟ (not a decimal point: "2.3") or at a line break.
_SENTENCE_END = re.compile(r"[.!?؟]+(?!\d)|\n")
# Scripture: Qur'an in ornate parentheses, hadith and verses in braces. Speech: guillemets and
# quotation marks.
_SCRIPTURE = re.compile(r"﴿([^﴾]+)﴾|\{([^{}]+)\}")
_SPEECH = re.compile(r"«([^»]+)»|“([^”]+)”|\"([^\"\n]+)\"")
# A number: digits with decimal or thousands separators (ASCII, Arabic ٫ ٬ and the comma).
_NUMBER = re.compile(r"\d+(?:[.,٫٬،]\d+)*")
_THOUSANDS = re.compile(r"\d{1,3}(?:[,٬،]\d{3})+")

# Small number words and ordinals with their values, folded. Ambiguous ones ("واحد" in "في آن
# واحد") are left out: a rewrite that writes one as a digit then fails safe (numbers_changed).
NUMBER_WORDS = {
    fold(w): v
    for v, ws in {
        "2": "اثنان اثنين اثنتان اثنتين",
        "3": "ثلاث ثلاثة",
        "4": "أربع أربعة",
        "5": "خمس خمسة",
        "7": "سبع سبعة",
        "8": "ثماني ثمانية ثمان",
        "9": "تسع تسعة",
        "10": "عشر عشرة",
        "20": "عشرون عشرين",
        "30": "ثلاثون ثلاثين",
        "40": "أربعون أربعين",
        "50": "خمسون خمسين",
        "60": "ستون ستين",
        "70": "سبعون سبعين",
        "80": "ثمانون ثمانين",
        "90": "تسعون تسعين",
        "100": "مئة مائة",
        "1000": "ألف",
        "2nd": "ثاني ثانية",
        "3rd": "ثالث ثالثة",
        "4th": "رابع رابعة",
        "5th": "خامس خامسة",
        "6th": "سادس سادسة",
        "7th": "سابع سابعة",
        "8th": "ثامن ثامنة",
        "9th": "تاسع تاسعة",
        "10th": "عاشر عاشرة",
        # months are dates: a month changed is a date changed
        "month1": "يناير",
        "month2": "فبراير شباط",
        "month3": "مارس آذار",
        "month4": "أبريل إبريل نيسان",
        "month5": "مايو أيار",
        "month6": "يونيو يونيه حزيران",
        "month7": "يوليو يوليه تموز",
        "month8": "أغسطس آب",
        "month9": "سبتمبر أيلول",
        "month10": "أكتوبر",
        "month11": "نوفمبر",
        "month12": "ديسمبر",
        # كانون الثاني, تشرين الأول: the month's number is the ordinal after it
        "kanun": "كانون",
        "tishrin": "تشرين",
        "hijri1": "محرم",
        "hijri7": "رجب",
        "hijri8": "شعبان",
        "hijri9": "رمضان",
        "hijri10": "شوال",
    }.items()
    for w in ws.split()
}

# Folded function words that are also a name when written with ي: "على" (on) and "علي" (Ali)
# fold alike, and web text often writes ى as ي, so only a text that writes ى elsewhere
# tells them apart.
NAME_HOMOGRAPHS = frozenset({fold("على")})

_GHAYR = fold("غير")
_ANNA = frozenset(fold(w) for w in ["أن", "أنه", "أنها", "أنهم", "أنهما", "أننا", "أني"])

# Kinds of word, as `kind` gives them. A name or a rare word of the original is protected.
FUNCTION, NUMBER, COMMON, NAME, RARE = "function", "number", "common", "name", "rare"
PROTECTED = (NAME, RARE)
FACTS = (NUMBER, NAME, RARE)


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
    return _numbers_folded(folded, stems_folded(folded))


def _numbers_folded(folded: str, text_stems: list[str]) -> Counter[str]:
    found = Counter(number_value(m.group(0)) for m in _NUMBER.finditer(folded))
    found.update(NUMBER_WORDS[w] for w in text_stems if w in NUMBER_WORDS)
    return found


def kind(stemmed: str) -> str:
    """FUNCTION (polarity and relation words included: they are counted apart), NUMBER, COMMON (a
    rewrite may swap it for a synonym), NAME (a known name: never a synonym) or RARE (a rare or
    technical word, or a name the lexicon does not know)."""
    if stemmed in FUNCTION_WORDS or stemmed in NEGATIONS or stemmed in RELATIONS:
        return FUNCTION
    if stemmed.isdigit() or stemmed in NUMBER_WORDS:
        return NUMBER
    if len(stemmed) < 3:
        return FUNCTION
    if stemmed in common_words():
        return COMMON
    return NAME if stemmed in known_names() else RARE


def kinds(text_stems: Sequence[str]) -> list[str]:
    return [kind(w) for w in text_stems]


def written_kinds(text: str, text_stems: Sequence[str], distinguishes: bool) -> list[str]:
    """`kinds`, where a text whose writer tells ى from ي (`distinguishes`: it writes ى
    somewhere) has its written "علي" read as the name, not as the preposition "على" that `fold`
    makes of both (`NAME_HOMOGRAPHS`): a written "علي" with its clitics, diacritics or not."""
    found = kinds(text_stems)
    if distinguishes and not NAME_HOMOGRAPHS.isdisjoint(text_stems):
        written = words(text)  # fold keeps every word whole
        if len(written) == len(text_stems):
            for i, (w, stemmed) in enumerate(zip(written, text_stems, strict=True)):
                if stemmed in NAME_HOMOGRAPHS and "ى" not in w:
                    found[i] = NAME
    return found


def letters(text: str) -> str:
    """The words of a text as written (diacritics included), one space apart and around: what
    scripture must keep. Punctuation and spacing may be fixed."""
    return f" {' '.join(words(text))} "


def spoken(text: str) -> str:
    """The folded words of reported speech: its digits, diacritics and punctuation may change."""
    return f" {' '.join(words(fold(text)))} "


def quotes(text: str) -> list[tuple[int, str, bool]]:
    """(offset, the quotation's words, whether it is scripture) of each quotation."""
    found = []
    for pattern, scripture in ((_SCRIPTURE, True), (_SPEECH, False)):
        for m in pattern.finditer(text):
            quoted = next(g for g in m.groups() if g)
            if words(quoted):
                key = letters(quoted) if scripture else spoken(quoted)
                found.append((m.start(), key, scripture))
    return sorted(found)


def sentences(text: str) -> list[tuple[int, str]]:
    """(offset, text) of each non-blank sentence."""
    out, start = [], 0
    for end in [m.end() for m in _SENTENCE_END.finditer(text)] + [len(text)]:
        if text[start:end].strip():
            out.append((start, text[start:end]))
        start = end
    return out


def polarity_at(text_stems: Sequence[str], at: Iterable[int]) -> Counter[object]:
    """How many negations ("negation") and relation words ((group, side)) stand at the indexes
    `at` of a text's stems."""
    found: Counter[object] = Counter()
    for i in at:
        w = text_stems[i]
        # "غير أن" is "however", not a negation
        if w in NEGATIONS and not (
            w == _GHAYR and i + 1 < len(text_stems) and text_stems[i + 1] in _ANNA
        ):
            found["negation"] += 1
        if w in RELATIONS:
            found[RELATIONS[w]] += 1
    return found


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
    polarity: Counter[object]  # its negations and relation words that the rewrite changed
    commons: int  # its common words
    synonyms: int  # common words of it the rewrite swapped for other words
    transposed: bool  # two of its numbers or protected words traded places


@dataclass(frozen=True)
class Fidelity:
    """The verdict of `check` and what the audit follows: is the worker drifting?"""

    reason: str | None  # None: faithful
    numbers_kept: float  # share of the original's numbers found in the rewrite
    names_kept: float  # share of the original's protected words found in the rewrite
    new_names: int  # protected words the rewrite has and the original had not
    dropped: int  # sentences removed without a reason
    new_words: int  # words of the rewrite the original does not have (any kind, with repeats)
    synonyms: int = 0  # common words swapped for others


# A rewrite equal to its original says what it said: nothing to line up.
UNCHANGED = Fidelity(
    reason=None, numbers_kept=1.0, names_kept=1.0, new_names=0, dropped=0, new_words=0
)


@dataclass(frozen=True)
class Added:
    """New words of the rewrite in one place: what they are, and the original sentences they
    replaced or sit between (a neutral sentence written where a harmful one was)."""

    stems: tuple[str, ...]
    polarity: Counter[object]  # its negations and relation words
    content: int  # content words beyond the common words they replaced
    names: frozenset[str]  # protected words among them that the original does not have
    replaced: frozenset[int]


@dataclass(frozen=True)
class Comparison:
    sentences: tuple[Sentence, ...]
    quotes: tuple[tuple[int, str, bool], ...]  # of the original
    numbers: Counter[str]  # of the original
    names: Counter[str]  # of the original
    rewrite_quotes: tuple[str, str]  # letters and spoken words of the rewrite, if needed
    rewrite_numbers: Counter[str]
    rewrite_names: Counter[str]
    added: tuple[Added, ...]
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
            s.kept < limits.sentence_kept_min
            and (
                s.furniture or s.text in harmful or (s.line in harmful and s.line not in line_kept)
            )
            for s in self.sentences
        ]
        required = [s for s, e in zip(self.sentences, excused, strict=True) if not e]
        need_numbers = _total(s.numbers for s in required)
        need_names = _total(s.names for s in required)
        # New words that replaced harmful or furniture sentences are a neutralised rewrite.
        new_runs = [a for a in self.added if not any(excused[i] for i in a.replaced)]
        # a dropped sentence is one fact lost, said as such (sentence_dropped)
        lost_polarity = _total(s.polarity for s in required if s.kept >= limits.sentence_kept_min)
        new_polarity = _total(a.polarity for a in new_runs)
        polarity_changed = (lost_polarity - new_polarity) + (new_polarity - lost_polarity)
        new_names = {w for a in new_runs for w in a.names}
        required_chars = sum(len(s.text) for s in required)
        kept_chars = sum(s.kept * len(s.text) for s in required)
        coverage = kept_chars / required_chars if required_chars else 1.0
        dropped = sum(s.kept < limits.sentence_kept_min for s in required)
        lost_names = need_names - self.rewrite_names
        synonyms = sum(s.synonyms for s in required)
        commons = sum(s.commons for s in required)
        starts = [s.start for s in self.sentences]
        lost_quotes = [
            q
            for offset, q, scripture in self.quotes
            if q not in self.rewrite_quotes[0 if scripture else 1]
            and not excused[max(0, sum(st <= offset for st in starts) - 1)]
        ]
        reason = None
        if lost_quotes:
            reason = "quote_changed"
        elif need_numbers - self.rewrite_numbers or self.rewrite_numbers - self.numbers:
            reason = "numbers_changed"
        elif any(s.transposed for s in required):
            reason = "transposed"
        elif polarity_changed["negation"]:
            reason = "negation_changed"
        elif polarity_changed:
            reason = "relation_changed"
        elif lost_names.total() > limits.names_lost_max:
            reason = "names_lost"
        elif coverage < limits.coverage_min:
            reason = "summarised"
        elif dropped:
            reason = "sentence_dropped"
        elif len(new_names) > limits.new_names_max:
            reason = "names_added"
        elif any(a.content > limits.added_words_max for a in new_runs):
            reason = "content_added"
        elif any(s.synonyms > limits.synonyms_max for s in required) or (
            commons and synonyms / commons > limits.synonym_share_max
        ):
            reason = "reworded"
        return Fidelity(
            reason,
            numbers_kept=_share(need_numbers, self.rewrite_numbers),
            names_kept=_share(need_names, self.rewrite_names),
            new_names=len(new_names),
            dropped=dropped,
            new_words=self.new_words,
            synonyms=synonyms,
        )


def _total(counters: Iterable[Counter]) -> Counter:
    total: Counter = Counter()
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
    stems: tuple[str, ...]  # every word's stem, in order
    kinds: tuple[str, ...]  # every word's kind
    owner: tuple[int, ...]  # every word's sentence
    numbers: tuple[Counter[str], ...]
    names: tuple[Counter[str], ...]
    quotes: tuple[tuple[int, str, bool], ...]
    words: Counter[str]  # every stem, counted
    all_numbers: Counter[str]
    all_names: Counter[str]


def prepare(original: str) -> Original:
    spans = sentences(original)
    lines, furniture, all_numbers, all_names = [], [], [], []
    all_stems: list[str] = []
    all_kinds: list[str] = []
    owner: list[int] = []
    is_ad: dict[str, bool] = {}  # per line: a paragraph holds many sentences
    distinguishes = "ى" in original
    for index, (start, text) in enumerate(spans):
        line_end = original.find("\n", start)
        line = original[original.rfind("\n", 0, start) + 1 : line_end if line_end >= 0 else None]
        if line not in is_ad:
            is_ad[line] = is_furniture(line)
        folded = fold(text)
        text_stems = stems_folded(folded)
        text_kinds = written_kinds(text, text_stems, distinguishes)
        lines.append(line)
        furniture.append(is_ad[line])
        all_stems += text_stems
        all_kinds += text_kinds
        owner += [index] * len(text_stems)
        all_numbers.append(_numbers_folded(folded, text_stems))
        found_names = (w for w, k in zip(text_stems, text_kinds, strict=True) if k in PROTECTED)
        all_names.append(Counter(found_names))
    return Original(
        spans=tuple(spans),
        lines=tuple(lines),
        furniture=tuple(furniture),
        stems=tuple(all_stems),
        kinds=tuple(all_kinds),
        owner=tuple(owner),
        numbers=tuple(all_numbers),
        names=tuple(all_names),
        quotes=tuple(quotes(original)),
        words=Counter(all_stems),
        all_numbers=_total(all_numbers),
        all_names=_total(all_names),
    )


def _moved(tokens: tuple[str, ...], new: list[str], in_place: list[bool], taken: set[int]) -> None:
    """Words the line-up left out on both sides that stand in the same order on both: a sentence
    or a clause moved elsewhere (two sentences swapped, a clause put first). Runs of two words
    or more count: they are marked `in_place` in the original and `taken` in the rewrite."""
    left = [i for i, kept in enumerate(in_place) if not kept]
    right = [j for j in range(len(new)) if j not in taken]
    matcher = difflib.SequenceMatcher(
        None, [tokens[i] for i in left], [new[j] for j in right], autojunk=False
    )
    for block in matcher.get_matching_blocks():
        if block.size >= 2:
            for k in range(block.size):
                in_place[left[block.a + k]] = True
                taken.add(right[block.b + k])


def _neighbours(text_stems: Sequence[str], text_kinds: Sequence[str]) -> list[tuple[str, str]]:
    """The nearest content words before and after each word ("" at the ends): its role in the
    sentence ("12" counts "شخص", "القاهرة" is where "ولد" happened)."""
    size = len(text_stems)
    before, after = [""] * size, [""] * size
    last = ""
    for i in range(size):
        before[i] = last
        if text_kinds[i] != FUNCTION:
            last = text_stems[i]
    last = ""
    for i in reversed(range(size)):
        after[i] = last
        if text_kinds[i] != FUNCTION:
            last = text_stems[i]
    return list(zip(before, after, strict=True))


def _transposed(
    before: Original, new: list[str], new_kinds: list[str], swaps: set[tuple[int, str, str]]
) -> set[int]:
    """Sentences in which two numbers or protected words traded places: each lost both its
    neighbours (a clause that moved, or a synonym next to a name, leaves one in place), or two
    content words were each written where the other stood (`swaps`: (sentence, old, new) one
    for one: "the big house and the small car" made "the small house and the big car")."""
    present = set(new)
    facts = [
        (i, w, left, right)
        for i, (w, (left, right)) in enumerate(
            zip(before.stems, _neighbours(before.stems, before.kinds), strict=True)
        )
        if before.kinds[i] in FACTS and w in present
    ]
    wanted = {w for _, w, _, _ in facts}
    roles: Counter[tuple[str, str, str]] = Counter()
    places: Counter[tuple[str, str, str]] = Counter()  # both neighbours
    for w, (left, right) in zip(new, _neighbours(new, new_kinds), strict=True):
        if w in wanted:
            roles[w, "<", left] += 1
            roles[w, ">", right] += 1
            places[w, left, right] += 1
    # A word said twice keeps its role only once, and a word still between both its neighbours
    # claims that role first: another "أحمد" that moved must not take it.
    unplaced = []
    for i, w, left, right in facts:
        if places[w, left, right]:
            places[w, left, right] -= 1
            roles[w, "<", left] -= 1
            roles[w, ">", right] -= 1
        else:
            unplaced.append((i, w, left, right))
    loose: Counter[int] = Counter()
    for i, w, left, right in unplaced:
        for key in ((w, "<", left), (w, ">", right)):
            if roles[key]:
                roles[key] -= 1
                break
        else:
            loose[before.owner[i]] += 1
    traded = {sentence for sentence, a, b in swaps if (sentence, b, a) in swaps}
    return traded | {sentence for sentence, n in loose.items() if n >= 2}


def compare(original: str | Original, rewrite: str) -> Comparison:
    """Line the rewrite up against the original (a text, or one `prepare`d already)."""
    before = prepare(original) if isinstance(original, str) else original
    tokens, owner, token_kinds = before.stems, before.owner, before.kinds
    rewrite_folded = fold(rewrite)
    new = stems_folded(rewrite_folded)
    new_kinds = written_kinds(rewrite, new, "ى" in rewrite)
    opcodes = difflib.SequenceMatcher(None, tokens, new, autojunk=False).get_opcodes()
    count = len(before.spans)
    in_place = [False] * len(tokens)
    taken: set[int] = set()  # words of the rewrite lined up with the original's
    runs = []
    for op, i1, i2, j1, j2 in opcodes:
        if op == "equal":
            in_place[i1:i2] = [True] * (i2 - i1)
            taken.update(range(j1, j2))
        else:
            runs.append((i1, i2, j1, j2))
    _moved(tokens, new, in_place, taken)
    matched = [0] * count
    for i in range(len(tokens)):
        matched[owner[i]] += in_place[i]
    synonyms = [0] * count
    changed_polarity: list[Counter[object]] = [Counter() for _ in range(count)]
    added = []
    swaps: set[tuple[int, str, str]] = set()
    for i1, i2, j1, j2 in runs:
        if i2 - i1 == j2 - j1:  # one for one: what was written where each word stood
            # a name and a preposition that traded places ("علي" written for "على") count
            swaps.update(
                (owner[i], tokens[i], new[j])
                for i, j in zip(range(i1, i2), range(j1, j2), strict=True)
                if token_kinds[i] != FUNCTION or new_kinds[j] in FACTS
            )
        fresh = [j for j in range(j1, j2) if j not in taken]
        gone = [i for i in range(i1, i2) if not in_place[i]]
        for sentence in {owner[i] for i in gone}:
            changed_polarity[sentence] += polarity_at(
                tokens, [i for i in gone if owner[i] == sentence]
            )
        # Common words replaced one for one by content words that are not known names (a
        # common word, or a rarer one): synonyms. A known name never is.
        gone_commons = [i for i in gone if token_kinds[i] == COMMON]
        content = [j for j in fresh if new_kinds[j] != FUNCTION]
        candidates = sorted(
            (j for j in content if new_kinds[j] in (COMMON, RARE)),
            key=lambda j: new_kinds[j] != COMMON,
        )
        synonym_words = set(candidates[: len(gone_commons)])
        for i in gone_commons[: len(synonym_words)]:
            synonyms[owner[i]] += 1
        if fresh:
            added.append(
                Added(
                    stems=tuple(new[j] for j in fresh),
                    polarity=polarity_at(new, fresh),
                    content=len(content) - len(synonym_words),
                    # a known name, or a rare word where nothing was (a replaced word may be
                    # reworded with one)
                    names=frozenset(
                        new[j]
                        for j in content
                        if (new_kinds[j] == NAME or (new_kinds[j] == RARE and i1 == i2))
                        and j not in synonym_words
                        and new[j] not in before.all_names
                    ),
                    # the sentences it replaced, or sits between
                    replaced=frozenset(owner[max(i1 - 1, 0) : i2 + 1]),
                )
            )
    transposed = _transposed(before, new, new_kinds, swaps)
    commons = Counter(o for o, k in zip(owner, token_kinds, strict=True) if k == COMMON)
    sizes = Counter(owner)
    result = tuple(
        Sentence(
            text=text,
            line=line,
            start=start,
            kept=matched[index] / sizes[index] if sizes[index] else 1.0,
            size=sizes[index],
            furniture=ad,
            numbers=found_numbers,
            names=found_names,
            polarity=changed_polarity[index],
            commons=commons[index],
            synonyms=synonyms[index],
            transposed=index in transposed,
        )
        for index, ((start, text), line, ad, found_numbers, found_names) in enumerate(
            zip(
                before.spans,
                before.lines,
                before.furniture,
                before.numbers,
                before.names,
                strict=True,
            )
        )
    )
    return Comparison(
        sentences=result,
        quotes=before.quotes,
        numbers=before.all_numbers,
        names=before.all_names,
        rewrite_quotes=(letters(rewrite), spoken(rewrite)) if before.quotes else ("", ""),
        rewrite_numbers=_numbers_folded(rewrite_folded, new),
        # a protected word of the original is found by its stem, whatever its new neighbours
        rewrite_names=Counter(
            w
            for w, k in zip(new, new_kinds, strict=True)
            if k in PROTECTED or w in before.all_names
        ),
        added=tuple(added),
        new_words=(Counter(new) - before.words).total(),
    )
