"""The landing zone: one sub-folder per crawl dump, named so that names sort by time.

A folder whose name is not a valid partition key (`lake.KEY`) is never registered: it is listed
by `rejected_folders` so that the sensor and the registration job can say so.

A dump is ready when a `_SUCCESS` file marks it complete, or when none of its files has changed
for `quiet_s` seconds: a crawler still writing it is never picked up half way. Its fingerprint
(file count, bytes, newest change) is what raw_crawl records, so that the sensor knows from the
asset itself whether a dump was read as it is now, whoever launched the run.

`python -m native_pipeline.landing` prints the dumps waiting there, oldest first, for scripts
that launch one run per dump.
"""

from __future__ import annotations

import time
from pathlib import Path

from native_pipeline.lake import KEY
from native_pipeline.text.warc import dump_files


def _folders(landing: Path) -> list[Path]:
    return sorted(p for p in landing.iterdir() if p.is_dir() and not p.is_symlink())


MARKER = "_SUCCESS"


def fingerprint(folder: Path) -> tuple[str, float] | None:
    """(a fingerprint of the dump's files, the time of its newest change), or None when it holds
    no crawl file. The fingerprint changes when files are added or rewritten."""
    files = dump_files(folder)
    if not files:
        return None
    stats = [f.stat() for f in files]
    newest = max(s.st_mtime_ns for s in stats)
    return f"{len(files)}-{sum(s.st_size for s in stats)}-{newest}", newest / 1e9


def landing_dumps(landing: Path, quiet_s: float = 0.0) -> dict[str, str]:
    """Dump name → fingerprint, oldest first, of the dumps that are ready: marked complete, or
    unchanged for `quiet_s` seconds."""
    dumps, now = {}, time.time()
    for folder in _folders(landing):
        if not KEY.fullmatch(folder.name) or (found := fingerprint(folder)) is None:
            continue
        name, newest = found
        if (folder / MARKER).exists() or now - newest >= quiet_s:
            dumps[folder.name] = name
    return dumps


def rejected_folders(landing: Path) -> list[str]:
    """Folders of the landing zone whose names are not valid dump names."""
    return [p.name for p in _folders(landing) if not KEY.fullmatch(p.name)]


if __name__ == "__main__":
    from native_pipeline.settings import load_settings

    print("\n".join(landing_dumps(load_settings().landing_path)))
