"""Generate the embedded sample crawl: Common Crawl-like WARC files plus a ground-truth file.

    python -m native_pipeline.sample.generate [OUT_DIR]

Deterministic: one seeded `random.Random` drives text, layout, dates and record ids, and gzip
members carry mtime 0, so a re-run writes byte-identical files.
"""

from __future__ import annotations

import gzip
import io
import json
import random
import shutil
import struct
import sys
import uuid
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from native_pipeline.sample import SAMPLE_CRAWL, compose, content
from native_pipeline.sample.compose import Text
from native_pipeline.sample.pages import CP1256, SITES, Render, Site, make_url, render

SEED = 20260518


@dataclass(frozen=True)
class Dump:
    name: str
    start: datetime  # first fetch time; fetches spread over the following days
    counts: dict[str, int]  # documents of each kind to generate


DUMPS = (
    Dump(
        "CC-MAIN-2026-05",
        datetime(2026, 1, 24, 3, 0, 0, tzinfo=UTC),
        {
            "article": 90,
            "dialect": 12,
            "exact_duplicate": 6,
            "near_duplicate": 6,
            "foreign": 20,
            "spam": 6,
            "short": 5,
            "pii": 7,
            "harm": 8,
            "non_html": 2,
        },
    ),
    Dump(
        "CC-MAIN-2026-18",
        datetime(2026, 4, 25, 3, 0, 0, tzinfo=UTC),
        # Duplicates here include copies of stories first seen in the previous dump.
        {
            "article": 90,
            "dialect": 12,
            "exact_duplicate": 9,
            "near_duplicate": 9,
            "foreign": 20,
            "spam": 6,
            "short": 5,
            "pii": 7,
            "harm": 8,
            "non_html": 2,
        },
    ),
)
CROSS_DUMP_DUPLICATES = 5  # of each duplicate kind in a later dump, copies of an earlier dump
FILES_PER_DUMP = 2  # intact files; the broken records get a third file of their own
TOPIC_ORDER = tuple(content.TOPICS)
FOREIGN_SITES = {"en": "ledger", "fr": "courrier", "fa": "khabar", "ur": "awaz"}
IP_PREFIX = ("192.0.2.", "198.51.100.", "203.0.113.")  # documentation ranges, never routed


@dataclass
class Page:
    site: Site
    url: str
    kind: str
    text: Text | None  # None for non-HTML payloads
    lang: str | None
    dialect: str | None = None
    duplicate_of: str | None = None
    near_duplicate_of: str | None = None
    harm: dict[str, str] | None = None
    pii: list[str] | None = None
    broken: str | None = None
    status: str = "200 OK"
    payload: bytes = b""
    content_type: str = ""
    charset: str | None = None


