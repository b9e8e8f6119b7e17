"""Read crawl dumps: WARC (responses), WET (conversions) and JSONL (`{"url", "text"}`).

Every record ends up in exactly one of two places: a `RawRecord` (readable text or HTML) or a
`QuarantinedRecord` with the reason it could not be used. Control records (warcinfo, request,
metadata) are not documents; they are counted, not emitted.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import BinaryIO

from charset_normalizer import from_bytes
from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

from native_pipeline.settings import ReadingSettings

DEFAULT_READING = ReadingSettings()  # the caps of a reader called without the config's

HTML_TYPES = {"text/html", "application/xhtml+xml"}
TEXT_TYPES = {"text/plain"}
WARC_SUFFIXES = (".warc", ".warc.gz", ".wet", ".wet.gz", ".warc.wet", ".warc.wet.gz")
JSONL_SUFFIXES = (".jsonl", ".jsonl.gz")
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([\w.:-]+)""", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class RawRecord:
    doc_id: str
    source_file: str
    offset: int  # a gzip member's or an uncompressed record's byte offset; a JSONL line number
    record_id: str
    url: str
    fetch_time: datetime | None
    content_type: str
    http_status: int | None
    byte_length: int
    charset: str
    charset_source: str  # "http", "meta", "detected", "utf-8" (JSONL is UTF-8 by definition)
    content: str


@dataclass(frozen=True, slots=True)
class QuarantinedRecord:
    source_file: str
    offset: int | None
    record_id: str | None
    url: str | None
    reason: str
    detail: str


@dataclass
class ReadStats:
    files: int = 0
    records: int = 0
    quarantined: int = 0
    skipped: Counter[str] = field(default_factory=Counter)  # control records by WARC type
    bytes: int = 0  # payloads as crawled, in their own charsets
    text_bytes: int = 0  # the same decoded, as UTF-8: what the cleaning blocks measure

    def merge(self, other: ReadStats) -> None:
        self.files += other.files
        self.records += other.records
        self.quarantined += other.quarantined
        self.skipped.update(other.skipped)
        self.bytes += other.bytes
        self.text_bytes += other.text_bytes


def make_doc_id(dump: str, record_id: str) -> str:
    """A stable id: the same record in the same dump always gets the same doc_id."""
    return hashlib.blake2b(f"{dump}\x00{record_id}".encode(), digest_size=10).hexdigest()


def dump_files(folder: Path) -> list[Path]:
    """The readable files of one dump folder, in a stable order."""
    suffixes = WARC_SUFFIXES + JSONL_SUFFIXES
    files = folder.rglob("*")
    return sorted(
        p for p in files if p.is_file() and not p.is_symlink() and p.name.endswith(suffixes)
    )


def read_dump(
    folder: Path, dump: str, stats: ReadStats, limits: ReadingSettings | None = None
) -> Iterator[RawRecord | QuarantinedRecord]:
    for path in dump_files(folder):
        yield from read_file(path, str(path.relative_to(folder)), dump, stats, limits)


def read_file(
    path: Path, name: str, dump: str, stats: ReadStats, limits: ReadingSettings | None = None
) -> Iterator[RawRecord | QuarantinedRecord]:
    """Every record of one WARC, WET or JSONL file, counted in `stats`; `name` is the file's
    name in the records (its path within the dump)."""
    stats.files += 1
    reader = read_jsonl if path.name.endswith(JSONL_SUFFIXES) else read_warc
    for item in reader(path, dump, stats, name=name, limits=limits or ReadingSettings()):
        if isinstance(item, QuarantinedRecord):
            stats.quarantined += 1
        else:
            stats.records += 1
            stats.bytes += item.byte_length
            stats.text_bytes += len(item.content.encode("utf-8"))
        yield item


def decode_html(payload: bytes, declared: str | None) -> tuple[str, str, str]:
    """Decode with the declared charset, then a <meta> charset, then detection.

    Returns (text, charset, source). A declared charset that fails to decode is not trusted.
    """
    candidates: list[tuple[str, str]] = []
    if declared:
        candidates.append((declared, "http"))
    meta = _META_CHARSET.search(payload[:4096])
    if meta:
        candidates.append((meta.group(1).decode("ascii", "ignore"), "meta"))
    for charset, source in candidates:
        try:
            return payload.decode(charset), charset.lower(), source
        except (LookupError, UnicodeDecodeError):
            continue
    best = from_bytes(payload).best()
    if best is not None:
        return str(best), best.encoding, "detected"
    return payload.decode("utf-8", errors="replace"), "utf-8", "detected"


