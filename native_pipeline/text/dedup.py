"""Exact and MinHash near-duplicate removal within a crawl dump and against earlier dumps.

Both blocks are stateful: run them batch by batch over one dump in one process, then persist
the dump's survivors once, so that later dumps dedup against them:

    index = SignatureIndex(data_root / "dedup_index")
    exact, near = ExactDeduplicator(index, dump), NearDeduplicator(index, dump)
    for batch in batches:
        kept = near(exact(batch))
    commit(index, dump, exact, near)

The first copy seen wins: earlier dumps before this dump, earlier batches before later ones.
Only kept documents are indexed, so a document is removed when it is a near duplicate of a
document that was kept (no chains through removed ones).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import xxhash
from numpy.typing import NDArray

from native_pipeline.text.blocks import Block, Document
from native_pipeline.text.minhash import MinHasher, MinHashParams
from native_pipeline.text.normalize import fold

_PREFIX, _SUFFIX = "dump=", ".parquet"
_META_KEY = b"minhash"


def content_hash(text: str) -> int:
    """64-bit hash of the folded text: equal for copies that differ only in spelling marks.
    (A false match needs ~2^32 documents per collision.)"""
    return xxhash.xxh3_64_intdigest(fold(text).encode("utf-8", "surrogatepass"))


def _schema(params: MinHashParams) -> pa.Schema:
    return pa.schema(
        [
            ("doc_id", pa.string()),
            ("content_hash", pa.uint64()),
            ("bands", pa.list_(pa.uint64(), params.bands)),
            ("signature", pa.list_(pa.uint32(), params.num_perm)),
        ],
        metadata={_META_KEY: json.dumps(params.scheme(), sort_keys=True).encode()},
    )


class SignatureIndex:
    """One Parquet file per dump (`dump=<name>.parquet`) of the documents it kept: doc_id,
    content hash, LSH band keys and MinHash signature. Dump names sort chronologically."""

    def __init__(self, root: Path | str, params: MinHashParams | None = None) -> None:
        self.root = Path(root)
        self.params = params or MinHashParams()

    def path(self, dump: str) -> Path:
        if not dump or "/" in dump or os.sep in dump:
            raise ValueError(f"bad dump name: {dump!r}")
        return self.root / f"{_PREFIX}{dump}{_SUFFIX}"

    def dumps(self) -> list[str]:
        """Names of the dumps in the index, oldest first."""
        return sorted(
            p.name[len(_PREFIX) : -len(_SUFFIX)] for p in self.root.glob(f"{_PREFIX}*{_SUFFIX}")
        )

    def write(self, dump: str, table: pa.Table) -> Path:
        """Replace the dump's entries, atomically: readers see the old file or the new one."""
        path = self.path(dump)
        self.root.mkdir(parents=True, exist_ok=True)
        for stale in self.root.glob(f".{path.name}.*.tmp"):  # of a killed writer of this dump
            stale.unlink(missing_ok=True)
        tmp = self.root / f".{path.name}.{uuid.uuid4().hex}.tmp"  # not matched by dumps()
        try:
            pq.write_table(table.cast(_schema(self.params)), tmp)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return path

    def earlier(self, dump: str, columns: list[str] | None = None) -> pa.Table:
        """Entries of every dump whose name sorts before `dump`, oldest dump first."""
        schema = _schema(self.params)
        tables = []
        for name in (d for d in self.dumps() if d < dump):
            path = self.path(name)
            found = pq.read_schema(path).metadata or {}
            if found.get(_META_KEY) != schema.metadata[_META_KEY]:
                raise ValueError(f"{path} was written with other MinHash parameters")
            tables.append(pq.read_table(path, columns=columns, schema=schema))
        if not tables:
            return schema.empty_table().select(columns or schema.names)
        return pa.concat_tables(tables)


class ExactDeduplicator(Block):
    """Remove a document whose folded text was seen earlier in this run or in earlier dumps."""

    name = "exact_dedup"

    def __init__(self, index: SignatureIndex, dump: str) -> None:
        super().__init__()
        self.index, self.dump = index, dump
        self._earlier: tuple[NDArray[np.uint64], NDArray[np.int64], pa.Array] | None = None
        self.kept: dict[int, str] = {}  # content hash -> doc_id, for this run

    def process(self, docs: list[Document]) -> list[Document]:
        hashes = [content_hash(d.text) for d in docs]
        earlier = self._earlier_matches(np.array(hashes, dtype=np.uint64))
        kept = []
        for doc, h, first in zip(docs, hashes, earlier, strict=True):
            first = first or self.kept.get(h)
            if first is None:
                self.kept[h] = doc.doc_id
                kept.append(doc)
            else:
                self.remove(doc, "exact_duplicate", detail=first)
        return kept

    def _earlier_matches(self, hashes: NDArray[np.uint64]) -> list[str | None]:
        """doc_id in earlier dumps of each hash, or None. Earlier hashes live in one sorted
        array, far smaller than a dict of millions of entries."""
        if self._earlier is None:
            table = self.index.earlier(self.dump, ["doc_id", "content_hash"])
            values = table.column("content_hash").to_numpy()
            order = np.argsort(values, kind="stable")  # stable: equal hashes keep the oldest
            self._earlier = (values[order], order, table.column("doc_id").combine_chunks())
        values, order, ids = self._earlier
        pos = np.searchsorted(values, hashes)
        found = pos < len(values)
        found[found] = values[pos[found]] == hashes[found]
        return [ids[order[p]].as_py() if f else None for p, f in zip(pos, found, strict=True)]


