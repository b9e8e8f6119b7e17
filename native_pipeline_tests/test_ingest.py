from __future__ import annotations

import json

import polars as pl

from native_pipeline.ingest import ingest_dump
from native_pipeline.sample import SAMPLE_CRAWL, TRUTH
from native_pipeline.text.warc import dump_files

DUMP = sorted(p for p in SAMPLE_CRAWL.iterdir() if p.is_dir())[0]


def _ingest(tmp_path, workers: int):
    out = tmp_path / f"w{workers}"
    out.mkdir()
    files = [(p, str(p.relative_to(DUMP))) for p in dump_files(DUMP)]
    result = ingest_dump(files, DUMP.name, out, workers)
    return result, pl.read_parquet(sorted(out.glob("*.parquet")))


def test_files_read_side_by_side_equal_one_by_one(tmp_path):
    one, rows_one = _ingest(tmp_path, 1)
    two, rows_two = _ingest(tmp_path, 2)
    assert rows_one.equals(rows_two)
    assert one.stats == two.stats and one.quarantined == two.quarantined
    assert one.stats.files == 3 and rows_one.height == one.stats.records
    # every record the sample wrote into the dump is a row or a quarantined record
    written = [json.loads(line) for line in TRUTH.read_text().splitlines()]
    in_dump = sum(record["dump"] == DUMP.name for record in written)
    assert one.stats.records + one.stats.quarantined == in_dump