def _media_type(content_type: str | None) -> tuple[str, str | None]:
    if not content_type:
        return "", None
    parts = [p.strip() for p in content_type.split(";")]
    charset = next(
        (
            p.split("=", 1)[1].strip("\"' ")
            for p in parts[1:]
            if "=" in p and p.split("=", 1)[0].strip().lower() == "charset"
        ),
        None,
    )
    return parts[0].lower(), charset


def _parse_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def gzip_members(raw: BinaryIO, cap: int) -> Iterator[tuple[int, bytes, bool, int]]:
    """(offset in the file, decompressed bytes, complete?, decompressed size) for each gzip
    member of a file.

    A .warc.gz holds one record per member, so a broken record spoils its member and nothing
    else: reading starts afresh at the next member. The last member of a cut-off file comes out
    incomplete (Python's gzip module would raise, and warcio would end quietly). At most `cap`
    bytes of a member are kept (a decompression bomb is inflated a MiB at a time and thrown
    away, so it costs time in proportion to its size and no memory), and its full size is
    reported, for the caller to quarantine.
    """
    member, data, size, start, consumed = zlib.decompressobj(wbits=31), bytearray(), 0, 0, 0
    pending = b""
    while pending or (pending := raw.read(1 << 16)):
        out = member.decompress(pending, 1 << 20)  # bounded output per call
        size += len(out)
        if len(data) <= cap:
            data += out[: cap + 1 - len(data)]
        if member.eof:
            rest = member.unused_data
            consumed += len(pending) - len(rest)
            yield start, bytes(data), True, size
            member, data, size, start = zlib.decompressobj(wbits=31), bytearray(), 0, consumed
            pending = rest
        else:
            rest = member.unconsumed_tail
            consumed += len(pending) - len(rest)
            pending = rest
    if size or consumed > start:
        yield start, bytes(data), False, size


def _header(data: bytes, name: str) -> str | None:
    """A WARC header's value from the start of a record that cannot be parsed whole."""
    found = re.search(name.encode() + rb":[ \t]*([^\r\n]+)", data[:8192])
    return found.group(1).decode("utf-8", "replace").strip() if found else None


_RECORD_START = re.compile(rb"\nWARC/1\.[01]\r?\n")  # a stream's start is given a "\n"
_DOCUMENT_TYPE = re.compile(rb"\nWARC-Type:[ \t]*(response|conversion|resource)[ \t]*\r?\n", re.I)
_CONTENT_LENGTH = re.compile(rb"\nContent-Length:[ \t]*(\d{1,19})[ \t]*\r?\n", re.I)
_MAX_HEADER = 1 << 16  # a WARC header block larger than this is not a header
_MAGIC = {  # binary formats that servers label text/html
    b"\x89PNG": "png",
    b"%PDF-": "pdf",
    b"GIF8": "gif",
    b"\xff\xd8\xff": "jpeg",
    b"PK\x03\x04": "zip",
    b"\x1f\x8b": "gzip",
    b"RIFF": "riff",
    b"\x00\x00\x01\x00": "ico",
    b"OggS": "ogg",
    b"\x7fELF": "elf",
}


def binary_kind(payload: bytes, charset: str | None) -> str | None:
    """What binary format `payload` is (a magic number, or NUL bytes), or None for text."""
    for magic, kind in _MAGIC.items():
        if payload.startswith(magic):
            return kind
    wide = (charset or "").lower().startswith(("utf-16", "utf-32"))
    return "nul_bytes" if not wide and b"\x00" in payload[:4096] else None


def _next_record(stream: BinaryIO, start: int) -> int | None:
    """The position of the next `WARC/1.x` line at or after `start` (> 0), or None: where
    reading resumes after a record whose length was wrong."""
    stream.seek(start - 1)
    window, base = b"", start - 1  # base: the stream position of window[0]
    while chunk := stream.read(1 << 20):
        window += chunk
        for found in _RECORD_START.finditer(window):
            if base + found.start() + 1 >= start:
                return base + found.start() + 1
        keep = min(len(window), 16)  # a record start cut by the chunk's end
        base += len(window) - keep
        window = window[-keep:]
    return None


