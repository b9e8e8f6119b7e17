from __future__ import annotations

import json

import polars as pl
import pytest

from native_pipeline.lake import Lake
from native_pipeline.settings import TrainingSettings, VariantSettings
from native_pipeline.text.cleaning import baseline_blocks
from native_pipeline.training.mix import (
    DOCUMENTS,
    clean_baseline,
    documents_in_both_forms,
    mix,
    read_replay,
    replay,
    replay_target_chars,
    split_held_out,
    write_variant,
)


def _docs(n: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "doc_id": [f"d{i}" for i in range(n)],
            "segment_ids": [[f"d{i}-0"] for i in range(n)],
            "original": [f"نص أصلي {i}" for i in range(n)],
            "aligned": [f"نص مهذب {i}" + " مهذب" * (i % 7) for i in range(n)],
            "url": [f"https://site{i % 5}.example/{i}" for i in range(n)],
        }
    )


def test_the_aligned_document_replaces_each_segment_span_and_keeps_the_rest():
    originals = pl.DataFrame({"doc_id": ["a"], "text": ["فقرة أولى\n\nفقرة ثانية"]})
    segments = pl.DataFrame(
        {
            "doc_id": ["a", "a"],
            "segment_id": ["a-1", "a-0"],
            "index": [1, 0],
            "start": [11, 0],
            "end": [21, 9],
            "aligned": ["الثانية", "الأولى"],
        }
    )
    docs = documents_in_both_forms(originals, segments)
    assert docs.row(0, named=True) == {
        "doc_id": "a",
        "segment_ids": ["a-0", "a-1"],
        "original": "فقرة أولى\n\nفقرة ثانية",
        "aligned": "الأولى\n\nالثانية",
        "url": None,
    }


def test_a_document_without_aligned_segments_is_an_error():
    originals = pl.DataFrame({"doc_id": ["a", "b"], "text": ["نص", "نص"]})
    segments = pl.DataFrame(
        {"doc_id": ["a"], "segment_id": ["a-0"], "index": [0], "start": [0], "end": [2]},
        schema_overrides={"index": pl.Int32},
    ).with_columns(aligned=pl.lit("نص"))
    with pytest.raises(ValueError, match="1 documents of cleaned_text have no aligned segments"):
        documents_in_both_forms(originals, segments)


def test_held_out_documents_are_the_same_whatever_the_order_and_never_trained_on():
    docs = _docs(400)
    train, held = split_held_out(docs, 0.1, seed=3)
    _, held_again = split_held_out(docs.reverse(), 0.1, seed=3)
    assert set(held["doc_id"]) == set(held_again["doc_id"])
    assert 20 < held.height < 60
    assert not set(held["doc_id"]) & set(train["doc_id"])
    assert train.height + held.height == docs.height
    for variant in ("original", "aligned", "hybrid", "cleaned"):
        mixed = mix(train, VariantSettings(source=variant), seed=3)
        assert not set(mixed["doc_id"]) & set(held["doc_id"])


def test_variants_take_the_same_documents_in_their_own_form():
    docs = _docs(200)
    original = mix(docs, VariantSettings(source="original"), seed=0)
    aligned = mix(docs, VariantSettings(source="aligned"), seed=0)
    assert original.schema == pl.Schema(DOCUMENTS)
    assert original["doc_id"].to_list() == aligned["doc_id"].to_list() == docs["doc_id"].to_list()
    assert original["text"].to_list() == docs["original"].to_list()
    assert aligned["text"].to_list() == docs["aligned"].to_list()
    assert set(aligned["source"]) == {"aligned"}


def _chars(mixed: pl.DataFrame, source: str) -> int:
    return int(mixed.filter(source=source)["text"].str.len_chars().sum())


def test_hybrid_holds_the_original_and_the_aligned_corpus_both_in_full():
    docs = _docs(1000)
    hybrid = mix(docs, VariantSettings(source="hybrid"), seed=0)
    original = mix(docs, VariantSettings(source="original"), seed=0)
    aligned = mix(docs, VariantSettings(source="aligned"), seed=0)
    # neither source halved: each as much as the variant of that source alone
    assert _chars(hybrid, "original") == _chars(original, "original")
    assert _chars(hybrid, "aligned") == _chars(aligned, "aligned")
    for source in ("original", "aligned"):
        assert sorted(hybrid.filter(source=source)["doc_id"]) == sorted(docs["doc_id"])
    by_id = dict(zip(docs["doc_id"], docs.iter_rows(named=True), strict=True))
    for doc_id, source, text in hybrid.select("doc_id", "source", "text").iter_rows():
        assert text == by_id[doc_id][source]


