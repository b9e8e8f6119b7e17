"""Rewrites made by rule from real text, for the fidelity benchmark: faithful and unfaithful ones.

Each generator takes a segment (and what it may borrow from the rest of the corpus) and returns
an (original, rewrite) pair, or None where it does not apply (no number to change, one sentence
only). Faithful kinds do what the code of conduct allows; unfaithful kinds change what the text
says, one way each.

Faithful:
- punctuation: the original gets the usual web damage (space before marks, Latin commas and
  question marks, doubled marks and spaces); the rewrite is the clean text;
- furniture: an ad or boilerplate line inside the original; the rewrite removes it;
- harm_removed / harm_neutralised: a harmful comment (from the harm set) inside the original;
  the rewrite removes it, or puts a neutral sentence in its place;
- rewrap: paragraphs joined into one, or a paragraph cut at a sentence end;
- dialect: a dialect comment inside the original (from the harm set's clean rows, which are
  mostly dialect), left as it is, with the punctuation fixed around it.

Unfaithful:
- number: one number changed; date: a day, month or year shifted; name: a name replaced by
  another from the corpus; drop: one sentence removed; invent: a sentence of another article
  added; translate: a paragraph (in a one-paragraph segment, a sentence) replaced by English
  text (there is no machine translation here: English news sentences stand in for it);
  summary: only the first sentence of each paragraph kept (a lead summary).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from native_pipeline.alignment.fidelity import sentences

Pair = tuple[str, str]

FURNITURE = (
    "اشترك الآن في نشرتنا البريدية",
    "اقرأ أيضا: أسعار الذهب اليوم",
    "تابعونا على فيسبوك وتويتر",
    "إعلان",
    "جميع الحقوق محفوظة © 2024",
    "اضغط هنا لتحميل التطبيق",
    "عرض خاص: خصم 50% لفترة محدودة",
    "شارك المقال",
)
NEUTRAL = (
    "وقد اختلفت آراء المعلقين حول هذا الموضوع.",
    "وعبّر بعض القراء عن استيائهم من الموقف.",
    "وانتقد أحد المتابعين ما جرى بشدة.",
)
ENGLISH = (
    "The ministry said the new measures would take effect at the start of next month.",
    "Officials added that the talks had made progress but that several issues remained open.",
    "The report noted a sharp rise in prices across the region over the past year.",
    "Witnesses described long queues outside the offices since early morning.",
)
_MONTHS = (
    "يناير فبراير مارس أبريل مايو يونيو يوليو أغسطس سبتمبر أكتوبر نوفمبر ديسمبر "
    "كانون الثاني شباط آذار نيسان أيار حزيران تموز آب أيلول تشرين"
)
MONTHS = _MONTHS.split()
# Names looked for in the text; a found one is replaced by another one the corpus also has.
_NAMES = (
    "الرياض جدة مكة المدينة دبي أبوظبي الدوحة الكويت المنامة مسقط القاهرة الإسكندرية عمان "
    "بيروت دمشق بغداد البصرة الموصل صنعاء عدن الخرطوم طرابلس تونس الجزائر الرباط الدار "
    "البيضاء مراكش نواكشوط غزة القدس رام الله نابلس حلب حمص إسطنبول أنقرة طهران واشنطن "
    "لندن باريس موسكو برلين روما بكين طوكيو محمد أحمد علي حسن حسين خالد عمر عبدالله سعيد "
    "يوسف إبراهيم مصطفى محمود فاطمة عائشة مريم سارة ليلى نور ترامب بايدن ماكرون بوتين "
    "أردوغان السيسي لبنان سوريا العراق مصر الأردن فلسطين السعودية الإمارات قطر البحرين "
    "عُمان اليمن السودان ليبيا المغرب موريتانيا تركيا إيران روسيا الصين فرنسا ألمانيا"
)
NAMES = _NAMES.split()

_NUMBER = re.compile(r"(?<![\d.,])\d+(?:[.,]\d+)?(?![\d.,])")
_ARABIC_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩", "0123456789")


@dataclass(frozen=True)
class Corpus:
    """What generators may borrow: other segments, names the corpus has, harmful and dialect
    comments."""

    segments: Sequence[str]
    names: Sequence[str]
    harmful: Sequence[str]
    dialect: Sequence[str]


Generator = Callable[[str, Corpus, random.Random], Pair | None]


def _insert_line(text: str, line: str, rng: random.Random, at: int | None = None) -> str:
    lines = text.split("\n")
    lines.insert(rng.randint(1, len(lines)) if at is None else min(at, len(lines)), line)
    return "\n".join(lines)


def _damage(text: str, rng: random.Random) -> str:
    """Web damage that a faithful rewrite repairs."""
    text = re.sub(r"(?<!\d)،|،(?!\d)", " ,", text).replace("؟", "?")
    text = re.sub(r"(?<=[^\d\s])\.(\s|$)", lambda m: " ." + m.group(1), text, count=2)
    words = text.split(" ")
    for _ in range(max(1, len(words) // 15)):
        i = rng.randrange(len(words))
        words[i] += " "
    return " ".join(words) + "!!!"


def punctuation(text: str, corpus: Corpus, rng: random.Random) -> Pair | None:
    return _damage(text, rng), text


def furniture(text: str, corpus: Corpus, rng: random.Random) -> Pair | None:
    return _insert_line(text, rng.choice(FURNITURE), rng), text


def harm_removed(text: str, corpus: Corpus, rng: random.Random) -> Pair | None:
    return _insert_line(text, rng.choice(corpus.harmful), rng), text


def harm_neutralised(text: str, corpus: Corpus, rng: random.Random) -> Pair | None:
    lines = text.split("\n")
    at = rng.randint(0, len(lines))
    with_harm = [*lines[:at], rng.choice(corpus.harmful), *lines[at:]]
    neutral = [*lines[:at], rng.choice(NEUTRAL), *lines[at:]]
    return "\n".join(with_harm), "\n".join(neutral)


def rewrap(text: str, corpus: Corpus, rng: random.Random) -> Pair | None:
    if "\n" in text:
        return text, re.sub(r"\n+", " ", text)
    cuts = [m.end() for m in re.finditer(r"[.!؟?] ", text)]
    if not cuts:
        return None
    cut = rng.choice(cuts)
    return text, text[: cut - 1] + "\n" + text[cut:]


def dialect(text: str, corpus: Corpus, rng: random.Random) -> Pair | None:
    comment, at = rng.choice(corpus.dialect), rng.randint(1, text.count("\n") + 1)
    return _insert_line(text, _damage(comment, rng), rng, at), _insert_line(text, comment, rng, at)


def number(text: str, corpus: Corpus, rng: random.Random) -> Pair | None:
    found = list(_NUMBER.finditer(text.translate(_ARABIC_DIGITS)))
    if not found:
        return None
    m = rng.choice(found)
    value = m.group(0)
    digits = [i for i, c in enumerate(value) if c.isdigit()]
    i = rng.choice(digits)
    changed = value[:i] + str((int(value[i]) + rng.randint(1, 8)) % 10) + value[i + 1 :]
    return text, text[: m.start()] + changed + text[m.end() :]


def date(text: str, corpus: Corpus, rng: random.Random) -> Pair | None:
    plain = text.translate(_ARABIC_DIGITS)
    day = re.compile(r"\b(\d{1,2}) (" + "|".join(MONTHS) + r")")
    year = re.compile(r"\b(19\d\d|20\d\d)\b")
    month = re.compile(r"\b(" + "|".join(MONTHS[:12]) + r")\b")
    for pattern, shift in ((day, 1), (year, 1)):
        if m := pattern.search(plain):
            value = str(int(m.group(1)) + shift)
            return text, text[: m.start(1)] + value + text[m.end(1) :]
    if m := month.search(text):
        other = MONTHS[(MONTHS.index(m.group(1)) + 1) % 12]
        return text, text[: m.start(1)] + other + text[m.end(1) :]
    return None


def name(text: str, corpus: Corpus, rng: random.Random) -> Pair | None:
    present = [n for n in NAMES if re.search(rf"(?<!\w){n}(?!\w)", text)]
    if not present:
        return None
    old = rng.choice(present)
    new = rng.choice([n for n in corpus.names if n != old])
    return text, re.sub(rf"(?<!\w){old}(?!\w)", new, text, count=1)


def _sentences(text: str) -> list[tuple[int, str]]:
    return [(s, t) for s, t in sentences(text) if len(t.split()) >= 4]


def drop(text: str, corpus: Corpus, rng: random.Random) -> Pair | None:
    spans = _sentences(text)
    if len(spans) < 2:
        return None
    start, sentence = rng.choice(spans[1:])
    return text, (text[:start] + text[start + len(sentence) :]).strip()


def invent(text: str, corpus: Corpus, rng: random.Random) -> Pair | None:
    other = rng.choice([s for s in corpus.segments if s != text])
    borrowed = [t.strip() for _, t in _sentences(other)]
    if not borrowed:
        return None
    return text, _insert_line(text, rng.choice(borrowed), rng)


def translate(text: str, corpus: Corpus, rng: random.Random) -> Pair | None:
    lines = text.split("\n")
    long = [i for i, line in enumerate(lines) if len(line.split()) >= 8]
    if len(lines) >= 2 and long:
        i = rng.choice(long)
        lines[i] = " ".join(rng.sample(ENGLISH, 2))
        return text, "\n".join(lines)
    # One paragraph: a sentence of it (not the first) is translated instead.
    spans = _sentences(text)[1:]
    if not spans:
        return None
    start, sentence = rng.choice(spans)
    return text, text[:start] + " " + rng.choice(ENGLISH) + text[start + len(sentence) :]


def summary(text: str, corpus: Corpus, rng: random.Random) -> Pair | None:
    firsts = []
    for line in text.split("\n"):
        spans = sentences(line)
        if spans:
            firsts.append(spans[0][1].strip())
    kept = "\n".join(firsts)
    if len(_sentences(text)) < 3 or len(sentences(kept)) == len(sentences(text)):
        return None  # nothing left out
    return text, kept


FAITHFUL: dict[str, Generator] = {
    "punctuation": punctuation,
    "furniture": furniture,
    "harm_removed": harm_removed,
    "harm_neutralised": harm_neutralised,
    "rewrap": rewrap,
    "dialect": dialect,
}
UNFAITHFUL: dict[str, Generator] = {
    "number": number,
    "date": date,
    "name": name,
    "drop": drop,
    "invent": invent,
    "translate": translate,
    "summary": summary,
}


def corpus_names(segments: Sequence[str]) -> list[str]:
    """The names of NAMES that the corpus has."""
    joined = "\n".join(segments)
    return [n for n in NAMES if re.search(rf"(?<!\w){n}(?!\w)", joined)]
