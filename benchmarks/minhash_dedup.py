"""MinHash near-dedup benchmark: our NearDeduplicator vs datasketch vs datatrove.

Same documents, same folded text, same word 5-gram shingles, 128 permutations as 16 bands x
8 rows, threshold 0.8. Writes a markdown table to docs/benchmarks/minhash.md.

    python benchmarks/minhash_dedup.py [--docs 20000] [--pairs 2000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing as mp
import os
import platform
import random
import struct
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from native_pipeline.text.blocks import Document
from native_pipeline.text.dedup import NearDeduplicator, SignatureIndex
from native_pipeline.text.minhash import MinHasher, MinHashParams
from native_pipeline.text.normalize import fold, words

PARAMS = MinHashParams()
LETTERS = [chr(c) for c in range(0x0627, 0x063B)] + [chr(c) for c in range(0x0641, 0x064B)]
MARKS = ["\u064e", "\u064f", "\u0650", "\u0651", "\u0652"]  # harakat: fold removes them
OUT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks" / "minhash.md"

Pair = tuple[int, int]


# --- corpus -------------------------------------------------------------------------------


def vocabulary(rng: random.Random, size: int) -> list[str]:
    return ["".join(rng.choices(LETTERS, k=rng.randint(2, 7))) for _ in range(size)]


def shingle_set(folded: str) -> set[tuple[str, ...]]:
    w = words(folded)
    n = PARAMS.ngram
    return {tuple(w[i : i + n]) for i in range(max(len(w) - n + 1, 1))}


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b)


def corpus(n_docs: int, n_pairs: int, seed: int = 0) -> tuple[list[str], dict[Pair, float]]:
    """n_docs Arabic-like texts of ~200 Zipf-distributed words; n_pairs of them are edited
    copies of others, at target Jaccard similarities spread uniformly over [0.5, 1.0]."""
    rng = random.Random(seed)
    vocab = vocabulary(rng, 30_000)
    weights = [1 / (r + 1) for r in range(len(vocab))]
    texts = [rng.choices(vocab, weights, k=rng.randint(150, 250)) for _ in range(n_docs - n_pairs)]
    planted: dict[Pair, float] = {}
    for source in rng.sample(range(len(texts)), n_pairs):
        target = rng.uniform(0.5, 1.0)
        copy = list(texts[source])
        # Each substituted word changes up to n shingles on both sides.
        edits = round(len(copy) * (1 - target) / (PARAMS.ngram * (1 + target)))
        for i in rng.sample(range(len(copy)), edits):
            copy[i] = rng.choice(vocab)
        planted[(source, len(texts))] = target
        texts.append(copy)
    raw = [" ".join(with_marks(rng, w) for w in t) for t in texts]
    return raw, planted


def with_marks(rng: random.Random, word: str) -> str:
    """Vocalise one word in ten, so that folding has work to do."""
    return word if rng.random() > 0.1 else "".join(c + rng.choice(MARKS) for c in word)


# --- tools --------------------------------------------------------------------------------


def ours(folded: list[str], batch: int = 1000) -> set[Pair]:
    with tempfile.TemporaryDirectory() as tmp:
        near = NearDeduplicator(SignatureIndex(tmp), "bench", key=lambda text: text)
        for lo in range(0, len(folded), batch):
            near([Document(str(i), folded[i]) for i in range(lo, min(lo + batch, len(folded)))])
        return {(int(d.detail), int(d.doc_id)) for d in near.drain()[0]}


def _signatures(texts: list[str]) -> np.ndarray:
    return MinHasher(PARAMS).signatures(texts)


def our_signatures_parallel(folded: list[str], processes: int) -> np.ndarray:
    chunk = -(-len(folded) // (processes * 4))
    with mp.get_context("fork").Pool(processes) as pool:
        parts = pool.map(_signatures, [folded[i : i + chunk] for i in range(0, len(folded), chunk)])
    return np.concatenate(parts)


def datasketch(folded: list[str]) -> set[Pair]:
    """The usual datasketch dedup loop: query, verify candidates, insert if unique."""
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=PARAMS.threshold, num_perm=PARAMS.num_perm, params=(16, 8))
    kept: dict[int, MinHash] = {}
    pairs = set()
    n = PARAMS.ngram
    for i, text in enumerate(folded):
        w = words(text)
        shingles = {" ".join(w[k : k + n]).encode() for k in range(max(len(w) - n + 1, 1))}
        m = MinHash(num_perm=PARAMS.num_perm, seed=PARAMS.seed)
        m.update_batch(list(shingles))
        match = [j for j in sorted(lsh.query(m)) if m.jaccard(kept[j]) >= PARAMS.accept_at]
        if match:
            pairs.add((match[0], i))
        else:
            lsh.insert(i, m)
            kept[i] = m
    return pairs


def datatrove(folded: list[str], workers: int) -> set[Pair]:
    """datatrove's 3 MinHash stages (signatures, buckets, clusters) on local disk."""
    from datatrove.data import Document as DTDocument
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupSignature,
    )
    from datatrove.utils.hashing import HashConfig
    from datatrove.utils.word_tokenizers import WordTokenizer
    from loguru import logger

    class Words(WordTokenizer):
        """Our word split (datatrove has no Arabic tokenizer without spaCy)."""

        def word_tokenize(self, text: str) -> list[str]:
            return words(text)

        def sent_tokenize(self, text: str) -> list[str]:
            return [text]

        def span_tokenize(self, text: str) -> list[tuple[int, int]]:
            return [(0, len(text))]

    config = MinhashConfig(
        n_grams=PARAMS.ngram,
        num_buckets=PARAMS.bands,
        hashes_per_bucket=PARAMS.rows,
        seed=PARAMS.seed,
        # Its default "xxhash" passes str to xxhash, which xxhash >= 4 refuses: use sha1.
        hash_config=HashConfig(precision=64, hash_fc="sha1"),
    )
    docs = [DTDocument(text=t, id=str(i)) for i, t in enumerate(folded)]
    logger.remove()  # datatrove logs every task at INFO
    logger.add(sys.stderr, level="WARNING")
    with tempfile.TemporaryDirectory() as tmp:
        stages = [
            ([docs, MinhashDedupSignature(f"{tmp}/sigs", config, language=Words())], 1),
            ([MinhashDedupBuckets(f"{tmp}/sigs", f"{tmp}/buckets", config=config)], PARAMS.bands),
            ([MinhashDedupCluster(f"{tmp}/buckets", f"{tmp}/remove", config=config)], 1),
        ]
        for stage, (pipeline, tasks) in enumerate(stages):
            LocalPipelineExecutor(
                pipeline, tasks=tasks, workers=min(workers, tasks), logging_dir=f"{tmp}/logs{stage}"
            ).run()
        return _datatrove_pairs(Path(tmp) / "buckets")


