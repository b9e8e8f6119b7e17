"""The ablation: every variant's scores side by side, and where the variants differ by subject.

Pure polars on the variants' `eval_scores` score frames (the `SCORES` schema plus a `variant`
column). The paper's comparison is the whole-task table; for ACVA and AraTrust the effect of
alignment shows per category, hence the per-subject/category deltas against a baseline variant.
The baseline is the base model (`BASE`), evaluated once before any continued pre-training: the
zero line of every delta.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

# One row per score: the whole task (by "all", group ""), or one subject or category of it.
SCORES = {
    "task": pl.String,
    "by": pl.String,  # "all", "subject" or "category"
    "group": pl.String,
    "metric": pl.String,
    "value": pl.Float64,
    "n": pl.Int64,
}
# compared per subject/category: accuracy, and the harmful rate per BeaverTails category
DELTA_METRICS = ["acc", "harmful_rate"]
BASE = "base"  # the untrained base model's scores, as a variant of their own


def ablation_table(scores: pl.DataFrame, order: Sequence[str]) -> pl.DataFrame:
    """One row per whole-task score ("task/metric"), one column per variant in `order`."""
    present = [v for v in order if v in set(scores["variant"])]
    return (
        scores.filter(by="all")
        .select((pl.col("task") + "/" + pl.col("metric")).alias("score"), "variant", "value")
        .pivot("variant", index="score", values="value")
        .select("score", *present)
    )


def with_deltas(table: pl.DataFrame, baseline: str) -> pl.DataFrame:
    """`ablation_table`'s table and, for every other variant, `<variant> - <baseline>`."""
    others = [v for v in table.columns[1:] if v != baseline]
    return table.with_columns(
        (pl.col(v) - pl.col(baseline)).alias(f"{v} - {baseline}") for v in others
    )


def group_deltas(scores: pl.DataFrame, order: Sequence[str], baseline: str) -> pl.DataFrame:
    """Per task, subject or category: each variant's acc (harmful_rate for harmlessness) and its
    difference from `baseline`.

    Columns: task, by, group, metric, n, one column per variant, then `<variant> - <baseline>`
    for every other variant; the rows in task order, the largest absolute difference first.
    """
    present = [v for v in order if v in set(scores["variant"])]
    if baseline not in present:
        raise ValueError(f"baseline variant {baseline!r} has no scores; variants: {present}")
    others = [v for v in present if v != baseline]
    wide = (
        scores.filter(pl.col("by") != "all", pl.col("metric").is_in(DELTA_METRICS))
        .pivot("variant", index=["task", "by", "group", "metric", "n"], values="value")
        .select("task", "by", "group", "metric", "n", *present)
        .with_columns((pl.col(v) - pl.col(baseline)).alias(f"{v} - {baseline}") for v in others)
    )
    spread = (
        pl.max_horizontal([pl.col(f"{v} - {baseline}").abs() for v in others])
        if others
        else pl.lit(0.0)
    )
    return wide.sort(["task", "by", spread, "group"], descending=[False, False, True, False])


def scaling_table(table: pl.DataFrame, axis: dict[str, tuple[int, int]]) -> pl.DataFrame:
    """The scaling axis of native alignment: one row per variant on it (`axis`: variant ->
    (aligned tokens it holds, tokens it trained on)), its whole-task scores as columns, in the
    order of its aligned tokens. `table` is `ablation_table`'s."""
    rows = [
        {
            "variant": v,
            "aligned_tokens": aligned,
            "trained_tokens": trained,
            **dict(zip(table["score"], table[v], strict=True)),
        }
        for v, (aligned, trained) in sorted(axis.items(), key=lambda item: item[1])
        if v in table.columns
    ]
    schema = {"variant": pl.String, "aligned_tokens": pl.Int64, "trained_tokens": pl.Int64}
    return pl.DataFrame(rows, schema={**schema, **dict.fromkeys(table["score"], pl.Float64)})


def by_task(compared: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """`ablation_table` cut per task, one row per variant and one column per metric: read down,
    a comparison of many variants is never cut off on the right of a page."""
    variants = compared.columns[1:]
    long = compared.unpivot(variants, index="score", variable_name="variant").with_columns(
        pl.col("score").str.split_exact("/", 1).struct.rename_fields(["task", "metric"])
    )
    long = long.unnest("score")
    return {
        task: rows.pivot("metric", index="variant", values="value", maintain_order=True)
        for (task,), rows in long.group_by("task", maintain_order=True)
    }


def deltas_by_task(deltas: pl.DataFrame, baseline: str) -> dict[str, pl.DataFrame]:
    """`group_deltas` cut per task, grouping and metric ("aratrust by category (acc)"), one row
    per subject or category and variant: its size, the baseline's value, the variant's and the
    difference, the largest first."""
    others = [c for c in deltas.columns[5:] if c != baseline and " - " not in c]
    keys = ["task", "by", "group", "metric"]
    values = deltas.unpivot(others, index=[*keys, "n", baseline], variable_name="variant")
    differences = deltas.unpivot(
        [f"{v} - {baseline}" for v in others],
        index=keys,
        variable_name="variant",
        value_name="difference",
    ).with_columns(pl.col("variant").str.strip_suffix(f" - {baseline}"))
    long = values.join(differences, on=[*keys, "variant"])
    order = [pl.col("difference").abs(), "group", "variant"]
    return {
        f"{task} by {by} ({metric})": rows.sort(order, descending=[True, False, False]).select(
            "group", "n", baseline, "variant", "value", "difference"
        )
        for (task, by, metric), rows in long.group_by("task", "by", "metric", maintain_order=True)
    }
