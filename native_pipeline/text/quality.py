"""Heuristic quality filters (Gopher, C4, FineWeb) fitted to Arabic.

Thresholds follow FineWeb-2's Arabic config (configs/arb_Arab.yml in huggingface/fineweb-2)
where it has one, else the original papers' values, else a measurement on real Arabic text
(docs/benchmarks/real_data.md). Words are split on whitespace and punctuation
(`normalize.words`), stop words and lexicons are compared after `fold`.

What is Arabic about them: a sentence ends with ". ! ؟ ?" (the comma "،" and semicolon "؛"
join clauses, so they end a prose line but not a sentence); quotation marks include « »,
the ornate brackets ﴿ ﴾ of Qur'an verses and the braces {…} Arabic papers quote names and
verses in; a bulleted line that is a whole sentence is an interview's question or answer, not
a list item; figures are neither alphabetic words nor junk.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

from native_pipeline.text.blocks import Amount, AtLeastOne, Count, Document, Filter, Share
from native_pipeline.text.normalize import fold, words

SENTENCE_END = (".", "!", "?", "؟", "۔")
# Arabic paragraphs often stop on a clause mark; such a line is prose, not page furniture.
TERMINAL_PUNCTUATION = (*SENTENCE_END, "،", "؛")
# Quotation marks and brackets that may close a sentence: «...». / "...؟" / ﴿...﴾ / {...}
_CLOSERS = "\"'»”’)]}﴾﴿"
# A verse or a quotation in braces closes the sentence that quotes it ("قال تعالى: ﴿...﴾").
_QUOTATION_CLOSERS = ("﴾", "﴿", "}")
_SENTENCE_SPLIT = re.compile("[" + re.escape("".join(SENTENCE_END)) + "]+")
# The end of the last complete sentence in a line, closing quotes included.
_LAST_SENTENCE_END = re.compile(
    "^(.*[" + re.escape("".join(SENTENCE_END)) + "][" + re.escape(_CLOSERS) + "]*)"
)
_ELLIPSES = ("...", "…")
_BULLETS = ("•", "-", "*", "–", "▪", "●", "·", "►")
# Braces that hold code, not a quotation: a program's or a style sheet's punctuation inside,
# no Arabic letter inside, or a brace that does not close on its line. Doubled braces are one
# pair: a wiki template named in prose ("{{مستخدم أوب}}") is a mention, "{{cite|url=…}}" code.
_BRACES = re.compile(r"\{\{[^{}]*\}\}|\{[^{}]*\}|[{}]")
_CODE_IN_BRACES = re.compile(r"[;=<>$\\|&]")
_ARABIC_LETTER = re.compile(r"[\u0621-\u064a]")
# A figure: digits (any script) with decimal, thousands, date or ratio separators and an
# optional sign or percent: "3.5", "11,234", "٢٠٢٤", "15/3", "%25", "-2.1%".
_NUMBER = re.compile(r"[+\-−]?[%٪]?\d+(?:[.,٫٬/:]\d+)*[%٪‰]?")
# What is stripped from a whitespace token before it is judged: punctuation around a word.
_TOKEN_EDGES = "\"'«»“”‘’()[]{}﴾﴿.,،؛;:!?؟…"

# Function words (FineWeb-2's Arabic list without "،" and the corpus-specific "عام" and
# "المتحدة", plus the common relative pronouns and demonstratives), as written and folded.
STOP_WORDS_AS_WRITTEN = (
    "في",
    "من",
    "على",
    "إلى",
    "عن",
    "مع",
    "أن",
    "إن",
    "أو",
    "هو",
    "هي",
    "التي",
    "الذي",
    "الذين",
    "كان",
    "كانت",
    "بين",
    "ما",
    "بعد",
    "قبل",
    "هذا",
    "هذه",
    "ذلك",
    "تلك",
    "لا",
    "لم",
    "لن",
    "قد",
    "كل",
    "عند",
    "حتى",
    "ثم",
    "إذا",
    "أي",
    "أيضا",
)
ARABIC_STOP_WORDS = frozenset(map(fold, STOP_WORDS_AS_WRITTEN))


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.split("\n") if line.strip()]


def _ends_prose(line: str) -> bool:
    """Whether a line ends like prose: on punctuation (inside or before closing quotes) or on
    a quoted verse."""
    return line.endswith(_QUOTATION_CLOSERS) or line.rstrip(_CLOSERS).endswith(TERMINAL_PUNCTUATION)


def _ends_sentence(line: str) -> bool:
    return line.endswith(_QUOTATION_CLOSERS) or line.rstrip(_CLOSERS).endswith(SENTENCE_END)


def _is_list_item(line: str) -> bool:
    """A bulleted line that is not a whole sentence; "* سؤال؟" / "- جواب." are dialogue."""
    return line.startswith(_BULLETS) and not _ends_sentence(line)


def _has_code_braces(line: str) -> bool:
    for span in _BRACES.findall(line):
        inside = span.strip("{}")
        if len(span) == 1 or _CODE_IN_BRACES.search(inside) or not _ARABIC_LETTER.search(inside):
            return True
    return False


def _alpha_ratio(text: str) -> float:
    """Share of alphabetic words among the words that are not figures (0 if none)."""
    alpha = other = 0
    for chunk in text.split():
        token = chunk.strip(_TOKEN_EDGES)
        if token and _NUMBER.fullmatch(token):
            continue
        if token.isalpha() or any(c.isalpha() for c in token):  # most words: one C call
            alpha += 1
        else:
            other += 1
    return alpha / (alpha + other) if alpha + other else 0.0


def _is_stop_word(word: str, stop_words: frozenset[str]) -> bool:
    # The conjunctions و/ف are written joined to the next word ("وفي", "فإن").
    return word in stop_words or (word[:1] in "وف" and word[1:] in stop_words)


def _duplicates(items: Iterable[str]) -> tuple[int, int]:
    """(number of items seen before, their total characters)."""
    seen: set[str] = set()
    count = chars = 0
    for item in items:
        if item in seen:
            count += 1
            chars += len(item)
        else:
            seen.add(item)
    return count, chars


class GopherQualityFilter(Filter):
    """Rae et al. 2021 quality rules: document length, word length, symbols, bullets,
    ellipses, alphabetic words and stop words."""

    name = "gopher_quality"

    def __init__(
        self,
        min_words: Count = 30,  # measured: real news briefs (docs/benchmarks/real_data.md)
        max_words: AtLeastOne = 100_000,
        min_avg_word_length: Amount = 2.0,  # FineWeb-2 Arabic (Arabic words are short)
        max_avg_word_length: Amount = 9.0,  # FineWeb-2 Arabic
        max_symbol_word_ratio: Amount = 0.1,
        max_bullet_lines_ratio: Share = 0.9,
        max_ellipsis_lines_ratio: Share = 0.3,
        min_alpha_words_ratio: Share = 0.787,  # FineWeb-2 Arabic
        min_stop_words: Count = 2,
    ) -> None:
        super().__init__()
        self.min_words = min_words
        self.max_words = max_words
        self.min_avg_word_length = min_avg_word_length
        self.max_avg_word_length = max_avg_word_length
        self.max_symbol_word_ratio = max_symbol_word_ratio
        self.max_bullet_lines_ratio = max_bullet_lines_ratio
        self.max_ellipsis_lines_ratio = max_ellipsis_lines_ratio
        self.min_alpha_words_ratio = min_alpha_words_ratio
        self.min_stop_words = min_stop_words

    def reject(self, doc: Document) -> tuple[str, float | None] | None:
        text = doc.text
        tokens = words(text)
        n = len(tokens)
        if n < self.min_words:
            return "gopher_quality:too_few_words", n
        if n > self.max_words:
            return "gopher_quality:too_many_words", n
        avg = sum(map(len, tokens)) / n
        if avg < self.min_avg_word_length:
            return "gopher_quality:short_words", avg
        if avg > self.max_avg_word_length:
            return "gopher_quality:long_words", avg
        symbols = max(text.count("#"), sum(map(text.count, _ELLIPSES))) / n
        if symbols > self.max_symbol_word_ratio:
            return "gopher_quality:symbol_word_ratio", symbols
        lines = _lines(text)
        bullets = sum(map(_is_list_item, lines)) / len(lines)
        if bullets > self.max_bullet_lines_ratio:
            return "gopher_quality:bullet_lines", bullets
        ellipses = sum(line.endswith(_ELLIPSES) for line in lines) / len(lines)
        if ellipses > self.max_ellipsis_lines_ratio:
            return "gopher_quality:ellipsis_lines", ellipses
        alpha = _alpha_ratio(text)
        if alpha < self.min_alpha_words_ratio:
            return "gopher_quality:alpha_words", alpha
        # Folding the text once gives the words' folds (fold keeps word boundaries).
        stops = sum(_is_stop_word(w, ARABIC_STOP_WORDS) for w in words(fold(text)))
        if stops < self.min_stop_words:
            return "gopher_quality:too_few_stop_words", stops
        return None


def _top_ngram_chars(tokens: Sequence[str], n: int) -> int:
    """Characters covered by the most frequent word n-gram, if it occurs more than once."""
    counts = Counter(" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
    if not counts:
        return 0
    gram, count = counts.most_common(1)[0]
    return len(gram) * count if count > 1 else 0


def _duplicated_ngram_chars(tokens: Sequence[str], n: int) -> int:
    """Characters in n-grams that repeat an earlier one, without counting overlaps twice."""
    seen: set[tuple[str, ...]] = set()
    chars = i = 0
    while i <= len(tokens) - n:
        gram = tuple(tokens[i : i + n])
        if gram in seen:
            chars += sum(map(len, gram))
            i += n
        else:
            seen.add(gram)
            i += 1
    return chars


class GopherRepetitionFilter(Filter):
    """Rae et al. 2021 repetition rules. A threshold of None switches its rule off."""

    name = "gopher_repetition"

    def __init__(
        self,
        dup_line_frac: Share | None = 0.304,  # FineWeb-2 Arabic
        dup_para_frac: Share | None = 0.3,
        dup_line_char_frac: Share | None = 0.2,
        dup_para_char_frac: Share | None = 0.2,
        # FineWeb-2 Arabic values for (n, max char fraction).
        top_n_grams: Sequence[tuple[AtLeastOne, Share]] = ((2, 0.197), (3, 0.172), (4, 0.146)),
        dup_n_grams: Sequence[tuple[AtLeastOne, Share]] = (
            (5, 0.165),
            (6, 0.153),
            (7, 0.142),
            (8, 0.131),
            (9, 0.12),
            (10, 0.109),
        ),
    ) -> None:
        super().__init__()
        self.dup_line_frac = dup_line_frac
        self.dup_para_frac = dup_para_frac
        self.dup_line_char_frac = dup_line_char_frac
        self.dup_para_char_frac = dup_para_char_frac
        self.top_n_grams = [(int(n), float(f)) for n, f in top_n_grams]
        self.dup_n_grams = sorted((int(n), float(f)) for n, f in dup_n_grams)

    def reject(self, doc: Document) -> tuple[str, float | None] | None:
        text = doc.text.strip()
        if not text:
            return None
        size = len(text)
        for unit, items, frac_limit, char_limit in (
            ("para", re.split(r"\n\s*\n", text), self.dup_para_frac, self.dup_para_char_frac),
            ("line", _lines(text), self.dup_line_frac, self.dup_line_char_frac),
        ):
            count, chars = _duplicates(items)
            for rule, value, limit in (
                (f"dup_{unit}_frac", count / len(items), frac_limit),
                (f"dup_{unit}_char_frac", chars / size, char_limit),
            ):
                if limit is not None and value > limit:
                    return f"gopher_repetition:{rule}", value
        tokens = words(text)
        for n, limit in self.top_n_grams:
            frac = _top_ngram_chars(tokens, n) / size
            if frac > limit:
                return f"gopher_repetition:top_{n}_gram", frac
        for n, limit in self.dup_n_grams:
            frac = _duplicated_ngram_chars(tokens, n) / size
            if frac > limit:
                return f"gopher_repetition:dup_{n}_gram", frac
            if frac == 0:
                break  # a repeated n-gram holds a repeated (n-1)-gram: none longer repeats
        return None


# Lines that are page furniture, not text (C4's list plus the Arabic equivalents), folded.
POLICY_PHRASES = tuple(
    fold(p)
    for p in (
        "terms of use",
        "privacy policy",
        "cookie policy",
        "uses cookies",
        "use of cookies",
        "use cookies",
        "all rights reserved",
        "ملفات تعريف الارتباط",
        "ملفات الارتباط",
        "الكوكيز",
        "سياسة الخصوصية",
        "سياسة الاستخدام",
        "شروط الاستخدام",
        "شروط الخدمة",
        "جميع الحقوق محفوظة",
        "كل الحقوق محفوظة",
    )
)
JAVASCRIPT_PHRASES = tuple(fold(p) for p in ("javascript", "جافا سكريبت", "جافاسكريبت"))
# Placeholder text, Latin and the usual Arabic one ("هذا النص هو مثال لنص يمكن أن يستبدل").
LOREM_PHRASES = tuple(fold(p) for p in ("lorem ipsum", "هذا النص هو مثال لنص"))
_CITATION = re.compile(r"\[\d*\]|\[edit\]|\[citation needed\]|\[بحاجة لمصدر\]|\[عدل\]")


class C4Filter(Filter):
    """C4 line cleaning (Raffel et al. 2020): drop lines that are not prose (no final
    punctuation, too few words, about javascript or cookies/policies); remove the document if
    it holds placeholder text or code braces, or fewer than `min_sentences` sentences are left.

    Fitted to Arabic: a line that does not end on punctuation keeps its complete sentences
    (news on one line often ends in an unpunctuated outlet tag); a line ending in ":" is kept
    when the line it introduces is; braces around Arabic words are quotation marks."""

    name = "c4"

    def __init__(
        self,
        min_words_per_line: Count = 3,
        min_sentences: Count = 2,  # measured on real news (docs/benchmarks/real_data.md)
        max_word_length: AtLeastOne = 1000,
        remove_citations: bool = True,
    ) -> None:
        super().__init__()
        self.min_words_per_line = min_words_per_line
        self.min_sentences = min_sentences
        self.max_word_length = max_word_length
        self.remove_citations = remove_citations

    def reject(self, doc: Document) -> tuple[str, float | None] | None:
        """Rewrite doc.text with the kept lines; return (reason, score) to remove it."""
        kept: list[str | None] = []
        lead_in: tuple[int, str] | None = None  # a line ending in ":" waits for the next one
        n_lines = changed = sentences = 0

        def keep(at: int, line: str | None, original: str) -> None:
            nonlocal changed, sentences
            kept[at] = line
            changed += line != original
            if line:
                sentences += len(
                    [s for s in _SENTENCE_SPLIT.split(line) if s.strip(_CLOSERS + " :")]
                )

        for raw in doc.text.split("\n"):
            line = raw.strip()
            if not line:
                kept.append("")  # keep paragraph breaks for the repetition filter
                continue
            n_lines += 1
            folded = fold(line)
            if any(p in folded for p in LOREM_PHRASES):
                return "c4:lorem_ipsum", 1.0
            if _has_code_braces(line):
                return "c4:curly_bracket", 1.0
            if self.remove_citations:
                line = _CITATION.sub("", line)
            is_lead_in = self._is_lead_in(line)
            prose = None if is_lead_in else self.prose(line)
            if lead_in is not None:
                # kept whole if what it introduces is kept, else only its complete sentences
                at, text = lead_in
                keep(at, text if prose else self.prose(text), text)
                lead_in = None
            kept.append(None)
            if is_lead_in:
                lead_in = (len(kept) - 1, line)
            else:
                keep(len(kept) - 1, prose, line)
        if lead_in is not None:
            keep(lead_in[0], self.prose(lead_in[1]), lead_in[1])
        if sentences < self.min_sentences:
            return "c4:too_few_sentences", float(sentences)
        if changed:
            text = "\n".join(line for line in kept if line is not None)
            doc.text = re.sub(r"\n{3,}", "\n\n", text).strip()
            self.modify(doc, "c4_lines_removed", changed / n_lines)
        return None

    def prose(self, line: str) -> str | None:
        """The line if it is prose; else its complete sentences, if they are; else None."""
        if not _ends_prose(line) or line.endswith(_ELLIPSES):
            head = _LAST_SENTENCE_END.match(line.rstrip(".…"))
            if head is None:
                return None
            line = head.group(1)
        tokens = line.split()
        folded = fold(line)
        if (
            len(tokens) < self.min_words_per_line
            or any(len(t) > self.max_word_length for t in tokens)
            or any(p in folded for p in JAVASCRIPT_PHRASES + POLICY_PHRASES)
        ):
            return None
        return line

    def _is_lead_in(self, line: str) -> bool:
        """A line like "وقال الوزير:" that introduces a quotation or a list on the next one: it
        would be prose if its colon ended a sentence."""
        return line.endswith(":") and self.prose(line[:-1] + ".") is not None


class FineWebQualityFilter(Filter):
    """FineWeb's extra rules (Penedo et al. 2024): share of lines ending in punctuation,
    share of short lines, characters in duplicated lines, newlines per word."""

    name = "fineweb_quality"

    def __init__(
        self,
        line_punct_thr: Share = 0.143,  # FineWeb-2 Arabic
        line_punct_exclude_zero: bool = False,
        short_line_thr: Share = 0.67,
        short_line_length: Count = 30,
        char_duplicates_ratio: Share = 0.1,  # FineWeb-2 (FineWeb English used 0.01)
        new_line_ratio: Amount = 0.189,  # FineWeb-2 Arabic
    ) -> None:
        super().__init__()
        self.line_punct_thr = line_punct_thr
        self.line_punct_exclude_zero = line_punct_exclude_zero
        self.short_line_thr = short_line_thr
        self.short_line_length = short_line_length
        self.char_duplicates_ratio = char_duplicates_ratio
        self.new_line_ratio = new_line_ratio

    def reject(self, doc: Document) -> tuple[str, float | None] | None:
        lines = _lines(doc.text)
        if not lines:
            return "fineweb_quality:empty", 0.0
        punct = sum(map(_ends_prose, lines)) / len(lines)
        if punct < self.line_punct_thr and not (punct == 0 and self.line_punct_exclude_zero):
            return "fineweb_quality:line_punct_ratio", punct
        short = sum(len(line) <= self.short_line_length for line in lines) / len(lines)
        if short >= self.short_line_thr:
            return "fineweb_quality:short_line_ratio", short
        dup_chars = _duplicates(lines)[1] / max(1, sum(map(len, lines)))
        if dup_chars >= self.char_duplicates_ratio:
            return "fineweb_quality:char_dup_ratio", dup_chars
        # Line breaks between text lines; blank lines are not counted, so the paragraph
        # spacing kept by `normalize` does not double the ratio.
        newlines = (len(lines) - 1) / max(1, len(words(doc.text)))
        if newlines > self.new_line_ratio:
            return "fineweb_quality:new_line_ratio", newlines
        return None


# RefinedWeb's counters ("3 likes", "١٢ تعليق") and its short boilerplate lines, folded.
COUNTER_WORDS = tuple(
    fold(w)
    for w in (
        *("like", "likes", "share", "shares", "comment", "comments", "view", "views"),
        *("follower", "followers", "retweet", "retweets", "reply", "replies"),
        *("إعجاب", "اعجاب", "مشاركة", "مشاركات", "تعليق", "تعليقات", "مشاهدة", "مشاهدات"),
        *("متابع", "متابعين", "رد", "ردود"),
    )
)
BOILERPLATE_PHRASES = tuple(
    fold(p)
    for p in (
        *("sign in", "sign up", "log in", "read more", "items in cart", "share on"),
        *("تسجيل الدخول", "سجل دخولك", "اقرأ المزيد", "اقرأ أيضا", "شارك على", "سلة التسوق"),
        *("أضف تعليق", "اترك تعليقا"),
    )
)


class RefinedWebLineFilter(Filter):
    """RefinedWeb's line-wise corrections (Penedo et al. 2023, section G.2): remove lines that
    are mostly upper case, only figures, a counter ("3 likes") or one word, and short lines with
    a boilerplate phrase ("sign in", "اقرأ المزيد": RefinedWeb edits the phrase out, here the
    short line goes whole); remove the document when the words taken out are more than
    `max_removed_words_ratio` of its words."""

    name = "refinedweb_lines"

    def __init__(
        self,
        max_removed_words_ratio: Share = 0.05,
        max_uppercase_ratio: Share = 0.5,
        short_line_words: AtLeastOne = 10,
        counter_words: Sequence[str] = COUNTER_WORDS,
        boilerplate_phrases: Sequence[str] = BOILERPLATE_PHRASES,
    ) -> None:
        super().__init__()
        self.max_removed_words_ratio = max_removed_words_ratio
        self.max_uppercase_ratio = max_uppercase_ratio
        self.short_line_words = short_line_words
        self.counter = re.compile(
            r"^\d[\d,.]*\s*[km]?\s+(?:" + "|".join(re.escape(fold(w)) for w in counter_words) + ")$"
        )
        self.boilerplate = [fold(p) for p in boilerplate_phrases]

    def removes(self, line: str) -> bool:
        tokens = words(line)
        # upper case among all letters: an Arabic line naming "NASA" is not shouting
        letters = [c for c in line if c.isalpha()]
        folded = fold(line.strip())
        return (
            len(tokens) <= 1
            or all(t.isdigit() for t in tokens)
            or (
                bool(letters)
                and sum(map(str.isupper, letters)) / len(letters) > self.max_uppercase_ratio
            )
            or self.counter.match(folded) is not None
            or (
                len(tokens) <= self.short_line_words
                and any(phrase in folded for phrase in self.boilerplate)
            )
        )

    def reject(self, doc: Document) -> tuple[str, float | None] | None:
        total = len(words(doc.text))
        if not total:
            return None
        lines = doc.text.split("\n")
        gone = [bool(line.strip()) and self.removes(line) for line in lines]
        removed = sum(len(words(line)) for line, g in zip(lines, gone, strict=True) if g)
        if removed / total > self.max_removed_words_ratio:
            return "refinedweb_lines:removed_words", removed / total
        if removed:
            doc.text = "\n".join(line for line, g in zip(lines, gone, strict=True) if not g)
            self.modify(doc, "refinedweb_lines:lines_removed", removed / total)
        return None
