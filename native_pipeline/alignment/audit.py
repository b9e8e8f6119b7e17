"""The rewrite audit: the published preliminary analysis of a rewritten corpus, on a sample.

Harm per category before and after (and the reduction in %), perplexity before and after under
one reference model, the share of segments left unchanged, the distribution of edit ratios,
whether the language and the dialect were kept (dialect rewritten into MSA is a known risk of
the method), and, when an expert judged the sample, its mean 1–10 scores per criterion.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter, ScalarFormatter

from native_pipeline.alignment.judge import CRITERIA
from native_pipeline.text.harm import CATEGORIES


def _mean(series: pl.Series) -> float:
    return round(float(series.mean()), 4) if series.len() else 0.0


def _share(mask: pl.Series) -> float:
    return round(float(mask.mean()), 4) if mask.len() else 0.0


@dataclass
class AuditReport:
    sample: pl.DataFrame  # one row per audited segment, with its perplexities and judge scores
    harm: pl.DataFrame  # category, before, after, reduction_pct
    headline: dict[str, float | int]

    @property
    def summary(self) -> pl.DataFrame:
        return pl.DataFrame(
            {"metric": list(self.headline), "value": [float(v) for v in self.headline.values()]}
        )

    def figure(self) -> Figure:
        figure = Figure(figsize=(10, 3.2))
        perplexity, edits = figure.subplots(1, 2)
        before = self.sample["perplexity_before"].drop_nans().drop_nulls().to_numpy()
        after = self.sample["perplexity_after"].drop_nans().drop_nulls().to_numpy()
        if before.size and after.size:
            both = np.concatenate([before, after])
            bins = np.geomspace(max(both.min(), 1e-3), max(both.max(), 1e-3) * 1.001, 30)
            perplexity.hist(before, bins=bins, alpha=0.6, label="before")
            perplexity.hist(after, bins=bins, alpha=0.6, label="after")
            perplexity.set_xscale("log")
            # plain numbers on the log axis; minor labels would collide
            perplexity.xaxis.set_major_formatter(ScalarFormatter())
            perplexity.xaxis.set_minor_formatter(NullFormatter())
            perplexity.legend()
        perplexity.set_title("perplexity (reference character model)")
        edits.hist(self.sample["edit_ratio"].to_numpy(), bins=np.linspace(0, 1, 21))
        edits.set_title("edit ratio (share of words changed)")
        return figure


def audit(
    sample: pl.DataFrame,
    perplexity: Callable[[str], float],
    judge_scores: Sequence[dict[str, int] | None] | None = None,
    categories: Sequence[str] = CATEGORIES,
) -> AuditReport:
    """`sample`: rows of aligned_corpus. `judge_scores`: the expert's scores, row by row.
    `categories`: those the harm scorer really scores (its `categories`)."""
    rows = sample.with_columns(
        pl.col("original")
        .map_elements(perplexity, return_dtype=pl.Float64)
        .alias("perplexity_before"),
        pl.col("aligned")
        .map_elements(perplexity, return_dtype=pl.Float64)
        .alias("perplexity_after"),
    )
    harm = pl.DataFrame(
        [
            {
                "category": category.removeprefix("harm_"),
                "before": _mean(rows[f"{category}_before"]),
                "after": _mean(rows[f"{category}_after"]),
            }
            for category in (*categories, "harm_max")
        ]
    ).with_columns(
        (100 * (pl.col("before") - pl.col("after")) / pl.col("before"))
        .fill_nan(0.0)
        .round(1)
        .alias("reduction_pct")
    )
    dialect = rows.filter(pl.col("dialect_before") != "msa")
    headline: dict[str, float | int] = {
        "segments": rows.height,
        "valid_share": _share(rows["status"] == "valid"),
        "unchanged_share": _share(rows["unchanged"]),
        "edit_ratio_median": round(float(rows["edit_ratio"].median() or 0), 4),
        "edit_ratio_p90": round(float(rows["edit_ratio"].quantile(0.9) or 0), 4),
        "harm_max_before": harm["before"][-1],
        "harm_max_after": harm["after"][-1],
        "harm_reduction_pct": harm["reduction_pct"][-1],
        "perplexity_before_median": round(float(rows["perplexity_before"].median() or 0), 3),
        "perplexity_after_median": round(float(rows["perplexity_after"].median() or 0), 3),
        "language_kept_share": _share(rows["lang_after"] == rows["lang_before"]),
        "dialect_segments": dialect.height,
        "dialect_to_msa_share": _share(dialect["dialect_after"] == "msa"),
    }
    if judge_scores is not None:
        judged = [s for s in judge_scores if s is not None]
        headline["judged"] = len(judged)
        for criterion in CRITERIA:
            rows = rows.with_columns(
                pl.Series(
                    f"judge_{criterion}",
                    [s[criterion] if s else None for s in judge_scores],
                    dtype=pl.Int32,
                )
            )
            values = [s[criterion] for s in judged]
            headline[f"judge_{criterion}"] = round(float(np.mean(values)), 2) if values else 0.0
    return AuditReport(rows, harm, headline)
