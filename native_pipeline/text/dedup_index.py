"""The cross-dump dedup index on disk: sorted band keys sharded by band and hash prefix.

Every dump that was cleaned adds its kept documents once, as one generation:

    <root>/manifest.json                  what is live: dumps, generations, segments
    <root>/records/g<gen>.sig             MinHash signatures, uint32 (rows, num_perm), row order
    <root>/records/g<gen>.arrow           doc_id and content hash per row (Arrow IPC)
    <root>/shards/<table>/<prefix>/<segment>.u64

A table is one LSH band (`band00` ... `band15`) or `exact` (the content hashes); a shard is
the keys of one table whose top `prefix_bits` bits are its prefix. A segment is uint64
(2, n): its keys sorted, then each key's reference `gen << 40 | row`. Each commit adds one
segment per shard and merges it with its neighbour while they are of similar size (an LSM
tree), so a shard holds O(log dumps) segments and a merge never holds more than one shard.

A query memory-maps the segments, finds its keys by binary search and reads the candidates'
signatures from the records by row: nothing of the earlier dumps is loaded, and the pages a
batch touched are handed back after it (`release`), so resident memory is flat in the number
of earlier documents. Files are written under temporary names and renamed; the manifest,
renamed last, is the commit: a killed commit leaves the old index, and files it did not
list are removed by the next commit.
"""

from __future__ import annotations

import json
import mmap
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import xxhash
from numpy.typing import NDArray

from native_pipeline.text.minhash import MinHasher, MinHashParams

PREFIX_BITS = 2  # 4 shards per table by default: ~40 MB each at 10M documents
_ROW_BITS = 40  # a reference: generation in the top 24 bits, row in the low 40
_ROW_MASK = (1 << _ROW_BITS) - 1
_MANIFEST = "manifest.json"
_LEGACY = "dump="  # the earlier layout's files: dump=<name>.parquet
EXACT = "exact"
U64 = np.uint64


def _atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Call write(tmp) for a temporary sibling of `path`, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _split(keys: NDArray[np.uint64], bits: int) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """The order that sorts `keys`, and where each `bits`-bit prefix starts in it."""
    order = np.argsort(keys, kind="stable")
    starts = np.arange(1 << bits, dtype=U64) << U64(64 - bits)
    bounds = np.append(np.searchsorted(keys[order], starts), len(keys))
    return order, bounds


