"""Measure the quality filters on real clean Arabic text and on the embedded sample crawl.

Real text (`clean.jsonl` from build.py): each document goes through the pipeline's
normalize block and then the four quality filters with the config's arguments, as in
cleaning; per genre, the share of documents removed (by rule) and the share of words the
kept ones lose to C4's line rule. Clean text should lose close to nothing.

Sample crawl: its HTML pages go through extract, normalize and the language filter, then
the quality filters; per truth kind, the share the quality filters remove. Spam and short
pages should go, articles should stay.

    python benchmarks/real_data/filters.py [--real DIR] [--genres news,...] [--sample]

Prints markdown tables for docs/benchmarks/real_data.md.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from native_pipeline.sample import SAMPLE_CRAWL, TRUTH
from native_pipeline.settings import DEFAULT_CONFIG
from native_pipeline.text.blocks import Block, Document
from native_pipeline.text.extract import Extractor
from native_pipeline.text.langid import LanguageFilter
from native_pipeline.text.normalize import Normalizer, words
from native_pipeline.text.quality import (
    C4Filter,
    FineWebQualityFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
)
from native_pipeline.text.warc import HTML_TYPES, RawRecord, ReadStats, read_dump

DEFAULT_REAL = Path(__file__).resolve().parents[1] / ".work" / "real_data"
QUALITY = (GopherQualityFilter, GopherRepetitionFilter, C4Filter, FineWebQualityFilter)


def _blocks(classes: Iterable[type[Block]]) -> list[Block]:
    config = yaml.safe_load(DEFAULT_CONFIG.read_text())["cleaning"]["blocks"]
    return [cls(**config.get(cls.name, {})) for cls in classes]


def _run(blocks: list[Block], doc: Document) -> tuple[str | None, int, int]:
    """(first removal reason, words before C4, words after it) for one document."""
    docs = [doc]
    before = after = 0
    for block in blocks:
        if block.name == C4Filter.name:
            before = len(words(docs[0].text))
        docs = block(docs)
        decisions, _ = block.drain()
        removed = [d for d in decisions if d.action == "removed"]
        if removed:
            return removed[0].reason, before, 0
        if block.name == C4Filter.name:
            after = len(words(docs[0].text))
    return None, before, after


def measure_real(path: Path, genres: set[str] | None) -> dict[str, dict[str, Any]]:
    blocks = _blocks((Normalizer, *QUALITY))
    by_genre: dict[str, dict[str, Any]] = defaultdict(
        lambda: {
            "docs": 0,
            "removed": Counter(),
            "words_in": 0,
            "words_trimmed": 0,
            "docs_trimmed": 0,
        }
    )
    with path.open(encoding="utf-8") as lines:
        for row in map(json.loads, lines):
            if genres and row["genre"] not in genres:
                continue
            stats = by_genre[row["genre"]]
            stats["docs"] += 1
            reason, before, after = _run(blocks, Document(row["id"], row["text"]))
            if reason:
                stats["removed"][reason] += 1
            else:
                stats["words_in"] += before
                stats["words_trimmed"] += before - after
                stats["docs_trimmed"] += before > after
    return dict(by_genre)


def measure_sample() -> dict[str, dict[str, Any]]:
    """Per truth kind: pages that reach the quality filters, and what those filters remove."""
    with TRUTH.open(encoding="utf-8") as lines:
        kind_of = {row["url"]: row["kind"] for row in map(json.loads, lines)}
    before = _blocks((Extractor, Normalizer, LanguageFilter))
    quality = _blocks(QUALITY)
    by_kind: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"pages": 0, "reach": 0, "removed": Counter()}
    )
    for dump in sorted(p for p in SAMPLE_CRAWL.iterdir() if p.is_dir()):
        for record in read_dump(dump, dump.name, ReadStats()):
            if not isinstance(record, RawRecord) or record.content_type not in HTML_TYPES:
                continue
            stats = by_kind[kind_of.get(record.url, "?")]
            stats["pages"] += 1
            meta = {"url": record.url, "content_type": record.content_type}
            docs = [Document(record.doc_id, record.content, meta)]
            for block in before:
                docs = block(docs)
                block.drain()
            if not docs:
                continue
            stats["reach"] += 1
            reason, _, _ = _run(quality, docs[0])
            if reason:
                stats["removed"][reason] += 1
    return dict(by_kind)


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "–"


def report_real(results: dict[str, dict[str, Any]]) -> str:
    rows = [
        "| genre | docs | removed | words trimmed (kept docs) | docs trimmed | removals by rule |"
    ]
    rows.append("| --- | --- | --- | --- | --- | --- |")
    for genre, s in sorted(results.items()):
        removed = sum(s["removed"].values())
        rules = ", ".join(f"{r} {n}" for r, n in s["removed"].most_common()) or "–"
        rows.append(
            f"| {genre} | {s['docs']} | {removed} ({_pct(removed, s['docs'])}) | "
            f"{_pct(s['words_trimmed'], s['words_in'])} | "
            f"{s['docs_trimmed']} ({_pct(s['docs_trimmed'], s['docs'] - removed)}) | {rules} |"
        )
    return "\n".join(rows)


def report_sample(results: dict[str, dict[str, Any]]) -> str:
    rows = ["| truth kind | HTML pages | reach the quality filters | removed by them | by rule |"]
    rows.append("| --- | --- | --- | --- | --- |")
    for kind, s in sorted(results.items()):
        removed = sum(s["removed"].values())
        rules = ", ".join(f"{r} {n}" for r, n in s["removed"].most_common()) or "–"
        rows.append(
            f"| {kind} | {s['pages']} | {s['reach']} | {removed} ({_pct(removed, s['reach'])}) "
            f"| {rules} |"
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--real", type=Path, default=DEFAULT_REAL, help="build.py's output folder")
    parser.add_argument("--genres", help="comma-separated genres of clean.jsonl (default: all)")
    parser.add_argument("--sample", action="store_true", help="also measure the sample crawl")
    args = parser.parse_args()
    genres = set(args.genres.split(",")) if args.genres else None
    print(report_real(measure_real(args.real / "clean.jsonl", genres)))
    if args.sample:
        print()
        print(report_sample(measure_sample()))


if __name__ == "__main__":
    main()