def _datatrove_pairs(folder: Path) -> set[Pair]:
    pairs = set()
    for path in folder.glob("*.dups"):
        data = path.read_bytes()
        for _, a, _, b in struct.iter_unpack("<4I", data):
            pairs.add((min(a, b), max(a, b)))
    return pairs


# --- scoring ------------------------------------------------------------------------------


def score(found: set[Pair], planted: dict[Pair, float], sets: list[set]) -> dict[str, float | int]:
    """Recall over planted pairs whose exact Jaccard >= threshold, counting a pair found when
    the tool put both documents in one cluster; precision over the pairs the tool reported."""
    true_j = {p: jaccard(sets[p[0]], sets[p[1]]) for p in found | planted.keys()}
    parent = list(range(len(sets)))

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in found:
        parent[root(a)] = root(b)
    positives = [p for p in planted if true_j[p] >= PARAMS.threshold]
    hits = sum(root(a) == root(b) for a, b in positives)
    correct = sum(true_j[p] >= PARAMS.threshold for p in found)
    near_miss = sum(PARAMS.threshold - 0.05 <= true_j[p] < PARAMS.threshold for p in found)
    clear = [p for p in positives if true_j[p] >= PARAMS.threshold + 0.05]
    return {
        "recall": hits / len(positives),
        "recall_clear": sum(root(a) == root(b) for a, b in clear) / len(clear),
        "precision": correct / max(len(found), 1),
        "reported": len(found),
        "fp_within_0.05": near_miss,
    }