class Builder:
    """Creates the pages of one dump; keeps per-site page ids and the fetch clock."""

    def __init__(self, dump: Dump, rng: random.Random) -> None:
        self.dump = dump
        self.rng = rng
        self.ids: dict[str, int] = {}
        self.legacy_count = 0

    def _url(self, site: Site, title: str) -> str:
        self.ids[site.key] = self.ids.get(
            site.key, self.rng.randint(1000, 90000)
        ) + self.rng.randint(1, 40)
        when = self.dump.start - timedelta(days=self.rng.randint(1, 400))
        return make_url(site, self.ids[site.key], when.year, when.month, title)

    def _related(self) -> list[str]:
        topics = self.rng.sample(TOPIC_ORDER, 4)
        return [
            compose.fill(self.rng.choice(content.TOPICS[t]["titles"]), self.rng) for t in topics
        ]

    def page(
        self, site: Site, text: Text, kind: str, *, layout: str | None = None, **kw: Any
    ) -> Page:
        """Render `text` on `site` and encode it the way that site serves pages."""
        rng = self.rng
        url = kw.pop("url", None) or self._url(site, text.title)
        header_charset = meta_charset = True
        if site.charset == CP1256 and site.layout == "legacy":
            # Every sixth legacy page declares no charset anywhere: readers must detect it.
            self.legacy_count += 1
            header_charset = meta_charset = self.legacy_count % 6 != 0
        published = self.dump.start - timedelta(
            days=rng.randint(0, 300), minutes=rng.randint(0, 1440)
        )
        author = (
            compose.fill(rng.choice(("{man}", "{woman}")), rng) if site.lang == "ar" else "Staff"
        )
        r = Render(
            site, text, published.strftime("%Y-%m-%d %H:%M"), author, self._related(), meta_charset
        )
        html = render(r, rng, layout)
        label = site.charset if site.charset == CP1256 else rng.choice(("utf-8", "UTF-8"))
        return Page(
            site=site,
            url=url,
            kind=kind,
            text=text,
            lang=site.lang,
            payload=html.encode(site.charset),  # strict: a character the charset lacks is a bug
            content_type=f"text/html; charset={label}" if header_charset else "text/html",
            charset=site.charset,
            dialect=kw.pop("dialect", "msa" if site.lang == "ar" else None),
            **kw,
        )

    # ---- one method per kind --------------------------------------------------------------

    def article(self, i: int) -> Page:
        topic = TOPIC_ORDER[i % len(TOPIC_ORDER)]
        sites = [s for s in SITES.values() if topic in s.topics and s.lang == "ar"]
        return self.page(self.rng.choice(sites), compose.article(topic, self.rng), "article")

    def dialect(self, i: int) -> Page:
        dialect = tuple(content.DIALECTS)[i % len(content.DIALECTS)]
        site = SITES["muntada" if i % 2 else "hiwar"]
        return self.page(
            site, compose.dialect_thread(dialect, self.rng), "dialect", dialect=dialect
        )

    def duplicate(self, original: Page, near: bool) -> Page:
        """Syndication: the story again at another URL, on an aggregator or the same site."""
        assert original.text is not None
        rng = self.rng
        if rng.random() < 0.3:
            site = original.site
            url = original.url + rng.choice(("?utm_source=rss", "?amp=1", "?output=print"))
            if near:  # an updated story gets a new address on the same site
                url = None
        else:
            site = rng.choice(
                [
                    s
                    for s in SITES.values()
                    if s.key in ("mojaz", "waha", "iqtisad") and s != original.site
                ]
            )
            url = None
        if near:
            return self.page(
                site,
                compose.near_duplicate(original.text, rng),
                "near_duplicate",
                url=url,
                near_duplicate_of=original.url,
            )
        return self.page(site, original.text, "exact_duplicate", url=url, duplicate_of=original.url)

    def foreign(self, i: int) -> Page:
        lang = tuple(FOREIGN_SITES)[i % len(FOREIGN_SITES)]
        return self.page(SITES[FOREIGN_SITES[lang]], compose.foreign(lang, self.rng), "foreign")

    def spam(self, i: int) -> Page:
        return self.page(SITES["ribh" if i % 2 else "aqarat"], compose.spam(self.rng), "spam")

    def short(self, i: int) -> Page:
        title, body = content.SHORT_PAGES[
            (i + 5 * DUMPS.index(self.dump)) % len(content.SHORT_PAGES)
        ]
        status = {"404": "404 Not Found", "403": "403 Forbidden"}.get(title[:3], "200 OK")
        site = self.rng.choice([s for s in SITES.values() if s.lang == "ar" and s.layout != "spam"])
        return self.page(
            site, Text(title, body.split("\n")), "short", layout="minimal", status=status
        )

    def pii(self, i: int) -> Page:
        rng = self.rng
        text = compose.article(TOPIC_ORDER[(i * 3) % len(TOPIC_ORDER)], rng)
        values: list[str] = []
        for _ in range(rng.randint(1, 2)):
            para, found = compose.pii_paragraph(rng)
            text.paragraphs.insert(rng.randrange(1, len(text.paragraphs) + 1), para)
            values += found
        site = SITES[rng.choice(("waha", "mojaz", "iqtisad", "sabah", "rahhal"))]
        return self.page(site, text, "pii", pii=values)

    def harm(self, i: int) -> Page:
        rng = self.rng
        category, severity = tuple(content.HARM)[i % len(content.HARM)]
        harmful = content.HARM[(category, severity)][DUMPS.index(self.dump) % 2]
        posts = [rng.choice(content.HARM_OPENERS), harmful, *rng.sample(content.HARM_REPLIES, 2)]
        title = rng.choice(
            ("نقاش حول مباراة الأمس", "رأيكم في الموضوع؟", "موضوع للنقاش العام", "ردود الأعضاء")
        )
        site = SITES["muntada" if i % 2 else "hiwar"]
        return self.page(
            site, Text(title, posts), "harm", harm={"category": category, "severity": severity}
        )

    def non_html(self, i: int) -> Page:
        site = SITES[("waha", "iqtisad")[i % 2]]
        if i % 2 == 0:
            path, ctype, payload = f"/static/img/logo-{i}.png", "image/png", tiny_png()
        else:
            path, ctype, payload = f"/files/report-{2025 - i}.pdf", "application/pdf", tiny_pdf()
        return Page(
            site=site,
            url=f"https://{site.domain}{path}",
            kind="non_html",
            text=None,
            lang=None,
            payload=payload,
            content_type=ctype,
        )

    def broken(self, how: str, i: int) -> Page:
        p = self.article(i)
        p.kind, p.broken = "broken", how
        return p


