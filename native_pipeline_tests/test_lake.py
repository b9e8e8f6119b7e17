from __future__ import annotations

import polars as pl
import pytest

from native_pipeline.lake import Lake


def test_partition_is_published_whole_and_replaced_on_rewrite(tmp_path):
    lake = Lake(tmp_path)
    with lake.writer("asset", "d1") as out:
        out.write("data", pl.DataFrame({"x": [1, 2]}))
        out.write("data", pl.DataFrame({"x": [3]}))
        assert not lake.exists("asset", "d1")  # nothing visible before the writer closes
    assert lake.scan("asset", "data", "d1").collect()["x"].to_list() == [1, 2, 3]

    with lake.writer("asset", "d1") as out:
        out.write("data", pl.DataFrame({"x": [9]}))
    assert lake.scan("asset", "data", "d1").collect()["x"].to_list() == [9]
    assert sorted(p.name for p in (tmp_path / "asset").iterdir()) == ["dump=d1"]


def test_failed_write_leaves_the_old_partition(tmp_path):
    lake = Lake(tmp_path)
    with lake.writer("asset", "d1") as out:
        out.write("data", pl.DataFrame({"x": [1]}))
    with pytest.raises(RuntimeError), lake.writer("asset", "d1") as out:
        out.write("data", pl.DataFrame({"x": [2]}))
        raise RuntimeError("killed")
    assert lake.scan("asset", "data", "d1").collect()["x"].to_list() == [1]
    assert sorted(p.name for p in (tmp_path / "asset").iterdir()) == ["dump=d1"]


def test_empty_frame_creates_a_typed_table_once(tmp_path):
    lake = Lake(tmp_path)
    with lake.writer("asset") as out:
        out.write("t", pl.DataFrame(schema={"x": pl.Int64}))
        out.write("t", pl.DataFrame({"x": [5]}))
        out.write("t", pl.DataFrame(schema={"x": pl.Int64}))
    assert len(list((lake.partition_path("asset") / "t").iterdir())) == 2
    assert lake.scan("asset", "t").collect()["x"].to_list() == [5]


def test_chunk_log_commits_each_chunk_atomically_and_resumes(tmp_path):
    lake = Lake(tmp_path)
    log = lake.chunk_log("aligned_corpus", "D1", "abc")
    assert not log.has(0) and log.frames() == []
    log.write(0, pl.DataFrame({"x": [1, 2]}))
    log.write(1, pl.DataFrame({"x": [3]}))
    again = lake.chunk_log("aligned_corpus", "D1", "abc")  # a later run
    assert again.has(0) and again.has(1) and not again.has(2)
    assert pl.concat(again.frames())["x"].to_list() == [1, 2, 3]
    assert not lake.chunk_log("aligned_corpus", "D1", "other").has(0)
    # readers of the partitions never see the chunks
    assert list((tmp_path / "aligned_corpus").glob("dump=*")) == []
    assert list(log.folder.glob(".tmp-*")) == []
    again.clear()
    assert not log.folder.exists()
