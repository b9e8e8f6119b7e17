"""Benchmark main-text extraction on real Arabic pages and on the embedded sample crawl.

Quality: Arabic word tokens of what reaches the corpus (the extract passed through the blocks
that follow it in `cleaned_text`: normalize, then C4's line filter) against the page's gold main
text, with `native_pipeline.text.extract_score.token_prf` (the tests use the same function);
precision, recall and F1 per page, averaged; the extract alone is scored too.
Speed: pages per CPU-second (process time, one pinned core), best of `--repeat` passes, and
the ratio to trafilatura (`extract(html)` with its defaults) measured in the same run.

    python benchmarks/extraction.py [--real DIR] [--crawl DIR --truth FILE] [--repeat N]

`--real DIR` reads the real-data regression set (DIR/pages.jsonl: id, page_type, html_file
relative to DIR, gold_text, held_out) and reports its held-out pages first, then the
development pages, their tuning half and test half (split by a hash of the id) and each type.
Without it, the embedded sample crawl is read with the pipeline's own WARC reader and joined to
its truth file by url; its page type is the sample site's layout.

Prints markdown tables for docs/benchmarks/extraction.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from statistics import fmean
from typing import Any
from urllib.parse import urlparse

from native_pipeline.sample.pages import SITES
from native_pipeline.settings import load_settings
from native_pipeline.text.blocks import Document
from native_pipeline.text.cleaning import STATELESS
from native_pipeline.text.extract import LIBRARIES, Options
from native_pipeline.text.extract_score import token_prf, tokens
from native_pipeline.text.normalize import Normalizer, normalize
from native_pipeline.text.quality import C4Filter
from native_pipeline.text.warc import HTML_TYPES, RawRecord, ReadStats, read_dump

SAMPLE = Path(__file__).resolve().parents[1] / "native_pipeline" / "sample" / "crawl"
# Quality depends on the page layout more than on the text, so the sample is scored by layout
LAYOUTS = {site.domain: site.layout for site in SITES.values()}


@dataclass(frozen=True, slots=True)
class Page:
    page_id: str
    page_type: str
    html: str
    truth: str
    # "full": truth is the whole main text; "prefix": its beginning (recall only);
    # "snippets": lines that must all be kept, and `without` strings that must all be gone
    kind: str = "full"
    without: tuple[str, ...] = ()
    held_out: bool = False  # frozen before the extractor was last worked on: reported first


def load_sample(crawl: Path, truth_file: Path) -> list[Page]:
    """HTML responses of the crawl, read as the pipeline reads them, joined to truth by url."""
    with truth_file.open(encoding="utf-8") as lines:
        truth = {row["url"]: row for row in map(json.loads, lines)}
    records = (
        record
        for dump in sorted(p for p in crawl.iterdir() if p.is_dir())
        for record in read_dump(dump, dump.name, ReadStats())
    )
    return [
        Page(r.url, LAYOUTS.get(urlparse(r.url).netloc, "?"), r.content, truth[r.url]["main_text"])
        for r in records
        if isinstance(r, RawRecord) and r.content_type in HTML_TYPES and r.url in truth
    ]


def load_real(root: Path) -> list[Page]:
    """The regression set's pages (HTML files are UTF-8 text as stored by its builder)."""
    with (root / "pages.jsonl").open(encoding="utf-8") as lines:
        rows = [json.loads(line) for line in lines if line.strip()]
    return [
        Page(
            row["id"],
            row["page_type"],
            (root / row["html_file"]).read_text(encoding="utf-8", errors="replace"),
            row["gold_text"],
            row.get("gold_kind", "full"),
            tuple(row.get("gold_without", ())),
            row.get("held_out", False),
        )
        for row in rows
    ]


def half(page: Page) -> str:
    """'held-out', or for the development pages 'tune' or 'test', fixed by a hash of the page
    id so the split never moves."""
    if page.held_out:
        return "held-out"
    return "tune" if hashlib.sha256(page.page_id.encode()).digest()[0] % 2 == 0 else "test"


def _ours(library: str, **options: object) -> Callable[[str], str]:
    extract, opts = LIBRARIES[library], Options(**options)
    return lambda html: extract(html, opts).text


def _trafilatura_defaults() -> Callable[[str], str]:
    """trafilatura as its README calls it: `extract(html)`, every argument at its default."""
    from trafilatura import extract

    return lambda html: extract(html) or ""


