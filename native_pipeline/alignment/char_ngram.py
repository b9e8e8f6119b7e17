"""Character n-gram perplexity, for the perplexity seed strategies and the rewrite audit.

An interpolated absolute-discounting model over characters: small, deterministic, fitted in
seconds on a reference text (CCNet ranks web text the same way with a KenLM model fitted on
Wikipedia). Lower perplexity means text that reads more like the reference. Scores compare
texts under one fitted model; they are not comparable across models.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import polars as pl

from native_pipeline.draw import stable_hash
from native_pipeline.settings import PerplexitySettings

BOUNDARY = "\x02"  # pads the context at the start of a text
MAX_REMEMBERED = 2_000_000  # n-gram log-probabilities kept between calls (about 250 MB)


class CharNGram:
    def __init__(self, order: int = 5, discount: float = 0.75) -> None:
        if order < 1 or not 0 < discount < 1:
            raise ValueError("order must be >= 1 and discount in (0, 1)")
        self.order = order
        self.discount = discount
        self.counts: list[Counter[str]] = [Counter() for _ in range(order)]  # by n-gram length
        self.context_total: list[Counter[str]] = [Counter() for _ in range(order)]
        self.context_types: list[Counter[str]] = [Counter() for _ in range(order)]
        self.vocabulary: set[str] = set()
        self._log_probs: dict[str, float] = {}  # by n-gram, filled as texts are scored

    def fit(self, texts: Iterable[str], max_chars: int | None = None) -> CharNGram:
        seen = 0
        for text in texts:
            padded = BOUNDARY * (self.order - 1) + text
            for n in range(1, self.order + 1):
                grams = self.counts[n - 1]
                for i in range(self.order - n, len(padded) - n + 1):
                    grams[padded[i : i + n]] += 1
            self.vocabulary.update(text)
            seen += len(text)
            if max_chars and seen >= max_chars:
                break
        self._log_probs.clear()  # the counts changed
        for n, grams in enumerate(self.counts, start=1):
            for gram, c in grams.items():
                self.context_total[n - 1][gram[:-1]] += c
                self.context_types[n - 1][gram[:-1]] += 1
        return self

    def _probability(self, history: str, char: str) -> float:
        # Unseen characters share one extra slot of an add-one unigram.
        unigrams = self.counts[0]
        total = self.context_total[0][""]
        p = (unigrams[char] + 1) / (total + len(self.vocabulary) + 1)
        for n in range(2, self.order + 1):
            context = history[len(history) - n + 1 :]
            seen = self.context_total[n - 1].get(context)
            if not seen:
                continue
            count = self.counts[n - 1].get(context + char, 0)
            backoff = self.discount * self.context_types[n - 1][context] / seen
            p = max(count - self.discount, 0) / seen + backoff * p
        return p

    def log_prob(self, text: str) -> float:
        """Natural-log probability of `text`, character by character.

        Each n-gram's log-probability is computed once and remembered: text repeats its
        n-grams, and the interpolation over every order is what costs (about 7x faster on the
        sample's segments; benchmarks/char_ngram.py)."""
        padded = BOUNDARY * (self.order - 1) + text
        known, total = self._log_probs, 0.0
        for i in range(self.order - 1, len(padded)):
            gram = padded[i - self.order + 1 : i + 1]
            value = known.get(gram)
            if value is None:
                if len(known) >= MAX_REMEMBERED:
                    known.clear()
                value = known[gram] = math.log(self._probability(gram[:-1], gram[-1]))
            total += value
        return total

    def perplexity(self, text: str) -> float:
        if not text:
            return math.nan
        return math.exp(-self.log_prob(text) / len(text))


def by_half(keys: Iterable[str], seed: int = 0) -> tuple[set[str], set[str]]:
    """Split keys into two stable halves: fit the model on one, measure on the other, so that
    no measured text was seen in fitting."""
    fit, measure = set(), set()
    for key in keys:
        (fit if stable_hash(key, seed) % 2 == 0 else measure).add(key)
    return fit, measure


def reference_model(settings: PerplexitySettings, segment_parts: Sequence[Path]) -> CharNGram:
    """The model seeds and the audit are scored with: fitted on the configured reference text,
    else on one half of the segments (by hash, from these Parquet parts of rewrite_segments),
    read part by part up to max_chars, so that the other half is measured unseen."""
    model = CharNGram(settings.order)
    if settings.reference:
        return model.fit(settings.reference.read_text(encoding="utf-8").split("\n"))
    fit, _ = by_half(
        key
        for part in segment_parts
        for key in pl.read_parquet(part, columns=["segment_id"])["segment_id"]
    )

    def texts() -> Iterator[str]:
        for part in segment_parts:
            segments = pl.read_parquet(part, columns=["segment_id", "text"])
            yield from segments.filter(pl.col("segment_id").is_in(list(fit)))["text"]

    return model.fit(texts(), max_chars=settings.max_chars)
