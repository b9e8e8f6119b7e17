"""Tokenize-to-shards throughput: `write_shards` against the raw `tokenizers` batch encoder.

    python benchmarks/tokenize_shards.py [--mb 30] [--vocab 32000] [--repeats 5]

1. Builds about --mb megabytes of Arabic articles with the sample crawl's generator
   (`native_pipeline.sample.compose.article`, seeded), in frames of 5,000 documents with the
   columns write_shards reads.
2. Trains a byte-level BPE with `train_tokenizer` (--vocab; the generator's templated text may
   offer fewer merges, the vocabulary actually reached is printed).
3. Times, alternately and --repeats times each, on the same texts in the same batches of
   `shards.BATCH_DOCUMENTS` documents, both cores (rayon's default):
   - raw `Tokenizer.encode_batch(texts, add_special_tokens=False)`: the reference;
   - raw `Tokenizer.encode_batch_fast`, the call write_shards makes (no character offsets);
   - the same, reading each document's ids (`Encoding.ids`, a Python list): the least any
     script that stores tokens does;
   - `write_shards` end to end: encode, .bin/.idx, sidecar Parquet, manifest and checksums,
     into benchmarks/.work/tokenize (on disk, emptied before each run).
4. Prints a markdown table: median seconds, content tokens per second (eos not counted, so
   every side is credited with the same tokens), and the ratio to the reference.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl

from native_pipeline.lm.tokenizer import fertility, train_tokenizer
from native_pipeline.sample import compose, content
from native_pipeline.training import shards
from native_pipeline.training.shards import write_shards

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "benchmarks" / ".work" / "tokenize"
FRAME_DOCUMENTS = 5_000


def articles(megabytes: float, seed: int = 0) -> list[str]:
    """Generated MSA articles, about `megabytes` of UTF-8 in all."""
    rng = random.Random(seed)
    topics = sorted(content.TOPICS)
    texts: list[str] = []
    size = 0
    while size < megabytes * 1e6:
        texts.append(compose.article(rng.choice(topics), rng).main_text)
        size += len(texts[-1].encode())
    return texts


def frames(texts: list[str]) -> list[pl.DataFrame]:
    out = []
    for start in range(0, len(texts), FRAME_DOCUMENTS):
        chunk = texts[start : start + FRAME_DOCUMENTS]
        ids = [f"doc-{start + i}" for i in range(len(chunk))]
        out.append(
            pl.DataFrame(
                {
                    "doc_id": ids,
                    "segment_ids": [[f"{doc}:0"] for doc in ids],
                    "source": "aligned",
                    "text": chunk,
                }
            )
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=float, default=30.0)
    parser.add_argument("--vocab", type=int, default=32_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    started = time.perf_counter()
    texts = articles(args.mb)
    documents = frames(texts)
    megabytes = sum(len(text.encode()) for text in texts) / 1e6
    built = time.perf_counter() - started
    print(f"{len(texts):,} documents, {megabytes:.1f} MB, built in {built:.1f} s")
    started = time.perf_counter()
    tokenizer = train_tokenizer(texts, args.vocab)
    trained = time.perf_counter() - started
    per_word = fertility(tokenizer, texts[:2000])
    print(
        f"tokenizer: vocabulary {len(tokenizer):,} (asked {args.vocab:,}), trained in "
        f"{trained:.1f} s; fertility {per_word:.2f} tokens per word"
    )
    encoder = tokenizer.backend_tokenizer
    batch = shards.BATCH_DOCUMENTS
    batches = [texts[i : i + batch] for i in range(0, len(texts), batch)]

    def raw(encode: Callable, read_ids: bool = False) -> Callable[[], int]:
        def run() -> int:
            encoded = (e for texts in batches for e in encode(texts, add_special_tokens=False))
            return sum(len(e.ids) if read_ids else len(e) for e in encoded)

        return run

    def shards_end_to_end() -> int:
        shutil.rmtree(WORK, ignore_errors=True)
        manifest = write_shards(WORK, tokenizer, documents)
        return manifest["tokens"] - manifest["documents"]  # without the eos ids

    sides: dict[str, Callable[[], int]] = {
        "raw Tokenizer.encode_batch (reference)": raw(encoder.encode_batch),
        "raw Tokenizer.encode_batch_fast": raw(encoder.encode_batch_fast),
        "raw Tokenizer.encode_batch_fast, ids read": raw(encoder.encode_batch_fast, True),
        "write_shards end to end": shards_end_to_end,
    }
    seconds: dict[str, list[float]] = {name: [] for name in sides}
    tokens: dict[str, int] = {}
    for _ in range(args.repeats):
        for name, run in sides.items():
            started = time.perf_counter()
            tokens[name] = run()
            seconds[name].append(time.perf_counter() - started)
    if len(set(tokens.values())) != 1:
        raise RuntimeError(f"the sides counted different tokens: {tokens}")

    reference = statistics.median(seconds["raw Tokenizer.encode_batch (reference)"])
    n = next(iter(tokens.values()))
    cpu = platform.processor() or platform.machine()
    print(
        f"\n{n:,} tokens; median of {args.repeats} runs; cpu: {cpu}, {os.cpu_count()} cores; "
        f"load average {os.getloadavg()[0]:.2f}\n"
    )
    print("| side | median s | runs s | M tokens/s | x reference |")
    print("|---|---:|---:|---:|---:|")
    for name, runs in seconds.items():
        median = statistics.median(runs)
        spread = ", ".join(f"{s:.2f}" for s in runs)
        rate = n / median / 1e6
        print(f"| {name} | {median:.2f} | {spread} | {rate:.2f} | {reference / median:.2f} |")
    shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    main()