CANDIDATES: dict[str, Callable[[], Callable[[str], str]]] = {
    "scored (resiliparse + Arabic block scoring)": lambda: _ours("scored"),
    "resiliparse (main_content)": lambda: _ours("resiliparse"),
    "trafilatura switch (balanced, tables, no comments)": lambda: _ours("trafilatura"),
    "trafilatura switch, favor precision (its former default)": lambda: _ours(
        "trafilatura", favor="precision"
    ),
    "trafilatura extract(), all its defaults": _trafilatura_defaults,
}
PEER = "trafilatura extract(), all its defaults"  # the speed ratio is against this one


def _pages_per_second(extract: Callable[[str], str], pages: list[Page], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        # CPU time of this process: the machine is shared, so wall time counts other jobs too
        start = time.process_time()
        for page in pages:
            extract(page.html)
        best = min(best, time.process_time() - start)
    return len(pages) / best


def after_line_filters(text: str) -> str:
    """What reaches the corpus: the pipeline's next blocks, normalize then C4's line filter."""
    docs = [Document("page", text, {})] if text.strip() else []
    for block in (Normalizer(), C4Filter()):
        docs = block(docs)
    return docs[0].text if docs else ""


def score(text: str, page: Page) -> dict[str, float]:
    """The scores the page's kind of gold allows: P/R/F1, recall, or snippets passed."""
    if page.kind == "full":
        return dict(zip(("p", "r", "f1"), token_prf(text, page.truth), strict=True))
    if page.kind == "prefix":
        return {"r_prefix": token_prf(text, page.truth)[1]}
    text = normalize(text)
    kept = all(normalize(s) in text for s in page.truth.split("\n") if s.strip())
    return {"snippets": float(kept and not any(normalize(w) in text for w in page.without))}


def _means(scores: list[dict[str, float]]) -> dict[str, float]:
    keys = {k for s in scores for k in s}
    return {k: fmean(s[k] for s in scores if k in s) for k in keys}


def evaluate(name: str, pages: list[Page], repeat: int, real: bool) -> dict[str, Any]:
    extract = CANDIDATES[name]()
    extracts = [extract(page.html) for page in pages]
    cleaned = [after_line_filters(text) for text in extracts]
    raw = [score(t, p) for t, p in zip(extracts, pages, strict=True)]
    corpus = [score(c, p) for c, p in zip(cleaned, pages, strict=True)]
    # "all": the development pages (every page where none is held out)
    groups: dict[str, list[int]] = {"all": [i for i, p in enumerate(pages) if not p.held_out]}
    if real:
        for i, page in enumerate(pages):
            groups.setdefault(half(page), []).append(i)
    for i, page in sorted(enumerate(pages), key=lambda ip: ip[1].page_type):
        if not page.held_out:
            groups.setdefault(f"type {page.page_type}", []).append(i)
    return {
        "name": name,
        "groups": {
            group: {
                "n": len(idx),
                "raw": _means([raw[i] for i in idx]),
                "corpus": _means([corpus[i] for i in idx]),
                # pages with gold text of which nothing reaches the corpus
                "lost": fmean(not tokens(cleaned[i]) for i in idx),
            }
            for group, idx in groups.items()
        },
        "pages_per_s": _pages_per_second(CANDIDATES[name](), pages, repeat),
    }


def cleaning_share(pages: list[Page], library: str) -> tuple[float, float]:
    """CPU seconds of `extract` and of all of cleaned_text's stateless blocks (extract,
    normalize, language, quality filters, PII, harm; the config's settings, `library` as
    extractor) over the pages, in one process. Dedup and Parquet I/O are left out, so the
    share is an upper bound of extraction's share of the whole asset."""
    settings = dict(load_settings().cleaning.blocks)
    settings["extract"] = {**settings.get("extract", {}), "library": library}
    docs = [Document(p.page_id, p.html, {"content_type": "text/html"}) for p in pages]
    seconds = []
    for cls in STATELESS:
        block = cls(**settings.get(cls.name, {}))
        start = time.process_time()
        docs = block(docs)
        seconds.append(time.process_time() - start)
    return seconds[0], sum(seconds)


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = [header, ["---"] * len(header), *rows]
    return ["| " + " | ".join(cells) + " |" for cells in lines]


def report(
    results: list[dict[str, Any]],
    pages: list[Page],
    source: str,
    shares: dict[str, tuple[float, float]],
) -> str:
    kb = fmean(len(p.html.encode()) for p in pages) / 1000
    types = Counter(p.page_type for p in pages)
    head = [
        f"{date.today()}, {os.cpu_count()} cores, {_cpu_model()}, one pinned core, "
        f"Python {platform.python_version()}; {source}: {len(pages)} pages, mean {kb:.0f} KB "
        f"({', '.join(f'{k} {n}' for k, n in sorted(types.items()))})",
        "",
    ]
    peer = next(r["pages_per_s"] for r in results if r["name"] == PEER)

    def cell(values: dict[str, float], key: str, fmt: str = ".3f") -> str:
        return format(values[key], fmt) if key in values else "-"

    def overall(group: str) -> list[str]:
        return _table(
            [
                "extractor",
                "P",
                "R",
                "F1",
                "P extract alone",
                "F1 extract alone",
                "R prefix",
                "snippets ok",
                "lost",
                "pages/CPU-s",
                "x trafilatura",
            ],
            [
                [
                    r["name"],
                    *(cell(r["groups"][group]["corpus"], k) for k in ("p", "r", "f1")),
                    *(cell(r["groups"][group]["raw"], k) for k in ("p", "f1")),
                    cell(r["groups"][group]["corpus"], "r_prefix"),
                    cell(r["groups"][group]["corpus"], "snippets", ".0%"),
                    f"{r['groups'][group]['lost']:.1%}",
                    f"{r['pages_per_s']:.0f}",
                    f"{r['pages_per_s'] / peer:.1f}",
                ]
                for r in results
            ],
        )

    held_out = "held-out" in results[0]["groups"]
    main = [
        *([f"held-out pages ({results[0]['groups']['held-out']['n']})", ""] if held_out else []),
        *(overall("held-out") if held_out else []),
        *(["", f"development pages ({results[0]['groups']['all']['n']})", ""] if held_out else []),
        *overall("all"),
    ]
    groups = [g for g in results[0]["groups"] if g not in ("all", "held-out")]

    def summary(values: dict[str, float]) -> str:
        """F1 where the group has full gold texts, else prefix recall, else snippets passed."""
        if "f1" in values:
            return f"F1 {values['f1']:.3f}"
        if "r_prefix" in values:
            return f"R {values['r_prefix']:.3f}"
        return f"ok {values['snippets']:.0%}"

    by_group = _table(
        ["reaching the corpus", *(f"{g} ({results[0]['groups'][g]['n']})" for g in groups)],
        [[r["name"], *(summary(r["groups"][g]["corpus"]) for g in groups)] for r in results],
    )
    lines = [*head, *main, "", *by_group]
    if shares:
        lines += [
            "",
            *_table(
                [
                    "extractor in cleaned_text",
                    "extract CPU-s",
                    "all stateless blocks CPU-s",
                    "share",
                ],
                [[k, f"{e:.3f}", f"{t:.3f}", f"{e / t:.0%}"] for k, (e, t) in shares.items()],
            ),
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--real", type=Path, help="the real-data regression set's folder")
    parser.add_argument("--crawl", type=Path, default=SAMPLE)
    parser.add_argument("--truth", type=Path, default=SAMPLE / "truth.jsonl")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", nargs="*", choices=list(CANDIDATES), help="a subset to run")
    parser.add_argument(
        "--cleaning",
        action="store_true",
        help="also time extraction's share of cleaned_text's stateless blocks, per library",
    )
    args = parser.parse_args()
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # speed on one core
    if args.real:
        pages, source = load_real(args.real), f"real-data regression set {args.real}"
    else:
        pages, source = load_sample(args.crawl, args.truth), "embedded sample crawl"
    # only pages whose gold text is in Arabic script are scored (not the English/French ones)
    pages = [p for p in pages if tokens(p.truth)]
    if not pages:
        raise SystemExit("no pages with Arabic gold text")
    names = args.only or list(CANDIDATES)
    if PEER not in names:
        names.append(PEER)
    results = [evaluate(name, pages, args.repeat, bool(args.real)) for name in names]
    shares = {}
    if args.cleaning:
        cleaning_share(pages, "resiliparse")  # warm-up: models load on first use
        # best of --repeat runs (by total), the libraries taking turns so load hits all alike
        runs = [
            {lib: cleaning_share(pages, lib) for lib in ("scored", "resiliparse", "trafilatura")}
            for _ in range(args.repeat)
        ]
        shares = {lib: min((run[lib] for run in runs), key=lambda et: et[1]) for lib in runs[0]}
    print(report(results, pages, source, shares))


if __name__ == "__main__":
    main()
