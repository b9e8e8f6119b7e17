from __future__ import annotations

import json

import polars as pl

from native_pipeline.ingest import ingest_dump
from native_pipeline.sample import SAMPLE_CRAWL, TRUTH
from native_pipeline.text.warc import dump_files

DUMP = sorted(p for p in SAMPLE_CRAWL.iterdir() if p.is_dir())[0]


def _ingest(tmp_path, workers: int, heard: list | None = None):
    out = tmp_path / f"w{workers}"
    out.mkdir()
    files = [(p, str(p.relative_to(DUMP))) for p in dump_files(DUMP)]
    heard = [] if heard is None else heard
    result = ingest_dump(files, DUMP.name, out, workers, on_progress=lambda *a: heard.append(a))
    return result, pl.read_parquet(sorted(out.glob("*.parquet")))


def test_files_read_side_by_side_equal_one_by_one(tmp_path):
    one, rows_one = _ingest(tmp_path, 1)
    heard: list[tuple[int, str]] = []
    two, rows_two = _ingest(tmp_path, 2, heard)
    assert rows_one.equals(rows_two)
    assert one.stats == two.stats and one.quarantined == two.quarantined
    assert one.stats.files == 3 and rows_one.height == one.stats.records
    # every record the sample wrote into the dump is a row or a quarantined record
    written = [json.loads(line) for line in TRUTH.read_text().splitlines()]
    in_dump = sum(record["dump"] == DUMP.name for record in written)
    assert one.stats.records + one.stats.quarantined == in_dump
    # each file is heard of once as it finishes, with the records read so far
    assert [files for files, _ in heard] == [1] * 3
    assert heard[-1][1] == f"{in_dump:,} records"


def test_a_repeated_record_id_is_quarantined_and_the_first_copy_kept(tmp_path):
    folder = tmp_path / "d"
    folder.mkdir()
    line = '{"url": "https://j/%d", "text": "نص %d", "id": "same"}\n'
    (folder / "a.jsonl").write_text(line % (1, 1) + line % (2, 2))
    (folder / "b.jsonl").write_text(line % (3, 3) + '{"url": "https://j/4", "text": "نص"}\n')
    out = tmp_path / "out"
    out.mkdir()
    files = [(p, p.name) for p in dump_files(folder)]
    result = ingest_dump(files, "D", out, workers=2)
    rows = pl.read_parquet(sorted(out.glob("*.parquet")))
    assert rows["url"].to_list() == ["https://j/1", "https://j/4"]
    assert [(q.source_file, q.offset, q.reason) for q in result.quarantined] == [
        ("a.jsonl", 2, "duplicate_record_id"),
        ("b.jsonl", 1, "duplicate_record_id"),
    ]
    assert result.stats.records == 2 and result.stats.quarantined == 2
    assert sorted(result.scanned) == [
        ("a.jsonl", 1, 1),
        ("a.jsonl", 2, 1),
        ("b.jsonl", 1, 1),
        ("b.jsonl", 2, 1),
    ]
