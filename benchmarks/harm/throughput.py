"""Scoring speed of the offline harm scorer beside the classifier bundled before (arabic-toxic's
TF-IDF pipeline), on the same clean-news chunks, in one run.

    python benchmarks/harm/throughput.py --news /work/realdata/clean.jsonl --chunks 20000
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from benchmarks.harm.evaluate import arabic_toxic_scorer, news_paragraphs
from native_pipeline.text.harm import make_scorer


def rate(score, texts: list[str], batch: int) -> float:
    """Texts per second, scored in batches of `batch` (as cleaning does, one batch per call)."""
    score(texts[:batch])  # load and warm up
    started = time.perf_counter()
    for i in range(0, len(texts), batch):
        score(texts[i : i + batch])
    return len(texts) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--news", type=Path, default=Path("/work/realdata/clean.jsonl"))
    parser.add_argument("--chunks", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=1024)
    args = parser.parse_args()
    texts = news_paragraphs(args.news, args.chunks)
    chars = sum(map(len, texts)) / len(texts)
    offline = rate(make_scorer().score, texts, args.batch)
    peer = rate(arabic_toxic_scorer(), texts, args.batch)
    print(
        json.dumps(
            {
                "chunks": len(texts),
                "mean_chars": round(chars),
                "offline_per_s": round(offline),
                "arabic_toxic_per_s": round(peer),
                "ratio": round(offline / peer, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
