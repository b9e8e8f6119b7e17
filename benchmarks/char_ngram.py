"""Character n-gram perplexity: characters scored per second, remembered n-grams against the
plain interpolation per character, side by side in one run on the same fitted model.

The seed strategies `perplexity_high`/`perplexity_low` score a random pool of `size x
pool_factor` segments (the published 96K seeds from a pool 20 times larger: about 330 M
characters), so the rate decides whether they take minutes or hours on one core.

    python benchmarks/char_ngram.py [--segments 3000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import math
import platform
import time
from pathlib import Path

from native_pipeline.alignment.char_ngram import BOUNDARY, CharNGram

TRUTH = Path(__file__).resolve().parents[1] / "native_pipeline" / "sample" / "crawl" / "truth.jsonl"


def paragraphs() -> list[str]:
    """The sample's distinct Arabic paragraphs: segments of real length and script."""
    rows = [json.loads(line) for line in TRUTH.read_text(encoding="utf-8").splitlines()]
    texts = (r["main_text"] for r in rows if r["lang"] == "ar" and r["main_text"])
    return list(dict.fromkeys(p.strip() for t in texts for p in t.split("\n") if p.strip()))


def plain_log_prob(model: CharNGram, text: str) -> float:
    """The interpolation computed afresh for every character (the implementation before)."""
    padded = BOUNDARY * (model.order - 1) + text
    return sum(
        math.log(model._probability(padded[i - model.order + 1 : i], padded[i]))
        for i in range(model.order - 1, len(padded))
    )


def rate(score, texts: list[str]) -> tuple[float, list[float]]:
    started = time.perf_counter()
    values = [score(text) for text in texts]
    return sum(map(len, texts)) / (time.perf_counter() - started), values


def main(args: argparse.Namespace) -> None:
    texts = paragraphs()
    fit, measure = texts[::2], texts[1::2][: args.segments]  # distinct segments, unseen
    model = CharNGram(5).fit(fit)
    chars = sum(map(len, measure))
    print(
        f"{platform.processor() or platform.machine()}, {dt.date.today()}: order 5, fitted on "
        f"{sum(map(len, fit)):,} characters; scoring {len(measure)} segments, {chars:,} chars"
    )
    for repeat in range(args.repeats):
        model = CharNGram(5).fit(fit)  # nothing remembered from the repeat before
        plain, expected = rate(functools.partial(plain_log_prob, model), measure)
        ours, got = rate(model.log_prob, measure)
        assert got == expected, "the remembered n-grams changed a score"
        print(
            f"repeat {repeat + 1}: plain {plain:,.0f} chars/s, remembered {ours:,.0f} chars/s, "
            f"{ours / plain:.2f}x; identical scores"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--segments", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=3)
    main(parser.parse_args())
