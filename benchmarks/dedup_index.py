"""The dedup blocks alone across dumps: the on-disk index vs the in-memory one vs datasketch.

    python benchmarks/dedup_index.py --docs 1000000 --docs 10000000 [--dumps 10]

For each total, `--dumps` dumps of equal size are deduplicated one after the other, each
against all before it, by exact dedup then near dedup, with:

- `disk`: ExactDeduplicator + NearDeduplicator over the on-disk index (what cleaned_text runs);
- `memory`: the same blocks with `in_memory=True`, the earlier dumps loaded into memory (the
  index before it moved to disk), up to `--memory-up-to` documents;
- `datasketch`: datasketch's MinHash + MinHashLSH (16 bands x 8 rows, same threshold and
  accept_at) with a dict of content hashes for the exact copies, one LSH over all dumps, up to
  `--peers-up-to` documents.

Each tool runs in a child process of its own (`--child TOOL`); the blocks' seconds exclude
making the documents. Peak RSS is the child's `ru_maxrss` after each dump: flat means it stops
growing after the first dump. The disk and memory runs must make the same decisions: a digest
of every decision (doc_id, stage, score, detail) is compared.

Documents: short Arabic-like texts of 20-40 words drawn by a hash of (dump, number) from 30,000
words, so any document of any dump can be remade without keeping it. Of each dump after the
first, 5 % are exact copies of documents of earlier dumps, 10 % near copies of them (the last
word replaced: Jaccard of 5-grams ~0.93) and 5 % near copies of earlier documents of the same
dump. Writes a section of docs/benchmarks/minhash.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psutil
import xxhash

from native_pipeline.text.blocks import Decision, Document
from native_pipeline.text.dedup import (
    ExactDeduplicator,
    NearDeduplicator,
    SignatureIndex,
    commit,
    content_hash,
)
from native_pipeline.text.minhash import MinHashParams
from native_pipeline.text.normalize import words

HERE = Path(__file__).resolve().parent
OUT = HERE.parent / "docs" / "benchmarks" / "minhash.md"
WORK = HERE / ".work"
SECTION = "## The index across dumps"
PARAMS = MinHashParams()
LETTERS = [chr(c) for c in range(0x0628, 0x063B) if c != 0x0629] + ["ف", "ق", "ك", "ل", "م", "ن"]
VOCAB_SIZE = 30_000
MAX_WORDS = 40
U64 = np.uint64


# --- corpus -------------------------------------------------------------------------------


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a fixed, well-spread hash of each uint64."""
    x = (x ^ (x >> U64(30))) * U64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> U64(27))) * U64(0x94D049BB133111EB)
    return x ^ (x >> U64(31))


class Corpus:
    """Dump k's document i, remade on demand from a hash of (k, i)."""

    def __init__(self, per_dump: int) -> None:
        rng = np.random.default_rng(0)
        self.per_dump = per_dump
        letters = np.array(LETTERS)
        lengths = rng.integers(2, 8, VOCAB_SIZE)
        self.vocab = np.array(
            ["".join(letters[rng.integers(0, len(letters), n)]) for n in lengths], dtype=object
        )

    def origins(self, dumps: np.ndarray, docs: np.ndarray) -> list[list[str]]:
        """The words of the original documents (dump, doc)."""
        key = _mix((dumps.astype(U64) << U64(32)) | docs.astype(U64))
        n_words = 20 + (key % U64(21)).astype(np.int64)
        ids = _mix(key[:, None] + np.arange(1, MAX_WORDS + 1, dtype=U64)) % U64(VOCAB_SIZE)
        table = self.vocab[ids.astype(np.int64)]
        return [row[:n].tolist() for row, n in zip(table, n_words.tolist(), strict=True)]

    def dump(self, k: int, batch: int) -> Iterator[list[Document]]:
        for lo in range(0, self.per_dump, batch):
            i = np.arange(lo, min(lo + batch, self.per_dump), dtype=np.int64)
            h = _mix((U64(k + 1) << U64(40)) ^ i.astype(U64))
            u = (h >> U64(11)).astype(np.float64) / 2.0**53
            src_dump, src_doc = np.full(len(i), k), i.copy()
            if k:
                earlier = u < 0.15  # 5 % exact, 10 % near copies of earlier dumps
                src_dump[earlier] = (h[earlier] >> U64(3)) % U64(k)
                src_doc[earlier] = (h[earlier] >> U64(17)) % U64(self.per_dump)
            within = (u >= 0.15) & (u < 0.20) & (i > 0)  # 5 % near copies within the dump
            src_doc[within] = (h[within] >> U64(17)) % i[within].astype(U64)
            texts = self.origins(src_dump, src_doc)
            edited = (k > 0) & (u >= 0.05) & (u < 0.15) | within
            for j in np.flatnonzero(edited).tolist():
                texts[j][-1] = self.vocab[int(h[j] % U64(VOCAB_SIZE))]
            yield [
                Document(f"D{k:02d}-{n}", " ".join(t))
                for n, t in zip(i.tolist(), texts, strict=True)
            ]


