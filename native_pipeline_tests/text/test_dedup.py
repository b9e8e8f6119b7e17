from __future__ import annotations

import random
from pathlib import Path

import pytest

from native_pipeline.text.blocks import Document
from native_pipeline.text.dedup import (
    ExactDeduplicator,
    NearDeduplicator,
    SignatureIndex,
    commit,
)
from native_pipeline.text.minhash import MinHashParams
from native_pipeline_tests.text.arabic import arabic_text, edit


def docs(prefix: str, texts: list[str]) -> list[Document]:
    return [Document(f"{prefix}{i}", t) for i, t in enumerate(texts)]


def run_dump(index: SignatureIndex, dump: str, batches: list[list[Document]]):
    """Run both blocks over a dump like the pipeline does, then persist it."""
    exact, near = ExactDeduplicator(index, dump), NearDeduplicator(index, dump)
    kept = [d.doc_id for batch in batches for d in near(exact(batch))]
    commit(index, dump, exact, near)
    return kept, exact.drain()[0] + near.drain()[0]


@pytest.fixture
def index(tmp_path: Path) -> SignatureIndex:
    return SignatureIndex(tmp_path / "dedup_index")


def test_near_duplicate_with_a_few_edits_is_removed(index: SignatureIndex) -> None:
    rng = random.Random(1)
    base = [arabic_text(rng) for _ in range(4)]
    near_copy = edit(rng, base[0], 2)
    kept, decisions = run_dump(index, "D1", [docs("a", base), docs("b", [near_copy])])
    assert kept == ["a0", "a1", "a2", "a3"]
    [decision] = decisions
    assert (decision.doc_id, decision.stage, decision.reason) == (
        "b0",
        "near_dedup",
        "near_duplicate",
    )
    assert decision.detail == "a0" and 0.8 <= decision.score < 1.0


def test_near_duplicates_within_one_batch_keep_the_first(index: SignatureIndex) -> None:
    rng = random.Random(2)
    a, b = arabic_text(rng), arabic_text(rng)
    batch = docs("x", [a, b, edit(rng, b, 1), edit(rng, a, 2)])
    kept, decisions = run_dump(index, "D1", [batch])
    assert kept == ["x0", "x1"]
    assert {(d.doc_id, d.detail) for d in decisions} == {("x2", "x1"), ("x3", "x0")}


def test_distinct_texts_are_all_kept(index: SignatureIndex) -> None:
    rng = random.Random(3)
    texts = [arabic_text(rng) for _ in range(50)]
    kept, decisions = run_dump(index, "D1", [docs("a", texts[:25]), docs("b", texts[25:])])
    assert len(kept) == 50 and decisions == []


def test_exact_duplicates_are_removed_by_the_exact_stage(index: SignatureIndex) -> None:
    rng = random.Random(4)
    a = arabic_text(rng)
    kept, decisions = run_dump(index, "D1", [docs("a", [a, "نص آخر قصير"]), docs("b", [a])])
    assert kept == ["a0", "a1"]
    [decision] = decisions
    assert (decision.stage, decision.reason, decision.detail) == (
        "exact_dedup",
        "exact_duplicate",
        "a0",
    )


def test_folded_variants_are_exact_duplicates(index: SignatureIndex) -> None:
    plain = "ذهب الطالب الى المدرسه مبكرا في يوم الاحد"
    variants = [
        "ذَهَبَ الطَّالِبُ إِلَى المَدْرَسَةِ مُبَكِّرًا فِي يَوْمِ الأَحَدِ",
        "ذهب الطالب إلى المدرسة مبكرا في يوم الأحد",
    ]
    kept, decisions = run_dump(index, "D1", [docs("a", [plain, *variants])])
    assert kept == ["a0"]
    assert [(d.stage, d.detail) for d in decisions] == [("exact_dedup", "a0")] * 2


def test_short_texts_are_deduplicated_as_one_shingle(index: SignatureIndex) -> None:
    near = NearDeduplicator(index, "D1")
    kept = near(docs("a", ["مرحبا بكم", "مرحبا بكم", "أهلا وسهلا", ""]))
    assert [d.doc_id for d in kept] == ["a0", "a2", "a3"]


