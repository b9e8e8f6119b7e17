"""Landing readiness and fingerprints against a writer that is still writing and files replaced
behind the platform's back."""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import pytest

from native_pipeline.landing import (
    EDGE_BYTES,
    FULL_HASH_BYTES,
    MARKER,
    fingerprint,
    landing_dumps,
    survey,
)

LINE = b'{"url": "https://a.example/", "text": "\xd9\x86\xd8\xb5"}\n'


def _old(path: Path, seconds: float = 3600) -> None:
    """Date a file back, as a copy that keeps modification times does."""
    past = time.time_ns() - int(seconds * 1e9)
    os.utime(path, ns=(past, past))


def _dump(landing: Path, name: str = "CC-01", files: int = 1) -> Path:
    folder = landing / name
    folder.mkdir(parents=True)
    for i in range(files):
        (folder / f"{i}.jsonl").write_bytes(LINE * 10)
        _old(folder / f"{i}.jsonl")
    return folder


def _why(landing: Path, **options: float) -> dict[str, tuple[bool, str]]:
    return {s.name: (s.ready, s.why) for s in survey(landing, settle_s=0.05, **options)}


@pytest.mark.parametrize("temporary", [".1.jsonl.Xk3j9q", "1.jsonl.part", "1.jsonl.tmp"])
def test_a_second_file_under_a_temporary_name_holds_the_dump(tmp_path, temporary):
    folder = _dump(tmp_path)
    (folder / temporary).write_bytes(LINE)  # rsync, a downloader or a copy tool at work
    _old(folder / temporary)
    (folder / MARKER).touch()  # even a marker does not beat a file still being written
    assert _why(tmp_path, quiet_s=0) == {
        "CC-01": (False, f"being written: {temporary} (a temporary name)")
    }
    (folder / temporary).rename(folder / "1.jsonl")  # the writer is done
    assert _why(tmp_path, quiet_s=0) == {"CC-01": (True, f"marked {MARKER}")}


def test_a_file_still_growing_holds_the_dump(tmp_path):
    """A writer that appends while keeping the file's old modification time, and a marker
    already there: only the size gives it away."""
    folder = _dump(tmp_path)
    (folder / MARKER).touch()
    growing = folder / "0.jsonl"
    stop = threading.Event()

    def write() -> None:
        while not stop.is_set():
            with growing.open("ab") as out:
                out.write(LINE)
            _old(growing)
            time.sleep(0.01)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        (ready, why) = _why(tmp_path, quiet_s=0)["CC-01"]
    finally:
        stop.set()
        writer.join()
    assert not ready and why == "being written: 0.jsonl changed in 0.05 s"
    assert landing_dumps(tmp_path, 0, settle_s=0.05) == {"CC-01": fingerprint(folder)}


def test_the_skip_reason_says_how_long_a_dump_has_been_quiet(tmp_path):
    folder = _dump(tmp_path)
    (folder / "0.jsonl").write_bytes(LINE)  # changed just now
    (ready, why) = _why(tmp_path, quiet_s=60)["CC-01"]
    assert not ready
    assert why.startswith(f"no {MARKER} marker, changed ") and why.endswith(
        " s ago (quiet period 60 s)"
    )
    assert _why(tmp_path, quiet_s=0)["CC-01"] == (True, "unchanged for 0 s or more")
    (tmp_path / "CC-02").mkdir()
    assert _why(tmp_path, quiet_s=0)["CC-02"][1].startswith("no crawl file")


def _replace_keeping_size_and_time(path: Path, offset: int) -> None:
    """Change one byte at `offset` in place, then restore the modification time (cp -p)."""
    stat = path.stat()
    with path.open("r+b") as file:
        file.seek(offset)
        byte = file.read(1)
        file.seek(offset)
        file.write(bytes([byte[0] ^ 1]))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size


@pytest.mark.parametrize(
    "size, offset",
    [
        (len(LINE) * 10, 5),  # a small file: hashed whole
        (FULL_HASH_BYTES * 2, 100),  # a large one changed in its head
        (FULL_HASH_BYTES * 2, FULL_HASH_BYTES * 2 - EDGE_BYTES // 2),  # ... or its tail
    ],
    ids=["small", "large-head", "large-tail"],
)
def test_the_fingerprint_sees_content_replaced_at_the_same_size_and_time(tmp_path, size, offset):
    folder = _dump(tmp_path)
    data = folder / "0.jsonl"
    data.write_bytes((LINE * (size // len(LINE) + 1))[:size])
    _old(data)
    before = fingerprint(folder)
    assert fingerprint(folder) == before  # stable while nothing changes
    _replace_keeping_size_and_time(data, offset)
    assert fingerprint(folder) != before


def test_the_fingerprint_sees_a_file_replaced_by_a_copy(tmp_path):
    """Same bytes, size and modification time, another inode: a new file took its place."""
    folder = _dump(tmp_path)
    data = folder / "0.jsonl"
    before = fingerprint(folder)
    shutil.copy2(data, tmp_path / "copy")
    (tmp_path / "copy").replace(data)
    assert fingerprint(folder) != before


def test_an_unchanged_file_is_not_read_again(tmp_path, monkeypatch):
    """A sensor tick over a large landing zone stats its files; it reads only changed ones."""
    folder = _dump(tmp_path, files=3)
    first = fingerprint(folder)
    opened = []
    real_open = open
    monkeypatch.setattr(
        "builtins.open", lambda path, *a, **k: opened.append(path) or real_open(path, *a, **k)
    )
    assert fingerprint(folder) == first and opened == []
    (folder / "1.jsonl").write_bytes(LINE * 11)
    assert fingerprint(folder) != first and opened == [str(folder / "1.jsonl")]
