from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

import polars as pl
import pytest

from native_pipeline.lake import BadKey, Lake, check_key, partition_folder, variant


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


BAD_KEYS = ["../outside", "a/b", "x=../../y", "dump=../z", "*", "it's", ".hidden", "", "a b", "é"]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_a_bad_partition_key_never_becomes_a_path(tmp_path, key):
    lake = Lake(tmp_path / "data")
    with pytest.raises(BadKey):
        if not key:  # the empty key is the unpartitioned folder; as a store it is refused
            lake.store(key)
        with lake.writer("asset", key) as out:
            out.write("data", pl.DataFrame({"x": [1]}))
    assert not (tmp_path / "outside").exists() and not list(tmp_path.glob("**/*.parquet"))


def test_keys_that_are_fine():
    for key in ("CC-MAIN-2026-05", "crawl_2026.01", "a"):
        assert check_key(key) == key
    assert partition_folder("variant=aligned_25") == "variant=aligned_25"
    assert variant("hybrid") == "variant=hybrid"


def test_stores_and_partitions_stay_inside_the_root_even_through_links(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "data"
    root.mkdir()
    (root / "dedup_index").symlink_to(outside)
    (root / "asset").symlink_to(outside)
    lake = Lake(root)
    with pytest.raises(BadKey, match="outside the data root"):
        lake.store("dedup_index")
    with pytest.raises(BadKey, match="outside the data root"):
        lake.writer("asset", "d1")
    assert lake.store("expert_cache") == root / "expert_cache"


def _publish_killed_at(tmp_path, monkeypatch, step: int) -> Lake:
    """Publish a new partition over an old one, the process 'killed' at the step-th file
    operation of the publish (os.replace, shutil.rmtree, unlink)."""
    lake = Lake(tmp_path)
    with lake.writer("asset", "d1") as out:
        out.write("data", pl.DataFrame({"x": [1]}))
    calls = []

    def counted(real):
        def op(*args, **kwargs):
            calls.append(real.__name__)
            if len(calls) == step:
                raise KeyboardInterrupt("killed")
            return real(*args, **kwargs)

        return op

    import native_pipeline.lake as lake_module

    monkeypatch.setattr(lake_module.os, "replace", counted(os.replace))
    monkeypatch.setattr(lake_module.shutil, "rmtree", counted(shutil.rmtree))
    monkeypatch.setattr(Path, "unlink", counted(Path.unlink))
    writer = lake.writer("asset", "d1")
    writer.__enter__()
    writer.write("data", pl.DataFrame({"x": [2]}))
    calls.clear()  # count the publish alone
    with contextlib.suppress(KeyboardInterrupt):
        writer.__exit__(None, None, None)
    monkeypatch.undo()
    return lake


# journal rename, old → trash, staging → target, trash removed, journal removed
@pytest.mark.parametrize("step", [1, 2, 3, 4, 5, 6])
def test_a_publish_killed_at_any_point_leaves_the_old_or_the_new_partition(
    tmp_path, monkeypatch, step
):
    lake = _publish_killed_at(tmp_path, monkeypatch, step)
    x = Lake(tmp_path).scan("asset", "data", "d1").collect()["x"].to_list()
    assert x == ([1] if step == 1 else [2])  # killed before the journal: the old one
    with lake.writer("asset", "d1") as out:  # the next write goes through, and tidies up
        out.write("data", pl.DataFrame({"x": [3]}))
    assert lake.scan("asset", "data", "d1").collect()["x"].to_list() == [3]
    assert sorted(p.name for p in (tmp_path / "asset").iterdir()) == ["dump=d1"]


def test_stale_temporary_folders_are_removed_by_the_next_write(tmp_path):
    lake = Lake(tmp_path)
    stale = tmp_path / "asset" / ".tmp-dump=d1-deadbeef"
    (stale / "data").mkdir(parents=True)
    other = tmp_path / "asset" / ".tmp-dump=d2-deadbeef"  # another partition's: left alone
    other.mkdir()
    with lake.writer("asset", "d1") as out:
        out.write("data", pl.DataFrame({"x": [1]}))
    assert sorted(p.name for p in (tmp_path / "asset").iterdir()) == [other.name, "dump=d1"]


def test_a_reader_of_every_partition_finishes_a_killed_publish(tmp_path, monkeypatch):
    for step in (1, 3):  # before the journal was in place; between the two renames
        root = tmp_path / str(step)
        _publish_killed_at(root, monkeypatch, step)
        frame = Lake(root).scan_dumps("asset", "data").collect()
        assert frame["dump"].to_list() == ["d1"]
        assert frame["x"].to_list() == ([1] if step == 1 else [2])
