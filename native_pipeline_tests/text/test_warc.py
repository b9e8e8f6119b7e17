from __future__ import annotations

import gzip
import io
import json
import zlib
from collections import Counter
from pathlib import Path

import pytest
from warcio.warcwriter import WARCWriter

from native_pipeline.settings import ReadingSettings
from native_pipeline.text.warc import (
    QuarantinedRecord,
    RawRecord,
    ReadStats,
    decode_html,
    make_doc_id,
    read_dump,
    read_file,
    scan_jsonl,
    scan_warc,
)
from native_pipeline_tests.conftest import ARTICLE, raw_warc_record

TEXT = "يتناول هذا المقال تاريخ المدينة القديمة وأسواقها."


def _read(folder: Path, dump: str = "CC-TEST-01") -> tuple[list, ReadStats]:
    stats = ReadStats()
    return list(read_dump(folder, dump, stats)), stats


def test_reads_responses_with_declared_and_detected_charsets(tmp_path, write_warc):
    utf8 = ARTICLE.format(charset="utf-8", text=TEXT).encode()
    cp1256 = ARTICLE.format(charset="windows-1256", text=TEXT).encode("cp1256")
    bare = ARTICLE.replace("<meta charset='{charset}'>", "").format(text=TEXT * 5)
    write_warc(
        tmp_path / "d" / "a.warc.gz",
        [
            ("https://a.example/1", utf8, "text/html; charset=utf-8"),
            ("https://a.example/2", cp1256, "text/html; charset=windows-1256"),
            ("https://a.example/3", bare.encode("cp1256"), "text/html"),
        ],
    )
    items, stats = _read(tmp_path / "d")
    assert [type(i) for i in items] == [RawRecord] * 3
    assert all(TEXT in r.content for r in items)
    assert [r.charset_source for r in items] == ["http", "http", "detected"]
    assert items[1].charset == "windows-1256"
    assert stats.records == 3 and stats.quarantined == 0
    assert items[0].doc_id == make_doc_id("CC-TEST-01", items[0].record_id)
    assert len({r.doc_id for r in items}) == 3
    # a windows-1256 page takes one byte an Arabic letter, its decoded text two (UTF-8): the
    # read stage counts both, so the funnel's bytes never rise from `read` to the first block
    assert stats.bytes == len(utf8) + len(cp1256) + len(bare.encode("cp1256"))
    assert stats.text_bytes == sum(len(r.content.encode()) for r in items) > stats.bytes


def test_meta_charset_wins_when_http_declares_none(tmp_path, write_warc):
    body = ARTICLE.format(charset="windows-1256", text=TEXT).encode("cp1256")
    write_warc(tmp_path / "d" / "a.warc.gz", [("https://a.example/", body, "text/html")])
    (record,), _ = _read(tmp_path / "d")
    assert record.charset_source == "meta" and TEXT in record.content


def test_wrong_declared_charset_falls_back():
    body = ARTICLE.format(charset="utf-8", text=TEXT).encode("utf-8")
    text, charset, source = decode_html(body, "ascii")
    assert TEXT in text and source == "meta" and charset == "utf-8"