class _BandTable:
    """LSH buckets as sorted (key, row) segments; a new segment per batch, merged with its
    neighbour when of similar size, so inserts stay O(n log n) over a run."""

    def __init__(self) -> None:
        self._segments: list[tuple[NDArray[np.uint64], NDArray[np.int64]]] = []

    def add(self, keys: NDArray[np.uint64], rows: NDArray[np.int64]) -> None:
        """Add each row under its band keys (keys: (n, bands), rows: (n,))."""
        flat_rows = np.repeat(rows, keys.shape[1])
        self._segments.append(_sorted(keys.ravel(), flat_rows))
        while len(self._segments) > 1 and len(self._segments[-2][0]) <= 2 * len(
            self._segments[-1][0]
        ):
            (k1, r1), (k2, r2) = self._segments.pop(), self._segments.pop()
            self._segments.append(_sorted(np.concatenate((k2, k1)), np.concatenate((r2, r1))))

    def query(self, keys: NDArray[np.uint64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """(query index, row) for every stored row sharing a band key with query keys[i]."""
        flat = keys.ravel()
        owner = np.repeat(np.arange(len(keys), dtype=np.int64), keys.shape[1])
        queries, rows = [], []
        for seg_keys, seg_rows in self._segments:
            lo = np.searchsorted(seg_keys, flat)
            hit = seg_keys[np.minimum(lo, len(seg_keys) - 1)] == flat
            # Keys are 64-bit hashes: hits are few, so the second search is cheap.
            lo = lo[hit]
            count = np.searchsorted(seg_keys, flat[hit], side="right") - lo
            # Every position in [lo, lo + count) for each hit.
            first = np.repeat(np.cumsum(count) - count, count)
            pos = np.repeat(lo, count) + np.arange(count.sum()) - first
            queries.append(np.repeat(owner[hit], count))
            rows.append(seg_rows[pos])
        if not queries:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        return np.concatenate(queries), np.concatenate(rows)


def _sorted(keys: NDArray[np.uint64], rows: NDArray[np.int64]) -> tuple[NDArray, NDArray]:
    order = np.argsort(keys, kind="stable")
    return keys[order], rows[order]


class NearDeduplicator(Block):
    """MinHash LSH near-duplicate removal: a document goes when its estimated Jaccard
    similarity to a kept document (this run or an earlier dump) reaches the threshold."""

    name = "near_dedup"

    def __init__(self, index: SignatureIndex, dump: str, key: Callable[[str], str] = fold) -> None:
        """`key` maps a text to what is shingled (already-folded text can skip `fold`)."""
        super().__init__()
        self.index, self.dump, self.key = index, dump, key
        self.params = index.params
        self.hasher = MinHasher(self.params)
        self._table = _BandTable()
        self._sigs = np.zeros((0, self.params.num_perm), dtype=np.uint32)  # all kept rows
        self._rows = 0
        self._earlier_ids: pa.Array | None = None  # rows [0, len) come from earlier dumps
        self.kept_ids: list[str] = []  # rows after the earlier ones: kept in this run
        self._kept_keys: list[NDArray[np.uint64]] = []

    def process(self, docs: list[Document]) -> list[Document]:
        if self._earlier_ids is None:
            self._load_earlier()
        sigs = self.hasher.signatures([self.key(d.text) for d in docs])
        keys = self.hasher.band_keys(sigs)
        match, score = self._match_kept(sigs, keys)
        ids: list[str | None] = [self._doc_id(r) if r >= 0 else None for r in match.tolist()]
        self._match_batch(sigs, keys, match, score, ids, docs)
        kept = []
        for i, (doc, first) in enumerate(zip(docs, ids, strict=True)):
            if first is None:
                kept.append(i)
            else:
                self.remove(doc, "near_duplicate", float(score[i]), first)
        self._add(sigs[kept], keys[kept], [docs[i].doc_id for i in kept])
        return [docs[i] for i in kept]

    def entries(self) -> pa.Table:
        """This run's kept documents: doc_id, bands, signature (to join with content hashes)."""
        p = self.params
        keys = np.concatenate([np.zeros((0, p.bands), np.uint64), *self._kept_keys])
        sigs = self._sigs[self._rows - len(self.kept_ids) : self._rows]
        return pa.table(
            {
                "doc_id": pa.array(self.kept_ids, pa.string()),
                "bands": pa.FixedSizeListArray.from_arrays(pa.array(keys.ravel()), p.bands),
                "signature": pa.FixedSizeListArray.from_arrays(pa.array(sigs.ravel()), p.num_perm),
            }
        )

    def _load_earlier(self) -> None:
        table = self.index.earlier(self.dump, ["doc_id", "bands", "signature"])
        self._earlier_ids = table.column("doc_id").combine_chunks()
        if len(table):
            keys = _matrix(table.column("bands"), self.params.bands)
            sigs = _matrix(table.column("signature"), self.params.num_perm)
            self._append(sigs, keys)

    def _doc_id(self, row: int) -> str:
        earlier = len(self._earlier_ids)
        return self._earlier_ids[row].as_py() if row < earlier else self.kept_ids[row - earlier]

    def _match_kept(
        self, sigs: NDArray[np.uint32], keys: NDArray[np.uint64]
    ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """For each doc, the oldest kept row (earlier dumps, earlier batches) it duplicates,
        or -1, and the estimated Jaccard similarity to it."""
        query, rows = self._table.query(keys)
        pairs = np.unique(query * max(self._rows, 1) + rows)  # a pair found in several bands
        query, rows = np.divmod(pairs, max(self._rows, 1))
        score = np.count_nonzero(sigs[query] == self._sigs[rows], axis=1) / self.params.num_perm
        ok = score >= self.params.accept_at
        query, rows, score = query[ok], rows[ok], score[ok]
        # Pairs are sorted by (query, row): the first per query is the oldest row.
        first = np.unique(query, return_index=True)[1]
        match = np.full(len(sigs), -1, dtype=np.int64)
        best = np.zeros(len(sigs))
        match[query[first]], best[query[first]] = rows[first], score[first]
        return match, best

    def _match_batch(
        self,
        sigs: NDArray[np.uint32],
        keys: NDArray[np.uint64],
        match: NDArray[np.int64],
        score: NDArray[np.float64],
        ids: list[str | None],
        docs: list[Document],
    ) -> None:
        """Match docs to earlier kept docs of the same batch, in order, filling score/ids.
        Only docs sharing a band key with another doc of the batch can match: the Python
        loop visits those alone."""
        flat = keys.ravel()
        _, inverse, counts = np.unique(flat, return_inverse=True, return_counts=True)
        shared = (counts[inverse] > 1).reshape(keys.shape).any(axis=1) & (match < 0)
        buckets: dict[int, list[int]] = {}  # band key -> kept docs of this batch
        for i in np.flatnonzero(shared).tolist():
            row_keys = keys[i].tolist()
            for j in sorted({j for k in row_keys for j in buckets.get(k, ())}):
                similarity = np.count_nonzero(sigs[i] == sigs[j]) / self.params.num_perm
                if similarity >= self.params.accept_at:
                    score[i], ids[i] = similarity, docs[j].doc_id
                    break
            else:
                for k in row_keys:
                    buckets.setdefault(k, []).append(i)

    def _add(self, sigs: NDArray[np.uint32], keys: NDArray[np.uint64], ids: list[str]) -> None:
        self.kept_ids.extend(ids)
        self._kept_keys.append(keys)
        self._append(sigs, keys)

    def _append(self, sigs: NDArray[np.uint32], keys: NDArray[np.uint64]) -> None:
        """Give the signatures the next row numbers; the signature store grows by doubling."""
        rows = np.arange(self._rows, self._rows + len(sigs), dtype=np.int64)
        if self._rows + len(sigs) > len(self._sigs):
            capacity = max(2 * len(self._sigs), self._rows + len(sigs))
            grown = np.empty((capacity, self.params.num_perm), dtype=np.uint32)
            grown[: self._rows] = self._sigs[: self._rows]
            self._sigs = grown
        self._sigs[self._rows : self._rows + len(sigs)] = sigs
        self._rows += len(sigs)
        if len(sigs):
            self._table.add(keys, rows)


def _matrix(column: pa.ChunkedArray, width: int) -> NDArray:
    """A fixed-size-list column as an (n, width) NumPy array."""
    return column.combine_chunks().flatten().to_numpy().reshape(-1, width)


def commit(
    index: SignatureIndex, dump: str, exact: ExactDeduplicator, near: NearDeduplicator
) -> Path:
    """Persist the dump's survivors (kept by both blocks), replacing the dump's old entries."""
    hash_of = {doc_id: h for h, doc_id in exact.kept.items()}
    table = near.entries()
    ids = table.column("doc_id").to_pylist()
    present = np.array([i in hash_of for i in ids], dtype=bool)
    table = table.filter(pa.array(present))
    hashes = pa.array([hash_of[i] for i, p in zip(ids, present, strict=True) if p], pa.uint64())
    return index.write(dump, table.add_column(1, "content_hash", hashes))
