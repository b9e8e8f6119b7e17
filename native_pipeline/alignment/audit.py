"""The rewrite audit: the published preliminary analysis of a rewritten corpus, on a sample.

Harm per category before and after (and the reduction in %), perplexity before and after under
one reference model, the share of segments left unchanged, the distribution of edit ratios,
whether the language and the dialect were kept (dialect rewritten into MSA is a known risk of
the method), and, when a judge scored the sample (the LLM expert, or the offline rubric), its
mean 1–10 scores per criterion.

Knowledge preservation per dump (`fidelity_by_dump`): each validation check's rejection rate and
the shares of numbers and names the rewrites kept, beside the judge's "accuracy of information"
when a judge scored the sample, so that a drifting worker shows from one dump to the next.

Before and after (`changed_segments`, `rejected_segments`): the rewrites that changed a segment,
each with a word diff of what changed and its harm before and after, and the rewrites rejected,
each with its reason: what a reader checks first to see whether alignment happened.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

import numpy as np
import polars as pl
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from native_pipeline.alignment.fidelity import FIDELITY_REJECTIONS
from native_pipeline.alignment.judge import CRITERIA
from native_pipeline.alignment.validate import REJECTIONS, VALID
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
    fidelity: pl.DataFrame | None = None  # fidelity_by_dump, when the corpus was given
    scorer: str = "reference character model"  # what scored the perplexities

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
            # five plain numbers across the log axis, whatever its range (a narrow one has no
            # power of ten inside it); minor labels would collide
            ticks = np.unique([float(f"{t:.2g}") for t in np.geomspace(bins[0], bins[-1], 5)])
            perplexity.set_xticks(ticks, [f"{t:g}" for t in ticks])
            perplexity.xaxis.set_minor_formatter(NullFormatter())
            perplexity.legend()
        perplexity.set_title(f"perplexity ({self.scorer})", fontsize=9)
        edits.hist(self.sample["edit_ratio"].to_numpy(), bins=np.linspace(0, 1, 21))
        edits.set_title("edit ratio (share of words changed)")
        return figure


def alignment_figures(rows: pl.DataFrame) -> dict[str, float | int]:
    """Did alignment happen? Over rows of aligned_corpus or expert_rewrites (status, unchanged,
    edit_ratio, judge): the shares of segments rewritten and accepted (the aligned text is not
    the original), left as they were by the rewriter (a clean segment needs no rewrite), and
    rejected (the original kept), each rejection reason's share, the share of words the
    accepted rewrites changed, and how many rewrites the fact judge accepted and rejected."""
    valid = rows["status"] == "valid"
    rewritten = rows.filter(valid & ~rows["unchanged"])
    figures: dict[str, float | int] = {
        "rewritten_share": _share(valid & ~rows["unchanged"]),
        "untouched_share": _share(valid & rows["unchanged"]),
        "rejected_share": _share(~valid),
        "changed_words_share": _mean(rewritten["edit_ratio"]),
        "judge_accepted": int((rows["judge"] == "accepted").sum()),
        "judge_rejected": int((rows["judge"] != "accepted").sum() - (rows["judge"] == "").sum()),
    }
    reasons = rows.filter(~valid).group_by("status").len("count").sort("count", descending=True)
    for reason, count in reasons.iter_rows():
        figures[f"rejected_{reason}_share"] = round(count / rows.height, 4)
    return figures


HARM_DROP = 0.1  # a fall of harm_max this large is a change of harm, not noise


def _kept(words: list[str], first: bool, last: bool, context: int) -> list[str]:
    """A run of unchanged words, elided to `context` words each side of a change."""
    if len(words) <= (1 if first or last else 2) * context:
        return words
    head = [] if first else words[:context]
    tail = [] if last else words[-context:]
    return [*head, "…", *tail]


def word_diff(original: str, aligned: str, context: int = 3) -> str:
    """What the rewrite changed, word by word, as git's word diff writes it: [-removed-] and
    {+added+}, with `context` unchanged words around each change and "…" for the rest."""
    before, after = original.split(), aligned.split()
    opcodes = SequenceMatcher(a=before, b=after, autojunk=False).get_opcodes()
    parts: list[str] = []
    for n, (tag, i1, i2, j1, j2) in enumerate(opcodes):
        if tag == "equal":
            parts += _kept(before[i1:i2], n == 0, n == len(opcodes) - 1, context)
            continue
        if i2 > i1:
            parts.append(f"[-{' '.join(before[i1:i2])}-]")
        if j2 > j1:
            parts.append(f"{{+{' '.join(after[j1:j2])}+}}")
    return " ".join(parts)


def _change(diff: str, drops: dict[str, float], before: float, after: float) -> str:
    """What kind of change a rewrite made: harm lowered (naming the category that fell most),
    text removed, text added, or reworded."""
    if before - after >= HARM_DROP:
        category = max(drops, key=drops.__getitem__).removeprefix("harm_")
        return f"harm lowered ({category})"
    removed, added = "[-" in diff, "{+" in diff
    return (
        "text removed"
        if removed and not added
        else "text added"
        if added and not removed
        else "reworded"
    )


def changed_segments(
    rows: pl.DataFrame | pl.LazyFrame, categories: Sequence[str] = CATEGORIES, limit: int = 20
) -> pl.DataFrame:
    """The valid rewrites that changed their segment (rows of aligned_corpus or expert_rewrites),
    the most changed first: the original, the rewrite, a word diff of what changed, the kind of
    change, the share of words changed, and harm_max before → after."""
    changed = (
        rows.lazy()
        .filter((pl.col("status") == VALID) & ~pl.col("unchanged"))
        .sort("edit_ratio", "segment_id", descending=[True, False])
        .head(limit)
        .collect()
    )
    diffs, kinds, harms = [], [], []
    for row in changed.iter_rows(named=True):
        diff = word_diff(row["original"], row["aligned"])
        drops = {c: (row[f"{c}_before"] or 0) - (row[f"{c}_after"] or 0) for c in categories}
        before, after = row["harm_max_before"], row["harm_max_after"]
        diffs.append(diff)
        kinds.append(_change(diff, drops, before, after))
        harms.append(f"{before:.2f}→{after:.2f}")  # one word: never broken over lines
    return pl.DataFrame(
        {
            "original": changed["original"],
            "aligned": changed["aligned"],
            "changes": pl.Series(diffs, dtype=pl.String),
            "change": pl.Series(kinds, dtype=pl.String),
            "edit_ratio": changed["edit_ratio"],
            "harm": pl.Series(harms, dtype=pl.String),
        }
    )


def rejected_segments(rows: pl.DataFrame | pl.LazyFrame, limit: int = 20) -> pl.DataFrame:
    """The segments whose every rewrite was rejected (the original kept), most attempts first:
    the original, the reason of the last rejection and of every one, the attempts, and the
    shares of numbers and names the last parsed rewrite kept."""
    return (
        rows.lazy()
        .filter(pl.col("status") != VALID)
        .sort("attempts", "segment_id", descending=[True, False])
        .head(limit)
        .select(
            "original",
            pl.col("status").alias("reason"),
            "rejected",
            "attempts",
            "numbers_kept",
            "names_kept",
        )
        .collect()
    )


def fidelity_by_dump(corpus: pl.DataFrame, judged: pl.DataFrame | None = None) -> pl.DataFrame:
    """Per dump of `corpus` (dump, rejected, numbers_kept, names_kept of aligned_corpus rows):
    segments, the rejection rate of each check (share of segments with an output it rejected;
    the fidelity checks always, the others where they rejected any), the mean shares of numbers
    and names kept, and the judge's mean accuracy on `judged` (audited rows with dump and
    judge_accuracy) where given."""
    reasons = pl.col("rejected").str.split(",")
    table = corpus.group_by("dump").agg(
        pl.len().alias("segments"),
        pl.col("numbers_kept").mean().round(4),
        pl.col("names_kept").mean().round(4),
        *[reasons.list.contains(r).mean().round(4).alias(f"rejected_{r}") for r in REJECTIONS],
    )
    if judged is not None and "judge_accuracy" in judged.columns:
        accuracy = judged.group_by("dump").agg(pl.col("judge_accuracy").mean().round(2))
        table = table.join(accuracy, on="dump", how="left")
    idle = [
        f"rejected_{r}"
        for r in REJECTIONS
        if r not in FIDELITY_REJECTIONS and not (table[f"rejected_{r}"] > 0).any()
    ]
    return table.drop(idle).sort("dump")


def audit(
    sample: pl.DataFrame,
    perplexity: Callable[[str], float],
    judge_scores: Sequence[dict[str, int] | None] | None = None,
    corpus: pl.DataFrame | None = None,
    categories: Sequence[str] = CATEGORIES,
    scorer: str = "reference character model",
) -> AuditReport:
    """`sample`: rows of aligned_corpus; `perplexity` scores a text (`scorer` names it).
    `judge_scores`: the rubric judge's scores, row by row. `corpus`: the columns of
    fidelity_by_dump and alignment_figures for every row of aligned_corpus. `categories`: those
    the harm scorer really scores (its `categories`)."""
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
        # Rows where no rewrite parsed have no share: the mean is over the others.
        "numbers_kept_mean": _mean(rows["numbers_kept"].drop_nulls()),
        "names_kept_mean": _mean(rows["names_kept"].drop_nulls()),
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
    fidelity = None
    if corpus is not None:
        fidelity = fidelity_by_dump(corpus, rows if "dump" in rows.columns else None)
        # over the whole corpus, not the sample
        headline |= {f"corpus_{k}": v for k, v in alignment_figures(corpus).items()}
    return AuditReport(rows, harm, headline, fidelity, scorer)
