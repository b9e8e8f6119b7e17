from __future__ import annotations

import pickle

from native_pipeline.text.blocks import Document
from native_pipeline.text.normalize import FOLD_TABLE, Normalizer, fold, normalize, words


def test_normalize_removes_tatweel_and_invisible_controls() -> None:
    text = "\u202bالعـــربية\u200f\u200b لغة\u00ad جميلة\ufeff\u202c"
    assert normalize(text) == "العربية لغة جميلة"


def test_normalize_keeps_zwnj_letters_and_diacritics() -> None:
    persian = "می\u200cخواهم"
    assert normalize(persian) == persian
    vocalised = "كَتَبَ الطالبُ الدرسَ"
    assert normalize(vocalised) == vocalised
    assert normalize("إلى مدرسة أو مستشفى") == "إلى مدرسة أو مستشفى"  # no folding


def test_normalize_nfkc_maps_presentation_forms_and_nbsp() -> None:
    assert normalize("\ufefb\u00a0\ufe8e") == "لا ا"  # lam-alef ligature, NBSP, final alef


def test_normalize_whitespace() -> None:
    text = "  سطر   أول\t\tهنا  \r\n\r\n\r\n\n  سطر ثان \x07\u2028ثالث  "
    assert normalize(text) == "سطر أول هنا\n\nسطر ثان\nثالث"


def test_fold_matching_key() -> None:
    assert fold("إِلَى") == fold("الي") == "الي"
    assert fold("أحمد آمن ٱلله") == "احمد امن الله"
    assert fold("مدرسة") == "مدرسه"
    assert fold("مؤتمر شاطئ") == "موتمر شاطي"
    assert fold("عـــربي") == "عربي"
    assert fold("ABC ٢٠٢٤ ۱۴۰۳") == "abc 2024 1403"
    assert fold("ء") == "ء"  # the lone hamza is a letter and stays


def test_fold_is_its_table_on_every_character_and_mixed_text() -> None:
    every = "".join(map(chr, range(0x20, 0x0800))) + "".join(map(chr, range(0xFB50, 0xFF00)))
    mixed = "قالَ الوزيرُ: «ارتفعت الأسعار ٢٫٣٪» وأُغلقت المدرسةُ في ۱۴۰۲ ـــ Ünïcode ABC إلى آخره ئؤ"
    for text in (every, mixed, every[::-1], ""):
        assert fold(text) == text.translate(FOLD_TABLE).lower()


def test_words_split_on_arabic_punctuation_and_keep_diacritics() -> None:
    assert words("كَتَبَ، الطالب؛ هل فهمت؟ (نعم).") == ["كَتَبَ", "الطالب", "هل", "فهمت", "نعم"]


def test_normalizer_block_counts_and_removes_empty() -> None:
    block = pickle.loads(pickle.dumps(Normalizer()))
    docs = [Document("a", "مرحـــبا   بكم"), Document("b", " \u200f\u200b \n\n\u0640 ")]
    kept = block(docs)
    assert [d.doc_id for d in kept] == ["a"]
    assert kept[0].text == "مرحبا بكم"
    decisions, stats = block.drain()
    assert [(d.doc_id, d.action, d.reason) for d in decisions] == [
        ("b", "removed", "empty_after_normalization")
    ]
    # what normalisation removes shows in the block's bytes in and out
    assert stats.bytes_in == len("مرحـــبا   بكم".encode()) + len(docs[1].text.encode())
    assert stats.bytes_out == len("مرحبا بكم".encode())
