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
  mostly dialect), left as it is, with the punctuation fixed around it;
- synonym: one to three common words swapped for a synonym, the way a polisher edits (SYNONYMS:
  verbs of saying, connectives, common adjectives and nouns);
- function_words: a connective or particle paraphrased ("بعدما" -> "بعد أن", "لكن" -> "غير أن");
- sentence_order: two sentences of a paragraph swapped;
- clause_order: the clause after a sentence's first comma moved to its front;
- digits: every number written in the other digit script (inside quotations too);
- diacritics: the diacritics removed (inside quotations too; scripture is left alone);
- boilerplate: a "read also: <headline>", "for more: <headline>" or "link to the story in
  <outlet>" line inside the original, the rewrite without it (headlines of other articles).

Unfaithful:
- number: one number changed; date: a day, month or year shifted; name: a name replaced by
  another from the corpus; drop: one sentence removed; invent: a sentence of another article
  added; translate: a paragraph (in a one-paragraph segment, a sentence) replaced by English
  text (there is no machine translation here: English news sentences stand in for it);
  summary: only the first sentence of each paragraph kept (a lead summary);
- negation_added: "ما" before a verb of the past, "لا" before one of the present;
  negation_removed: a standalone negation removed;
- relation_swap: a relation word swapped for its opposite (before/after, above/below, all/some,
  more/less, rose/fell, north/south ...);
- number_swap / name_swap: two numbers, or two names, of one sentence trade places;
- clause_invented: a run of 3-5 words cut from a sentence of another article inserted after a
  comma or before a sentence end;
- drop_furniture_word: a news sentence that holds a word ads also use ("إعلان", "شارك") dropped.
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

# Polishing vocabulary: a word and the synonym an editor puts in its place (surface forms).
SYNONYMS = {
    "قال": "ذكر",
    "وقال": "وذكر",
    "قالت": "ذكرت",
    "وقالت": "وذكرت",
    "أكد": "شدد",
    "وأكد": "وشدد",
    "أكدت": "شددت",
    "أضاف": "تابع",
    "وأضاف": "وتابع",
    "أوضح": "بيّن",
    "وأوضح": "وبيّن",
    "أشار": "لفت",
    "وأشار": "ولفت",
    "أعلن": "أفاد",
    "أعلنت": "أفادت",
    "كبير": "ضخم",
    "كبيرة": "ضخمة",
    "الكبير": "الضخم",
    "الكبيرة": "الضخمة",
    "جديد": "حديث",
    "جديدة": "حديثة",
    "الجديد": "الحديث",
    "الجديدة": "الحديثة",
    "مهم": "هام",
    "مهمة": "هامة",
    "بدأ": "شرع",
    "بدأت": "شرعت",
    "حاليا": "حاليًا",
    "سريع": "عاجل",
    "ضروري": "لازم",
    "يجب": "ينبغي",
    "حصل": "نال",
    "حصلت": "نالت",
    "شهد": "عرف",
    "شهدت": "عرفت",
    "مناطق": "أنحاء",
    "يستطيع": "يمكنه",
    "يعتبر": "يعد",
    "تعتبر": "تعد",
}
FUNCTION_PARAPHRASES = {
    "بعدما": "بعد أن",
    "عندما": "حينما",
    "إلا أن": "غير أن",
    "لكن": "غير أن",
    "كذلك": "أيضا",
    "أيضا": "كذلك",
    "حيث": "إذ",
    "لأن": "إذ إن",
    "حتى": "إلى أن",
}
NEGATED_PAST = ("قال", "أكد", "أعلن", "ذكر", "أضاف", "أوضح", "أشار", "وافق", "قرر", "شارك", "تمكن")
NEGATIONS = ("لا", "لم", "لن", "ليس", "ليست", "غير")
RELATION_SWAPS = (
    ("قبل", "بعد"),
    ("فوق", "تحت"),
    ("كل", "بعض"),
    ("أكثر", "أقل"),
    ("أكبر", "أصغر"),
    ("ارتفع", "انخفض"),
    ("ارتفعت", "انخفضت"),
    ("ارتفاع", "انخفاض"),
    ("زيادة", "نقص"),
    ("داخل", "خارج"),
    ("شمال", "جنوب"),
    ("شرق", "غرب"),
    ("أول", "آخر"),
    ("فاز", "خسر"),
    ("وافق", "رفض"),
)
OUTLETS = ("ويكي الأخبار", "الجزيرة نت", "بي بي سي عربي", "سكاي نيوز عربية", "العربية نت")
FURNITURE_WORDS = ("إعلان", "شارك", "اشترك", "تابع")
_DIACRITICS = re.compile("[\u064b-\u0652\u0670]")
_TO_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")

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
    headlines: Sequence[str] = ()


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


