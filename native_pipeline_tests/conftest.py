from __future__ import annotations

import io
from pathlib import Path

import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

ARTICLE = (
    "<html lang='ar' dir='rtl'><head><meta charset='{charset}'><title>خبر</title></head><body>"
    "<nav>الرئيسية | أخبار | رياضة</nav><article><p>{text}</p></article>"
    "<footer>جميع الحقوق محفوظة</footer></body></html>"
)


def warc_response(
    writer: WARCWriter, url: str, body: bytes, content_type: str = "text/html; charset=utf-8"
) -> None:
    http = StatusAndHeaders(
        "200 OK",
        [("Content-Type", content_type), ("Content-Length", str(len(body)))],
        protocol="HTTP/1.1",
    )
    record = writer.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=http)
    writer.write_record(record)


@pytest.fixture
def write_warc():
    """Write a gzipped WARC of (url, body, content type) responses; returns its path."""

    def write(path: Path, pages: list[tuple[str, bytes, str]]) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as fh:
            writer = WARCWriter(fh, gzip=True)
            for url, body, content_type in pages:
                warc_response(writer, url, body, content_type)
        return path

    return write


def raw_warc_record(
    url: str,
    body: bytes,
    *,
    length_error: int = 0,
    content_type: str = "text/html; charset=utf-8",
    http_headers: str = "",
    record_id: str | None = None,
) -> bytes:
    """One uncompressed WARC response record, written by hand so that it can lie: its
    Content-Length is `length_error` bytes off, its HTTP headers whatever the test says."""
    http = f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\n{http_headers}\r\n".encode() + body
    record_id = record_id or f"<urn:uuid:{abs(hash((url, body))):032x}>"
    head = (
        f"WARC/1.0\r\nWARC-Type: response\r\nWARC-Record-ID: {record_id}\r\n"
        f"WARC-Target-URI: {url}\r\nWARC-Date: 2026-01-01T00:00:00Z\r\n"
        f"Content-Type: application/http; msgtype=response\r\n"
        f"Content-Length: {len(http) + length_error}\r\n\r\n"
    ).encode()
    return head + http + b"\r\n\r\n"
