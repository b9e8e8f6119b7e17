from __future__ import annotations

import json

import polars as pl
import pytest

from native_pipeline.lake import Lake
from native_pipeline.settings import TrainingSettings, VariantSettings
from native_pipeline.training.mix import (
    DOCUMENTS,
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
            "aligned": [f"نص مهذب {i}" for i in range(n)],
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
    for variant in ("original", "aligned", "hybrid"):
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


def test_hybrid_takes_each_document_once_a_share_of_them_aligned():
    docs = _docs(1000)
    hybrid = mix(docs, VariantSettings(source="hybrid", aligned_share=0.3), seed=0)
    assert hybrid["doc_id"].to_list() == docs["doc_id"].to_list()
    share = (hybrid["source"] == "aligned").mean()
    assert 0.25 < share < 0.35
    by_id = dict(zip(docs["doc_id"], docs.iter_rows(named=True), strict=True))
    for doc_id, source, text in hybrid.select("doc_id", "source", "text").iter_rows():
        assert text == by_id[doc_id][source]


def test_volume_slices_are_nested():
    docs = _docs(1000)
    ids = {
        f: set(mix(docs, VariantSettings(source="aligned", fraction=f), seed=0)["doc_id"])
        for f in (0.25, 0.5, 1.0)
    }
    assert ids[0.25] < ids[0.5] < ids[1.0]
    assert 200 < len(ids[0.25]) < 300 and 450 < len(ids[0.5]) < 550


def test_replay_reads_until_its_weight_and_reports_what_it_could(tmp_path):
    assert replay_target_chars(900, 0.1, 0.1) == 100  # 100 of 1000 mixed characters
    with pytest.raises(ValueError, match="below 1"):
        replay_target_chars(900, 0.5, 1.0)
    path = tmp_path / "wiki.jsonl"
    path.write_text("\n".join(json.dumps({"text": "كلمة " * 10}) for _ in range(5)) + "\n")
    docs = replay("wiki", path, "text", target_chars=120)
    assert docs.height == 3  # 50 characters each: stops once 120 are reached
    assert docs["doc_id"].to_list() == ["replay:wiki:0", "replay:wiki:1", "replay:wiki:2"]
    assert set(docs["source"]) == {"replay:wiki"}
    assert replay("wiki", path, "text", target_chars=10_000).height == 5  # all it has


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


def test_a_variant_is_mixed_dump_by_dump_saying_how_far_it_is(tmp_path):
    lake = Lake(tmp_path)
    for dump in ("D1", "D2"):
        docs = _docs(20).with_columns(pl.col("doc_id") + dump)
        with lake.writer("cleaned_text", dump) as out:
            out.write("data", docs.select("doc_id", text="original"))
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
    said: list[str] = []
    settings = TrainingSettings()
    with lake.writer("corpus_mix", "variant=aligned") as out:
        summary = write_variant(out, lake, "aligned", settings, log=said.append)
    assert summary.dumps == ["D1", "D2"]
    trained = int(summary.by_source["documents"].sum())
    assert said[-1].startswith("dumps mixed: 2 of 2 (100%)")
    assert said[-1].endswith(f"; {trained:,} documents")
