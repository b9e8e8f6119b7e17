"""The on-disk dedup index against the in-memory reference, and its files."""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from native_pipeline.text.blocks import Decision, Document
from native_pipeline.text.dedup import (
    ExactDeduplicator,
    NearDeduplicator,
    commit,
    content_hash,
)
from native_pipeline.text.dedup_index import PREFIX_BITS, SignatureIndex
from native_pipeline.text.minhash import MinHasher, MinHashParams
from native_pipeline.text.normalize import fold
from native_pipeline_tests.text.arabic import arabic_text, edit


def clean(index: SignatureIndex, dump: str, batches: list[list[Document]], in_memory: bool):
    exact = ExactDeduplicator(index, dump, in_memory=in_memory)
    near = NearDeduplicator(index, dump, in_memory=in_memory)
    kept = [d.doc_id for batch in batches for d in near(exact(batch))]
    commit(index, dump, exact, near)
    return kept, exact.drain()[0] + near.drain()[0]


def near(rng: random.Random, text: str, most: int) -> str:
    """A copy with 1 to `most` words replaced (fewer in a short text)."""
    return edit(rng, text, rng.randint(1, min(most, len(text.split()))))


def crawl(seed: int) -> list[tuple[str, list[list[Document]]]]:
    """Dumps in the order they are cleaned (not always their names' order), each a list of
    batches: new texts, exact and vocalised copies, near copies of earlier dumps and of this
    dump (same batch and earlier batches), copies of copies, short texts, one dump cleaned
    twice with other contents."""
    rng = random.Random(seed)
    seen: list[str] = []
    dumps = []
    for n, dump in enumerate(["D01", "D02", "D05", "D03", "D04", "D02", "D06"]):
        texts = []
        for _ in range(60):
            roll = rng.random()
            if seen and roll < 0.15:
                texts.append(rng.choice(seen))
            elif seen and roll < 0.45:
                texts.append(near(rng, rng.choice(seen), 12))
            elif texts and roll < 0.6:
                texts.append(near(rng, rng.choice(texts), 8))
            elif roll < 0.65:
                texts.append(rng.choice(["مرحبا بكم", "أهلا وسهلا", "شكرا"]))
            else:
                texts.append(arabic_text(rng, rng.randint(20, 120)))
        seen += texts
        docs = [Document(f"{dump}-{n}-{i}", t) for i, t in enumerate(texts)]
        cuts = [0, *sorted(rng.sample(range(1, len(docs)), 3)), len(docs)]
        dumps.append((dump, [docs[a:b] for a, b in itertools.pairwise(cuts)]))
    return dumps


def as_rows(decisions: list[Decision]) -> list[tuple]:
    return [(d.doc_id, d.stage, d.reason, d.score, d.detail) for d in decisions]


def test_on_disk_index_decides_exactly_as_the_in_memory_one(tmp_path: Path) -> None:
    disk = SignatureIndex(tmp_path / "disk", prefix_bits=2)
    memory = SignatureIndex(tmp_path / "memory", prefix_bits=1)
    stages: set[tuple[str, str]] = set()
    for dump, batches in crawl(seed=21):
        kept, decisions = clean(disk, dump, batches, in_memory=False)
        assert (kept, as_rows(decisions)) == (
            (ref := clean(memory, dump, batches, in_memory=True))[0],
            as_rows(ref[1]),
        )
        own = {d.doc_id for batch in batches for d in batch}
        stages |= {(d.stage, "within" if d.detail in own else "across") for d in decisions}
    # Both kinds of duplicates were met, within a dump and across dumps.
    assert stages == {(s, w) for s in ("exact_dedup", "near_dedup") for w in ("within", "across")}
    for dump in disk.dumps():
        assert disk.read(dump).equals(memory.read(dump))


def test_the_oldest_earlier_copy_wins(tmp_path: Path) -> None:
    rng = random.Random(3)
    text = arabic_text(rng)
    for in_memory in (False, True):
        index = SignatureIndex(tmp_path / str(in_memory))
        # D03 is cleaned first, so D01 does not see its copy: both dumps keep one.
        clean(index, "D03", [[Document("c", edit(rng, text, 2))]], in_memory)
        clean(index, "D01", [[Document("a", edit(rng, text, 2))]], in_memory)
        kept, [decision] = clean(index, "D05", [[Document("e", edit(rng, text, 2))]], in_memory)
        assert (kept, decision.detail) == ([], "a")


def segments(index: SignatureIndex) -> dict[str, list]:
    return index.manifest()["segments"]


def test_shards_hold_sorted_keys_of_their_band_and_prefix(tmp_path: Path) -> None:
    index = SignatureIndex(tmp_path)
    rng = random.Random(4)
    clean(index, "D1", [[Document(str(i), arabic_text(rng, 30)) for i in range(200)]], False)
    shards = segments(index)
    assert set(shards) == {f"{t}/{p:x}" for t in index.tables for p in range(1 << PREFIX_BITS)}
    assert index.manifest()["prefix_bits"] == PREFIX_BITS
    total = 0
    for shard, names in shards.items():
        prefix = int(shard.split("/")[1], 16)
        for name, entries in names:
            keys, refs = np.fromfile(index.segment_path(shard, name), np.uint64).reshape(2, -1)
            assert len(keys) == entries and np.all(np.diff(keys.astype(object)) >= 0)
            assert np.all(keys >> np.uint64(64 - PREFIX_BITS) == prefix)
            total += entries
    assert total == 200 * len(index.tables)  # every kept document once per band and hash


