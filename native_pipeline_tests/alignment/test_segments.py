from __future__ import annotations

import pytest

from native_pipeline.alignment.segments import (
    count_pieces,
    reassemble,
    segment_document,
    token_counter,
)
from native_pipeline.lm.tokenizer import train_tokenizer

PARAGRAPHS = [
    "أعلنت الجامعة عن برنامج جديد لدراسة علوم البحار. ويبدأ التسجيل في الشهر المقبل.",
    "وقال رئيس القسم إن البرنامج يجمع بين الدراسة النظرية والعمل الميداني على السواحل.",
    " ".join(["وتشمل الرحلات الميدانية زيارة المحميات الطبيعية ومراكز الأبحاث."] * 6),
    "ويمكن للطلاب التقديم عبر موقع الجامعة حتى نهاية العام.",
]
TEXT = "\n".join(PARAGRAPHS)


@pytest.mark.parametrize("max_tokens", [8, 20, 40, 1000])
def test_segments_tile_the_document_and_put_it_back_together(max_tokens):
    segments = segment_document("doc", TEXT, max_tokens)
    assert [s.index for s in segments] == list(range(len(segments)))
    assert all(TEXT[s.start : s.end] == s.text for s in segments)
    assert all(a.end <= b.start for a, b in zip(segments, segments[1:], strict=False))
    # only the whitespace a cut was made at lies between two segments
    gaps = [TEXT[a.end : b.start] for a, b in zip(segments, segments[1:], strict=False)]
    assert all(not gap.strip() for gap in gaps)
    spans = [(s.start, s.end) for s in segments]
    assert reassemble(TEXT, spans, [s.text for s in segments]) == TEXT
    assert all(s.n_tokens <= max_tokens for s in segments)


def test_whole_paragraphs_are_packed_and_long_ones_cut_at_sentences():
    segments = segment_document("doc", TEXT, 40)
    first = segments[0].text
    assert first == "\n".join(PARAGRAPHS[:2])  # two short paragraphs, one segment
    long = [s.text for s in segments if "الرحلات" in s.text]
    assert len(long) > 1 and all(t.endswith(".") for t in long)  # cut at sentence ends
    # a cut paragraph's pieces are never joined with the next paragraph
    assert segments[-1].text == PARAGRAPHS[-1]


def test_a_word_longer_than_the_limit_stays_whole():
    (segment,) = segment_document("d", "كلمة" * 50, 3)
    assert segment.text == "كلمة" * 50


def test_reassemble_replaces_each_span_in_order():
    segments = segment_document("doc", TEXT, 40)
    spans = [(s.start, s.end) for s in segments]
    rebuilt = reassemble(TEXT, spans, [f"<{s.index}>" for s in segments])
    assert rebuilt.split("\n")[0] == "<0>" and rebuilt.count("<") == len(segments)
    with pytest.raises(ValueError, match="overlap"):
        reassemble(TEXT, list(reversed(spans)), ["x"] * len(spans))


def test_counting_with_a_tokenizer(tmp_path):
    tokenizer = train_tokenizer(PARAGRAPHS * 5, vocab_size=300)
    tokenizer.save_pretrained(tmp_path)
    count = token_counter(tmp_path)
    assert count(TEXT) == len(tokenizer(TEXT, add_special_tokens=False)["input_ids"])
    assert token_counter(None) is count_pieces
    assert count_pieces("قال: نعم، غدا.") == 6


def test_empty_text_has_no_segments_and_bad_limits_are_refused():
    assert segment_document("d", "  \n ", 10) == []
    with pytest.raises(ValueError):
        segment_document("d", TEXT, 0)
