"""The seed: the segments the alignment expert rewrites, a reproducible sample of the corpus.

`random` keeps the `size` segments with the smallest hash of (seed, segment_id): the same
segments come out whatever the order of the input, and a segment that was a seed stays one as
long as the pool does not change below it. `perplexity_high` and `perplexity_low` keep the
segments the reference model finds least or most fluent, as in the published seed ablation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import polars as pl

from native_pipeline.draw import stable_hash

Strategy = Literal["random", "perplexity_high", "perplexity_low"]
STRATEGIES: tuple[Strategy, ...] = ("random", "perplexity_high", "perplexity_low")


def select_seeds(segments: pl.DataFrame, size: int, strategy: Strategy, seed: int) -> pl.DataFrame:
    """`size` rows of `segments` (with segment_id, and perplexity for the perplexity
    strategies), ordered by the selection rank."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown seed strategy {strategy!r}; choose one of {STRATEGIES}")
    ranks = [stable_hash(key, seed) for key in segments["segment_id"]]
    ranked = segments.with_columns(pl.Series("seed_rank", ranks, dtype=pl.UInt64))
    if strategy == "random":
        order = ["seed_rank"]
        descending = [False]
    else:
        if "perplexity" not in segments.columns:
            raise ValueError(f"strategy {strategy} needs a perplexity column")
        order = ["perplexity", "seed_rank"]  # ties broken by the hash, reproducibly
        descending = [strategy == "perplexity_high", False]
    return ranked.sort(order, descending=descending).head(size).drop("seed_rank")


def sample_segments(
    scan: pl.LazyFrame, size: int, seed: int, among: set[str] | None = None
) -> pl.DataFrame:
    """`size` rows of `scan` (segments of every dump, with a dump column), in the order of
    `select_seeds`: the ids are read and ranked first, then only the chosen rows whole."""
    ids = scan.select("dump", "segment_id").collect()
    if among is not None:
        ids = ids.filter(pl.col("segment_id").is_in(list(among)))
    chosen = select_seeds(ids, size, "random", seed)
    rows = scan.join(chosen.lazy(), on=["dump", "segment_id"], how="semi").collect()
    return select_seeds(rows, size, "random", seed)


def seeds_from_pairs(pairs: list[tuple[str, str]], count: Callable[[str], int]) -> pl.DataFrame:
    """The originals of an expert's pairs as segments (SEGMENTS with a dump column, `count`
    giving n_tokens), named by their place in the file: the seed when the expert is a file."""
    ids = [f"pairs:{n}" for n in range(len(pairs))]
    return pl.DataFrame(
        {
            "dump": "pairs_file",
            "doc_id": ids,
            "segment_id": ids,
            "index": pl.Series([0] * len(pairs), dtype=pl.Int32),
            "start": pl.Series([0] * len(pairs), dtype=pl.Int64),
            "end": pl.Series([len(o) for o, _ in pairs], dtype=pl.Int64),
            "text": [o for o, _ in pairs],
            "n_tokens": pl.Series([count(o) for o, _ in pairs], dtype=pl.Int32),
        }
    )