def test_slices_are_nested_and_hold_their_share_of_the_aligned_characters():
    docs = _docs(1000)
    total = int(docs["aligned"].str.len_chars().sum())
    mixes = {
        f: mix(docs, VariantSettings(source="aligned", fraction=f), seed=0)
        for f in (0.25, 0.5, 1.0)
    }
    ids = {f: set(m["doc_id"]) for f, m in mixes.items()}
    assert ids[0.25] < ids[0.5] < ids[1.0]
    longest = int(docs["aligned"].str.len_chars().max())
    for f, mixed in mixes.items():  # the share reached, overshot by one document at most
        assert f * total <= _chars(mixed, "aligned") < f * total + longest
    # the slice keeps the documents' order
    assert mixes[0.5]["doc_id"].to_list() == [d for d in docs["doc_id"] if d in ids[0.5]]


def test_the_cleaning_baseline_removes_and_corrects_the_original_documents():
    docs = _docs(4).with_columns(
        original=pl.Series(
            [
                "ارتفعت درجات الحرارة في المدينة اليوم إلى مستوى قياسي.\n"
                "وقال خبراء الأرصاد إن الموجة ستستمر حتى نهاية الأسبوع المقبل.",
                "نص من موقع محجوب يتحدث عن أمور كثيرة في المدينة اليوم.",
                "نص فيه سطور كثيرة من الأرقام.\n123\n456\n789\n101112",
                "خبر قصير عن افتتاح مكتبة عامة جديدة في وسط المدينة اليوم.\n"
                + "وقالت البلدية إن المكتبة ستفتح أبوابها للجمهور كل يوم من الأسبوع. " * 4
                + "\n١٢ تعليق",
            ]
        ),
        url=pl.Series(
            [
                "https://news.example/a",
                "https://www.blocked.example/b",
                "https://news.example/c",
                "https://news.example/d",
            ]
        ),
    )
    mixed = mix(docs, VariantSettings(source="cleaned"), seed=0)
    assert set(mixed["source"]) == {"cleaned"}
    blocks = {"url_blocklist": {"domains": ["blocked.example"]}, "refinedweb_lines": {}}
    cleaned, reasons = clean_baseline(mixed, docs, baseline_blocks(blocks))
    assert cleaned["doc_id"].to_list() == ["d0", "d3"]
    assert reasons == {
        "url_blocklist:domain": 1,
        "refinedweb_lines:removed_words": 1,  # 4 lines of figures: over 5 % of its words
        "refinedweb_lines:lines_removed": 1,  # the counter line of d3
    }
    assert cleaned["text"][0] == docs["original"][0]
    assert "تعليق" not in cleaned["text"][1]


def test_replay_reads_until_its_weight_and_reports_what_it_could(tmp_path):
    assert replay_target_chars(900, 0.1, 0.1) == 100  # 100 of 1000 mixed characters
    with pytest.raises(ValueError, match="below 1"):
        replay_target_chars(900, 0.5, 1.0)
    path = tmp_path / "wiki.jsonl"
    path.write_text("\n".join(json.dumps({"text": "كلمة " * 10}) for _ in range(5)) + "\n")
    docs = replay("wiki", path, "text", target_chars=120, seed=0)
    assert docs.height == 3  # 50 characters each: stops once 120 are reached
    assert set(docs["source"]) == {"replay:wiki"}
    assert replay("wiki", path, "text", target_chars=10_000, seed=0).height == 5  # all it has


def test_replay_is_sampled_by_a_seed_not_read_in_file_order(tmp_path):
    path = tmp_path / "wiki.jsonl"
    path.write_text("\n".join(json.dumps({"text": f"نص {i:03d}"}) for i in range(200)) + "\n")
    drawn = replay("wiki", path, "text", target_chars=350, seed=0)
    numbers = [int(doc_id.rsplit(":", 1)[1]) for doc_id in drawn["doc_id"]]
    assert len(numbers) == 59  # 6 characters each, until 350
    assert numbers != list(range(50)) and max(numbers) > 150  # drawn from all of the file
    assert drawn["text"].to_list() == [f"نص {n:03d}" for n in numbers]  # doc_id: its place
    again = replay("wiki", path, "text", target_chars=350, seed=0)
    assert again["doc_id"].to_list() == drawn["doc_id"].to_list()
    other = replay("wiki", path, "text", target_chars=350, seed=1)
    assert set(other["doc_id"]) != set(drawn["doc_id"])