def matches(
    sorted_keys: NDArray[np.uint64], queries: NDArray[np.uint64]
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """(query index, position in sorted_keys) for every stored key equal to a query."""
    if not len(sorted_keys) or not len(queries):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    lo = np.searchsorted(sorted_keys, queries)
    hit = sorted_keys[np.minimum(lo, len(sorted_keys) - 1)] == queries
    # Keys are 64-bit hashes: hits are few, so the second search is cheap.
    owner, lo = np.flatnonzero(hit), lo[hit]
    count = np.searchsorted(sorted_keys, queries[hit], side="right") - lo
    # Every position in [lo, lo + count) for each hit.
    first = np.repeat(np.cumsum(count) - count, count)
    return np.repeat(owner, count), np.repeat(lo, count) + np.arange(count.sum()) - first


def best_candidates(
    sigs: NDArray[np.uint32],
    query: NDArray[np.int64],
    rows: NDArray[np.int64],
    found: NDArray[np.uint32],
    params: MinHashParams,
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Of the candidate pairs (query, row), sorted by query then oldest row first, with `found`
    the rows' signatures: for each of `sigs`, the first row whose estimated Jaccard reaches
    `accept_at` (or -1), and that estimate."""
    score = np.count_nonzero(sigs[query] == found, axis=1) / params.num_perm
    ok = score >= params.accept_at
    query, rows, score = query[ok], rows[ok], score[ok]
    first = np.unique(query, return_index=True)[1]
    match = np.full(len(sigs), -1, dtype=np.int64)
    best = np.zeros(len(sigs))
    match[query[first]], best[query[first]] = rows[first], score[first]
    return match, best


class SignatureIndex:
    """The kept documents of every cleaned dump. Dump names sort chronologically; a dump is
    compared with the dumps that sort before it."""

    def __init__(
        self, root: Path | str, params: MinHashParams | None = None, prefix_bits: int = PREFIX_BITS
    ) -> None:
        """`prefix_bits` shards a new index (an existing one keeps its own): more for bigger
        crawls, so that a merge holds a smaller shard."""
        if not 0 <= prefix_bits <= 12:
            raise ValueError(f"prefix_bits must be in [0, 12]: {prefix_bits}")
        self.root = Path(root)
        self.params = params or MinHashParams()
        self.prefix_bits = prefix_bits
        self.tables = [f"band{b:02d}" for b in range(self.params.bands)] + [EXACT]
        self._adopt_legacy()

    # --- the manifest ---------------------------------------------------------------------

    def manifest(self) -> dict:
        """What is live: {scheme, prefix_bits, next_gen, dumps: {name: {gen, rows, digest}},
        segments: {"<table>/<prefix>": [[name, entries], ...] oldest first}}."""
        path = self.root / _MANIFEST
        if not path.exists():
            return {
                "scheme": self.params.scheme(),
                "prefix_bits": self.prefix_bits,
                "next_gen": 1,
                "dumps": {},
                "segments": {},
            }
        manifest = json.loads(path.read_text())
        if manifest["scheme"] != self.params.scheme():
            raise ValueError(f"{path} was written with other MinHash parameters")
        return manifest

    def dumps(self) -> list[str]:
        """Names of the dumps in the index, oldest first."""
        return sorted(self.manifest()["dumps"])

    def record_path(self, gen: int, suffix: str) -> Path:
        return self.root / "records" / f"g{gen:07d}.{suffix}"

    def segment_path(self, shard: str, name: str) -> Path:
        return self.root / "shards" / shard / f"{name}.u64"

    # --- writing --------------------------------------------------------------------------

    def commit(
        self,
        dump: str,
        doc_ids: list[str],
        content_hashes: NDArray[np.uint64],
        signatures: NDArray[np.uint32],
    ) -> bool:
        """Make these the dump's entries, replacing any it had. False when the dump already
        holds exactly these (a rerun): then nothing is written."""
        if not dump or "/" in dump or os.sep in dump:
            raise ValueError(f"bad dump name: {dump!r}")
        manifest = self.manifest()
        ids = pa.array(doc_ids, pa.string())
        hashes = np.asarray(content_hashes, dtype=U64)
        sigs = np.ascontiguousarray(signatures, dtype=np.uint32)
        digest = _digest(ids, hashes, sigs)
        old = manifest["dumps"].get(dump)
        if old is not None and old["digest"] == digest:
            return False
        gen = manifest["next_gen"]
        rows = np.arange(len(sigs), dtype=U64)
        _atomic_write(self.record_path(gen, "sig"), sigs.tofile)
        records = pa.table({"doc_id": ids, "content_hash": pa.array(hashes, pa.uint64())})
        _atomic_write(self.record_path(gen, "arrow"), lambda p: _write_arrow(records, p))
        manifest["dumps"][dump] = {"gen": gen, "rows": len(sigs), "digest": digest}
        manifest["next_gen"] = gen + 1
        live = {d["gen"] for d in manifest["dumps"].values()}
        refs = (U64(gen) << U64(_ROW_BITS)) | rows
        keys = band_keys(MinHasher(self.params), sigs)
        bits = manifest["prefix_bits"]
        for table, column in zip(self.tables, [*keys.T, hashes], strict=True):
            order, bounds = _split(column, bits)
            for prefix in range(1 << bits):
                part = order[bounds[prefix] : bounds[prefix + 1]]
                shard = f"{table}/{prefix:x}"
                segments = manifest["segments"].setdefault(shard, [])
                if len(part):
                    segments.append(self._write_segment(shard, column[part], refs[part]))
                self._merge(shard, segments, live)
        _atomic_write(self.root / _MANIFEST, lambda p: p.write_text(json.dumps(manifest)))
        self._collect(manifest)
        return True

    def _write_segment(
        self, shard: str, keys: NDArray[np.uint64], refs: NDArray[np.uint64]
    ) -> list[str | int]:
        """Write sorted keys and their references as a new segment: [name, entries]."""
        order = np.argsort(keys, kind="stable")
        name = uuid.uuid4().hex
        data = np.stack((keys[order], refs[order]))
        _atomic_write(self.segment_path(shard, name), data.tofile)
        return [name, len(keys)]

    def _merge(self, shard: str, segments: list[list], live: set[int]) -> None:
        """Merge the newest segment into the one before while that is at most twice its size;
        entries of generations no longer live (replaced dumps) are dropped on the way."""
        while len(segments) > 1 and segments[-2][1] <= 2 * segments[-1][1]:
            parts = [self._read_segment(shard, name) for name, _ in segments[-2:]]
            keys, refs = np.concatenate(parts, axis=1)
            alive = np.isin(refs >> U64(_ROW_BITS), np.array(sorted(live), dtype=U64))
            del segments[-2:]
            if alive.any():
                segments.append(self._write_segment(shard, keys[alive], refs[alive]))

    def _read_segment(self, shard: str, name: str) -> NDArray[np.uint64]:
        return np.fromfile(self.segment_path(shard, name), dtype=U64).reshape(2, -1)

    def _collect(self, manifest: dict) -> None:
        """Remove the files the manifest no longer lists (merged segments, replaced dumps, the
        leftovers of a killed commit)."""
        listed = {
            self.segment_path(shard, name)
            for shard, segments in manifest["segments"].items()
            for name, _ in segments
        }
        for entry in manifest["dumps"].values():
            listed |= {
                self.record_path(entry["gen"], "sig"),
                self.record_path(entry["gen"], "arrow"),
            }
        for folder in (self.root / "records", self.root / "shards"):
            for path in folder.rglob("*"):
                if path.is_file() and path not in listed:
                    path.unlink()
        for path in self.root.glob(f".{_MANIFEST}.*.tmp"):
            path.unlink()

    def _adopt_legacy(self) -> None:
        """Move an index of the earlier layout (one `dump=<name>.parquet` of doc_id,
        content_hash, bands, signature per dump) into this one, a dump at a time."""
        for path in sorted(self.root.glob(f"{_LEGACY}*.parquet")):
            found = pq.read_schema(path).metadata or {}
            if json.loads(found.get(b"minhash", b"null")) != self.params.scheme():
                raise ValueError(f"{path} was written with other MinHash parameters")
            table = pq.read_table(path, columns=["doc_id", "content_hash", "signature"])
            sigs = table.column("signature").combine_chunks().flatten().to_numpy()
            dump = path.name[len(_LEGACY) : -len(".parquet")]
            ids = table.column("doc_id").to_pylist()
            hashes = table.column("content_hash").to_numpy()
            self.commit(dump, ids, hashes, sigs.reshape(-1, self.params.num_perm))
            path.unlink()

    # --- reading --------------------------------------------------------------------------

    def read(self, dump: str) -> pa.Table:
        """One dump's entries: doc_id, content_hash, signature (in memory: for inspection and
        the in-memory reference)."""
        entry = self.manifest()["dumps"][dump]
        table = _read_arrow(self.record_path(entry["gen"], "arrow"))
        sigs = np.fromfile(self.record_path(entry["gen"], "sig"), dtype=np.uint32)
        signature = pa.FixedSizeListArray.from_arrays(pa.array(sigs), self.params.num_perm)
        return table.append_column("signature", signature)

    def earlier(self, dump: str) -> EarlierDumps:
        """A reader of the dumps that sort before `dump`, as they are now."""
        return EarlierDumps(self, dump)


def band_keys(hasher: MinHasher, sigs: NDArray[np.uint32]) -> NDArray[np.uint64]:
    """Band keys of a whole dump, a slice at a time: `band_keys` widens its input to uint64
    (8 times the signatures), which for a dump at once would be gigabytes."""
    step = 1 << 16
    keys = [hasher.band_keys(sigs[lo : lo + step]) for lo in range(0, len(sigs), step)]
    return np.concatenate([np.zeros((0, hasher.params.bands), U64), *keys])


def _digest(ids: pa.Array, hashes: NDArray[np.uint64], sigs: NDArray[np.uint32]) -> str:
    h = xxhash.xxh3_128()
    for buffer in (*(b for b in ids.buffers() if b is not None), hashes, sigs):
        h.update(memoryview(buffer))
    return h.hexdigest()


def _write_arrow(table: pa.Table, path: Path) -> None:
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


def _read_arrow(path: Path) -> pa.Table:
    """An Arrow IPC file, memory-mapped: its pages are read when used."""
    return pa.ipc.open_file(pa.memory_map(str(path))).read_all()


class EarlierDumps:
    """Queries over the live entries of the dumps that sort before one dump. Matches are
    given as an `order`: rank of the dump by name << 40 | row, so the smallest is the oldest."""

    def __init__(self, index: SignatureIndex, dump: str) -> None:
        self.index = index
        manifest = index.manifest()
        earlier = sorted(name for name in manifest["dumps"] if name < dump)
        self._gens = [manifest["dumps"][name]["gen"] for name in earlier]
        self._rank = np.full(manifest["next_gen"], -1, dtype=np.int64)  # by generation
        self._rank[self._gens] = np.arange(len(self._gens))
        self._segments = {
            shard: [index.segment_path(shard, name) for name, _ in segments]
            for shard, segments in manifest["segments"].items()
        }
        self._bits = manifest["prefix_bits"]
        self._maps: dict[Path, tuple[mmap.mmap, NDArray]] = {}
        self._ids: dict[int, pa.ChunkedArray] = {}  # by dump rank

    def exact(self, hashes: NDArray[np.uint64]) -> NDArray[np.int64]:
        """For each hash, the order of its oldest earlier entry, or -1."""
        query, order = self._lookup(EXACT, hashes)
        return _first(query, order, len(hashes))

    def near(
        self, sigs: NDArray[np.uint32], keys: NDArray[np.uint64]
    ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """For each signature, the order of the oldest earlier entry whose estimated Jaccard
        reaches `accept_at` among those sharing a band key with it (or -1), and that estimate."""
        found = [self._lookup(t, keys[:, b]) for b, t in enumerate(self.index.tables[:-1])]
        query = np.concatenate([np.zeros(0, np.int64), *(q for q, _ in found)])
        order = np.concatenate([np.zeros(0, np.int64), *(o for _, o in found)])
        by = np.lexsort((order, query))  # a pair found in several bands once, oldest first
        query, order = query[by], order[by]
        once = np.ones(len(query), dtype=bool)
        once[1:] = (query[1:] != query[:-1]) | (order[1:] != order[:-1])
        query, order = query[once], order[once]
        return best_candidates(sigs, query, order, self._signatures(order), self.index.params)

    def doc_ids(self, orders: NDArray[np.int64]) -> list[str]:
        """The doc_id of each entry."""
        ids: list[str] = [""] * len(orders)
        for rank, at, rows in self._by_dump(orders):
            if rank not in self._ids:  # over our own map: only the rows taken are read
                path = self.index.record_path(self._gens[rank], "arrow")
                source = pa.BufferReader(pa.py_buffer(self._map(path, np.uint8)))
                self._ids[rank] = pa.ipc.open_file(source).read_all().column("doc_id")
            found = self._ids[rank].take(pa.array(rows)).to_pylist()
            for i, doc_id in zip(at.tolist(), found, strict=True):
                ids[i] = doc_id
        return ids

    def release(self) -> None:
        """Hand back the pages of the index this process touched (they stay in the page
        cache): resident memory then holds nothing of the earlier dumps."""
        for mapped, _ in self._maps.values():
            mapped.madvise(mmap.MADV_DONTNEED)

    # --- internals ------------------------------------------------------------------------

    def _map(self, path: Path, dtype: type) -> NDArray:
        if path not in self._maps:
            with path.open("rb") as f:
                mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            self._maps[path] = (mapped, np.frombuffer(mapped, dtype=dtype))
        return self._maps[path][1]

    def _lookup(
        self, table: str, keys: NDArray[np.uint64]
    ) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """(query index, order) of every earlier entry of `table` equal to one of `keys`."""
        queries, orders = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
        if not self._gens:
            return queries[0], orders[0]
        by_key, bounds = _split(keys, self._bits)
        for prefix in range(1 << self._bits):
            ask = by_key[bounds[prefix] : bounds[prefix + 1]]
            for path in self._segments.get(f"{table}/{prefix:x}", []) if len(ask) else []:
                segment = self._map(path, U64).reshape(2, -1)
                at, pos = matches(segment[0], keys[ask])
                refs = segment[1][pos]
                rank = self._rank[(refs >> U64(_ROW_BITS)).astype(np.int64)]
                earlier = rank >= 0  # skip later dumps and replaced generations
                queries.append(ask[at[earlier]])
                rows = (refs[earlier] & U64(_ROW_MASK)).astype(np.int64)
                orders.append((rank[earlier] << _ROW_BITS) | rows)
                # The binary searches touched pages all over the segment: hand them back now,
                # so that a batch holds one table's pages at a time, however big the index.
                self._maps[path][0].madvise(mmap.MADV_DONTNEED)
        return np.concatenate(queries), np.concatenate(orders)

    def _signatures(self, orders: NDArray[np.int64]) -> NDArray[np.uint32]:
        out = np.empty((len(orders), self.index.params.num_perm), dtype=np.uint32)
        for rank, at, rows in self._by_dump(orders):
            path = self.index.record_path(self._gens[rank], "sig")
            out[at] = self._map(path, np.uint32).reshape(-1, out.shape[1])[rows]
        return out

    def _by_dump(
        self, orders: NDArray[np.int64]
    ) -> Iterator[tuple[int, NDArray[np.int64], NDArray[np.int64]]]:
        """(dump rank, positions in `orders`, rows) per earlier dump that `orders` names."""
        ranks = orders >> _ROW_BITS
        for rank in np.unique(ranks).tolist():
            at = np.flatnonzero(ranks == rank)
            yield rank, at, orders[at] & _ROW_MASK


def _first(query: NDArray[np.int64], order: NDArray[np.int64], n: int) -> NDArray[np.int64]:
    """Per query index in [0, n), its smallest order, or -1."""
    best = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(best, query, order)
    best[best == np.iinfo(np.int64).max] = -1
    return best
