"""Hostile input through the real graph: raw_crawl and cleaned_text with their SQL checks,
materialised by Dagster in a child process whose peak memory is measured.

Every input is generated here. Each dump is a class of attack or accident; each test asserts
exact conservation against the count the generator wrote, the quarantine reasons, bounded peak
memory, that nothing is written outside the data root, and that names never reach SQL.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import zlib
from pathlib import Path

import polars as pl
import pytest
from warcio.warcwriter import WARCWriter

from native_pipeline.lake import Lake
from native_pipeline_tests.conftest import ARTICLE, raw_warc_record, warc_response

MAX_RSS_MB = 1536  # the bombs below inflate to 1 GiB each
TEXT = (
    "يتناول هذا المقال تاريخ المدينة القديمة وأسواقها الشعبية التي يقصدها الزوار من كل مكان، "
    "ويروي الكاتب كيف تغيرت الحياة فيها عبر القرون وكيف حافظ أهلها على عاداتهم وتقاليدهم. "
)


def _page(i: int, charset: str = "utf-8") -> bytes:
    body = " ".join(f"{TEXT} الفقرة {i}-{j}." for j in range(8))
    return ARTICLE.format(charset=charset, text=body).encode(charset)


def _gz(records: list[bytes]) -> bytes:
    return b"".join(gzip.compress(r, mtime=0) for r in records)


def _zeros_member(head: bytes, size: int) -> bytes:
    """A gzip member: `head` then `size` zero bytes (1 GiB compresses to about 1 MiB)."""
    out = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [out.compress(head)]
    block = bytes(1 << 24)
    for _ in range(size >> 24):
        parts.append(out.compress(block))
    return b"".join([*parts, out.flush()])


def warc_dump(folder: Path) -> dict[str, str]:
    """Every bad-record class in gzipped WARC, with the good ones between them.
    Returns url → the expected fate ('read' or the quarantine reason)."""
    folder.mkdir(parents=True)
    fate: dict[str, str] = {}
    records = []

    def add(url: str, record: bytes, expected: str) -> None:
        records.append(record)
        fate[url] = expected

    add("https://ok/1", raw_warc_record("https://ok/1", _page(1)), "read")
    add(
        "https://ok/cp1256",
        raw_warc_record(
            "https://ok/cp1256", _page(2, "cp1256"), content_type="text/html; charset=windows-1256"
        ),
        "read",
    )
    nested = (
        b"<html><body>" + b"<div>" * 100_000 + _page(3) + b"</div>" * 100_000 + b"</body></html>"
    )
    add("https://ok/nested", raw_warc_record("https://ok/nested", nested), "read")
    add(
        "https://bad/short",
        raw_warc_record("https://bad/short", _page(4), length_error=-40),
        "content_length_mismatch",
    )
    add(
        "https://bad/long",
        raw_warc_record("https://bad/long", _page(5), length_error=40),
        "truncated_record",
    )
    add(
        "https://bad/png",
        raw_warc_record("https://bad/png", b"\x89PNG\r\n\x1a\n" + bytes(64)),
        "binary_content",
    )
    add(
        "https://bad/pdf",
        raw_warc_record("https://bad/pdf", b"%PDF-1.7\n1 0 obj\n" + bytes(64)),
        "binary_content",
    )
    add(
        "https://bad/image",
        raw_warc_record("https://bad/image", b"GIF89a", content_type="image/gif"),
        "unsupported_content_type",
    )
    digest = raw_warc_record("https://bad/digest", _page(6)).replace(
        b"Content-Length:",
        b"WARC-Block-Digest: sha1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\r\nContent-Length:",
    )
    add("https://bad/digest", digest, "digest_mismatch")
    bomb = _zeros_member(b"", 1 << 28)  # an HTTP body of 256 MiB of zeros
    add(
        "https://bad/encoding-bomb",
        raw_warc_record(
            "https://bad/encoding-bomb", bomb, http_headers="Content-Encoding: gzip\r\n"
        ),
        "payload_too_large",
    )
    add("https://ok/2", raw_warc_record("https://ok/2", _page(7)), "read")
    data = _gz(records)
    head = raw_warc_record("https://bad/member-bomb", b"")[:-4]
    data += _zeros_member(head, 1 << 30)  # a record of 1 GiB of zeros in one member
    fate["https://bad/member-bomb"] = "record_too_large"
    data += gzip.compress(raw_warc_record("https://ok/3", _page(8)), mtime=0)
    fate["https://ok/3"] = "read"
    cut = gzip.compress(raw_warc_record("https://bad/cut", _page(9)), mtime=0)
    data += cut[: len(cut) - 60]
    fate["https://bad/cut"] = "truncated_gzip"
    (folder / "a.warc.gz").write_bytes(data)
    return fate


def plain_warc_dump(folder: Path, n: int = 200, bad: int = 100) -> dict[str, str]:
    """An uncompressed WARC: one record 40 bytes short in the middle."""
    folder.mkdir(parents=True)
    fate = {}
    records = []
    for i in range(n):
        url = f"https://plain/{i}"
        records.append(raw_warc_record(url, _page(i), length_error=-40 if i == bad else 0))
        fate[url] = "content_length_mismatch" if i == bad else "read"
    (folder / "a.warc").write_bytes(b"".join(records))
    return fate


def jsonl_dump(folder: Path) -> dict[str, str]:
    """JSONL lines that broke a whole dump: keyed by line ('a.jsonl:N') → fate."""
    folder.mkdir(parents=True)
    good = json.dumps({"url": "https://j/1", "text": TEXT * 3, "id": "same"})
    lines = [
        good,
        '{"url": "https://j/2", "text": "\\ud800 نص"}',
        json.dumps({"url": "https://j/3", "text": TEXT, "date": 20260101}),
        json.dumps({"url": "https://j/4", "text": TEXT * 2, "id": "same"}),
        "not json at all",
        json.dumps({"url": "https://j/6", "text": TEXT * 4, "id": "other"}),
    ]
    (folder / "a.jsonl").write_text("\n".join(lines) + "\n")
    fates = [
        "read",
        "invalid_jsonl",
        "invalid_jsonl",
        "duplicate_record_id",
        "invalid_jsonl",
        "read",
    ]
    fate = {f"a.jsonl:{i}": f for i, f in enumerate(fates, start=1)}
    out = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [out.compress(b'{"url": "https://j/bomb", "text": "')]
    block = b"a" * (1 << 24)
    parts += [out.compress(block) for _ in range(16)]  # one line of 256 MiB
    parts.append(
        out.compress(b'"}\n' + json.dumps({"url": "https://j/after", "text": TEXT}).encode())
    )
    (folder / "b.jsonl.gz").write_bytes(b"".join([*parts, out.flush()]))
    fate["b.jsonl.gz:1"], fate["b.jsonl.gz:2"] = "record_too_large", "read"
    return fate


def short_posts_dump(folder: Path, n: int = 3000) -> dict[str, str]:
    """Nothing survives cleaning: 3,000 short posts."""
    folder.mkdir(parents=True)
    with (folder / "posts.warc.gz").open("wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        for i in range(n):
            body = f"<html><body><p>تعليق قصير رقم {i}</p></body></html>".encode()
            warc_response(writer, f"https://posts/{i}", body)
    return {f"https://posts/{i}": "read" for i in range(n)}


CHILD = """
import json, resource, sys
import dagster as dg
from native_pipeline.defs.cleaning import cleaned_text
from native_pipeline.defs.crawl import raw_crawl
from native_pipeline.defs.resources import build_resources
from native_pipeline.defs.sql_checks import sql_checks
from native_pipeline.settings import load_settings