def scan_warc(path: Path, limits: ReadingSettings) -> Counter[int]:
    """An independent count of the document records (response, conversion, resource) of a
    WARC or WET file, by offset (a gzip member's, or a record's in an uncompressed file): every
    `WARC/1.x` line at a line start whose header names a document type. raw_crawl's
    conservation check compares it with what the reader produced, so that a record the reader
    lost fails the check."""
    found: Counter[int] = Counter()
    with path.open("rb") as fh:
        if path.name.endswith(".gz"):
            try:
                for offset, data, _, _ in gzip_members(fh, limits.max_record_bytes):
                    found[offset] += len(_document_starts(b"\n" + data))
            except zlib.error:  # the reader quarantines the rest of the file as unreadable
                pass
            return +found
        window, base = b"\n", -1  # base: the file offset of window[0]
        while chunk := fh.read(1 << 22):
            window += chunk
            full = len(chunk) == 1 << 22
            # A header is at most _MAX_HEADER: keep that much for a start near the chunk's end.
            limit = len(window) - _MAX_HEADER if full else len(window)
            for start in _document_starts(window):
                if start < limit:
                    found[base + start] += 1
            if full:  # the next window starts with the byte before `limit`
                base += limit - 1
                window = window[limit - 1 :]
    return +found


def _document_starts(data: bytes) -> list[int]:
    """Positions in `data` of the headers of document records (`data` starts with the byte
    before the region: a "\n" at a stream's start)."""
    starts = []
    for match in _RECORD_START.finditer(data):
        start = match.start() + 1
        head = data[start : start + _MAX_HEADER]
        end = head.find(b"\r\n\r\n")
        if end > 0 and _DOCUMENT_TYPE.search(head[: end + 2]):
            starts.append(start)
    return starts


def read_warc(
    path: Path,
    dump: str,
    stats: ReadStats,
    name: str | None = None,
    limits: ReadingSettings = DEFAULT_READING,
) -> Iterator[RawRecord | QuarantinedRecord]:
    """The response (WARC) and conversion (WET) records of one file, member by member when
    gzipped; an unreadable member or file is quarantined with its offset and the reason."""
    name = name or path.name
    with path.open("rb") as fh:
        if not path.name.endswith(".gz"):
            yield from _records(fh, None, dump, name, stats, limits)
            return
        try:
            for offset, data, complete, size in gzip_members(fh, limits.max_record_bytes):
                ids = [_header(data, h) for h in ("WARC-Record-ID", "WARC-Target-URI")]
                if size > limits.max_record_bytes:
                    detail = f"{size} bytes decompressed, over max_record_bytes"
                    yield QuarantinedRecord(name, offset, *ids, "record_too_large", detail)
                elif complete:
                    yield from _records(io.BytesIO(data), offset, dump, name, stats, limits)
                else:
                    detail = f"gzip member cut off after {len(data)} decompressed bytes"
                    yield QuarantinedRecord(name, offset, *ids, "truncated_gzip", detail)
        except zlib.error as err:  # not gzip from here on: nothing after can be found again
            yield QuarantinedRecord(name, None, None, None, "unreadable_stream", f"zlib: {err}")


def _read_header(stream: BinaryIO) -> bytes:
    """The header block at the stream's position, up to and with its blank line (or less at
    the end of the stream, or when no blank line comes within _MAX_HEADER bytes)."""
    lines = []
    size = 0
    while size < _MAX_HEADER:
        line = stream.readline(_MAX_HEADER)
        lines.append(line)
        size += len(line)
        if not line or line in (b"\r\n", b"\n"):
            break
    return b"".join(lines)


