from __future__ import annotations

import hashlib
import struct
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from native_pipeline.lm.tokenizer import tokenizer_hash, train_tokenizer
from native_pipeline.training import shards
from native_pipeline.training.shards import (
    IndexedDataset,
    open_shards,
    read_manifest,
    verify,
    write_shards,
)

SENTENCES = [
    "أعلنت الجامعة عن برنامج جديد لدراسة علوم البحار.",
    "ويبدأ التسجيل في الشهر المقبل.",
    "وقال رئيس القسم إن البرنامج يجمع بين الدراسة النظرية والعمل الميداني.",
    "وتشمل الرحلات زيارة المحميات الطبيعية ومراكز الأبحاث.",
    "ويمكن للطلاب التقديم عبر موقع الجامعة حتى نهاية العام.",
]
# Documents of 1 to 5 sentences, so that their token counts differ.
TEXTS = [" ".join(SENTENCES[i % 5 : i % 5 + 1 + i % 4]) for i in range(23)]


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer(SENTENCES * 3, vocab_size=350)


def frame(texts: list[str], first: int = 0, source: str = "original") -> pl.DataFrame:
    ids = [f"doc-{first + i}" for i in range(len(texts))]
    return pl.DataFrame(
        {
            "doc_id": ids,
            "segment_ids": [[f"{doc}:0", f"{doc}:1"] for doc in ids],
            "source": source,
            "text": texts,
        },
        schema={
            "doc_id": pl.String,
            "segment_ids": pl.List(pl.String),
            "source": pl.String,
            "text": pl.String,
        },
    )


def expected_ids(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]


def sidecar(folder: Path) -> pl.DataFrame:
    return pl.read_parquet(folder / "documents" / "*.parquet")


def test_every_document_reads_back_as_its_ids_and_eos(tokenizer, tmp_path):
    frames = [frame(TEXTS[:10]), frame(TEXTS[10:], first=10, source="replay:wiki")]
    write_shards(tmp_path, tokenizer, frames)

    rows = sidecar(tmp_path)
    assert rows["doc_id"].to_list() == [f"doc-{i}" for i in range(len(TEXTS))]
    assert rows["source"].to_list() == ["original"] * 10 + ["replay:wiki"] * 13
    assert rows["segment_ids"][3].to_list() == ["doc-3:0", "doc-3:1"]
    # A plain memmap of the .bin, cut at the sizes the sidecar gives, in file order.
    tokens = np.memmap(tmp_path / "shards" / "shard-00000.bin", dtype=np.int32, mode="r")
    ends = np.cumsum(rows["n_tokens"].to_numpy())
    assert ends[-1] == len(tokens)
    for text, start, end in zip(TEXTS, ends - rows["n_tokens"].to_numpy(), ends, strict=True):
        assert tokens[start:end].tolist() == expected_ids(tokenizer, text)

    (dataset,) = open_shards(tmp_path)
    assert len(dataset) == len(TEXTS)
    assert [dataset[i].tolist() for i in range(len(TEXTS))] == [
        expected_ids(tokenizer, text) for text in TEXTS
    ]
    assert dataset[-1].tolist() == expected_ids(tokenizer, TEXTS[-1])


def test_the_index_follows_megatrons_layout(tokenizer, tmp_path):
    write_shards(tmp_path, tokenizer, [frame(TEXTS)])
    data = (tmp_path / "shards" / "shard-00000.idx").read_bytes()

    magic, version, code, sequences, documents = struct.unpack_from("<9sQBQQ", data, 0)
    assert (magic, version, code) == (b"MMIDIDX\x00\x00", 1, 4)  # 4: Megatron's int32
    n = len(TEXTS)
    assert (sequences, documents) == (n, n + 1)  # Megatron stores len(document_indices)
    offset = 34
    sizes = struct.unpack_from(f"<{n}i", data, offset)
    pointers = struct.unpack_from(f"<{n}q", data, offset + 4 * n)
    document_indices = struct.unpack_from(f"<{n + 1}q", data, offset + 12 * n)
    assert len(data) == offset + 12 * n + 8 * (n + 1)

    assert list(sizes) == [len(expected_ids(tokenizer, text)) for text in TEXTS]
    assert list(pointers) == [4 * sum(sizes[:i]) for i in range(n)]
    assert list(document_indices) == list(range(n + 1))
    dataset = IndexedDataset(tmp_path / "shards" / "shard-00000")
    assert dataset.sizes.tolist() == list(sizes)
    assert dataset.pointers.tolist() == list(pointers)
    assert dataset.document_indices.tolist() == list(document_indices)


def test_shards_split_between_documents(tokenizer, tmp_path, monkeypatch):
    monkeypatch.setattr(shards, "BATCH_DOCUMENTS", 4)  # shard ends fall inside batches too
    sizes = [len(expected_ids(tokenizer, text)) for text in TEXTS]
    shard_tokens = 3 * max(sizes)
    manifest = write_shards(
        tmp_path,
        tokenizer,
        [frame(TEXTS[:9]), frame(TEXTS[9:], first=9)],
        shard_tokens=shard_tokens,
    )

    datasets = open_shards(tmp_path)
    assert len(datasets) == len(manifest["shards"]) > 2
    rows = sidecar(tmp_path)
    assert rows["doc_id"].to_list() == [f"doc-{i}" for i in range(len(TEXTS))]
    read = []
    for entry, dataset in zip(manifest["shards"], datasets, strict=True):
        mine = rows.filter(pl.col("shard") == entry["name"])
        assert mine["index"].to_list() == list(range(len(dataset)))
        assert mine["n_tokens"].to_list() == dataset.sizes.tolist()
        tokens = int(dataset.sizes.sum())
        assert entry["tokens"] == tokens
        if entry is not manifest["shards"][-1]:  # full, and full only with its last document
            assert tokens >= shard_tokens > tokens - int(dataset.sizes[-1])
        read += [dataset[i].tolist() for i in range(len(dataset))]
    assert read == [expected_ids(tokenizer, text) for text in TEXTS]


