"""The word knowledge validation learns from text: common words, known names, whole words."""

from __future__ import annotations

from native_pipeline.alignment.fidelity import COMMON, NAME, RARE, kind
from native_pipeline.alignment.lexicon import lexicon_from, stem

# A corpus in which "كتاب" behaves as a noun (with and without the article, with suffixes),
# "قال" as a verb (its persons), "بغداد" as a name (never the article, a preposition now and
# then), and "وزير" starts with a و that is its own.
CORPUS = [
    "قرأ الطالب الكتاب ثم قال إن كتابه جديد وإن كتاب المدرسة قديم",
    "قالت المعلمة إن الكتاب مفيد وقالوا إن كتابها جميل",
    "سافر الوزير إلى بغداد وزار وزير المالية بغداد وعاد من بغداد",
    "وصل وزير الخارجية بغداد أمس وقال إن بغداد مدينة كبيرة",
] * 5


def test_common_words_names_and_whole_words_are_learnt_from_usage():
    common, names, whole = lexicon_from(CORPUS, ["الموصل"], min_count=2, name_min_count=5)
    assert {"كتاب", "قال"} <= set(common)
    assert "قالت" in common  # an inflection of a common verb
    assert "بغداد" in names and "بغداد" not in common
    assert "موصل" in names  # a place of the gazetteer is a name, seen or not
    assert "وزير" in whole  # "وزير" occurs, "زير" does not: the و is the word's own


def test_the_shipped_lexicon_protects_names_and_frees_common_words():
    assert kind(stem("قال")) == COMMON and kind(stem("الجديدة")) == COMMON
    assert kind(stem("القاهرة")) == NAME and kind(stem("بالرياض")) == NAME
    assert kind(stem("الثلايا")) == RARE  # not in the lists: protected all the same
    # a word that only looks as if it began with a conjunction keeps its letter
    assert stem("وزير") == "وزير" and stem("ووزير") == "وزير"