def timed(fn: Callable[[], object]) -> tuple[object, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--docs", type=int, default=20_000)
    parser.add_argument("--pairs", type=int, default=2_000)
    parser.add_argument("--skip-datatrove", action="store_true")
    args = parser.parse_args()

    raw, planted = corpus(args.docs, args.pairs)
    folded, fold_s = timed(lambda: [fold(t) for t in raw])
    sets = [shingle_set(t) for t in folded]
    n = len(folded)
    MinHasher(PARAMS).signatures(folded[:10])  # build the word-character table once

    rows: list[tuple[str, float, dict | None]] = []
    found, secs = timed(lambda: ours(folded))
    rows.append(
        (
            "ours: NearDeduplicator (signatures + LSH + verify), 1 process",
            secs,
            score(found, planted, sets),
        )
    )
    _, secs = timed(lambda: MinHasher(PARAMS).signatures(folded))
    rows.append(("ours: signatures only, 1 process", secs, None))
    _, secs = timed(lambda: our_signatures_parallel(folded, 2))
    rows.append(("ours: signatures only, 2 processes", secs, None))
    found, secs = timed(lambda: datasketch(folded))
    rows.append(
        ("datasketch: MinHash + MinHashLSH + verify, 1 process", secs, score(found, planted, sets))
    )
    ds_secs = secs
    if not args.skip_datatrove:
        for workers in (1, 2):
            found, secs = timed(lambda w=workers: datatrove(folded, w))
            label = f"datatrove: 3 MinHash stages (no verify), {workers} worker(s)"
            rows.append((label, secs, score(found, planted, sets)))

    report = render(rows, n, len(planted), fold_s, ds_secs, planted, sets)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    # Later sections (dedup_index.py, dedup_cleaning.py) are kept.
    later = OUT.read_text().partition("\n## ")[1:] if OUT.exists() else ()
    OUT.write_text(report + "".join(later))
    print(report)


def render(
    rows: list[tuple[str, float, dict | None]],
    n: int,
    n_pairs: int,
    fold_s: float,
    ds_secs: float,
    planted: dict[Pair, float],
    sets: list[set],
) -> str:
    positives = sum(jaccard(sets[a], sets[b]) >= PARAMS.threshold for a, b in planted)
    lines = [
        "# MinHash near-dedup benchmark",
        "",
        f"- date: {dt.date.today().isoformat()}",
        f"- machine: {os.cpu_count()} cores, {cpu_model()}, Python {platform.python_version()}",
        f"- corpus: {n} synthetic Arabic-like documents of 150-250 Zipf-distributed words; "
        f"{n_pairs} planted near-duplicate pairs at target Jaccard uniform in [0.5, 1.0], "
        f"{positives} of them with exact 5-gram Jaccard >= {PARAMS.threshold}",
        f"- parameters: {PARAMS.num_perm} permutations = {PARAMS.bands} bands x {PARAMS.rows} "
        f"rows, word {PARAMS.ngram}-grams, threshold {PARAMS.threshold}",
        f"- all tools get the same pre-folded text; `fold` itself took {fold_s:.2f} s "
        f"({n / fold_s:,.0f} docs/s), not counted below",
        "",
        "| tool | seconds | docs/s | x datasketch | recall | recall, J >= t + 0.05 | precision "
        "| pairs reported |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, secs, s in rows:
        quality = (
            f"{s['recall']:.3f} | {s['recall_clear']:.3f} | {s['precision']:.3f} | {s['reported']}"
            if s
            else "- | - | - | -"
        )
        lines.append(
            f"| {label} | {secs:.2f} | {n / secs:,.0f} | {ds_secs / secs:.1f} | {quality} |"
        )
    lines += [
        "",
        "Recall: planted pairs with exact Jaccard >= threshold that the tool put in one "
        "cluster. Precision: reported pairs whose exact Jaccard >= threshold. With 128 "
        "permutations the Jaccard estimate has a standard error of ~0.035 near 0.8: verifying "
        "candidates at the threshold itself would lose about half of the pairs just above it "
        f"(recall 0.94 in an earlier run), so both verified tools accept estimates from "
        f"{PARAMS.accept_at:.3f} (the threshold minus {PARAMS.margin_sd:g} standard errors, "
        "`margin_sd` in the config). The pairs this adds below the threshold are the "
        "precision lost: they sit between 0.73 and 0.8, still near copies. The recall over "
        "pairs at least 0.05 above the threshold shows the LSH itself. datatrove does not "
        "verify candidates, hence its high recall and low precision; its default xxhash "
        "shingle hash passes str to xxhash, which xxhash >= 4 refuses, so it runs with its "
        "sha1 option. Signatures in 2 processes pay for forking and pickling; the block "
        "itself runs in one process.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
