"""raw_crawl's work without Dagster: each crawl file read into Parquet parts of its own, so the
files of a dump can be read side by side, one process each."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import as_completed
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import TypeVar

import polars as pl

from native_pipeline.lake import write_part
from native_pipeline.settings import ReadingSettings
from native_pipeline.tables import RAW_RECORDS, frame
from native_pipeline.text.pipeline import process_pool
from native_pipeline.text.warc import (
    QuarantinedRecord,
    RawRecord,
    ReadStats,
    read_file,
    scan_file,
)

CHUNK = 2000  # records per Parquet part: bounded memory however large the file

T = TypeVar("T")


def chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


@dataclass
class FileResult:
    stats: ReadStats
    quarantined: list[QuarantinedRecord] = field(default_factory=list)
    parquet_bytes: int = 0
    # (source file, offset, records) found by the independent scan (warc.scan_file)
    scanned: list[tuple[str, int, int]] = field(default_factory=list)


def ingest_file(
    path: Path, name: str, dump: str, out: Path, prefix: str, limits: ReadingSettings
) -> FileResult:
    """Read one WARC/WET/JSONL file into `out/<prefix>-NNNNN.parquet` parts, and scan it."""
    result = FileResult(ReadStats())
    records = read_file(path, name, dump, result.stats, limits)
    for index, chunk in enumerate(chunks(records, CHUNK)):
        kept = [r for r in chunk if isinstance(r, RawRecord)]
        result.quarantined += [r for r in chunk if isinstance(r, QuarantinedRecord)]
        if kept:
            stem = out / f"{prefix}-{index:05d}"
            result.parquet_bytes += write_part(frame(kept, RAW_RECORDS), stem)
    result.scanned = [(name, offset, n) for offset, n in sorted(scan_file(path, limits).items())]
    return result


def ingest_dump(
    files: list[tuple[Path, str]],
    dump: str,
    out: Path,
    workers: int,
    limits: ReadingSettings | None = None,
    on_progress: Callable[[int, str], None] = lambda files, note: None,
) -> FileResult:
    """Every (path, name) of a dump into parts under `out`, up to `workers` files at a time.
    A record whose doc_id an earlier record of the dump has (a repeated WARC-Record-ID or
    JSONL id) is quarantined: the first copy is kept. `on_progress(1, note)` hears of each file
    read as it finishes (`Progress.add`), with the records read so far."""
    limits = limits or ReadingSettings()
    jobs = [
        (path, name, dump, out, f"part-{i:05d}", limits) for i, (path, name) in enumerate(files)
    ]
    results: list[FileResult] = []
    records = 0

    def done(result: FileResult) -> None:
        nonlocal records
        records += result.stats.records + result.stats.quarantined
        on_progress(1, f"{records:,} records")

    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            results.append(ingest_file(*job))
            done(results[-1])
    else:
        with process_pool(min(workers, len(jobs))) as pool:
            futures = [pool.submit(ingest_file, *job) for job in jobs]
            for future in as_completed(futures):  # as each file finishes, whatever its place
                done(future.result())
            results = [future.result() for future in futures]  # merged in the files' order
    total = FileResult(ReadStats())
    for result in results:
        total.stats.merge(result.stats)
        total.quarantined += result.quarantined
        total.parquet_bytes += result.parquet_bytes
        total.scanned += result.scanned
    duplicates = quarantine_duplicates(out)
    total.quarantined += duplicates
    total.stats.records -= len(duplicates)
    total.stats.quarantined += len(duplicates)
    return total


def quarantine_duplicates(out: Path) -> list[QuarantinedRecord]:
    """Remove every record whose doc_id an earlier part (or row) already holds, rewriting the
    parts concerned; return them as quarantined records. Reads the doc_id column alone."""
    parts = sorted(out.glob("*.parquet"))
    if not parts:
        return []
    ids = pl.concat(
        [
            pl.scan_parquet(p).select("doc_id").with_row_index("row").with_columns(part=pl.lit(i))
            for i, p in enumerate(parts)
        ]
    )
    repeated = ids.filter(~pl.col("doc_id").is_first_distinct()).collect()
    quarantined = []
    for (index,), rows in repeated.group_by("part", maintain_order=True):
        path = parts[index]
        table = pl.read_parquet(path).with_row_index("row")
        drop = table["row"].is_in(rows["row"].to_list())
        for r in table.filter(drop).iter_rows(named=True):
            detail = f"doc_id {r['doc_id']} repeats an earlier record; the first copy is kept"
            quarantined.append(
                QuarantinedRecord(
                    r["source_file"],
                    r["offset"],
                    r["record_id"],
                    r["url"],
                    "duplicate_record_id",
                    detail,
                )
            )
        staging = path.with_name(f".{path.stem}.tmp")
        write_part(table.filter(~drop).drop("row"), staging)
        os.replace(staging.with_suffix(".parquet"), path)
    return quarantined