def _records(
    stream: BinaryIO,
    member: int | None,
    dump: str,
    name: str,
    stats: ReadStats,
    limits: ReadingSettings,
) -> Iterator[RawRecord | QuarantinedRecord]:
    """The records of one seekable stream: a gzip member (`member` is its offset in the file)
    or a whole uncompressed file (offsets are the records' own). Each record is cut out by its
    Content-Length and must end in the blank line that separates records; a record that does not
    is quarantined and reading resumes at the next `WARC/1.x` line after its header, so a wrong
    length costs that record only."""
    while True:
        start = stream.tell()
        line = stream.readline(_MAX_HEADER)
        if not line:
            return
        if line in (b"\r\n", b"\n"):  # blank lines between records
            continue
        stream.seek(start)
        header = _read_header(stream)
        body_at = stream.tell()
        offset = start if member is None else member
        ids = [_header(header, h) for h in ("WARC-Record-ID", "WARC-Target-URI")]
        quarantine = partial(QuarantinedRecord, name, offset, *ids)
        length = _CONTENT_LENGTH.search(b"\n" + header)
        if not header.startswith(b"WARC/1.") or not header.endswith(b"\n\r\n") or not length:
            yield quarantine("unreadable_stream", "not a WARC header")
        else:
            size = int(length.group(1))
            if size > limits.max_record_bytes:
                yield quarantine("record_too_large", f"Content-Length {size}")
                stream.seek(body_at + size)
                if stream.read(4) in (b"\r\n\r\n", b""):
                    continue
            else:
                block = stream.read(size)
                if len(block) < size:
                    missing = f"{size - len(block)} of {size} bytes missing"
                    yield quarantine("truncated_record", missing)
                    return
                end = stream.read(4)
                if end in (b"\r\n\r\n", b""):
                    item = _parse(header + block + b"\r\n\r\n", offset, dump, name, stats, limits)
                    if item is not None:
                        yield item
                    continue
                yield quarantine("content_length_mismatch", f"declared {size} bytes")
        resume = _next_record(stream, body_at)
        if resume is None:
            return
        stream.seek(resume)


def _parse(
    raw: bytes, offset: int, dump: str, name: str, stats: ReadStats, limits: ReadingSettings
) -> RawRecord | QuarantinedRecord | None:
    """One record cut out whole (header, block, blank line), parsed by warcio."""
    iterator = ArchiveIterator(io.BytesIO(raw), check_digests=True)
    try:
        record = next(iter(iterator))
        return _warc_record(record, dump, name, stats, offset, limits)
    except (ArchiveLoadFailed, EOFError, OSError, ValueError, StopIteration) as err:
        return QuarantinedRecord(
            name,
            offset,
            _header(raw, "WARC-Record-ID"),
            _header(raw, "WARC-Target-URI"),
            "unreadable_record",
            f"{type(err).__name__}: {err}"[:500],
        )


def _warc_record(
    record, dump: str, name: str, stats: ReadStats, offset: int, limits: ReadingSettings
) -> RawRecord | QuarantinedRecord | None:
    kind = record.rec_type
    if kind not in ("response", "conversion", "resource"):
        stats.skipped[kind] += 1
        return None
    headers = record.rec_headers
    record_id = headers.get_header("WARC-Record-ID") or ""
    url = headers.get_header("WARC-Target-URI") or ""

    def quarantine(reason: str, detail: str) -> QuarantinedRecord:
        return QuarantinedRecord(name, offset, record_id, url, reason, detail)

    # HTTP Content-Encoding is decoded as it is read: read one byte past the cap, no more.
    payload = record.content_stream().read(limits.max_payload_bytes + 1)
    if len(payload) > limits.max_payload_bytes:
        return quarantine("payload_too_large", f"over {limits.max_payload_bytes} bytes decoded")
    record.raw_stream.read()  # what decoding left: the digest covers the whole block
    if record.digest_checker.passed is False:
        return quarantine("digest_mismatch", "; ".join(record.digest_checker.problems)[:500])
    status = None
    if record.http_headers is not None:
        status = int(record.http_headers.get_statuscode() or 0) or None
        media, charset = _media_type(record.http_headers.get_header("Content-Type"))
    else:
        media, charset = _media_type(headers.get_header("Content-Type"))
    if kind == "conversion" and not media:
        media = "text/plain"
    if media not in HTML_TYPES | TEXT_TYPES:
        return quarantine("unsupported_content_type", media or "missing")
    if binary := binary_kind(payload, charset):
        return quarantine("binary_content", f"{binary} labelled {media}")
    if media in HTML_TYPES:
        text, charset_used, source = decode_html(payload, charset)
    else:
        text, charset_used, source = _decode_text(payload, charset)
    return RawRecord(
        doc_id=make_doc_id(dump, record_id),
        source_file=name,
        offset=offset,
        record_id=record_id,
        url=url,
        fetch_time=_parse_date(headers.get_header("WARC-Date")),
        content_type=media,
        http_status=status,
        byte_length=len(payload),
        charset=charset_used,
        charset_source=source,
        content=text,
    )


