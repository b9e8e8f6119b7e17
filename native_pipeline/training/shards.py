"""Token shards in Megatron-LM's indexed dataset format (`MMapIndexedDataset`), with provenance.

A dataset folder holds:

    shards/shard-00000.bin    the token ids of every document, back to back, int32
    shards/shard-00000.idx    Megatron's index: one sequence per document
    documents/part-00000.parquet
                              one row per document of shard-00000, in order: shard, index,
                              doc_id, segment_ids, source, n_tokens
    manifest.json             tokenizer hash, counts, per-shard checksums, upstream versions

Each document is encoded without special tokens and ends with the eos id; `n_tokens` counts
that eos. A shard closes once it holds `shard_tokens` tokens, so documents are never split.

The .idx layout (little-endian), as Megatron's `_IndexWriter` writes it:
    b"MMIDIDX\\x00\\x00", version <Q = 1, dtype code <B, sequence count <Q,
    document count <Q (= the length of document_indices, that is documents + 1),
    sequence lengths int32[sequences], sequence byte pointers int64[sequences],
    document_indices int64[documents + 1] (starting at 0).

Token dtype: Megatron's DType enum has no uint32 (its codes: uint8 1, int8 2, int16 3,
int32 4, int64 5, float64 6, float32 7, uint16 8), so tokens are int32, code 4, which every
Megatron reader accepts; vocabularies must stay below 2**31 ids.

An empty input gives zero shards, an empty documents part with the sidecar schema, and a
manifest that says so: readers see an empty dataset, not a missing one.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np
import polars as pl
from tokenizers import Encoding, Tokenizer

from native_pipeline.lm.tokenizer import tokenizer_hash

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

MAGIC = b"MMIDIDX\x00\x00"
VERSION = 1
# Megatron's DType codes (megatron/core/datasets/indexed_dataset.py), to read any of its files.
DTYPES: dict[int, np.dtype] = {
    1: np.dtype(np.uint8),
    2: np.dtype(np.int8),
    3: np.dtype(np.int16),
    4: np.dtype(np.int32),
    5: np.dtype(np.int64),
    6: np.dtype(np.float64),
    7: np.dtype(np.float32),
    8: np.dtype(np.uint16),
}
TOKEN_DTYPE = np.dtype("<i4")
TOKEN_DTYPE_CODE = 4
_HEADER = struct.Struct("<9sQBQQ")  # magic, version, dtype code, sequences, document_indices

COLUMNS = ("doc_id", "segment_ids", "source", "text")
SIDECAR_SCHEMA = {
    "shard": pl.String,
    "index": pl.Int64,
    "doc_id": pl.String,
    "segment_ids": pl.List(pl.String),
    "source": pl.String,
    "n_tokens": pl.Int64,
}
# Documents encoded per call: enough for the Rust encoder to keep both cores busy, few enough
# that the Encoding objects of one batch stay small.
BATCH_DOCUMENTS = 1_000
_HASH_CHUNK = 8 << 20


def _replace_atomically(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write a file through `write(handle)` under a temporary name, then rename it into place."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as handle:
        write(handle)
    os.replace(tmp, path)


def _index_bytes(sizes: np.ndarray) -> bytes:
    """The .idx file of a shard whose documents have these token counts, one sequence each."""
    pointers = np.zeros(len(sizes), dtype="<i8")
    np.cumsum(sizes[:-1], out=pointers[1:])
    pointers *= TOKEN_DTYPE.itemsize
    document_indices = np.arange(len(sizes) + 1, dtype="<i8")
    header = _HEADER.pack(MAGIC, VERSION, TOKEN_DTYPE_CODE, len(sizes), len(document_indices))
    return b"".join(
        [header, sizes.astype("<i4").tobytes(), pointers.tobytes(), document_indices.tobytes()]
    )


class _ShardWriter:
    """The shard being filled: tokens stream into the .bin (hashed as written); the document
    rows and sizes wait for `close`, which writes the .idx and the sidecar part."""

    def __init__(self, folder: Path, number: int) -> None:
        self.name = f"shard-{number:05d}"
        self.bin_path = folder / "shards" / f"{self.name}.bin"
        self.tmp_bin = self.bin_path.with_name(self.bin_path.name + ".tmp")
        self.idx_path = folder / "shards" / f"{self.name}.idx"
        self.part_path = folder / "documents" / f"part-{number:05d}.parquet"
        self.handle = self.tmp_bin.open("wb")
        self.bin_hash = hashlib.sha256()
        self.sizes: list[np.ndarray] = []
        self.rows: list[pl.DataFrame] = []
        self.documents = 0
        self.tokens = 0
        self.by_source: Counter[str] = Counter()

    def add(self, tokens: np.ndarray, sizes: np.ndarray, rows: pl.DataFrame) -> None:
        """Append whole documents: their tokens back to back, one size and one row each."""
        self.handle.write(tokens)
        self.bin_hash.update(tokens)
        self.sizes.append(sizes)
        self.rows.append(
            rows.select("doc_id", "segment_ids", "source").with_columns(
                shard=pl.lit(self.name),
                index=pl.int_range(self.documents, self.documents + len(sizes), dtype=pl.Int64),
                n_tokens=pl.Series(sizes, dtype=pl.Int64),
            )
        )
        self.documents += len(sizes)
        self.tokens += int(sizes.sum())
        for source, tokens in zip(rows["source"], sizes.tolist(), strict=True):
            self.by_source[source] += tokens

    def close(self) -> dict[str, Any]:
        """Finish the three files; return the shard's manifest entry."""
        self.handle.close()
        os.replace(self.tmp_bin, self.bin_path)
        index = _index_bytes(np.concatenate(self.sizes))
        _replace_atomically(self.idx_path, lambda handle: handle.write(index))
        sidecar = pl.concat(self.rows).select(list(SIDECAR_SCHEMA))
        _replace_atomically(self.part_path, sidecar.write_parquet)
        return {
            "name": self.name,
            "documents": self.documents,
            "tokens": self.tokens,
            "tokens_by_source": dict(self.by_source),
            "bin_sha256": self.bin_hash.hexdigest(),
            "idx_sha256": hashlib.sha256(index).hexdigest(),
        }