def test_manifest_counts_and_checksums(tokenizer, tmp_path):
    texts = [*TEXTS[:5], "", *TEXTS[5:]]
    upstream = {"corpus_mix/aligned": "v3", "tokenizer": "abc"}
    heard: list[tuple[int, str]] = []
    manifest = write_shards(
        tmp_path,
        tokenizer,
        [frame(texts)],
        shard_tokens=100,
        upstream=upstream,
        on_progress=lambda *a: heard.append(a),
    )
    # every document is heard of, the empty one too; the last word is the tokens written
    assert sum(n for n, _ in heard) == len(texts)
    assert heard[-1][1] == f"{manifest['tokens']:,} tokens"

    assert manifest == read_manifest(tmp_path)
    assert manifest["skipped_empty"] == 1
    assert manifest["documents"] == len(TEXTS) == sidecar(tmp_path).height
    assert manifest["tokens"] == sum(len(expected_ids(tokenizer, text)) for text in TEXTS)
    assert manifest["tokenizer_hash"] == tokenizer_hash(tokenizer)
    assert (manifest["eos_id"], manifest["vocab_size"]) == (tokenizer.eos_token_id, len(tokenizer))
    assert manifest["dtype"] == "int32"
    assert manifest["upstream"] == upstream
    assert manifest["tokens_by_source"] == {"original": manifest["tokens"]}
    assert sum(shard["documents"] for shard in manifest["shards"]) == manifest["documents"]
    for shard in manifest["shards"]:
        for suffix in ("bin", "idx"):
            data = (tmp_path / "shards" / f"{shard['name']}.{suffix}").read_bytes()
            assert shard[f"{suffix}_sha256"] == hashlib.sha256(data).hexdigest()
    assert not list(tmp_path.rglob("*.tmp"))
    verify(tmp_path)


@pytest.mark.parametrize("suffix", ["bin", "idx"])
def test_verify_catches_a_flipped_byte(tokenizer, tmp_path, suffix):
    write_shards(tmp_path, tokenizer, [frame(TEXTS)], shard_tokens=100)
    path = tmp_path / "shards" / f"shard-00001.{suffix}"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=f"shard-00001.{suffix}: checksum"):
        verify(tmp_path)


def test_empty_input_is_an_empty_dataset(tokenizer, tmp_path):
    manifest = write_shards(tmp_path, tokenizer, [frame(["", ""]), frame([])])
    assert (manifest["documents"], manifest["tokens"], manifest["skipped_empty"]) == (0, 0, 2)
    assert manifest["shards"] == [] == open_shards(tmp_path)
    assert sidecar(tmp_path).schema == pl.Schema(shards.SIDECAR_SCHEMA)
    verify(tmp_path)


def test_ids_ignore_padding_left_on_the_tokenizer(tmp_path):
    padded = train_tokenizer(SENTENCES * 3, vocab_size=350)
    padded(SENTENCES, padding="max_length", max_length=64, truncation=True)  # leaves both on
    write_shards(tmp_path, padded, [frame(TEXTS)])
    (dataset,) = open_shards(tmp_path)
    assert dataset[0].tolist() == expected_ids(padded, TEXTS[0])
    assert padded.pad_token_id not in dataset.tokens


def test_bad_input_is_refused(tokenizer, tmp_path):
    with pytest.raises(ValueError, match="lacks columns"):
        write_shards(tmp_path, tokenizer, [frame(TEXTS).drop("segment_ids")])
    with pytest.raises(ValueError, match="source must be"):
        write_shards(tmp_path, tokenizer, [frame(TEXTS, source="rewritten")])
    no_eos = train_tokenizer(SENTENCES, vocab_size=300)
    no_eos.eos_token = None
    with pytest.raises(ValueError, match="no eos token"):
        write_shards(tmp_path, no_eos, [frame(TEXTS)])


def test_the_reader_refuses_what_is_not_an_index(tokenizer, tmp_path):
    write_shards(tmp_path, tokenizer, [frame(TEXTS)])
    prefix = tmp_path / "shards" / "shard-00000"
    idx = Path(f"{prefix}.idx")
    data = idx.read_bytes()
    idx.write_bytes(data[:-8])
    with pytest.raises(ValueError, match="the header implies"):
        IndexedDataset(prefix)
    idx.write_bytes(b"NOTANIDX!" + data[9:])
    with pytest.raises(ValueError, match="bad magic"):
        IndexedDataset(prefix)
    with pytest.raises(FileNotFoundError, match="no manifest.json"):
        open_shards(tmp_path / "shards")


def test_the_manifest_counts_each_sources_tokens(tokenizer, tmp_path):
    """A hybrid's mix: each document as original and as aligned, each form counted."""
    original, aligned = frame(TEXTS[:4]), frame(TEXTS[4:6], source="aligned")
    manifest = write_shards(tmp_path, tokenizer, [original, aligned], shard_tokens=60)
    assert len(manifest["shards"]) > 1
    assert manifest["tokens_by_source"] == {
        "original": sum(len(expected_ids(tokenizer, t)) for t in TEXTS[:4]),
        "aligned": sum(len(expected_ids(tokenizer, t)) for t in TEXTS[4:6]),
    }
