"""The data lake: every asset partition is a folder of Parquet tables under one root.

Layout: `<root>/<asset>/<partition>/<table>/part-NNNNN.parquet`, where a partition folder is
`dump=<name>` (hive style, so DuckDB and polars recover the dump from the path), `variant=<name>`
for the pre-training variants (corpus_mix, token_shards, checkpoints, eval_scores) or `all` for
an unpartitioned asset. Side stores that are not partitions (the dedup index, the expert's cache,
the worker's checkpoints) are folders named by `Lake.store`.

Every name that becomes part of a path (asset, dump, variant, table, store) must match `KEY`,
and every path is checked to resolve inside the root: a partition key from a sensor, the
Launchpad or GraphQL can never write elsewhere.

A partition is written into a hidden temporary folder and published by two renames (the old
partition away, the new one into place) under a journal, so a run killed at any point leaves the
old partition or the new one, never neither: the next reader or writer finishes the publish.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from pathlib import Path
from types import TracebackType

import polars as pl
import pyarrow.parquet as pq

UNPARTITIONED = "all"
ALL = "*"  # in a glob: every partition of an asset
# Letters, digits, '.', '_' and '-', starting with a letter or digit: no '/', no '=', no '..'
# path, no quote, no glob character, nothing a shell or SQL reads specially.
KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
PARTITION_KINDS = ("dump", "variant")
_JOURNAL = ".publish-"


class BadKey(ValueError):
    """A partition key or name that does not match `KEY`."""


def check_key(name: str, what: str = "partition key") -> str:
    """`name` when it matches `KEY`, else BadKey naming the pattern."""
    if not isinstance(name, str) or not KEY.fullmatch(name):
        raise BadKey(f"bad {what} {name!r}: must match {KEY.pattern}")
    return name


def variant(name: str) -> str:
    """The partition folder of one pre-training variant ('*': every variant, in a glob)."""
    return f"variant={name if name == ALL else check_key(name, 'variant name')}"


def partition_folder(partition: str | None) -> str:
    """A dump name, a folder already named `dump=`/`variant=` (see `variant`), or None."""
    if not partition:
        return UNPARTITIONED
    kind, sep, value = partition.partition("=")
    if not sep:
        return f"dump={check_key(partition)}"
    if kind not in PARTITION_KINDS:
        raise BadKey(f"bad partition folder {partition!r}: must be dump=… or variant=…")
    return f"{kind}={check_key(value)}"


def write_part(frame: pl.DataFrame, stem: Path) -> int:
    """Write one Parquet part at `stem`.parquet; return its size in bytes."""
    path = stem.with_suffix(".parquet")
    frame.write_parquet(path, compression="zstd", statistics=True)
    return path.stat().st_size


def parquet_rows(parts: list[Path]) -> int:
    """The rows of Parquet parts, from their footers (the total a progress line counts to)."""
    return sum(pq.ParquetFile(part).metadata.num_rows for part in parts)


class Lake:
    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def _inside(self, path: Path) -> Path:
        """`path` if it resolves inside the root (symbolic links followed), else BadKey."""
        root = self.root.resolve()
        if not path.resolve().is_relative_to(root):
            raise BadKey(f"{path} resolves outside the data root {root}")
        return path

    def store(self, name: str) -> Path:
        """The folder of a side store (`dedup_index`, `expert_cache`, `alignment_worker`)."""
        return self._inside(self.root / check_key(name, "store name"))

    def partition_path(self, asset: str, partition: str | None = None) -> Path:
        folder = self._inside(
            self.root / check_key(asset, "asset name") / partition_folder(partition)
        )
        _recover(folder)
        return folder

    def table_glob(self, asset: str, table: str, partition: str | None = None) -> str:
        """A glob over one table of one partition, or of every partition when `partition` is '*'
        (or `variant('*')`)."""
        check_key(table, "table name")
        if partition in (ALL, variant(ALL)):
            kind = "variant" if partition != ALL else "dump"
            folder = self._inside(self.root / check_key(asset, "asset name"))
            for journal in folder.glob(f"{_JOURNAL}*"):
                if not journal.name.endswith(".tmp"):  # a journal being written is no publish
                    _recover(folder / journal.name[len(_JOURNAL) :])
            return str(folder / f"{kind}=*" / table / "*.parquet")
        return str(self.partition_path(asset, partition) / table / "*.parquet")

    def exists(self, asset: str, partition: str | None = None) -> bool:
        return self.partition_path(asset, partition).is_dir()

    def scan(self, asset: str, table: str, partition: str | None = None) -> pl.LazyFrame:
        return pl.scan_parquet(self.table_glob(asset, table, partition), hive_partitioning=False)

    def scan_dumps(self, asset: str, table: str) -> pl.LazyFrame:
        """One table across every dump, with the dump as a column."""
        return pl.scan_parquet(self.table_glob(asset, table, ALL), hive_partitioning=True)

    def chunk_log(self, asset: str, partition: str | None, key: str) -> ChunkLog:
        """Chunks of one partition's work, kept across runs under `key` (what made them)."""
        name = f".chunks-{partition_folder(partition)}-{check_key(key, 'chunk key')}"
        return ChunkLog(self._inside(self.root / check_key(asset, "asset name") / name))

    def writer(self, asset: str, partition: str | None = None) -> PartitionWriter:
        return PartitionWriter(self.partition_path(asset, partition))