# --- tools (each in a child process) ------------------------------------------------------


class Blocks:
    """The project's two dedup blocks, on the on-disk index or the in-memory one."""

    def __init__(self, root: Path, in_memory: bool) -> None:
        self.index, self.in_memory = SignatureIndex(root), in_memory

    def start(self, dump: str) -> None:
        self.dump = dump
        self.exact = ExactDeduplicator(self.index, dump, in_memory=self.in_memory)
        self.near = NearDeduplicator(self.index, dump, key=str, in_memory=self.in_memory)

    def __call__(self, docs: list[Document]) -> list[Decision]:
        self.near(self.exact(docs))
        return self.exact.drain()[0] + self.near.drain()[0]

    def finish(self) -> None:
        commit(self.index, self.dump, self.exact, self.near)


class Datasketch:
    """datasketch's usual loop: exact hashes in a dict, then query, verify, insert if unique."""

    def __init__(self, root: Path, in_memory: bool) -> None:
        from datasketch import MinHashLSH

        self.lsh = MinHashLSH(PARAMS.threshold, PARAMS.num_perm, params=(PARAMS.bands, PARAMS.rows))
        self.hashes: dict[int, str] = {}
        self.kept: dict[str, object] = {}

    def start(self, dump: str) -> None:
        pass

    def __call__(self, docs: list[Document]) -> list[Decision]:
        from datasketch import MinHash

        decisions, n = [], PARAMS.ngram
        for doc in docs:
            h = content_hash(doc.text)
            if h in self.hashes:
                decisions.append(Decision(doc.doc_id, "exact", "removed", "", None, self.hashes[h]))
                continue
            w = words(doc.text)
            shingles = {" ".join(w[k : k + n]).encode() for k in range(max(len(w) - n + 1, 1))}
            m = MinHash(num_perm=PARAMS.num_perm, seed=PARAMS.seed)
            m.update_batch(list(shingles))
            match = [k for k in self.lsh.query(m) if m.jaccard(self.kept[k]) >= PARAMS.accept_at]
            if match:
                decisions.append(Decision(doc.doc_id, "near", "removed", "", None, min(match)))
            else:
                self.hashes[h] = doc.doc_id
                self.lsh.insert(doc.doc_id, m)
                self.kept[doc.doc_id] = m
        return decisions

    def finish(self) -> None:
        pass


TOOLS = {"disk": (Blocks, False), "memory": (Blocks, True), "datasketch": (Datasketch, False)}


