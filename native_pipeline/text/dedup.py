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

Earlier dumps are queried on disk (`dedup_index`), batch by batch; this run's kept documents
are held in memory (about 1 KB each). `in_memory=True` loads the earlier dumps into memory
instead, as the index did before it moved to disk: the reference that the tests and the
benchmark hold the on-disk index to.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np
import pyarrow as pa
import xxhash
from numpy.typing import NDArray

from native_pipeline.text.blocks import Block, Document
from native_pipeline.text.dedup_index import (
    SignatureIndex,
    band_keys,
    best_candidates,
    matches,
)
from native_pipeline.text.minhash import MinHasher, MinHashParams
from native_pipeline.text.normalize import fold

__all__ = ["ExactDeduplicator", "NearDeduplicator", "SignatureIndex", "commit", "content_hash"]


def content_hash(text: str) -> int:
    """64-bit hash of the folded text: equal for copies that differ only in spelling marks.
    (A false match needs ~2^32 documents per collision.)"""
    return xxhash.xxh3_64_intdigest(fold(text).encode("utf-8", "surrogatepass"))


class Earlier(Protocol):
    """The documents kept by earlier dumps. An order ranks them: the smallest is the oldest."""

    def exact(self, hashes: NDArray[np.uint64]) -> NDArray[np.int64]: ...

    def near(
        self, sigs: NDArray[np.uint32], keys: NDArray[np.uint64]
    ) -> tuple[NDArray[np.int64], NDArray[np.float64]]: ...

    def doc_ids(self, orders: NDArray[np.int64]) -> list[str]: ...

    def release(self) -> None: ...


def earlier_dumps(index: SignatureIndex, dump: str, in_memory: bool) -> Earlier:
    """The dumps before `dump`: queried on disk, or loaded into memory (the reference)."""
    return MemoryEarlier(index, dump) if in_memory else index.earlier(dump)


class ExactDeduplicator(Block):
    """Remove a document whose folded text was seen earlier in this run or in earlier dumps."""

    name = "exact_dedup"

    def __init__(self, index: SignatureIndex, dump: str, in_memory: bool = False) -> None:
        super().__init__()
        self.index, self.dump, self.in_memory = index, dump, in_memory
        self._earlier: Earlier | None = None
        self.kept: dict[int, str] = {}  # content hash -> doc_id, for this run

    def process(self, docs: list[Document]) -> list[Document]:
        if self._earlier is None:
            self._earlier = earlier_dumps(self.index, self.dump, self.in_memory)
        hashes = np.array([content_hash(d.text) for d in docs], dtype=np.uint64)
        orders = self._earlier.exact(hashes)
        found = np.flatnonzero(orders >= 0)
        earlier = dict(zip(found.tolist(), self._earlier.doc_ids(orders[found]), strict=True))
        self._earlier.release()
        kept = []
        for i, (doc, h) in enumerate(zip(docs, hashes.tolist(), strict=True)):
            first = earlier.get(i) or self.kept.get(h)
            if first is None:
                self.kept[h] = doc.doc_id
                kept.append(doc)
            else:
                self.remove(doc, "exact_duplicate", detail=first)
        return kept


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
        queries, rows = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
        for seg_keys, seg_rows in self._segments:
            at, pos = matches(seg_keys, flat)
            queries.append(owner[at])
            rows.append(seg_rows[pos])
        return np.concatenate(queries), np.concatenate(rows)


def _sorted(keys: NDArray[np.uint64], rows: NDArray[np.int64]) -> tuple[NDArray, NDArray]:
    order = np.argsort(keys, kind="stable")
    return keys[order], rows[order]


