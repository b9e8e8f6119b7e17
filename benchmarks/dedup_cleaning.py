"""The whole cleaning recipe on one dump of short documents, with a large dedup index behind it.

    python benchmarks/dedup_cleaning.py --docs 20000 --behind 1000000

Builds an index of `--behind` earlier documents (dedup_index.py's synthetic dumps, through the
dedup blocks), then cleans a small earlier dump of documents like the cleaned one into it, then
cleans one dump of `--docs` short Arabic-like documents (every block of the config, `workers` 2,
10 % of them copies or near copies of that small dump; made batch by batch as they are read, so
that the input is not what is measured) twice in a child process: once with only the small dump
in the index, once with the large index behind it too. Samples the RSS of the child and its
workers (cleaning_memory.py's Watcher); docs/s leaves out the time spent making the documents.
Flat: the same peak and docs/s with and without the large index. Writes a section of
docs/benchmarks/minhash.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from cleaning_memory import Watcher  # noqa: E402
from dedup_index import Blocks, Corpus, write_section  # noqa: E402

from native_pipeline.settings import load_settings  # noqa: E402
from native_pipeline.text.blocks import Document  # noqa: E402
from native_pipeline.text.cleaning import Cleaning  # noqa: E402
from native_pipeline_tests.text.arabic import PREFIXES, ROOTS, SUFFIXES  # noqa: E402

SECTION = "## cleaned_text with the index behind it"
STOP = "في من على إلى أن هذا التي الذي كان مع عن هذه بين قد".split()  # noqa: SIM905


def short_doc(rng: random.Random) -> str:
    """Two lines of three sentences of 8-14 words: passes the language and quality filters."""

    def sentence() -> str:
        w = [
            rng.choice(STOP)
            if rng.random() < 0.3
            else rng.choice(PREFIXES) + rng.choice(ROOTS) + rng.choice(SUFFIXES)
            for _ in range(rng.randint(8, 14))
        ]
        return " ".join(w) + "."

    return "\n".join(" ".join(sentence() for _ in range(3)) for _ in range(2))


def meta(doc_id: str) -> dict[str, str]:
    """What raw_crawl records of a plain-text page."""
    return {"url": f"https://example.org/{doc_id}", "content_type": "text/plain"}


def earlier_dump(n: int, rng: random.Random) -> list[Document]:
    """The small earlier dump: n/10 documents."""
    return [Document(f"E-{i}", short_doc(rng), meta(f"E-{i}")) for i in range(n // 10)]


def dump_to_clean(n: int) -> Iterator[list[Document]]:
    """The dump to clean, in batches of the config's size, made as they are read (as raw_crawl's
    Parquet parts are streamed): n documents, one in ten a copy (or a copy with its last word
    changed) of a document of the earlier dump."""
    rng = random.Random(0)
    earlier = earlier_dump(n, rng)
    size = load_settings().cleaning.batch_size
    for first in range(0, n, size):
        batch = []
        for i in range(first, min(first + size, n)):
            text = short_doc(rng)
            if rng.random() < 0.1:
                text = rng.choice(earlier).text
                text = text if rng.random() < 0.5 else text.rsplit(" ", 1)[0] + " وقف."
            batch.append(Document(f"Z-{i}", text, meta(f"Z-{i}")))
        yield batch


def build(index: Path, behind: int, n: int) -> None:
    """The large index (10 synthetic dumps of behind/10 through the dedup blocks: their text is
    folded already), then the small earlier dump, cleaned and committed as the pipeline does
    (near_dedup shingles folded text: signatures of the raw text would match nothing)."""
    blocks = Blocks(index, in_memory=False)
    corpus = Corpus(behind // 10)
    for k in range(10 if behind else 0):
        blocks.start(f"C{k:02d}")
        for docs in corpus.dump(k, 4096):
            blocks(docs)
        blocks.finish()
    settings = load_settings()
    earlier, size = earlier_dump(n, random.Random(0)), settings.cleaning.batch_size
    run = Cleaning(settings.cleaning.blocks, index, "E", 2, 60.0, settings.harm)
    for _ in run.run(earlier[i : i + size] for i in range(0, len(earlier), size)):
        pass
    run.commit()


def child(index: Path, n: int) -> None:
    settings = load_settings()
    run = Cleaning(settings.cleaning.blocks, index, "Z", 2, 60.0, settings.harm)
    making = 0.0  # seconds spent making the documents, not the stage's

    def batches() -> Iterator[list[Document]]:
        nonlocal making
        source = dump_to_clean(n)
        while True:
            start = time.perf_counter()
            batch = next(source, None)
            making += time.perf_counter() - start
            if batch is None:
                return
            yield batch

    start = time.perf_counter()
    kept = removed = 0
    for out, decisions in run.run(batches()):
        kept += len(out)
        removed += sum(d.action == "removed" and d.stage.endswith("dedup") for d in decisions)
    seconds = time.perf_counter() - start - making
    result = {"seconds": seconds, "making": making, "kept": kept, "dedup_removed": removed}
    print(json.dumps(result))


def measure(index: Path, n: int) -> dict:
    command = [sys.executable, __file__, "--child", str(index), "--docs", str(n)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    watcher = Watcher(proc.pid)
    thread = watcher.start()
    stdout, _ = proc.communicate()
    thread.join()
    if proc.returncode:
        raise SystemExit(f"the cleaning child failed: {proc.returncode}")
    result = json.loads(stdout.strip().splitlines()[-1])
    peak = watcher.peak()
    return {**result, "main": peak.main, "total": peak.main + peak.workers}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--docs", type=int, default=20_000)
    parser.add_argument("--behind", type=int, default=1_000_000)
    parser.add_argument("--child")
    args = parser.parse_args()
    if args.child:
        child(Path(args.child), args.docs)
        return
    work = HERE / ".work" / "dedup_cleaning"
    results = {}
    for behind in (0, args.behind):
        shutil.rmtree(work, ignore_errors=True)
        build(work / "index", behind, args.docs)
        results[behind] = measure(work / "index", args.docs)
        print(behind, results[behind], flush=True)
    shutil.rmtree(work, ignore_errors=True)
    gib = 2**30
    lines = [
        SECTION,
        "",
        f"- {dt.date.today().isoformat()}, the machine above; `python "
        f"benchmarks/dedup_cleaning.py --docs {args.docs} --behind {args.behind}`; "
        f"load average {' / '.join(f'{x:.1f}' for x in os.getloadavg())} at the end",
        "",
        "| earlier documents in the index | docs/s | removed as duplicates | peak RSS, main "
        "| peak RSS, main + workers |",
        "|---:|---:|---:|---:|---:|",
    ]
    for behind, r in results.items():
        lines.append(
            f"| {behind + args.docs // 10:,} | {args.docs / r['seconds']:,.0f} | "
            f"{r['dedup_removed']:,} | {r['main'] / gib:.2f} GiB | {r['total'] / gib:.2f} GiB |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    write_section(text, SECTION)


if __name__ == "__main__":
    main()