def child(tool: str, total: int, dumps: int, batch: int) -> None:
    corpus = Corpus(total // dumps)
    make, in_memory = TOOLS[tool]
    with tempfile.TemporaryDirectory(dir=WORK) as work:
        runner = make(Path(work) / "index", in_memory)
        digest = xxhash.xxh3_128()
        rows = []
        for k in range(dumps):
            runner.start(f"D{k:02d}")
            seconds, removed = 0.0, Counter[str]()
            for docs in corpus.dump(k, batch):
                start = time.perf_counter()
                decisions = runner(docs)
                seconds += time.perf_counter() - start
                for d in decisions:
                    removed[d.stage] += 1
                    digest.update(f"{d.doc_id} {d.stage} {d.score} {d.detail}\n".encode())
            start = time.perf_counter()
            runner.finish()
            seconds += time.perf_counter() - start
            size = sum(p.stat().st_size for p in Path(work).rglob("*") if p.is_file())
            rows.append(
                {
                    "seconds": seconds,
                    "removed": dict(removed),
                    "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                    "rss": psutil.Process().memory_info().rss,
                    "disk_bytes": size,
                }
            )
            print(json.dumps({"dump": k, **rows[-1]}), file=sys.stderr, flush=True)
    print(json.dumps({"dumps": rows, "digest": digest.hexdigest()}))


# --- parent -------------------------------------------------------------------------------


def run_child(tool: str, total: int, dumps: int, batch: int, deadline: float | None) -> dict:
    """The child's result; past `deadline` seconds the child is stopped and the dumps it
    finished are the result (`partial`)."""
    command = [sys.executable, __file__, "--child", tool, "--docs", str(total)]
    command += ["--dumps", str(dumps), "--batch", str(batch)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    timer = threading.Timer(deadline, proc.kill) if deadline else None
    if timer:
        timer.start()
    rows = [json.loads(line) for line in proc.stderr or () if line.startswith('{"dump"')]
    stdout = (proc.stdout.read() if proc.stdout else "").strip()
    proc.wait()
    if timer:
        timer.cancel()
    if stdout:
        return json.loads(stdout)
    if not rows:
        raise SystemExit(f"{tool} at {total:,} documents failed before its first dump")
    return {"dumps": rows, "digest": None, "partial": True}


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def render(results: dict[str, dict], batch: int) -> str:
    gib = 2**30
    lines = [
        SECTION,
        "",
        f"- machine: {os.cpu_count()} cores, {cpu_model()}, "
        f"{psutil.virtual_memory().total / gib:.0f} GiB, shared with other work",
        f"- `python benchmarks/dedup_index.py --docs N` (batches of {batch} documents, one "
        "process per tool, the blocks' seconds only; peak RSS is the process's)",
        "",
        "| date, load at the start | documents | tool | docs/s | x datasketch | x in-memory "
        "| peak RSS after dump 1 | mid-way | after the last dump | removed exact / near "
        "| index on disk |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for total, entry in sorted(results.items(), key=lambda item: int(item[0])):
        runs = entry["tools"]
        per_dump = int(total) // entry["dumps"]
        docs = {t: per_dump * len(r["dumps"]) for t, r in runs.items()}
        rate = {t: docs[t] / sum(d["seconds"] for d in r["dumps"]) for t, r in runs.items()}
        for tool, r in runs.items():
            ds = f"{rate[tool] / rate['datasketch']:.1f}" if "datasketch" in rate else "-"
            mem = f"{rate[tool] / rate['memory']:.2f}" if "memory" in rate else "-"
            reached = len(r["dumps"])
            peaks = [r["dumps"][i]["peak_rss"] / gib for i in (0, reached // 2 - 1, reached - 1)]
            removed = Counter[str]()
            for d in r["dumps"]:
                removed.update(d["removed"])
            exact = removed["exact_dedup"] + removed["exact"]
            near = removed["near_dedup"] + removed["near"]
            size = f"{r['dumps'][-1]['disk_bytes'] / gib:.2f} GiB" if tool != "datasketch" else "-"
            shown = f"{docs[tool]:,}"
            if r.get("partial"):
                shown += f" ({reached} of {entry['dumps']} dumps of {int(total):,} in the time)"
            lines.append(
                f"| {r.get('date', entry.get('date'))}, {r.get('load', entry.get('load'))} "
                f"| {shown} | {tool} | {rate[tool]:,.0f} | "
                f"{ds} | {mem} | "
                + " | ".join(f"{p:.2f} GiB" for p in peaks)
                + f" | {exact:,} / {near:,} | {size} |"
            )
        if "memory" in runs:
            same = "yes" if runs["memory"]["digest"] == runs["disk"]["digest"] else "**no**"
            lines.append(
                f"| | {int(total):,} | disk and in-memory: same decisions? {same} | | | | | | | | |"
            )
    largest = max(results, key=int)
    per = [d["peak_rss"] / gib for d in results[largest]["tools"]["disk"]["dumps"]]
    lines += [
        "",
        f"Peak RSS of the on-disk run after each dump, {int(largest):,} documents: "
        + ", ".join(f"{p:.2f}" for p in per)
        + " GiB.",
        "",
        "The on-disk index's peak is set by the dump being cleaned (its kept documents' "
        "signatures and LSH table, about 1 KB each, held until the commit), not by the earlier "
        "dumps; the in-memory index and datasketch grow with every earlier document. A run "
        "stopped at its deadline reports the dumps it finished. The ratios compare rows run "
        "one after the other under the load shown; the machine is shared, so rows of "
        "different dates or loads compare less well.",
    ]
    return "\n".join(lines) + "\n"


def write_section(text: str, heading: str = SECTION) -> None:
    """Put `text` in place of minhash.md's section under `heading` (or at its end), keeping
    the others (minhash_dedup.py writes the top, dedup_cleaning.py a section of its own)."""
    old = OUT.read_text() if OUT.exists() else ""
    head, found, rest = old.partition(f"\n{heading}\n")
    tail = "".join(rest.partition("\n## ")[1:]) if found else ""
    OUT.write_text(f"{head.rstrip()}\n\n{text}{tail}" if head.strip() else text + tail)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--docs", type=int, action="append", help="total documents (repeat)")
    parser.add_argument("--dumps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--memory-up-to", type=int, default=3_000_000)
    parser.add_argument("--peers-up-to", type=int, default=1_000_000)
    parser.add_argument("--only-disk", action="store_true", help="rerun the on-disk index alone")
    parser.add_argument("--deadline-s", type=float, help="stop a tool's run after this long")
    parser.add_argument("--render", action="store_true", help="rewrite the doc from saved runs")
    parser.add_argument("--child", choices=sorted(TOOLS))
    args = parser.parse_args()
    totals = args.docs or [1_000_000]
    WORK.mkdir(parents=True, exist_ok=True)
    if args.child:
        child(args.child, totals[0], args.dumps, args.batch)
        return
    saved = WORK / "dedup_index.json"  # results of earlier invocations, by total
    results = json.loads(saved.read_text()) if saved.exists() else {}
    if args.render:
        totals = []
    for total in totals:
        tools = ["disk"] + ["memory"] * (total <= args.memory_up_to and not args.only_disk)
        tools += ["datasketch"] * (total <= args.peers_up_to and not args.only_disk)
        entry = results.setdefault(str(total), {"dumps": args.dumps, "tools": {}})
        for tool in tools:
            load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
            run = run_child(tool, total, args.dumps, args.batch, args.deadline_s)
            entry["tools"][tool] = {**run, "date": dt.date.today().isoformat(), "load": load}
        # Another invocation may have saved meanwhile: add to what is there now.
        results = json.loads(saved.read_text()) if saved.exists() else {}
        results.setdefault(str(total), entry)["tools"].update(entry["tools"])
        saved.write_text(json.dumps(results))
        print(render(results, args.batch), flush=True)
    write_section(render(results, args.batch))


if __name__ == "__main__":
    main()