class _Kept:
    """Kept signatures in memory, numbered in the order they were added, with their LSH
    buckets. The signature store grows by doubling."""

    def __init__(self, params: MinHashParams) -> None:
        self.params = params
        self.table = _BandTable()
        self.sigs = np.zeros((0, params.num_perm), dtype=np.uint32)
        self.rows = 0

    def add(self, sigs: NDArray[np.uint32], keys: NDArray[np.uint64]) -> None:
        rows = np.arange(self.rows, self.rows + len(sigs), dtype=np.int64)
        if self.rows + len(sigs) > len(self.sigs):
            capacity = max(2 * len(self.sigs), self.rows + len(sigs))
            grown = np.empty((capacity, self.params.num_perm), dtype=np.uint32)
            grown[: self.rows] = self.sigs[: self.rows]
            self.sigs = grown
        self.sigs[self.rows : self.rows + len(sigs)] = sigs
        self.rows += len(sigs)
        if len(sigs):
            self.table.add(keys, rows)

    def match(
        self, sigs: NDArray[np.uint32], keys: NDArray[np.uint64]
    ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """For each signature, the oldest kept row it duplicates, or -1, and the estimated
        Jaccard similarity to it."""
        query, rows = self.table.query(keys)
        pairs = np.unique(query * max(self.rows, 1) + rows)  # a pair found in several bands
        query, rows = np.divmod(pairs, max(self.rows, 1))
        # pairs are sorted by (query, row): the first per query is the oldest row
        return best_candidates(sigs, query, rows, self.sigs[rows], self.params)


class MemoryEarlier:
    """Earlier dumps loaded into memory, as the index was before it moved to disk (~1 KB a
    document): the reference for the on-disk index's decisions and speed."""

    def __init__(self, index: SignatureIndex, dump: str) -> None:
        tables = [index.read(name) for name in index.dumps() if name < dump]
        table = pa.concat_tables(tables) if tables else None
        self._kept = _Kept(index.params)
        self._ids = pa.array([], pa.string())
        self._hashes = np.zeros(0, np.uint64)
        if table is not None and len(table):
            sigs = _matrix(table.column("signature"), index.params.num_perm)
            self._kept.add(sigs, band_keys(MinHasher(index.params), sigs))
            self._ids = table.column("doc_id").combine_chunks()
            self._hashes = table.column("content_hash").to_numpy()
        self._by_hash = np.argsort(self._hashes, kind="stable")  # equal hashes: oldest first

    def exact(self, hashes: NDArray[np.uint64]) -> NDArray[np.int64]:
        at, pos = matches(self._hashes[self._by_hash], hashes)
        first = np.unique(at, return_index=True)[1]  # at is sorted: its first is the oldest
        orders = np.full(len(hashes), -1, dtype=np.int64)
        orders[at[first]] = self._by_hash[pos[first]]
        return orders

    def near(
        self, sigs: NDArray[np.uint32], keys: NDArray[np.uint64]
    ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        return self._kept.match(sigs, keys)

    def doc_ids(self, orders: NDArray[np.int64]) -> list[str]:
        return self._ids.take(pa.array(orders, pa.int64())).to_pylist()

    def release(self) -> None:
        """Nothing to hand back: the earlier dumps stay in memory."""


class NearDeduplicator(Block):
    """MinHash LSH near-duplicate removal: a document goes when its estimated Jaccard
    similarity to a kept document (this run or an earlier dump) reaches the threshold."""

    name = "near_dedup"

    def __init__(
        self,
        index: SignatureIndex,
        dump: str,
        key: Callable[[str], str] = fold,
        in_memory: bool = False,
    ) -> None:
        """`key` maps a text to what is shingled (already-folded text can skip `fold`)."""
        super().__init__()
        self.index, self.dump, self.key, self.in_memory = index, dump, key, in_memory
        self.params = index.params
        self.hasher = MinHasher(self.params)
        self._earlier: Earlier | None = None
        self._kept = _Kept(self.params)  # this run's kept documents
        self.kept_ids: list[str] = []

    def process(self, docs: list[Document]) -> list[Document]:
        if self._earlier is None:
            self._earlier = earlier_dumps(self.index, self.dump, self.in_memory)
        sigs = self.hasher.signatures([self.key(d.text) for d in docs])
        keys = self.hasher.band_keys(sigs)
        ids, score = self._match_kept(sigs, keys)
        self._match_batch(sigs, keys, score, ids, docs)
        kept = []
        for i, (doc, first) in enumerate(zip(docs, ids, strict=True)):
            if first is None:
                kept.append(i)
            else:
                self.remove(doc, "near_duplicate", float(score[i]), first)
        self._kept.add(sigs[kept], keys[kept])
        self.kept_ids.extend(docs[i].doc_id for i in kept)
        return [docs[i] for i in kept]

    def signatures(self) -> NDArray[np.uint32]:
        """This run's kept documents' signatures, in the order of `kept_ids`."""
        return self._kept.sigs[: self._kept.rows]

    def _match_kept(
        self, sigs: NDArray[np.uint32], keys: NDArray[np.uint64]
    ) -> tuple[list[str | None], NDArray[np.float64]]:
        """For each doc, the oldest kept document it duplicates, or None, and the estimated
        Jaccard similarity to it: earlier dumps first (all older than this run), then this
        run's earlier batches."""
        assert self._earlier is not None
        match, score = self._earlier.near(sigs, keys)
        ids: list[str | None] = [None] * len(sigs)
        found = np.flatnonzero(match >= 0)
        for i, doc_id in zip(found.tolist(), self._earlier.doc_ids(match[found]), strict=True):
            ids[i] = doc_id
        self._earlier.release()
        rest = np.flatnonzero(match < 0)
        rows, rest_score = self._kept.match(sigs[rest], keys[rest])
        for i, row, s in zip(rest.tolist(), rows.tolist(), rest_score.tolist(), strict=True):
            if row >= 0:
                ids[i], score[i] = self.kept_ids[row], s
        return ids, score

    def _match_batch(
        self,
        sigs: NDArray[np.uint32],
        keys: NDArray[np.uint64],
        score: NDArray[np.float64],
        ids: list[str | None],
        docs: list[Document],
    ) -> None:
        """Match docs to earlier kept docs of the same batch, in order, filling score/ids.
        Only docs sharing a band key with another doc of the batch can match: the Python
        loop visits those alone."""
        flat = keys.ravel()
        _, inverse, counts = np.unique(flat, return_inverse=True, return_counts=True)
        unmatched = np.array([i is None for i in ids], dtype=bool)
        shared = (counts[inverse] > 1).reshape(keys.shape).any(axis=1) & unmatched
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


def _matrix(column: pa.ChunkedArray, width: int) -> NDArray:
    """A fixed-size-list column as an (n, width) NumPy array."""
    return column.combine_chunks().flatten().to_numpy().reshape(-1, width)


def commit(
    index: SignatureIndex, dump: str, exact: ExactDeduplicator, near: NearDeduplicator
) -> bool:
    """Persist the dump's survivors (kept by both blocks), replacing the dump's old entries;
    False when the index already held exactly these (a rerun)."""
    hash_of = {doc_id: h for h, doc_id in exact.kept.items()}
    present = np.array([i in hash_of for i in near.kept_ids], dtype=bool)
    ids = [i for i, p in zip(near.kept_ids, present, strict=True) if p]
    hashes = np.array([hash_of[i] for i in ids], dtype=np.uint64)
    sigs = near.signatures()  # a view: copied only when some are missing
    return index.commit(dump, ids, hashes, sigs if present.all() else sigs[present])