def _check_frame(frame: pl.DataFrame) -> pl.DataFrame:
    missing = [column for column in COLUMNS if column not in frame.columns]
    if missing:
        raise ValueError(f"document frame lacks columns {missing}; needs {list(COLUMNS)}")
    source = pl.col("source")
    bad = frame.filter(
        ~(source.is_in(["original", "aligned", "cleaned"]) | source.str.starts_with("replay:"))
        | source.is_null()
    )
    if bad.height:
        raise ValueError(
            "source must be 'original', 'aligned', 'cleaned' or 'replay:<name>'; got "
            f"{bad['source'].unique().to_list()[:5]} (doc_id {bad['doc_id'][0]!r})"
        )
    return frame.select(COLUMNS)


def _prefetch(
    batches: Iterable[pl.DataFrame], encode: Callable[[pl.DataFrame], list[Encoding]]
) -> Iterator[tuple[pl.DataFrame, list[Encoding]]]:
    """Each batch with its encodings. The next batch encodes (in Rust, without the GIL, on all
    cores) while the caller writes this one."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending: tuple[pl.DataFrame, Future[list[Encoding]]] | None = None
        for batch in batches:
            future = pool.submit(encode, batch)
            if pending is not None:
                yield pending[0], pending[1].result()
            pending = (batch, future)
        if pending is not None:
            yield pending[0], pending[1].result()


def _concatenate(encodings: list[Encoding], eos: int) -> tuple[np.ndarray, np.ndarray]:
    """The documents' ids back to back, each followed by eos, and each document's size."""
    sizes = np.fromiter((len(e) + 1 for e in encodings), dtype=np.int64, count=len(encodings))
    eos_list = [eos]
    tokens = np.fromiter(
        chain.from_iterable(e.ids + eos_list for e in encodings),
        dtype=TOKEN_DTYPE,
        count=int(sizes.sum()),
    )
    return tokens, sizes


def write_shards(
    folder: Path,
    tokenizer: PreTrainedTokenizerFast,
    documents: Iterable[pl.DataFrame],
    *,
    shard_tokens: int = 50_000_000,
    upstream: dict[str, Any] | None = None,
    on_progress: Callable[[int, str], None] = lambda documents, note: None,
) -> dict[str, Any]:
    """Encode the documents into Megatron shards under `folder`; write and return the manifest.

    Each frame has columns doc_id, segment_ids, source ("original", "aligned", "cleaned" or
    "replay:<name>") and text; the manifest counts the tokens of each source. Documents with
    empty text are skipped and counted (`skipped_empty`). `upstream` (the versions of the
    inputs) is recorded as given. `on_progress(documents, note)` hears of each batch written
    and each empty one skipped (`Progress.add`).
    """
    if shard_tokens < 1:
        raise ValueError(f"shard_tokens must be positive, got {shard_tokens}")
    eos = tokenizer.eos_token_id
    if eos is None:
        raise ValueError("the tokenizer has no eos token: documents are separated by it")
    if len(tokenizer) > np.iinfo(TOKEN_DTYPE).max:
        raise ValueError(f"vocabulary of {len(tokenizer)} ids does not fit int32 tokens")
    # A private copy of the backend: transformers leaves padding or truncation switched on
    # after some calls, and either would change the ids.
    encoder = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
    encoder.no_padding()
    encoder.no_truncation()

    def encode(batch: pl.DataFrame) -> list[Encoding]:
        return encoder.encode_batch_fast(batch["text"].to_list(), add_special_tokens=False)

    skipped_empty = 0

    def batches() -> Iterator[pl.DataFrame]:
        nonlocal skipped_empty
        for frame in documents:
            frame = _check_frame(frame)
            empty = frame["text"].fill_null("").str.len_bytes() == 0
            skipped_empty += int(empty.sum())
            if empty.any():
                on_progress(int(empty.sum()), f"{skipped_empty:,} empty skipped")
            frame = frame.filter(~empty)
            for start in range(0, frame.height, BATCH_DOCUMENTS):
                yield frame.slice(start, BATCH_DOCUMENTS)

    folder = Path(folder)
    for sub in ("shards", "documents"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    shards: list[dict[str, Any]] = []
    writer: _ShardWriter | None = None
    written = 0
    for batch, encodings in _prefetch(batches(), encode):
        tokens, sizes = _concatenate(encodings, eos)
        written += len(tokens)
        offsets = np.concatenate([[0], np.cumsum(sizes)])
        start = 0
        while start < len(sizes):  # fill the open shard up to shard_tokens, whole documents
            writer = writer or _ShardWriter(folder, len(shards))
            filled = writer.tokens + offsets[start + 1 :] - offsets[start]
            stop = min(start + int(np.searchsorted(filled, shard_tokens)) + 1, len(sizes))
            rows = batch[start:stop]
            writer.add(tokens[offsets[start] : offsets[stop]], sizes[start:stop], rows)
            if writer.tokens >= shard_tokens:
                shards.append(writer.close())
                writer = None
            start = stop
        on_progress(len(sizes), f"{written:,} tokens")
    if writer is not None:
        shards.append(writer.close())
    if not shards:  # an empty dataset still has a sidecar table to read
        empty = pl.DataFrame(schema=SIDECAR_SCHEMA)
        _replace_atomically(folder / "documents" / "part-00000.parquet", empty.write_parquet)

    manifest = {
        "format": "megatron-mmap-indexed-dataset",
        "tokenizer_hash": tokenizer_hash(tokenizer),
        "eos_id": eos,
        "vocab_size": len(tokenizer),
        "dtype": TOKEN_DTYPE.name,
        "documents": sum(shard["documents"] for shard in shards),
        "tokens": sum(shard["tokens"] for shard in shards),
        "tokens_by_source": dict(sum((Counter(s["tokens_by_source"]) for s in shards), Counter())),
        "skipped_empty": skipped_empty,
        "shards": shards,
        "upstream": upstream or {},
    }
    text = json.dumps(manifest, indent=2, ensure_ascii=False)
    _replace_atomically(folder / "manifest.json", lambda handle: handle.write(text.encode()))
    return manifest


class IndexedDataset:
    """One shard, read as Megatron reads it: `prefix.idx` and `prefix.bin` memory-mapped.

    `dataset[i]` is the token ids of sequence (document) i, a view into the .bin.
    """

    def __init__(self, prefix: Path) -> None:
        idx_path, bin_path = Path(f"{prefix}.idx"), Path(f"{prefix}.bin")
        with idx_path.open("rb") as handle:
            header = handle.read(_HEADER.size)
        if len(header) < _HEADER.size or header[: len(MAGIC)] != MAGIC:
            raise ValueError(f"{idx_path}: not a Megatron index (bad magic)")
        _, version, code, sequences, documents = _HEADER.unpack(header)
        if version != VERSION:
            raise ValueError(f"{idx_path}: index version {version}, expected {VERSION}")
        if code not in DTYPES:
            raise ValueError(f"{idx_path}: unknown dtype code {code}")
        self.dtype = DTYPES[code]
        expected = _HEADER.size + sequences * (4 + 8) + documents * 8
        if idx_path.stat().st_size != expected:
            raise ValueError(
                f"{idx_path}: {idx_path.stat().st_size} bytes, the header implies {expected}"
            )
        index = np.memmap(idx_path, mode="r", dtype=np.uint8)
        offset = _HEADER.size
        self.sizes = index[offset : offset + 4 * sequences].view("<i4")
        offset += self.sizes.nbytes
        self.pointers = index[offset : offset + 8 * sequences].view("<i8")
        offset += self.pointers.nbytes
        self.document_indices = index[offset : offset + 8 * documents].view("<i8")
        self.tokens = np.memmap(bin_path, mode="r", dtype=self.dtype)
        if sequences and self.pointers[-1] + self.sizes[-1] * self.dtype.itemsize > (
            bin_path.stat().st_size
        ):
            raise ValueError(f"{bin_path}: shorter than its index says")

    def __len__(self) -> int:
        return len(self.sizes)

    def __getitem__(self, i: int) -> np.ndarray:
        start = int(self.pointers[i]) // self.dtype.itemsize
        return self.tokens[start : start + int(self.sizes[i])]


def read_manifest(folder: Path) -> dict[str, Any]:
    path = Path(folder) / "manifest.json"
    if not path.is_file():
        raise FileNotFoundError(f"{folder}: no manifest.json, not a token shard dataset")
    return json.loads(path.read_text())


def open_shards(folder: Path) -> list[IndexedDataset]:
    """The dataset's shards in manifest order (none for an empty dataset)."""
    manifest = read_manifest(folder)
    return [IndexedDataset(Path(folder) / "shards" / shard["name"]) for shard in manifest["shards"]]


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify(folder: Path) -> None:
    """Recompute every shard file's checksum; raise ValueError naming the first that differs."""
    for shard in read_manifest(folder)["shards"]:
        for suffix in ("bin", "idx"):
            path = Path(folder) / "shards" / f"{shard['name']}.{suffix}"
            if _file_sha256(path) != shard[f"{suffix}_sha256"]:
                raise ValueError(f"{path}: checksum differs from the manifest's")