wanted = {"raw_crawl", "cleaned_text"}
checks = [c for c in sql_checks if {k.asset_key.to_user_string() for k in c.check_keys} <= wanted]
instance = dg.DagsterInstance.ephemeral()
out = {}
for dump in sys.argv[1:]:
    instance.add_dynamic_partitions("crawl_dumps", [dump])
    result = dg.materialize(
        [raw_crawl, cleaned_text, *checks], partition_key=dump, instance=instance,
        resources=build_resources(load_settings()), raise_on_error=False,
    )
    evaluations = {}
    for e in result.all_events:
        if e.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            check = e.event_specific_data
            evaluations[f"{check.asset_key.to_user_string()}:{check.check_name}"] = check.passed
    errors = [str(e.event_specific_data.error) for e in result.all_events
              if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    out[dump] = {"success": result.success, "checks": evaluations, "errors": errors}
# This process's own high-water mark (VmHWM, of the memory it has had since exec): Linux keeps
# the forking parent's in RUSAGE_SELF across exec, so a pytest process grown by earlier tests
# would be counted. The workers' peaks are RUSAGE_CHILDREN's.
own = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
peak = max(own, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
print(json.dumps({"dumps": out, "peak_mb": peak / 1024}))
"""


def _files(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile")
    landing, data = tmp / "landing", tmp / "data"
    fates = {
        "CC-HOSTILE-01-warc": warc_dump(landing / "CC-HOSTILE-01-warc"),
        "CC-HOSTILE-02-plain": plain_warc_dump(landing / "CC-HOSTILE-02-plain"),
        "CC-HOSTILE-03-jsonl": jsonl_dump(landing / "CC-HOSTILE-03-jsonl"),
        "CC-HOSTILE-04-empty": short_posts_dump(landing / "CC-HOSTILE-04-empty"),
    }
    for name in ("it's", "*", "CC-X'||chr(42)||chr(47)||'data'||chr(47)||chr(42)) where false --"):
        (landing / name).mkdir()
        (landing / name / "a.warc").write_bytes(raw_warc_record("https://named/", _page(0)))
    config = tmp / "config.yaml"
    config.write_text(f"data_root: {data}\nlanding_zone: {landing}\nworkers: 2\n")
    before = _files(tmp)
    env = {**os.environ, "NATIVE_PIPELINE_CONFIG": str(config)}
    env.pop("NATIVE_PIPELINE_DATA_ROOT", None)
    dumps = [*fates, "../../outside", "it's"]
    run = subprocess.run(
        [sys.executable, "-c", CHILD, *dumps], cwd=tmp, env=env, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    after = _files(tmp)
    return tmp, Lake(data), fates, report, before, after


def _accounted(lake: Lake, dump: str, key: str) -> dict[str, str]:
    """What each record became, by the same key as the generator's (url, or file:line)."""
    raw = lake.scan("raw_crawl", "data", dump).collect()
    quarantined = lake.scan("raw_crawl", "quarantine", dump).collect()

    def keys(frame: pl.DataFrame) -> list[str]:
        if key == "url":
            return frame["url"].to_list()
        return [f"{f}:{o}" for f, o in frame.select("source_file", "offset").iter_rows()]

    fate = dict.fromkeys(keys(raw), "read")
    reasons = quarantined["reason"].to_list()
    for k, reason in zip(keys(quarantined), reasons, strict=True):
        assert k not in fate, f"{k} counted twice"
        fate[k] = reason
    return fate


@pytest.mark.parametrize(
    ("dump", "key"),
    [
        ("CC-HOSTILE-01-warc", "url"),
        ("CC-HOSTILE-02-plain", "url"),
        ("CC-HOSTILE-03-jsonl", "line"),
        ("CC-HOSTILE-04-empty", "url"),
    ],
)
def test_every_record_is_read_or_quarantined_with_its_reason(hostile, dump, key):
    _, lake, fates, report, _, _ = hostile
    assert _accounted(lake, dump, key) == fates[dump]
    result = report["dumps"][dump]
    assert result["success"], result["errors"]
    checks = result["checks"]
    assert checks["raw_crawl:conservation"] and checks["cleaned_text:conservation"]
    # every check passes, but the warning that this much was quarantined
    assert {k for k, passed in checks.items() if not passed} <= {"raw_crawl:quarantine_rate"}


def test_cleaning_accounts_for_every_raw_record(hostile):
    _, lake, fates, _, _, _ = hostile
    for dump in fates:
        raw = lake.scan("raw_crawl", "data", dump).collect()["doc_id"]
        kept = lake.scan("cleaned_text", "data", dump).collect()
        decisions = lake.scan("cleaned_text", "decisions", dump).collect()
        removed = decisions.filter(pl.col("action") == "removed")["doc_id"]
        assert sorted(raw) == sorted([*kept["doc_id"], *removed]), dump


def test_a_dump_where_nothing_survives_has_every_column_and_passing_checks(hostile):
    _, lake, _, report, _, _ = hostile
    kept = lake.scan("cleaned_text", "data", "CC-HOSTILE-04-empty").collect()
    assert kept.height == 0 and {"lang", "url", "text", "harm_max"} <= set(kept.columns)
    checks = report["dumps"]["CC-HOSTILE-04-empty"]["checks"]
    assert checks["cleaned_text:arabic_share"] and checks["cleaned_text:no_empty_text"]


def test_peak_memory_stays_bounded_under_the_bombs(hostile):
    assert hostile[3]["peak_mb"] < MAX_RSS_MB


def test_bad_names_are_refused_and_nothing_is_written_outside_the_data_root(hostile):
    tmp, _, _, report, before, after = hostile
    for dump in ("../../outside", "it's"):
        assert not report["dumps"][dump]["success"]
        assert "bad dump name" in " ".join(report["dumps"][dump]["errors"])
    changed = {f for f in after if before.get(f) != after[f]}
    assert changed and all(f.startswith("data/") for f in changed), sorted(changed)[:5]
    assert not (tmp.parent / "outside").exists()