def _word(w: str) -> re.Pattern[str]:
    return re.compile(rf"(?<!\w){w}(?!\w)")


_QUOTED = re.compile(r"«[^»]*»|“[^”]*”|\"[^\"\n]*\"|﴿[^﴾]*﴾|\{[^{}]*\}")


def _outside_quotes(text: str, matches: list[re.Match[str]]) -> list[re.Match[str]]:
    """The matches that are not inside a quotation: a polisher leaves quoted words alone."""
    spans = [m.span() for m in _QUOTED.finditer(text)]
    return [m for m in matches if not any(a <= m.start() < b for a, b in spans)]


def _replace_words(text: str, table: dict[str, str], rng: random.Random, most: int) -> str | None:
    found = [m for w in table for m in _outside_quotes(text, list(_word(w).finditer(text)))]
    if not found:
        return None
    chosen = sorted(
        rng.sample(found, min(len(found), rng.randint(1, most))), key=lambda m: m.start()
    )
    out, end = [], 0
    for m in chosen:
        if m.start() >= end:
            out += [text[end : m.start()], table[m.group(0)]]
            end = m.end()
    return "".join(out) + text[end:]


def synonym(text: str, corpus: Corpus, rng: random.Random) -> Pair | None:
    rewrite = _replace_words(text, SYNONYMS, rng, 3)
    return (text, rewrite) if rewrite else None


def function_words(text: str, corpus: Corpus, rng: random.Random) -> Pair | None:
    rewrite = _replace_words(text, FUNCTION_PARAPHRASES, rng, 1)
    return (text, rewrite) if rewrite else None


def sentence_order(text: str, corpus: Corpus, rng: random.Random) -> Pair | None:
    lines = text.split("\n")
    options = [
        i
        for i, line in enumerate(lines)
        if len(_sentences(line)) >= 2
        and not _QUOTED.search(line)
        and not re.search('[«»"“”]', line)
    ]
    if not options:
        return None
    i = rng.choice(options)
    spans = [t.strip() for _, t in sentences(lines[i])]
    k = rng.randrange(len(spans) - 1)
    spans[k], spans[k + 1] = spans[k + 1], spans[k]
    lines[i] = " ".join(spans)
    return text, "\n".join(lines)


def clause_order(text: str, corpus: Corpus, rng: random.Random) -> Pair | None:
    spans = [
        (s, t)
        for s, t in _sentences(text)
        if "، " in t.strip()[:-1] and not re.search('[«»"“”﴿﴾{}]', t)
    ]
    if not spans:
        return None
    start, sentence = rng.choice(spans)
    body = sentence.strip()
    end = body[-1] if body[-1] in ".!؟?" else ""
    head, tail = body[: len(body) - len(end)].split("، ", 1)
    if len(tail.split()) < 2 or len(head.split()) < 2:
        return None
    moved = f"{tail}، {head}{end}"
    at = start + sentence.index(body)
    return text, text[:at] + moved + text[at + len(body) :]


def digits(text: str, corpus: Corpus, rng: random.Random) -> Pair | None:
    if not any(c.isdigit() for c in text):
        return None
    plain = text.translate(_ARABIC_DIGITS)
    if plain != text:
        return text, plain
    return text, text.translate(_TO_INDIC)


def diacritics(text: str, corpus: Corpus, rng: random.Random) -> Pair | None:
    if "﴿" in text or "{" in text or not _DIACRITICS.search(text):
        return None
    return text, _DIACRITICS.sub("", text)


def boilerplate(text: str, corpus: Corpus, rng: random.Random) -> Pair | None:
    headline = rng.choice(corpus.headlines) if corpus.headlines else None
    if headline is None:
        return None
    line = rng.choice(
        (
            f"اقرأ أيضا: {headline}",
            f"للمزيد: {headline}",
            f"رابط القصة في {rng.choice(OUTLETS)}",
        )
    )
    return _insert_line(text, line, rng), text


def negation_added(text: str, corpus: Corpus, rng: random.Random) -> Pair | None:
    past = _outside_quotes(text, [m for w in NEGATED_PAST for m in _word(w).finditer(text)])
    present = _outside_quotes(
        text, list(re.finditer(r"(?<!\w)[يت][\u0621-\u064a]{3,}(?!\w)", text))
    )
    options = [(m, "ما ") for m in past] + [(m, "لا ") for m in present]
    if not options:
        return None
    m, negation = rng.choice(options)
    return text, text[: m.start()] + negation + text[m.start() :]


def negation_removed(text: str, corpus: Corpus, rng: random.Random) -> Pair | None:
    found = _outside_quotes(text, [m for w in NEGATIONS for m in _word(w).finditer(text)])
    if not found:
        return None
    m = rng.choice(found)
    return text, text[: m.start()] + text[m.end() :].lstrip(" ")


