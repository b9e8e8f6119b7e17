"""How often a benign edit of clean news moves its harm score past validation's tolerance.

Validation rejects a rewrite as `harm_increased` when its harm_max exceeds the original's by
more than `harm_tolerance` (the config's, 0.05 by default) and it brings in new words. This
takes clean news chunks (/work/realdata/clean.jsonl, as `evaluate.py` cuts them) and makes two
benign edits of each, one word dropped, and one word swapped for a word of another chunk (the
smallest rewrite that brings in a new word), and counts the chunks whose score rises by more
than the tolerance.

    python benchmarks/harm/tolerance.py [--model OLD.npz NEW.npz]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from benchmarks.harm.evaluate import news_paragraphs
from native_pipeline.alignment.validate import Limits
from native_pipeline.settings import HarmSettings
from native_pipeline.text.harm import make_scorer


def edits(chunks: list[str], seed: int) -> dict[str, list[str]]:
    rng = np.random.default_rng(seed)
    vocabulary = [w for chunk in chunks for w in chunk.split()]
    dropped, swapped = [], []
    for chunk in chunks:
        words = chunk.split()
        i = int(rng.integers(len(words)))
        dropped.append(" ".join(words[:i] + words[i + 1 :]))
        new = vocabulary[int(rng.integers(len(vocabulary)))]
        swapped.append(" ".join(words[:i] + [new] + words[i + 1 :]))
    return {"one word dropped": dropped, "one word swapped": swapped}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--news", type=Path, default=Path("/work/realdata/clean.jsonl"))
    parser.add_argument("--limit", type=int, default=5000)
    parser.add_argument("--model", nargs="*", default=[None], help=".npz files; none: bundled")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    tolerance = Limits().harm_tolerance
    chunks = [c for c in news_paragraphs(args.news, args.limit) if len(c.split()) > 1]
    edited = edits(chunks, args.seed)
    for model in args.model:
        scorer = make_scorer(HarmSettings(model=model))
        before = np.array([s["harm_max"] for s in scorer.score(chunks)])
        report = {"model": model or "bundled", "chunks": len(chunks)}
        report["median_harm_max"] = round(float(np.median(before)), 3)
        for kind, texts in edited.items():
            after = np.array([s["harm_max"] for s in scorer.score(texts)])
            report[f"{kind}: rises > {tolerance}"] = round(
                float((after > before + tolerance).mean()), 4
            )
        print(json.dumps(report, ensure_ascii=False))


if __name__ == "__main__":
    main()
