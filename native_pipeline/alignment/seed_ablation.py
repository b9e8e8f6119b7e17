"""The seed ablation: which seeds teach the worker best, judged on the 1-10 rubric.

Each strategy draws `size` seeds from a random pool of the corpus, the alignment expert rewrites
them (validated as always) and the judge (the LLM expert, or the offline rubric of
offline_judge.py) scores each (original, rewrite) pair on the rubric (format, accuracy of
information, content moderation, advertisement removal, level of detail).
Repeated with `repeats` sampling seeds (another pool each time), the table is the mean ± std
over the repeats of each run's mean score, per strategy and aspect, as the paper reports it.

The strategies, and which is which:
- `random`: the pool's first `size` by hash of (sampling seed, segment_id);
- `perplexity_high` / `perplexity_low`: the originals the reference model finds least / most
  fluent (ours: the perplexity of the original, before any rewriting);
- `change_high` / `change_low`: the published description, seeds ranked by how much rewriting
  changed them: the whole pool rewritten by the expert, ranked by the edit ratio (share of
  words changed) of its rewrite. It pays for `pool_factor` times the expert's requests.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import polars as pl

from native_pipeline.alignment.judge import CRITERIA
from native_pipeline.alignment.seeds import STRATEGIES, select_seeds
from native_pipeline.draw import stable_hash
from native_pipeline.settings import ABLATION_STRATEGIES


def ablation_seeds(
    pool: pl.DataFrame,
    strategy: str,
    size: int,
    seed: int,
    perplexity: Callable[[str], float],
    rewrite: Callable[[pl.DataFrame], pl.DataFrame],
) -> pl.DataFrame:
    """The expert's rewrites (ALIGNED rows) of the `size` seeds `strategy` picks from `pool`."""
    if strategy in ("change_high", "change_low"):
        rows = rewrite(pool)
        ranks = pl.Series([stable_hash(k, seed) for k in rows["segment_id"]], dtype=pl.UInt64)
        return (
            rows.with_columns(seed_rank=ranks)
            .sort(["edit_ratio", "seed_rank"], descending=[strategy == "change_high", False])
            .head(size)
            .drop("seed_rank")
        )
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown seed strategy {strategy!r}; choose one of {ABLATION_STRATEGIES}")
    if strategy != "random":
        pool = pool.with_columns(
            pl.col("text").map_elements(perplexity, return_dtype=pl.Float64).alias("perplexity")
        )
    return rewrite(select_seeds(pool, size, strategy, seed).drop("perplexity", strict=False))


def seed_ablation(
    draw_pool: Callable[[int], pl.DataFrame],
    strategies: Sequence[str],
    repeats: int,
    size: int,
    perplexity: Callable[[str], float],
    rewrite: Callable[[pl.DataFrame], pl.DataFrame],
    judge: Callable[[list[tuple[str, str]]], list[dict[str, int] | None]],
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(one row per strategy and repeat: its mean score per aspect and how many pairs were
    judged; one row per strategy: mean and std over the repeats per aspect). `draw_pool(r)` is
    the random pool of the repeat with sampling seed r."""
    runs = []
    for repeat in range(repeats):
        pool = draw_pool(repeat)
        for strategy in strategies:
            rows = ablation_seeds(pool, strategy, size, repeat, perplexity, rewrite)
            scores = [s for s in judge(rows.select("original", "aligned").rows()) if s]
            if not scores:
                raise ValueError(f"the judge scored none of {strategy}'s seeds (repeat {repeat})")
            means = {c: sum(s[c] for s in scores) / len(scores) for c in CRITERIA}
            runs.append({"strategy": strategy, "repeat": repeat, "judged": len(scores), **means})
    table = pl.DataFrame(runs)
    summary = (
        table.group_by("strategy", maintain_order=True)
        .agg(
            pl.len().alias("repeats"),
            *(pl.col(c).mean().alias(f"{c}_mean") for c in CRITERIA),
            *(pl.col(c).std().fill_null(0.0).alias(f"{c}_std") for c in CRITERIA),
        )
        .select(
            "strategy",
            "repeats",
            *(name for c in CRITERIA for name in (f"{c}_mean", f"{c}_std")),
        )
    )
    return table, summary