def relation_swap(text: str, corpus: Corpus, rng: random.Random) -> Pair | None:
    found = [
        (m, b if m.group(0) == a else a)
        for a, b in RELATION_SWAPS
        for w in (a, b)
        for m in _outside_quotes(text, list(_word(w).finditer(text)))
    ]
    if not found:
        return None
    m, other = rng.choice(found)
    return text, text[: m.start()] + other + text[m.end() :]


def _swap_in_sentence(text: str, pattern: re.Pattern[str], rng: random.Random) -> Pair | None:
    options = []
    for start, sentence in sentences(text):
        found = _outside_quotes(sentence, list(pattern.finditer(sentence)))
        pairs = [(a, b) for a in found for b in found if a.start() < b.start()]
        options += [(start, a, b) for a, b in pairs if a.group(0) != b.group(0)]
    if not options:
        return None
    start, a, b = rng.choice(options)
    first, second = (start + a.start(), start + a.end()), (start + b.start(), start + b.end())
    return text, (
        text[: first[0]] + b.group(0) + text[first[1] : second[0]] + a.group(0) + text[second[1] :]
    )


def number_swap(text: str, corpus: Corpus, rng: random.Random) -> Pair | None:
    return _swap_in_sentence(text, re.compile(r"(?<![\d.,])\d+(?:[.,]\d+)?(?![\d.,])"), rng)


def name_swap(text: str, corpus: Corpus, rng: random.Random) -> Pair | None:
    names = "|".join(sorted(NAMES, key=len, reverse=True))
    return _swap_in_sentence(text, re.compile(rf"(?<!\w)(?:{names})(?!\w)"), rng)


def clause_invented(text: str, corpus: Corpus, rng: random.Random) -> Pair | None:
    other = rng.choice([s for s in corpus.segments if s != text])
    borrowed = [t.strip(" .،؟!\n").split() for _, t in _sentences(other)]
    borrowed = [ws for ws in borrowed if len(ws) >= 6]
    places = [m.end() for m in re.finditer(r"، ", text)] or [
        m.start() for m in re.finditer(r"[.؟!](?=\s|$)", text)
    ]
    if not borrowed or not places:
        return None
    words = rng.choice(borrowed)
    size = rng.randint(3, 5)
    at = rng.randrange(len(words) - size + 1)
    clause = " ".join(words[at : at + size])
    place = rng.choice(places)
    insert = f"{clause}، " if text[place - 1] == " " else f" {clause}"
    return text, text[:place] + insert + text[place:]


def drop_furniture_word(text: str, corpus: Corpus, rng: random.Random) -> Pair | None:
    spans = [
        (s, t) for s, t in _sentences(text) if any(_word(w).search(t) for w in FURNITURE_WORDS)
    ]
    if len(_sentences(text)) < 2 or not spans:
        return None
    start, sentence = rng.choice(spans)
    return text, (text[:start] + text[start + len(sentence) :]).strip()


FAITHFUL: dict[str, Generator] = {
    "punctuation": punctuation,
    "furniture": furniture,
    "harm_removed": harm_removed,
    "harm_neutralised": harm_neutralised,
    "rewrap": rewrap,
    "dialect": dialect,
    "synonym": synonym,
    "function_words": function_words,
    "sentence_order": sentence_order,
    "clause_order": clause_order,
    "digits": digits,
    "diacritics": diacritics,
    "boilerplate": boilerplate,
}
UNFAITHFUL: dict[str, Generator] = {
    "number": number,
    "date": date,
    "name": name,
    "drop": drop,
    "invent": invent,
    "translate": translate,
    "summary": summary,
    "negation_added": negation_added,
    "negation_removed": negation_removed,
    "relation_swap": relation_swap,
    "number_swap": number_swap,
    "name_swap": name_swap,
    "clause_invented": clause_invented,
    "drop_furniture_word": drop_furniture_word,
}
# The targets: the share of each kind rejected (faithful: at most 5 %).
TARGETS = {
    **dict.fromkeys(FAITHFUL, 0.05),
    **dict.fromkeys(("number", "date", "name", "drop", "invent", "translate", "summary"), 0.97),
    "drop_furniture_word": 0.97,
    **dict.fromkeys(
        ("negation_added", "negation_removed", "relation_swap", "number_swap", "name_swap"), 0.90
    ),
    "clause_invented": 0.90,
}


def corpus_names(segments: Sequence[str]) -> list[str]:
    """The names of NAMES that the corpus has."""
    joined = "\n".join(segments)
    return [n for n in NAMES if re.search(rf"(?<!\w){n}(?!\w)", joined)]