def test_dedup_across_dumps_through_the_index(index: SignatureIndex) -> None:
    rng = random.Random(5)
    a_texts = [arabic_text(rng) for _ in range(3)]
    c_texts = [arabic_text(rng) for _ in range(2)]
    b_texts = [a_texts[0], edit(rng, a_texts[1], 2), c_texts[0], edit(rng, c_texts[1], 1)]

    run_dump(index, "CC-MAIN-2026-05", [docs("A", a_texts)])
    run_dump(index, "CC-MAIN-2026-30", [docs("C", c_texts)])  # later than B: never consulted
    kept, decisions = run_dump(index, "CC-MAIN-2026-18", [docs("B", b_texts)])

    assert kept == ["B2", "B3"]
    assert [(d.doc_id, d.stage, d.detail) for d in decisions] == [
        ("B0", "exact_dedup", "A0"),
        ("B1", "near_dedup", "A1"),
    ]
    assert index.dumps() == ["CC-MAIN-2026-05", "CC-MAIN-2026-18", "CC-MAIN-2026-30"]
    assert index.read("CC-MAIN-2026-05").column("doc_id").to_pylist() == ["A0", "A1", "A2"]


def files(index: SignatureIndex) -> dict[str, bytes]:
    return {str(p.relative_to(index.root)): p.read_bytes() for p in index.root.rglob("*.*")}


def test_rerunning_a_dump_is_idempotent(index: SignatureIndex) -> None:
    rng = random.Random(6)
    texts = [arabic_text(rng) for _ in range(3)]
    kept, decisions = run_dump(index, "D1", [docs("a", texts)])
    before = files(index)
    exact, near = ExactDeduplicator(index, "D1"), NearDeduplicator(index, "D1")
    assert [d.doc_id for d in near(exact(docs("a", texts)))] == kept == ["a0", "a1", "a2"]
    assert commit(index, "D1", exact, near) is False  # the same entries: nothing written
    assert files(index) == before
    table = index.read("D1")
    assert table.column("doc_id").to_pylist() == ["a0", "a1", "a2"]
    assert table.column_names == ["doc_id", "content_hash", "signature"]
    assert not [p for p in index.root.rglob("*") if p.name.endswith(".tmp")]


def test_recleaning_a_dump_replaces_its_entries(index: SignatureIndex) -> None:
    rng = random.Random(16)
    old, new = [arabic_text(rng) for _ in range(2)], [arabic_text(rng) for _ in range(2)]
    run_dump(index, "D1", [docs("old", old)])
    run_dump(index, "D1", [docs("new", new)])  # the dump re-cleaned with other survivors
    assert index.dumps() == ["D1"]
    assert index.read("D1").column("doc_id").to_pylist() == ["new0", "new1"]
    kept, decisions = run_dump(index, "D2", [docs("b", [old[0], edit(rng, new[1], 1)])])
    assert kept == ["b0"]  # the replaced entries match nothing any more
    assert [(d.doc_id, d.detail) for d in decisions] == [("b1", "new1")]
    # The replaced generation's records are gone; its band entries go at the next merges.
    assert len(list((index.root / "records").glob("*.sig"))) == 2


def test_index_only_holds_the_survivors(index: SignatureIndex) -> None:
    rng = random.Random(7)
    a = arabic_text(rng)
    run_dump(index, "D1", [docs("a", [a, a, edit(rng, a, 1), arabic_text(rng)])])
    assert index.read("D1").column("doc_id").to_pylist() == ["a0", "a3"]


def test_index_refuses_signatures_of_other_parameters(index: SignatureIndex) -> None:
    run_dump(index, "D1", [docs("a", [arabic_text(random.Random(8))])])
    other = SignatureIndex(index.root, MinHashParams(seed=2))
    with pytest.raises(ValueError, match="other MinHash parameters"):
        other.earlier("D2")
    with pytest.raises(ValueError, match="other MinHash parameters"):
        run_dump(other, "D2", [docs("b", ["نص"])])
