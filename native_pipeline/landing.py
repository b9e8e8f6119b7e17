"""The landing zone: one sub-folder per crawl dump, named so that names sort by time.

A folder whose name is not a valid partition key (`lake.KEY`) is never registered: it is listed
by `rejected_folders` so that the sensor and the registration job can say so.

`python -m native_pipeline.landing` prints the dumps waiting there, oldest first, for scripts
that launch one run per dump.
"""

from __future__ import annotations

from pathlib import Path

from native_pipeline.lake import KEY
from native_pipeline.text.warc import dump_files


def _folders(landing: Path) -> list[Path]:
    return sorted(p for p in landing.iterdir() if p.is_dir() and not p.is_symlink())


def landing_dumps(landing: Path) -> dict[str, str]:
    """Dump name → a fingerprint of its files, which changes when files are added or rewritten."""
    dumps = {}
    for folder in _folders(landing):
        if not KEY.fullmatch(folder.name):
            continue
        files = dump_files(folder)
        if files:
            stats = [f.stat() for f in files]
            newest = max(s.st_mtime_ns for s in stats)
            dumps[folder.name] = f"{len(files)}-{sum(s.st_size for s in stats)}-{newest}"
    return dumps


def rejected_folders(landing: Path) -> list[str]:
    """Folders of the landing zone whose names are not valid dump names."""
    return [p.name for p in _folders(landing) if not KEY.fullmatch(p.name)]


if __name__ == "__main__":
    from native_pipeline.settings import load_settings

    print("\n".join(landing_dumps(load_settings().landing_path)))
