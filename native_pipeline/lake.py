"""The data lake: every asset partition is a folder of Parquet tables under one root.

Layout: `<root>/<asset>/<partition>/<table>/part-NNNNN.parquet`, where a partition folder is
`dump=<name>` (hive style, so DuckDB and polars recover the dump from the path), `variant=<name>`
for the pre-training variants (corpus_mix, token_shards, checkpoints, eval_scores) or `all` for
an unpartitioned asset. A partition is written into a hidden temporary folder and renamed into place
when complete, so a killed run never leaves half a partition and a re-run replaces it whole.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from types import TracebackType

import polars as pl

UNPARTITIONED = "all"


def variant(name: str) -> str:
    """The partition folder of one pre-training variant."""
    return f"variant={name}"


def partition_folder(partition: str | None) -> str:
    """A dump name, a folder already named `key=value` (see `variant`), or None."""
    if not partition:
        return UNPARTITIONED
    return partition if "=" in partition else f"dump={partition}"


def write_part(frame: pl.DataFrame, stem: Path) -> int:
    """Write one Parquet part at `stem`.parquet; return its size in bytes."""
    path = stem.with_suffix(".parquet")
    frame.write_parquet(path, compression="zstd", statistics=True)
    return path.stat().st_size


class Lake:
    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def partition_path(self, asset: str, partition: str | None = None) -> Path:
        return self.root / asset / partition_folder(partition)

    def table_glob(self, asset: str, table: str, partition: str | None = None) -> str:
        """A glob over one table of one partition, or of every partition when `partition` is '*'."""
        return str(self.partition_path(asset, partition) / table / "*.parquet")

    def exists(self, asset: str, partition: str | None = None) -> bool:
        return self.partition_path(asset, partition).is_dir()

    def scan(self, asset: str, table: str, partition: str | None = None) -> pl.LazyFrame:
        return pl.scan_parquet(self.table_glob(asset, table, partition), hive_partitioning=False)

    def scan_dumps(self, asset: str, table: str) -> pl.LazyFrame:
        """One table across every dump, with the dump as a column."""
        return pl.scan_parquet(self.table_glob(asset, table, "*"), hive_partitioning=True)

    def chunk_log(self, asset: str, partition: str | None, key: str) -> ChunkLog:
        """Chunks of one partition's work, kept across runs under `key` (what made them)."""
        return ChunkLog(self.root / asset / f".chunks-{partition_folder(partition)}-{key}")

    def writer(self, asset: str, partition: str | None = None) -> PartitionWriter:
        return PartitionWriter(self.partition_path(asset, partition))


class PartitionWriter:
    """Collects Parquet parts for one partition and publishes them atomically on success."""

    def __init__(self, target: Path) -> None:
        self.target = target
        self.staging = target.parent / f".tmp-{target.name}-{uuid.uuid4().hex[:8]}"
        self._parts: dict[str, int] = {}
        self.bytes_written = 0

    def __enter__(self) -> PartitionWriter:
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
        folder = self.staging / table
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
        # Rename the old partition away before the new one takes its place; readers glob
        # `dump=*` and never see the hidden names.
        trash = self.target.parent / f".old-{self.target.name}-{uuid.uuid4().hex[:8]}"
        if self.target.exists():
            os.replace(self.target, trash)
        os.replace(self.staging, self.target)
        shutil.rmtree(trash, ignore_errors=True)


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

    def clear(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