def _journal(target: Path) -> Path:
    return target.parent / f"{_JOURNAL}{target.name}"


def _publish(target: Path, staging: Path, trash: Path) -> None:
    """Swap `staging` in for `target`; idempotent, so a crash is finished by running it again.

    Order: journal, old partition to trash, staging to target, trash removed, journal removed.
    """
    journal = _journal(target)
    if not journal.exists():
        tmp = journal.with_name(f"{journal.name}.{uuid.uuid4().hex[:8]}.tmp")
        tmp.write_text(json.dumps({"staging": staging.name, "trash": trash.name}))
        os.replace(tmp, journal)
    if staging.exists():
        if target.exists():
            os.replace(target, trash)
        os.replace(staging, target)
    elif not target.exists() and trash.exists():  # staging lost: put the old partition back
        os.replace(trash, target)
    shutil.rmtree(trash, ignore_errors=True)
    journal.unlink(missing_ok=True)


def _recover(target: Path) -> None:
    """Finish a publish that a killed run left half done (a no-op without its journal)."""
    journal = _journal(target)
    if not journal.exists():
        return
    try:
        names = json.loads(journal.read_text())
    except (OSError, ValueError):  # the journal is written whole by a rename: only if deleted
        return
    _publish(target, target.parent / names["staging"], target.parent / names["trash"])


class PartitionWriter:
    """Collects Parquet parts for one partition and publishes them atomically on success."""

    def __init__(self, target: Path) -> None:
        self.target = target
        self.staging = target.parent / f".tmp-{target.name}-{uuid.uuid4().hex[:8]}"
        self._parts: dict[str, int] = {}
        self.bytes_written = 0

    def __enter__(self) -> PartitionWriter:
        _recover(self.target)
        # What a killed run of this partition left behind (a run of the same partition cannot
        # be writing now: Dagster runs one partition of an asset at a time here).
        for stale in self.target.parent.glob(f".tmp-{self.target.name}-*"):
            shutil.rmtree(stale, ignore_errors=True)
        for stale in self.target.parent.glob(f".old-{self.target.name}-*"):
            shutil.rmtree(stale, ignore_errors=True)
        for stale in self.target.parent.glob(f"{_JOURNAL}{self.target.name}.*.tmp"):
            stale.unlink(missing_ok=True)
        self.staging.mkdir(parents=True)
        return self

    def write(self, table: str, frame: pl.DataFrame) -> None:
        """Append one part to `table`. Write an empty frame to create a table with no rows."""
        index = self._parts.get(table, 0)
        if index and frame.is_empty():
            return
        self.bytes_written += write_part(frame, self.table_path(table) / f"part-{index:05d}")
        self._parts[table] = index + 1

    def table_path(self, table: str) -> Path:
        """The staging folder of `table`, for parts written by other processes
        (named `part-*.parquet`, sorting after the parts written here)."""
        folder = self.staging / check_key(table, "table name")
        folder.mkdir(exist_ok=True)
        return folder

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            shutil.rmtree(self.staging, ignore_errors=True)
            return
        # Readers glob `dump=*` and never see the hidden names.
        trash = self.target.parent / f".old-{self.target.name}-{uuid.uuid4().hex[:8]}"
        _publish(self.target, self.staging, trash)


class ChunkLog:
    """Parts of a long step committed one at a time, so that a killed run resumes after the
    last committed chunk instead of redoing it. The hidden folder is invisible to readers."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _path(self, index: int) -> Path:
        return self.folder / f"chunk-{index:06d}.parquet"

    def has(self, index: int) -> bool:
        return self._path(index).exists()

    def write(self, index: int, frame: pl.DataFrame) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        staging = self.folder / f".tmp-{uuid.uuid4().hex[:8]}"
        write_part(frame, staging)
        os.replace(staging.with_suffix(".parquet"), self._path(index))

    def frames(self) -> list[pl.DataFrame]:
        return [pl.read_parquet(p) for p in sorted(self.folder.glob("chunk-*.parquet"))]

    def part(self, index: int) -> ChunkLog:
        """The chunks of one part of the work (a shard), cleared with the whole."""
        return ChunkLog(self.folder / f"part-{index:06d}")

    def clear(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
