"""The landing zone: one sub-folder per crawl dump, named so that names sort by time.

A folder whose name is not a valid partition key (`lake.KEY`) is never registered: it is listed
by `rejected_folders` so that the sensor and the registration job can say so.

A dump is ready when a `_SUCCESS` file marks it complete, or when none of its files has changed
for `quiet_s` seconds, and in either case when nothing in it is still being written: no file
under a temporary name (rsync's `.name.XXXXXX`, `.part`, `.tmp`, ...) and no file whose size or
modification time changes between two looks `settle_s` apart. A crawler still writing a dump is
never picked up half way, and `survey` says of each waiting dump why it waits.

Its fingerprint is what raw_crawl records, so that the sensor knows from the asset itself
whether a dump was read as it is now, whoever launched the run. It sees changed content, not
only a changed count or size: each crawl file's size, modification time (ns), inode and a hash
of its content (whole up to `FULL_HASH_BYTES`, else its head and tail), so a file replaced by
other content of the same size with its modification time kept (`cp -p`, `rsync -a`) is read
again. An in-place edit inside a large file that keeps its size, inode, head, tail and
modification time is the one change it cannot see without reading the whole file.

`python -m native_pipeline.landing` prints the dumps waiting there, oldest first, for scripts
that launch one run per dump.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from native_pipeline.lake import KEY
from native_pipeline.text.warc import dump_files

MARKER = "_SUCCESS"
SETTLE_S = 1.0  # between the two looks that catch a file still growing
FULL_HASH_BYTES = 1 << 20  # smaller files are hashed whole
EDGE_BYTES = 1 << 16  # of a larger file, its head and tail are hashed
# Names writers give a file until it is complete: rsync's hidden .name.XXXXXX, and suffixes of
# downloaders and copy tools.
TEMPORARY = re.compile(r"^\..+\.[A-Za-z0-9]{6}$|\.(part|partial|tmp|temp|crdownload|filepart)$|~$")


def _folders(landing: Path) -> list[Path]:
    return sorted(p for p in landing.iterdir() if p.is_dir() and not p.is_symlink())


def _files(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file of the folder (crawl files or not) → (size, mtime ns)."""
    found = {}
    for root, _, names in os.walk(folder):
        for name in names:
            path = Path(root, name)
            try:
                stat = path.lstat()
            except FileNotFoundError:  # renamed away between the listing and the look
                continue
            found[str(path.relative_to(folder))] = (stat.st_size, stat.st_mtime_ns)
    return found


@lru_cache(maxsize=1 << 18)
def _content(path: str, size: int, mtime_ns: int, inode: int, ctime_ns: int) -> str:
    """A hash of the file's content, read once per state of the file: any write changes its
    ctime, which no tool can set back, so a sensor tick over a large landing zone stats its
    files and reads only those that changed."""
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as file:
        if size <= FULL_HASH_BYTES:
            digest.update(file.read())
        else:
            digest.update(file.read(EDGE_BYTES))
            file.seek(-EDGE_BYTES, os.SEEK_END)
            digest.update(file.read(EDGE_BYTES))
    return digest.hexdigest()


def fingerprint(folder: Path) -> str | None:
    """A fingerprint of the dump's crawl files (see the module's docstring), or None when it
    holds none."""
    files = dump_files(folder)
    if not files:
        return None
    parts = []
    for path in files:
        stat = path.stat()
        state = (stat.st_size, stat.st_mtime_ns, stat.st_ino)
        content = _content(str(path), *state, stat.st_ctime_ns)
        parts.append([str(path.relative_to(folder)), *state, content])
    digest = hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:32]
    return f"{len(files)}-{sum(p[1] for p in parts)}-{digest}"


@dataclass(frozen=True)
class DumpState:
    name: str
    ready: bool
    why: str  # why it is ready, or why it waits


def _waiting_for(folder: Path, files: dict[str, tuple[int, int]], quiet_s: float, now: float):
    """Why a dump is not ready at first look (None: it may be, once it has settled)."""
    if not dump_files(folder):
        return "no crawl file (.warc, .warc.gz, .wet, .jsonl ...)"
    if temporary := sorted(name for name in files if TEMPORARY.search(Path(name).name)):
        return f"being written: {', '.join(temporary[:3])} (a temporary name)"
    if (folder / MARKER).exists():
        return None
    age = now - max(mtime for _, mtime in files.values()) / 1e9
    if age < quiet_s:
        return f"no {MARKER} marker, changed {age:.0f} s ago (quiet period {quiet_s:g} s)"
    return None


def survey(landing: Path, quiet_s: float = 0.0, settle_s: float = SETTLE_S) -> list[DumpState]:
    """Every dump folder of the landing zone (valid names only), oldest first: ready or not,
    and why."""
    now = time.time()
    folders = [f for f in _folders(landing) if KEY.fullmatch(f.name)]
    first = {f.name: _files(f) for f in folders}
    why = {f.name: _waiting_for(f, first[f.name], quiet_s, now) for f in folders}
    if any(reason is None for reason in why.values()):
        time.sleep(settle_s)  # one look later: a file that grew is still being written
    states = []
    for folder in folders:
        reason = why[folder.name]
        if reason is None:
            then = first[folder.name]
            changed = sorted(n for n, s in _files(folder).items() if then.get(n) != s)
            if changed:
                reason = f"being written: {', '.join(changed[:3])} changed in {settle_s:g} s"
        marked = (folder / MARKER).exists()
        ready = f"marked {MARKER}" if marked else f"unchanged for {quiet_s:g} s or more"
        states.append(DumpState(folder.name, reason is None, reason or ready))
    return states


def landing_dumps(
    landing: Path, quiet_s: float = 0.0, settle_s: float = SETTLE_S
) -> dict[str, str]:
    """Dump name → fingerprint, oldest first, of the dumps that are ready."""
    ready = (s.name for s in survey(landing, quiet_s, settle_s) if s.ready)
    return {name: found for name in ready if (found := fingerprint(landing / name)) is not None}


def rejected_folders(landing: Path) -> list[str]:
    """Folders of the landing zone whose names are not valid dump names."""
    return [p.name for p in _folders(landing) if not KEY.fullmatch(p.name)]


if __name__ == "__main__":
    from native_pipeline.settings import load_settings

    settings = load_settings()
    print("\n".join(landing_dumps(settings.landing_path, settings.landing_quiet_s)))
