from __future__ import annotations

import polars as pl
import pytest

from native_pipeline.evaluation.ablation import (
    SCORES,
    ablation_table,
    group_deltas,
    scaling_table,
    with_deltas,
)


def scores(variant: str, acva: float, food: float, culture: float) -> pl.DataFrame:
    rows = [
        ("acva", "all", "", "acc", acva, 30),
        ("acva", "subject", "Arabic_Food", "acc", food, 4),
        ("acva", "subject", "Arabic_Food", "acc_norm", 0.0, 4),
        ("acva", "subject", "Arabic_Culture", "acc", culture, 15),
        ("held_out_original", "all", "", "perplexity", 10.0, 500),
        ("harmlessness", "category", "self_harm", "harmful_rate", food / 2, 4),
    ]
    frame = pl.DataFrame(rows, schema=SCORES, orient="row")
    return frame.with_columns(variant=pl.lit(variant))


LONG = pl.concat([scores("aligned", 0.6, 0.75, 0.6), scores("original", 0.5, 0.25, 0.6)])


def test_table_has_whole_task_scores_in_variant_order():
    table = ablation_table(LONG, ["original", "aligned", "hybrid"])
    assert table.columns == ["score", "original", "aligned"]
    assert table.rows() == [("acva/acc", 0.5, 0.6), ("held_out_original/perplexity", 10.0, 10.0)]


def test_deltas_per_subject_against_the_baseline_largest_first():
    deltas = group_deltas(LONG, ["original", "aligned"], "original")
    assert deltas.columns == [
        "task",
        "by",
        "group",
        "metric",
        "n",
        "original",
        "aligned",
        "aligned - original",
    ]
    assert deltas["group"].to_list() == ["Arabic_Food", "Arabic_Culture", "self_harm"]
    assert deltas["metric"].to_list() == ["acc", "acc", "harmful_rate"]
    assert deltas["aligned - original"].to_list() == pytest.approx([0.5, 0.0, 0.25])
    with pytest.raises(ValueError, match="baseline variant 'hybrid' has no scores"):
        group_deltas(LONG, ["original", "aligned"], "hybrid")


def test_the_base_model_is_the_zero_line_of_every_delta():
    scores_with_base = pl.concat([LONG, scores("base", 0.25, 0.25, 0.5)])
    order = ["base", "original", "aligned"]
    table = with_deltas(ablation_table(scores_with_base, order), "base")
    assert table.columns == [
        "score",
        "base",
        "original",
        "aligned",
        "original - base",
        "aligned - base",
    ]
    assert table.row(0) == ("acva/acc", 0.25, 0.5, 0.6, 0.25, pytest.approx(0.35))
    deltas = group_deltas(scores_with_base, order, "base")
    food = deltas.filter(group="Arabic_Food", metric="acc")
    assert food.select("original - base", "aligned - base").row(0) == (0.0, 0.5)


def test_the_scaling_axis_is_every_metric_against_aligned_tokens():
    long = pl.concat([LONG, scores("aligned_25", 0.55, 0.5, 0.6)])
    table = ablation_table(long, ["original", "aligned_25", "aligned"])
    axis = {"aligned": (4000, 5120), "aligned_25": (1000, 1024), "missing": (9, 9)}
    scaling = scaling_table(table, axis)
    assert scaling.columns == [
        "variant",
        "aligned_tokens",
        "trained_tokens",
        "acva/acc",
        "held_out_original/perplexity",
    ]
    assert scaling.rows() == [
        ("aligned_25", 1000, 1024, 0.55, 10.0),
        ("aligned", 4000, 5120, 0.6, 10.0),
    ]
