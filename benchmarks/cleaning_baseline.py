"""The cleaning baseline (the `cleaned` variant's RefinedWeb-style rules) against datatrove's
RefinedWeb-style filters, on the same input: agreement per document, and speed as a ratio.

    python benchmarks/cleaning_baseline.py --peer-python /path/to/venv-with-datatrove/bin/python

Each contender runs in its own process (ours in this interpreter's environment, datatrove in
the peer's), one filter call per document in a single process, and writes its verdicts:
- documents: the real-data set (`/work/realdata/clean.jsonl`, `--docs`) through Gopher's
  repetition and quality rules at Gopher's published thresholds (the config's baseline; they are
  datatrove's defaults), datatrove with its Arabic word tokenizer (spaCy's blank "ar") and our
  Arabic stop words; RefinedWeb's line-wise corrections (no datatrove peer) are counted alone;
- URLs: the sample crawl's URLs and one URL per 500th domain of datatrove's bundled UT1
  blocklist, through datatrove's `URLFilter` with its integrated lists and through our
  `url_blocklist` given the same lists (domains file, banned and soft-banned words).
Writes docs/benchmarks/cleaning_baseline.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tarfile
import time
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "benchmarks" / ".work" / "cleaning_baseline"
DOCS = Path("/work/realdata/clean.jsonl")
# Gopher's published thresholds: the config's baseline and datatrove's defaults.
GOPHER_QUALITY = {
    "min_words": 50,
    "max_words": 100_000,
    "min_avg_word_length": 3,
    "max_avg_word_length": 10,
    "max_symbol_word_ratio": 0.1,
    "max_bullet_lines_ratio": 0.9,
    "max_ellipsis_lines_ratio": 0.3,
    "min_alpha_words_ratio": 0.8,
    "min_stop_words": 2,
}


# What the numbers mean, whatever the run (the table above says how often each case occurs).
WHY = """Why they differ. Both sides run Gopher's rules at Gopher's thresholds; they split words
differently. datatrove uses spaCy's blank Arabic tokenizer, in which punctuation marks and figures
are words: its alpha-word ratio counts them against a document (the documents only datatrove
removes, `gopher_below_alpha_threshold`, are Wikipedia articles with a median of 0.085 figures
per word, the set's 0.033: dates and numbers), and its top n-grams include punctuation
(`top_4_gram`). Ours strips
punctuation from words and does not count figures either way (text/quality.py, fitted to Arabic
and measured in docs/benchmarks/real_data.md). On URLs both read the same UT1 lists; the ones
only ours removes are blocked IP addresses, which datatrove's public-suffix lookup gives no
domain for. RefinedWeb's line-wise rules have no datatrove block; on this clean set they remove
Wikipedia pages whose heading, year-list and bare-URL lines are over 5 % of their words.

The contenders ran one after the other in one invocation, each in its own process, a filter call
per document; the machine was shared with other jobs (load average 7.7 to 10.4 on 2 cores), so
the seconds are inflated for both and the ratio is the figure to read."""


def _read_docs(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def _urls(work: Path) -> list[str]:
    from native_pipeline.sample import TRUTH

    sample = [json.loads(line)["url"] for line in TRUTH.read_text().splitlines()]
    domains = sorted((work / "lists" / "domains").read_text().split())
    return sample + [f"https://{d}/page/1" for d in domains[::500]]


def _timed(verdicts: Any) -> tuple[list[Any], float]:
    started = time.perf_counter()
    result = list(verdicts)
    return result, time.perf_counter() - started


def run_ours(docs: list[dict[str, str]], urls: list[str], work: Path) -> dict[str, Any]:
    from native_pipeline.text.blocks import Document
    from native_pipeline.text.quality import (
        GopherQualityFilter,
        GopherRepetitionFilter,
        RefinedWebLineFilter,
    )
    from native_pipeline.text.url_filter import URLBlocklist

    assets = Path(_peer_assets(work))
    url_filter = URLBlocklist(
        domains_file=work / "lists" / "domains",
        banned_words=_word_list(assets / "banned_words.txt"),
        soft_banned_words=_word_list(assets / "soft_banned_words.txt"),
    )
    repetition = GopherRepetitionFilter(
        dup_line_frac=0.3,
        dup_para_frac=0.3,
        dup_line_char_frac=0.2,
        dup_para_char_frac=0.2,
        top_n_grams=((2, 0.2), (3, 0.18), (4, 0.16)),
        dup_n_grams=((5, 0.15), (6, 0.14), (7, 0.13), (8, 0.12), (9, 0.11), (10, 0.1)),
    )
    quality = GopherQualityFilter(**GOPHER_QUALITY)
    lines = RefinedWebLineFilter()

    def verdict(block: Any, doc: Any) -> str | None:
        rejected = block.reject(doc)
        return rejected[0] if rejected else None

    texts = [Document(d["id"], d["text"]) for d in docs]
    out: dict[str, Any] = {}
    for name, block in (("repetition", repetition), ("quality", quality), ("lines", lines)):
        out[name], out[f"{name}_s"] = _timed(verdict(block, doc) for doc in texts)
    pages = [Document(str(i), "", {"url": u}) for i, u in enumerate(urls)]
    out["url"], out["url_s"] = _timed(verdict(url_filter, page) for page in pages)
    return out


def _word_list(path: Path) -> list[str]:
    return [w for w in path.read_text().split("\n") if w and not w.startswith("#")]


def _peer_assets(work: Path) -> str:
    return (work / "assets_path").read_text().strip()


def run_datatrove(docs: list[dict[str, str]], urls: list[str], work: Path) -> dict[str, Any]:
    from datatrove.data import Document
    from datatrove.pipeline.filters import GopherQualityFilter, GopherRepetitionFilter, URLFilter

    from native_pipeline.text.quality import STOP_WORDS_AS_WRITTEN

    lang = "arb_Arab"
    repetition = GopherRepetitionFilter(language=lang)
    quality = GopherQualityFilter(language=lang, stop_words=list(STOP_WORDS_AS_WRITTEN))
    url_filter = URLFilter()

    def verdict(block: Any, doc: Any) -> str | None:
        kept = block.filter(doc)
        if kept is True:
            return None
        return kept[1] if isinstance(kept, tuple) else "removed"

    texts = [Document(text=d["text"], id=d["id"]) for d in docs]
    out: dict[str, Any] = {}
    for name, block in (("repetition", repetition), ("quality", quality)):
        out[name], out[f"{name}_s"] = _timed(verdict(block, doc) for doc in texts)
    url_filter.download_data()  # the lists' loading is not the filter's speed
    pages = [Document(text="", id=str(i), metadata={"url": u}) for i, u in enumerate(urls)]
    out["url"], out["url_s"] = _timed(verdict(url_filter, page) for page in pages)
    return out


def prepare(work: Path, peer_python: str) -> None:
    """Unpack datatrove's bundled UT1 domain list, for both contenders."""
    assets = subprocess.run(
        [peer_python, "-c", "from datatrove.utils._import_utils import ASSETS_PATH as a; print(a)"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (work / "lists").mkdir(parents=True, exist_ok=True)
    (work / "assets_path").write_text(assets)
    with tarfile.open(Path(assets) / "url_filterblacklistsv0_3_0.tar.gz") as tar:
        tar.extractall(work / "lists", filter="data")


def _agreement(ours: list[str | None], theirs: list[str | None]) -> tuple[float, int, int]:
    """(share of items both keep or both remove, removed by ours only, by theirs only)."""
    same = sum((a is None) == (b is None) for a, b in zip(ours, theirs, strict=True))
    only_ours = sum(a is not None and b is None for a, b in zip(ours, theirs, strict=True))
    only_theirs = sum(a is None and b is not None for a, b in zip(ours, theirs, strict=True))
    return same / len(ours), only_ours, only_theirs


def report(ours: dict[str, Any], theirs: dict[str, Any], docs: int, urls: int) -> str:
    rows = []
    for name, n in (("repetition", docs), ("quality", docs), ("url", urls)):
        share, only_ours, only_theirs = _agreement(ours[name], theirs[name])
        removed = (sum(v is not None for v in ours[name]), sum(v is not None for v in theirs[name]))
        rows.append(
            f"| {name} | {n:,} | {removed[0]:,} / {removed[1]:,} | {share:.2%} | {only_ours} / "
            f"{only_theirs} | {ours[f'{name}_s']:.2f} / {theirs[f'{name}_s']:.2f} | "
            f"{theirs[f'{name}_s'] / ours[f'{name}_s']:.2f}x |"
        )
    lines_removed = sum(v is not None for v in ours["lines"])
    disagreements = [
        f"- {name}: "
        + ", ".join(
            f"{n} {a or 'kept'} (ours) / {b or 'kept'} (datatrove)"
            for (a, b), n in Counter(
                (a, b)
                for a, b in zip(ours[name], theirs[name], strict=True)
                if (a is None) != (b is None)
            ).most_common(3)
        )
        for name in ("repetition", "quality", "url")
    ]
    return "\n".join(
        [
            "| rule | items | removed (ours / datatrove) | agreement | removed only by (ours / "
            "datatrove) | seconds (ours / datatrove) | speed ratio (datatrove s / ours s) |",
            "|---|---|---|---|---|---|---|",
            *rows,
            "",
            "The most frequent disagreements (the rule each side named):",
            "",
            *disagreements,
            "",
            f"RefinedWeb's line-wise corrections (ours, no datatrove peer): {lines_removed:,} of "
            f"{docs:,} documents removed (over 5 % of their words in flagged lines), "
            f"{ours['lines_s']:.2f} s.",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--peer-python", default="/work/wt/paper-bench/bin/python")
    parser.add_argument("--docs", type=Path, default=DOCS)
    parser.add_argument("--work", type=Path, default=WORK)
    parser.add_argument("--contender", choices=("ours", "datatrove"))
    parser.add_argument("--report-only", action="store_true", help="from --work's verdicts")
    args = parser.parse_args()
    work = args.work
    if args.contender:  # one contender, in its own process
        docs, urls = _read_docs(args.docs), _urls(work)
        run = run_ours if args.contender == "ours" else run_datatrove
        (work / f"{args.contender}.json").write_text(json.dumps(run(docs, urls, work)))
        return
    if not args.report_only:
        prepare(work, args.peer_python)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        for contender, python in (("ours", sys.executable), ("datatrove", args.peer_python)):
            command = [python, __file__, "--contender", contender, "--docs", str(args.docs)]
            subprocess.run([*command, "--work", str(work)], check=True, env=env)
    ours, theirs = (json.loads((work / f"{c}.json").read_text()) for c in ("ours", "datatrove"))
    table = report(ours, theirs, len(ours["quality"]), len(ours["url"]))
    machine = f"{os.cpu_count()}-core {platform.machine()}"
    print(table)
    out = ROOT / "docs" / "benchmarks" / "cleaning_baseline.md"
    out.write_text(
        f"# The cleaning baseline vs datatrove's RefinedWeb-style filters\n\n"
        f"{date.today()}, {machine} machine, shared with other jobs (load in the text). "
        f"`python benchmarks/cleaning_baseline.py`; input: {args.docs} "
        f"({len(ours['quality']):,} documents) and {len(ours['url']):,} URLs.\n\n{table}\n\n"
        f"{WHY}\n"
    )


if __name__ == "__main__":
    main()