def test_segments_merge_as_dumps_are_added(tmp_path: Path) -> None:
    index = SignatureIndex(tmp_path, prefix_bits=1)  # fewer files: the same merges
    rng = random.Random(5)
    texts = [arabic_text(rng, 30) for _ in range(16 * 40)]
    for n in range(16):
        dump = f"D{n:02d}"
        batch = [Document(f"{dump}-{i}", t) for i, t in enumerate(texts[n * 40 : n * 40 + 40])]
        clean(index, dump, [batch], False)
    clean(index, "D00", [[Document("again", texts[0])]], False)  # re-cleaned: 1 survivor
    counts = [len(s) for s in segments(index).values()]
    assert max(counts) <= 5  # O(log dumps) per shard, not one per dump
    files = list((tmp_path / "shards").rglob("*.u64"))
    assert len(files) == sum(counts)  # merged segments are deleted
    # Later dumps still find every earlier copy, and the replaced ones no more.
    probe = [Document(f"p{i}", t) for i, t in enumerate(texts[::40])]
    kept, decisions = clean(index, "D99", [probe], False)
    assert kept == [] and [d.detail for d in decisions] == ["again"] + [
        f"D{n:02d}-0" for n in range(1, 16)
    ]


def test_a_killed_commit_leaves_the_index_as_it_was(tmp_path: Path) -> None:
    index = SignatureIndex(tmp_path)
    rng = random.Random(6)
    text = arabic_text(rng)
    clean(index, "D1", [[Document("a", text)]], False)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    # What a commit killed before its manifest leaves behind: files that nothing lists.
    stray = [
        tmp_path / "records" / "g0000099.sig",
        tmp_path / "shards" / "band00" / "0" / "feed.u64",
        tmp_path / ".manifest.json.1234.tmp",
    ]
    for path in stray:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\0" * 16)
    kept, [decision] = clean(index, "D2", [[Document("b", edit(rng, text, 1))]], False)
    assert decision.detail == "a" and manifest["dumps"]["D1"] == index.manifest()["dumps"]["D1"]
    assert not any(path.exists() for path in stray)  # the next commit removed them


def test_an_index_of_the_earlier_layout_is_adopted(tmp_path: Path) -> None:
    """Before the index moved to disk shards it was one Parquet file per dump."""
    rng = random.Random(7)
    texts = [arabic_text(rng) for _ in range(3)]
    params = MinHashParams()
    sigs = MinHasher(params).signatures([fold(t) for t in texts])
    legacy = pa.table(
        {
            "doc_id": ["a0", "a1", "a2"],
            "content_hash": pa.array([content_hash(t) for t in texts], pa.uint64()),
            "bands": pa.FixedSizeListArray.from_arrays(
                pa.array(MinHasher(params).band_keys(sigs).ravel()), params.bands
            ),
            "signature": pa.FixedSizeListArray.from_arrays(pa.array(sigs.ravel()), 128),
        }
    ).replace_schema_metadata({"minhash": json.dumps(params.scheme(), sort_keys=True)})
    pq.write_table(legacy, tmp_path / "dump=D1.parquet")
    index = SignatureIndex(tmp_path)
    assert index.dumps() == ["D1"] and not list(tmp_path.glob("*.parquet"))
    batch = [Document("b0", texts[1]), Document("b1", edit(rng, texts[2], 1))]
    kept, decisions = clean(index, "D2", [batch], False)
    assert kept == [] and [(d.stage, d.detail) for d in decisions] == [
        ("exact_dedup", "a1"),
        ("near_dedup", "a2"),
    ]


def mapped_rss() -> int:
    """Resident pages of memory-mapped files in this process, in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssFile:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no RssFile in /proc/self/status")


def test_a_query_hands_back_the_index_pages_it_touched(tmp_path: Path) -> None:
    index = SignatureIndex(tmp_path)
    rng = np.random.default_rng(8)
    sigs = rng.integers(0, 2**32, (40_000, 128), dtype=np.uint32)
    index.commit(
        "D1", [str(i) for i in range(len(sigs))], np.arange(len(sigs), dtype=np.uint64), sigs
    )
    earlier = index.earlier("D2")
    before = mapped_rss()
    match, _ = earlier.near(sigs, MinHasher(index.params).band_keys(sigs))
    assert np.array_equal(match, np.arange(len(sigs)))  # each finds itself
    touched = mapped_rss() - before
    assert touched > 10 * 2**20  # band shards (40k x 16 x 16 bytes), signatures (20 MB)
    earlier.release()
    assert mapped_rss() - before < touched / 10