def test_non_html_is_quarantined_and_control_records_counted(tmp_path):
    path = tmp_path / "d" / "a.warc.gz"
    path.parent.mkdir()
    with path.open("wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        writer.write_record(writer.create_warcinfo_record("a.warc.gz", {"software": "test"}))
        from native_pipeline_tests.conftest import warc_response

        warc_response(writer, "https://a.example/logo.png", b"\x89PNG....", "image/png")
    items, stats = _read(tmp_path / "d")
    assert len(items) == 1 and isinstance(items[0], QuarantinedRecord)
    assert items[0].reason == "unsupported_content_type" and items[0].detail == "image/png"
    assert stats.skipped["warcinfo"] == 1


def _raw_record(url: str, body: bytes, declared_length: int) -> bytes:
    http = b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + body
    head = (
        "WARC/1.0\r\nWARC-Type: response\r\nWARC-Record-ID: <urn:uuid:bad>\r\n"
        f"WARC-Target-URI: {url}\r\nWARC-Date: 2026-01-01T00:00:00Z\r\n"
        f"Content-Type: application/http; msgtype=response\r\nContent-Length: {declared_length}"
        "\r\n\r\n"
    ).encode()
    return gzip.compress(head + http + b"\r\n\r\n", mtime=0)


def test_bad_content_length_and_truncated_gzip_are_quarantined(tmp_path, write_warc):
    good = ARTICLE.format(charset="utf-8", text=TEXT).encode()
    path = write_warc(tmp_path / "d" / "a.warc.gz", [("https://a.example/ok", good, "text/html")])
    body = ARTICLE.format(charset="utf-8", text=TEXT).encode()
    http_len = len(b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + body)
    with path.open("ab") as fh:
        fh.write(_raw_record("https://a.example/short", body, http_len - 40))
        fh.write(_raw_record("https://a.example/long", body, http_len + 40))
    truncated = write_warc(
        tmp_path / "d" / "b.warc.gz", [("https://b.example/1", good, "text/html")] * 2
    )
    data = truncated.read_bytes()
    truncated.write_bytes(data[: len(data) - 60])

    items, stats = _read(tmp_path / "d")
    kept = [i.url for i in items if isinstance(i, RawRecord)]
    bad = {(q.url, q.reason) for q in items if isinstance(q, QuarantinedRecord)}
    assert kept == ["https://a.example/ok", "https://b.example/1"]
    assert bad == {
        ("https://a.example/short", "content_length_mismatch"),  # bytes left after the block
        ("https://a.example/long", "truncated_record"),  # the block ends before its length
        ("https://b.example/1", "truncated_gzip"),  # the file's last member is cut off
    }
    assert stats.records == 2 and stats.quarantined == 3


def test_wet_and_jsonl(tmp_path):
    folder = tmp_path / "d"
    folder.mkdir()
    with (folder / "a.warc.wet.gz").open("wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        record = writer.create_warc_record(
            "https://w.example/",
            "conversion",
            payload=io.BytesIO(TEXT.encode()),
            warc_content_type="text/plain",
        )
        writer.write_record(record)
    lines = [
        json.dumps({"url": "https://j.example/1", "text": TEXT}),
        "{not json",
        json.dumps({"url": "x"}),
    ]
    (folder / "b.jsonl").write_text("\n".join(lines) + "\n")
    items, stats = _read(folder)
    assert [i.content for i in items if isinstance(i, RawRecord)] == [TEXT, TEXT]
    assert [i.reason for i in items if isinstance(i, QuarantinedRecord)] == ["invalid_jsonl"] * 2
    assert stats.files == 2


def test_reading_starts_afresh_at_the_member_after_a_broken_one(tmp_path, write_warc):
    good = ARTICLE.format(charset="utf-8", text=TEXT).encode()
    path = write_warc(tmp_path / "d" / "a.warc.gz", [("https://a.example/1", good, "text/html")])
    http_len = len(b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + good)
    with path.open("ab") as fh:
        fh.write(_raw_record("https://a.example/short", good, http_len - 40))
        fh.write(gzip.compress(b"this member is not a WARC record at all\r\n\r\n", mtime=0))
    tail = write_warc(tmp_path / "t.warc.gz", [("https://a.example/2", good, "text/html")])
    with path.open("ab") as fh:
        fh.write(tail.read_bytes())

    items, stats = _read(tmp_path / "d")
    assert [i.url for i in items if isinstance(i, RawRecord)] == [
        "https://a.example/1",
        "https://a.example/2",
    ]
    short, garbage = [q for q in items if isinstance(q, QuarantinedRecord)]
    assert (short.url, short.reason) == ("https://a.example/short", "content_length_mismatch")
    # warcio reads the garbage as a record of no known type: quarantined, not a document
    assert not garbage.url and garbage.reason in ("unreadable_stream", "unsupported_content_type")
    assert 0 < short.offset < garbage.offset < path.stat().st_size


def _page(i: int) -> bytes:
    return ARTICLE.format(charset="utf-8", text=f"{TEXT} {i}").encode()


@pytest.mark.parametrize(("n", "bad"), [(5, 2), (200, 0), (200, 199)])
@pytest.mark.parametrize("error", [-40, 40])
def test_an_uncompressed_record_of_wrong_length_costs_itself_alone(tmp_path, n, bad, error):
    """Reading resumes at the next record: every other record is read, and the independent scan
    finds exactly the records the reader accounted for."""
    path = tmp_path / "d" / "a.warc"
    path.parent.mkdir()
    records = [
        raw_warc_record(f"https://a.example/{i}", _page(i), length_error=error if i == bad else 0)
        for i in range(n)
    ]
    path.write_bytes(b"".join(records))
    items, stats = _read(tmp_path / "d")
    read = [i.url for i in items if isinstance(i, RawRecord)]
    quarantined = [(q.url, q.reason) for q in items if isinstance(q, QuarantinedRecord)]
    last = bad == n - 1
    expected = "truncated_record" if last and error > 0 else "content_length_mismatch"
    assert quarantined == [(f"https://a.example/{bad}", expected)]
    assert read == [f"https://a.example/{i}" for i in range(n) if i != bad]
    offsets = sorted(i.offset for i in items)
    assert scan_warc(path, ReadingSettings()) == Counter(offsets)
    assert stats.records == n - 1 and stats.quarantined == 1


def test_a_gzip_bomb_is_quarantined_in_bounded_memory(tmp_path):
    path = tmp_path / "d" / "bomb.warc.gz"
    path.parent.mkdir()
    head = raw_warc_record("https://bomb.example/", b"")[:-4]
    zeros = zlib.compressobj(9, zlib.DEFLATED, 31)
    with path.open("wb") as fh:
        fh.write(zeros.compress(head))
        for _ in range(64):  # 64 MiB of zeros in one member
            fh.write(zeros.compress(bytes(1 << 20)))
        fh.write(zeros.flush())
    good = write_gz_records(tmp_path / "good.warc.gz", [raw_warc_record("https://ok/", _page(0))])
    with path.open("ab") as fh:
        fh.write(good.read_bytes())
    stats = ReadStats()
    items = list(
        read_file(path, "bomb.warc.gz", "D", stats, ReadingSettings(max_record_bytes=1 << 20))
    )
    assert [(type(i).__name__, i.url, getattr(i, "reason", None)) for i in items] == [
        ("QuarantinedRecord", "https://bomb.example/", "record_too_large"),
        ("RawRecord", "https://ok/", None),
    ]


def write_gz_records(path: Path, records: list[bytes]) -> Path:
    path.write_bytes(b"".join(gzip.compress(r, mtime=0) for r in records))
    return path


def test_content_encoding_bombs_and_binary_bodies_are_quarantined(tmp_path):
    bomb = gzip.compress(bytes(8 << 20), mtime=0)  # 8 MiB of zeros in 8 KiB
    records = [
        raw_warc_record("https://a/bomb", bomb, http_headers="Content-Encoding: gzip\r\n"),
        raw_warc_record("https://a/png", b"\x89PNG\r\n\x1a\n" + bytes(100)),
        raw_warc_record("https://a/pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj"),
        raw_warc_record("https://a/nul", b"<html>\x00\x00\x01\x02</html>"),
        raw_warc_record("https://a/ok", _page(1)),
    ]
    (tmp_path / "d").mkdir()
    write_gz_records(tmp_path / "d" / "a.warc.gz", records)
    stats = ReadStats()
    limits = ReadingSettings(max_payload_bytes=1 << 20)
    items = list(read_file(tmp_path / "d" / "a.warc.gz", "a.warc.gz", "D", stats, limits))
    assert [(i.url, getattr(i, "reason", "read")) for i in items] == [
        ("https://a/bomb", "payload_too_large"),
        ("https://a/png", "binary_content"),
        ("https://a/pdf", "binary_content"),
        ("https://a/nul", "binary_content"),
        ("https://a/ok", "read"),
    ]


def test_every_bad_jsonl_line_is_a_quarantine_row(tmp_path):
    folder = tmp_path / "d"
    folder.mkdir()
    lines = [
        '{"url": "u1", "text": "\\ud800"}',  # a lone surrogate
        '{"url": "u2", "text": "نص", "date": 20260101}',  # a number where a date goes
        '{"url": "u3", "text": "نص", "id": [1]}',
        "[1, 2]",
        '{"url": "u5", "text": "' + "ا" * 3000 + '"}',  # over the line cap below
        '{"url": "u6", "text": "نص", "date": "2026-01-01T00:00:00Z", "id": 7}',
    ]
    (folder / "a.jsonl").write_text("\n".join(lines) + "\n")
    stats = ReadStats()
    limits = ReadingSettings(max_record_bytes=2048)
    items = list(read_file(folder / "a.jsonl", "a.jsonl", "D", stats, limits))
    assert [(i.offset, getattr(i, "reason", "read")) for i in items] == [
        (1, "invalid_jsonl"),
        (2, "invalid_jsonl"),
        (3, "invalid_jsonl"),
        (4, "invalid_jsonl"),
        (5, "record_too_large"),
        (6, "read"),
    ]
    assert items[-1].record_id == "7"
    assert scan_jsonl(folder / "a.jsonl", limits) == Counter(range(1, 7))


def test_the_scan_counts_records_across_its_read_chunks(tmp_path):
    """A file over the scan's 4 MiB window: every record counted once, none at a cut."""
    path = tmp_path / "d" / "big.warc"
    path.parent.mkdir()
    records = [raw_warc_record(f"https://b/{i}", _page(i) * 8) for i in range(3000)]
    path.write_bytes(b"".join(records))
    assert path.stat().st_size > 2 * (1 << 22)
    items, _ = _read(tmp_path / "d")
    assert all(isinstance(i, RawRecord) for i in items) and len(items) == 3000
    assert scan_warc(path, ReadingSettings()) == Counter(i.offset for i in items)


def test_a_cut_off_jsonl_gz_is_read_and_scanned_up_to_the_cut(tmp_path):
    path = tmp_path / "a.jsonl.gz"
    lines = "".join(
        json.dumps({"url": f"u{i}", "text": f"{TEXT} {i}" * 20}) + "\n" for i in range(200)
    )
    data = gzip.compress(lines.encode(), mtime=0)
    path.write_bytes(data[: len(data) // 2])
    items = list(read_file(path, "a.jsonl.gz", "D", ReadStats()))
    assert items[-1].reason == "unreadable_stream" and len(items) > 2
    lines_read = Counter(i.offset for i in items[:-1])
    assert scan_jsonl(path, ReadingSettings()) == lines_read