def tiny_png() -> bytes:
    """A valid 1x1 grey PNG."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00\x80"))
        + chunk(b"IEND", b"")
    )


def tiny_pdf() -> bytes:
    return (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
        b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\n"
        b"trailer<</Root 1 0 R>>\n%%EOF\n"
    )


def build_dump(
    dump: Dump, rng: random.Random, earlier: list[Page]
) -> tuple[list[Page], list[Page]]:
    """The intact pages of a dump in crawl order, and its broken pages."""
    b = Builder(dump, rng)
    c = dump.counts
    articles = [b.article(i) for i in range(c["article"])]
    singles: list[Page] = list(articles)
    for kind in ("dialect", "foreign", "spam", "short", "pii", "harm", "non_html"):
        singles += [getattr(b, kind)(i) for i in range(c[kind])]
    rng.shuffle(singles)

    dups: list[Page] = []
    for kind in ("exact_duplicate", "near_duplicate"):
        cross = CROSS_DUMP_DUPLICATES if earlier else 0
        sources = rng.sample(earlier, cross) + rng.sample(articles, c[kind] - cross)
        dups += [b.duplicate(src, near=kind == "near_duplicate") for src in sources]
    # A copy is fetched after its original: insert it somewhere after the original.
    for dup in dups:
        orig = dup.duplicate_of or dup.near_duplicate_of
        pos = next((i for i, p in enumerate(singles) if p.url == orig), -1)
        singles.insert(rng.randint(pos + 1, len(singles)), dup)

    broken = [
        b.broken(how, 1000 + i)
        for i, how in enumerate(("bad_content_length", "bad_content_length", "truncated_gzip"))
    ]
    return singles, broken


# ---- WARC writing -----------------------------------------------------------------------------


class Clock:
    """Fetch times and record ids, both drawn from the seed."""

    def __init__(self, start: datetime, rng: random.Random) -> None:
        self.now = start
        self.rng = rng

    def tick(self) -> datetime:
        self.now += timedelta(seconds=self.rng.randint(20, 900))
        return self.now

    def record_id(self) -> str:
        return f"<urn:uuid:{uuid.UUID(int=self.rng.getrandbits(128), version=4)}>"


def warc_date(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def warcinfo(writer: WARCWriter, clock: Clock, dump: Dump, filename: str) -> Any:
    info = (
        f"isPartOf: {dump.name}\r\npublisher: native_pipeline sample crawl (synthetic)\r\n"
        "description: Fictional pages written for native_pipeline tests\r\n"
        "software: native_pipeline.sample.generate\r\nformat: WARC File Format 1.0\r\n"
        "robots: checked via crawler-commons\r\n"
    ).encode()
    return writer.create_warc_record(
        "",
        "warcinfo",
        payload=io.BytesIO(info),
        length=len(info),
        warc_headers_dict={
            "WARC-Date": warc_date(clock.now),
            "WARC-Record-ID": clock.record_id(),
            "WARC-Filename": filename,
            "Content-Type": "application/warc-fields",
        },
    )


def request_response(writer: WARCWriter, clock: Clock, page: Page, info_id: str) -> tuple[Any, Any]:
    """A crawler's request record and the server's response record, as Common Crawl stores them."""
    when = clock.tick()
    parts = urlsplit(page.url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    ip = IP_PREFIX[hash_bucket(parts.netloc)] + str(10 + hash_bucket(parts.netloc, 200))
    common = {"WARC-Date": warc_date(when), "WARC-Warcinfo-ID": info_id, "WARC-IP-Address": ip}
    resp_id, req_id = clock.record_id(), clock.record_id()
    req_headers = StatusAndHeaders(
        f"GET {path} HTTP/1.1",
        [
            ("Host", parts.netloc),
            ("User-Agent", "CCBot/2.0 (https://commoncrawl.org/faq/)"),
            ("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
            ("Accept-Language", "en-US,en;q=0.5"),
            ("Accept-Encoding", "br,gzip"),
            ("Connection", "close"),
        ],
        is_http_request=True,
    )
    req = writer.create_warc_record(
        page.url,
        "request",
        payload=io.BytesIO(b""),
        length=0,
        http_headers=req_headers,
        warc_headers_dict={**common, "WARC-Record-ID": req_id, "WARC-Concurrent-To": resp_id},
    )
    resp_headers = StatusAndHeaders(
        page.status,
        [
            ("Date", format_datetime(when, usegmt=True)),
            ("Server", page.site.server),
            ("Content-Type", page.content_type),
            ("Content-Length", str(len(page.payload))),
            ("Connection", "close"),
        ],
        protocol="HTTP/1.1",
    )
    resp = writer.create_warc_record(
        page.url,
        "response",
        payload=io.BytesIO(page.payload),
        length=len(page.payload),
        http_headers=resp_headers,
        warc_headers_dict={**common, "WARC-Record-ID": resp_id},
    )
    return req, resp


def hash_bucket(s: str, n: int = 3) -> int:
    """A stable small hash (Python's hash() is salted per process)."""
    return zlib.crc32(s.encode()) % n


def serialize(record: Any, gz: bool) -> bytes:
    buf = io.BytesIO()
    WARCWriter(buf, gzip=gz).write_record(record)
    return buf.getvalue()


def break_record(raw: bytes, how: str, delta: int) -> bytes:
    """Corrupt one uncompressed record and gzip it as its own member."""
    if how == "bad_content_length":
        head, rest = raw.split(b"\r\n\r\n", 1)
        lines = [
            b"Content-Length: %d" % (int(line.split(b":")[1]) + delta)
            if line.startswith(b"Content-Length:")
            else line
            for line in head.split(b"\r\n")
        ]
        return gzip.compress(b"\r\n".join(lines) + b"\r\n\r\n" + rest, mtime=0)
    member = gzip.compress(raw, mtime=0)
    return member[: len(member) // 2]  # truncated_gzip: the member stops mid-stream


def truth_row(dump: Dump, filename: str, record: Any, page: Page) -> dict[str, Any]:
    return {
        "dump": dump.name,
        "file": filename,
        "record_id": record.rec_headers.get_header("WARC-Record-ID"),
        "url": page.url,
        "kind": page.kind,
        "lang": page.lang,
        "charset": page.charset,
        "main_text": page.text.main_text if page.text else None,
        "duplicate_of": page.duplicate_of,
        "near_duplicate_of": page.near_duplicate_of,
        "dialect": page.dialect,
        "harm": page.harm,
        "pii": page.pii,
        "broken": page.broken,
    }


def write_file(
    path: Path, dump: Dump, pages: list[Page], clock: Clock, broken: bool
) -> list[dict[str, Any]]:
    """One WARC file: warcinfo, then request/response pairs (each record its own gzip member)."""
    writer = WARCWriter(io.BytesIO(), gzip=True)  # used only to build records
    info = warcinfo(writer, clock, dump, path.name)
    members = [serialize(info, gz=True)]
    rows = []
    for i, page in enumerate(pages):
        req, resp = request_response(
            writer, clock, page, info.rec_headers.get_header("WARC-Record-ID")
        )
        members.append(serialize(req, gz=True))
        if broken:
            # Too small for the first broken record, too large for the second.
            members.append(
                break_record(serialize(resp, gz=False), page.broken or "", (-57, 91)[i % 2])
            )
        else:
            members.append(serialize(resp, gz=True))
        rows.append(truth_row(dump, path.name, resp, page))
    path.write_bytes(b"".join(members))
    return rows


def generate(out_dir: Path = SAMPLE_CRAWL) -> list[dict[str, Any]]:
    """Write every dump under `out_dir` plus `out_dir/truth.jsonl`; return the truth rows."""
    rng = random.Random(SEED)
    rows: list[dict[str, Any]] = []
    earlier: list[Page] = []
    for dump in DUMPS:
        intact, broken = build_dump(dump, rng, earlier)
        earlier += [p for p in intact if p.kind == "article"]
        folder = out_dir / dump.name
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        clock = Clock(dump.start, rng)
        stamp = dump.start.strftime("%Y%m%d%H%M%S")
        end = (dump.start + timedelta(hours=3)).strftime("%Y%m%d%H%M%S")
        per_file = -(-len(intact) // FILES_PER_DUMP)
        for n in range(FILES_PER_DUMP + 1):
            path = folder / f"CC-MAIN-{stamp}-{end}-{n:05d}.warc.gz"
            chunk = intact[n * per_file : (n + 1) * per_file] if n < FILES_PER_DUMP else broken
            rows += write_file(path, dump, chunk, clock, broken=n == FILES_PER_DUMP)
        (folder / "_SUCCESS").touch()  # complete (landing.MARKER): ready for the sensor
    with (out_dir / "truth.jsonl").open("w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    return rows


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else SAMPLE_CRAWL
    rows = generate(out)
    print(f"wrote {len(rows)} response records to {out}")


if __name__ == "__main__":
    main()