def _decode_text(payload: bytes, charset: str | None) -> tuple[str, str, str]:
    try:
        return (
            payload.decode(charset or "utf-8", "replace"),
            charset or "utf-8",
            ("http" if charset else "utf-8"),
        )
    except LookupError:  # an unknown charset name
        return payload.decode("utf-8", "replace"), "utf-8", "utf-8"


def _lines(fh: BinaryIO, cap: int) -> Iterator[tuple[int, bytes | None]]:
    """(line number, line) of a file, or (line number, None) for a line over `cap` bytes,
    which is skipped a MiB at a time."""
    line_no = 0
    while line := fh.readline(cap + 1):
        line_no += 1
        if len(line) <= cap or line.endswith(b"\n"):
            yield line_no, line
            continue
        while (more := fh.readline(1 << 20)) and not more.endswith(b"\n"):
            pass
        yield line_no, None


def scan_jsonl(path: Path, limits: ReadingSettings) -> Counter[int]:
    """An independent count of a JSONL file's records: its non-blank lines, by line number (up
    to where a cut-off .jsonl.gz ends, as the reader reads it)."""
    found: Counter[int] = Counter()
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as fh:
        try:
            for n, line in _lines(fh, limits.max_record_bytes):
                if line is None or line.strip():
                    found[n] += 1
        except (OSError, EOFError, zlib.error):
            pass
    return found


def scan_file(path: Path, limits: ReadingSettings) -> Counter[int]:
    """Records of one file by offset (see scan_warc and scan_jsonl)."""
    scan = scan_jsonl if path.name.endswith(JSONL_SUFFIXES) else scan_warc
    return scan(path, limits)


def _jsonl_record(obj: object, name: str, line_no: int, dump: str) -> RawRecord:
    """The record of one parsed line; ValueError or TypeError say why it cannot be one."""
    if not isinstance(obj, dict):
        raise TypeError("a line must be a JSON object")
    text, url, given_id, date = obj["text"], obj["url"], obj.get("id"), obj.get("date")
    if not isinstance(text, str) or not isinstance(url, str):
        raise TypeError("url and text must be strings")
    if given_id is not None and (isinstance(given_id, bool) or not isinstance(given_id, str | int)):
        raise TypeError("id must be a string or an integer")
    if date is not None and not isinstance(date, str):
        raise TypeError("date must be a string")
    record_id = str(given_id or f"{name}:{line_no}")
    for value in (text, url, record_id, date or ""):
        value.encode("utf-8")  # a lone surrogate ("\ud800") raises UnicodeEncodeError here
    return RawRecord(
        doc_id=make_doc_id(dump, record_id),
        source_file=name,
        offset=line_no,
        record_id=record_id,
        url=url,
        fetch_time=_parse_date(date),
        content_type="text/plain",
        http_status=None,
        byte_length=len(text.encode("utf-8")),
        charset="utf-8",
        charset_source="utf-8",
        content=text,
    )


def read_jsonl(
    path: Path,
    dump: str,
    stats: ReadStats,
    name: str | None = None,
    limits: ReadingSettings = DEFAULT_READING,
) -> Iterator[RawRecord | QuarantinedRecord]:
    """One `{"url", "text"}` object a line; optional "id" and "date" fields are kept. A line
    that is not such an object, or is over max_record_bytes, is quarantined."""
    name = name or path.name
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as fh:
        try:
            for line_no, line in _lines(fh, limits.max_record_bytes):
                if line is None:
                    detail = f"over {limits.max_record_bytes} bytes"
                    yield QuarantinedRecord(name, line_no, None, None, "record_too_large", detail)
                    continue
                if not line.strip():
                    continue
                try:
                    yield _jsonl_record(json.loads(line), name, line_no, dump)
                except (ValueError, KeyError, TypeError, RecursionError) as err:
                    detail = f"{type(err).__name__}: {err}"[:500]
                    record_id = f"{name}:{line_no}"
                    yield QuarantinedRecord(name, line_no, record_id, None, "invalid_jsonl", detail)
        except (OSError, EOFError, zlib.error) as err:  # a cut-off or corrupt .jsonl.gz
            detail = f"{type(err).__name__}: {err}"[:500]
            yield QuarantinedRecord(name, None, None, None, "unreadable_stream", detail)