def test_replay_formats_and_errors(tmp_path):
    txt = tmp_path / "a.txt"
    txt.write_text("الأول\n\nالثاني\n")
    assert list(read_replay(txt)) == ["الأول", "الثاني"]
    parquet = tmp_path / "a.parquet"
    pl.DataFrame({"body": ["نص"]}).write_parquet(parquet)
    assert list(read_replay(parquet, "body")) == ["نص"]
    with pytest.raises(ValueError, match="no column 'text'"):
        list(read_replay(parquet))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "نص"}\n{"body": 1}\n')
    with pytest.raises(ValueError, match="bad.jsonl:2"):
        list(read_replay(bad))
    with pytest.raises(ValueError, match=".jsonl, .parquet or .txt"):
        list(read_replay(tmp_path / "a.csv"))


def _lake_of_two_dumps(root) -> Lake:
    lake = Lake(root)
    for dump in ("D1", "D2"):
        docs = _docs(20).with_columns(pl.col("doc_id") + dump)
        with lake.writer("cleaned_text", dump) as out:
            out.write("data", docs.select("doc_id", "url", text="original"))
        spans = docs.select(
            "doc_id",
            segment_id=pl.col("doc_id") + "-0",
            index=pl.lit(0, pl.Int32),
            start=pl.lit(0, pl.Int64),
            end=pl.col("original").str.len_chars().cast(pl.Int64),
            aligned="aligned",
        )
        with lake.writer("aligned_corpus", dump) as out:
            out.write("data", spans)
    return lake


def test_a_variant_is_mixed_dump_by_dump_saying_how_far_it_is(tmp_path):
    lake = _lake_of_two_dumps(tmp_path)
    said: list[str] = []
    settings = TrainingSettings()
    with lake.writer("corpus_mix", "variant=aligned") as out:
        summary = write_variant(out, lake, "aligned", settings, log=said.append)
    assert summary.dumps == ["D1", "D2"]
    trained = int(summary.by_source["documents"].sum())
    assert said[-1].startswith("dumps mixed: 2 of 2 (100%)")
    assert said[-1].endswith(f"; {trained:,} documents")


def test_the_cleaned_variant_counts_its_reasons_and_replay_its_realised_share(tmp_path):
    lake = _lake_of_two_dumps(tmp_path)
    wiki = tmp_path / "wiki.jsonl"
    wiki.write_text("\n".join(json.dumps({"text": f"نص عام رقم {i}"}) for i in range(500)))
    settings = TrainingSettings(
        variants={"cleaned": VariantSettings(source="cleaned")},
        cleaning_baseline={"url_blocklist": {"domains": ["site1.example"]}},
        replay=[{"name": "wiki", "path": wiki, "weight": 0.2}],
    )
    with lake.writer("corpus_mix", "variant=cleaned") as out:
        summary = write_variant(out, lake, "cleaned", settings)
    blocked = summary.cleaning_baseline["url_blocklist:domain"]
    assert blocked > 0 and set(summary.cleaning_baseline) == {"url_blocklist:domain"}
    shares = summary.shares({"replay:wiki": 0.2})
    by_source = {row["source"]: row for row in shares.iter_rows(named=True)}
    assert set(by_source) == {"cleaned", "replay:wiki"}
    # the weight reached, overshot by one replay document at most (a tiny corpus here)
    target = replay_target_chars(by_source["cleaned"]["characters"], 0.2, 0.2)
    assert 0 <= by_source["replay:wiki"]["characters"] - target < len("نص عام رقم 499")
    assert by_source["replay:wiki"]["share"] == pytest.approx(0.2, abs=0.03)
    assert by_source["replay:wiki"]["weight"] == 0.2 and by_source["cleaned"]["weight"] is None
    # every document is trained on, blocked or held out
    assert by_source["cleaned"]["documents"] + blocked + summary.held_out_documents == 40
