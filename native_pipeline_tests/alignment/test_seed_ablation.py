"""The seed ablation: each strategy's seeds, the expert's rewrites, the rubric, mean ± std."""

from __future__ import annotations

import polars as pl
import pytest

from native_pipeline.alignment.judge import CRITERIA
from native_pipeline.alignment.seed_ablation import ablation_seeds, seed_ablation


def _pool(repeat: int) -> pl.DataFrame:
    """Segments whose text length is their perplexity and whose id says how much the expert
    changes them."""
    ids = [f"r{repeat}-s{i}" for i in range(12)]
    return pl.DataFrame({"segment_id": ids, "text": ["ن" * (i + 1) for i in range(12)]})


def _rewrite(seeds: pl.DataFrame) -> pl.DataFrame:
    """The expert: segment i has i/12 of its words changed."""
    return seeds.select(
        "segment_id",
        original="text",
        aligned=pl.col("text") + "!",
        edit_ratio=pl.col("segment_id").str.extract(r"s(\d+)").cast(pl.Int64) / 12,
    )


def _perplexity(text: str) -> float:
    return float(len(text))


def test_each_strategy_picks_its_end_of_the_pool():
    pool = _pool(0)
    picked = {
        s: ablation_seeds(pool, s, 3, 0, _perplexity, _rewrite)["segment_id"].to_list()
        for s in ("perplexity_high", "perplexity_low", "change_high", "change_low", "random")
    }
    assert picked["perplexity_high"] == ["r0-s11", "r0-s10", "r0-s9"]  # the original's
    assert picked["perplexity_low"] == ["r0-s0", "r0-s1", "r0-s2"]
    assert picked["change_high"] == ["r0-s11", "r0-s10", "r0-s9"]  # the rewrite's change
    assert picked["change_low"] == ["r0-s0", "r0-s1", "r0-s2"]
    assert len(set(picked["random"])) == 3
    with pytest.raises(ValueError, match="unknown seed strategy"):
        ablation_seeds(pool, "longest", 3, 0, _perplexity, _rewrite)


def test_mean_and_std_over_the_repeats_per_strategy_and_aspect():
    current = {"repeat": 0}

    def draw(repeat: int) -> pl.DataFrame:
        current["repeat"] = repeat
        return _pool(repeat)

    def judge(pairs):  # every pair of repeat 0 scores 6, of repeat 1 scores 8
        return [dict.fromkeys(CRITERIA, 6 + 2 * current["repeat"]) for _ in pairs]

    runs, summary = seed_ablation(
        draw, ["random", "change_high"], 2, 3, _perplexity, _rewrite, judge
    )
    assert runs.select("strategy", "repeat", "judged").rows() == [
        ("random", 0, 3),
        ("change_high", 0, 3),
        ("random", 1, 3),
        ("change_high", 1, 3),
    ]
    assert summary["strategy"].to_list() == ["random", "change_high"]
    assert summary["repeats"].to_list() == [2, 2]
    assert summary["format_mean"].to_list() == [7.0, 7.0]
    assert summary["detail_std"].to_list() == pytest.approx([2**0.5] * 2)  # 6 and 8
    assert summary.columns[:4] == ["strategy", "repeats", "format_mean", "format_std"]


def test_a_judge_that_scores_nothing_is_an_error():
    with pytest.raises(ValueError, match="the judge scored none of random's seeds"):
        seed_ablation(_pool, ["random"], 1, 3, _perplexity, _rewrite, lambda p: [None] * len(p))
