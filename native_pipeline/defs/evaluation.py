"""Evaluation of each variant's checkpoint, and the ablation that compares them:

<variant>/checkpoints ─▶ <variant>/eval_scores ─▶ ablation_report
<variant>/corpus_mix (held-out) ──┘
"""

import dagster as dg
import numpy as np
import polars as pl
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from native_pipeline.defs.automation import FOLLOWS_INPUTS, GPU_RETRY
from native_pipeline.defs.cluster import gpu_tags
from native_pipeline.defs.metadata import chart, rounded, table
from native_pipeline.defs.resources import (
    EvaluationResource,
    HarmResource,
    TrainingResource,
)
from native_pipeline.defs.training import VARIANTS, variant_key
from native_pipeline.evaluation.ablation import (
    ablation_table,
    by_task,
    deltas_by_task,
    group_deltas,
)
from native_pipeline.lake import Lake, variant


def eval_scores(name: str) -> dg.AssetsDefinition:
    @dg.asset(
        key=variant_key("eval_scores", name),
        deps=[variant_key("checkpoints", name), variant_key("corpus_mix", name)],
        group_name=name,
        kinds={"pytorch", "parquet"},
        pool="gpu",
        op_tags=gpu_tags("eval_scores"),
        retry_policy=GPU_RETRY,
        automation_condition=FOLLOWS_INPUTS,
        description=f"Variant `{name}`'s checkpoint on every metric: perplexity on held-out "
        "original and aligned text, multiple-choice acc and acc_norm by log-likelihood per "
        "choice (ArabicMMLU, MMLU-Arabic, EXAMS, ACVA, AraTrust layouts), whole and per "
        "subject and category, and the harmful rate of its continuations of harmful prompts.",
    )
    def _asset(
        context: dg.AssetExecutionContext,
        lake: dg.ResourceParam[Lake],
        evaluation: EvaluationResource,
        harm: HarmResource,
    ) -> dg.MaterializeResult:
        from native_pipeline.evaluation.suite import evaluate_checkpoint

        settings = evaluation.settings
        held_out = (
            lake.scan("corpus_mix", "held_out", variant(name))
            .head(settings.max_held_out_docs)
            .collect()
        )
        report = evaluate_checkpoint(
            lake.partition_path("checkpoints", variant(name)) / "final",
            held_out,
            settings,
            harm.settings,
            log=context.log.info,
        )
        scores = report.scores
        overall = scores.filter(by="all")
        with lake.writer("eval_scores", variant(name)) as out:
            out.write("scores", scores)
            out.write("items", report.items)
            out.write("harm", report.harm)
        return dg.MaterializeResult(
            metadata=rounded(
                {
                    # One number per metric: the UI plots each across materializations.
                    **{
                        f"{t}/{m}": round(v, 4)
                        for t, m, v in overall.select("task", "metric", "value").iter_rows()
                    },
                    "scores": table(overall.drop("by", "group")),
                    "by_subject": table(
                        scores.filter(pl.col("by") != "all", metric="acc").drop("metric")
                    ),
                    **report.counts,
                    "seconds": round(report.seconds, 1),
                }
            )
        )

    return _asset


def _chart(table: pl.DataFrame, slices: dict[str, float]) -> Figure:
    """One panel per metric, a bar per variant: the aligned slices in shades of one colour,
    ordered by their share of the aligned volume (its scaling curve, read left to right), each
    labelled with that share."""
    metrics = table["score"].to_list()
    volume = sorted((v for v in table.columns[1:] if v in slices), key=slices.__getitem__)
    variants = [v for v in table.columns[1:] if v not in slices] + volume
    labels = [f"{v}\n{slices[v]:.0%} aligned" if v in slices else v for v in variants]
    shades = dict(zip(volume, colormaps["Blues"](np.linspace(0.45, 0.9, len(volume))), strict=True))
    colours = [shades.get(v, "tab:gray") for v in variants]
    columns, rows = min(len(metrics), 4), -(-len(metrics) // 4)
    figure = Figure(figsize=(3.4 * columns, 2.6 * rows + 0.5))
    grid = figure.subplots(rows, columns, squeeze=False)
    for axes, (metric, *values) in zip(grid.flat, table.iter_rows(), strict=False):
        by_variant = dict(zip(table.columns[1:], values, strict=True))
        heights = [by_variant[v] if by_variant[v] is not None else 0 for v in variants]
        axes.bar(labels, heights, color=colours)
        axes.set_title(metric, fontsize=9)
        axes.tick_params(axis="x", labelrotation=90, labelsize=7)
    for axes in list(grid.flat)[len(metrics) :]:
        axes.set_visible(False)
    legend = [Patch(color="tab:gray", label="original and mixed variants")]
    if volume:
        label = "aligned slices, by their share of the aligned volume (darker: more)"
        legend.append(Patch(color=shades[volume[-1]], label=label))
    figure.legend(handles=legend, loc="upper center", ncol=len(legend), fontsize=8)
    figure.tight_layout(rect=(0, 0, 1, 1 - 0.4 / figure.get_figheight()))  # the legend on top
    return figure


@dg.asset(
    deps=[variant_key("eval_scores", name) for name in VARIANTS],
    automation_condition=FOLLOWS_INPUTS,
    group_name="evaluation",
    kinds={"matplotlib", "parquet"},
    description="The published comparison: original vs aligned vs hybrid (and the aligned "
    "volume slices) on every metric, as one table and one chart; and per subject and category "
    "(ACVA's and AraTrust's categories, ArabicMMLU's subjects) each variant's acc and its "
    "difference from the original.",
)
def ablation_report(
    lake: dg.ResourceParam[Lake], training: TrainingResource
) -> dg.MaterializeResult:
    scores = pl.read_parquet(
        lake.table_glob("eval_scores", "scores", variant("*")), hive_partitioning=True
    )
    compared = ablation_table(scores, VARIANTS)
    order = compared.columns[1:]
    baseline = "original" if "original" in order else order[0]
    deltas = group_deltas(scores, VARIANTS, baseline)
    variants = training.settings.variants
    slices = {v: spec.fraction for v, spec in variants.items() if spec.source == "aligned"}
    with lake.writer("ablation_report") as out:
        out.write("data", compared)
        out.write("by_subject", deltas)
    # the columns named after the baseline and the metrics
    described = {
        baseline: f"{baseline}'s value (the baseline)",
        "difference": f"the variant's value minus {baseline}'s",
        **{m: f"the task's {m}" for m in compared["score"].str.split("/").list.last()},
    }
    return dg.MaterializeResult(
        metadata=rounded(
            {
                "dagster/row_count": compared.height,
                # one table per task, a row per variant: read down, never cut off on the right
                **{
                    f"scores: {task}": table(rows, described=described)
                    for task, rows in by_task(compared).items()
                },
                **chart("scores by variant", _chart(compared, slices)),
                # per subject and category, the largest differences from the baseline first
                **{
                    f"against {baseline}: {name}": table(rows, described=described)
                    for name, rows in deltas_by_task(deltas, baseline).items()
                },
            }
        )
    )


evaluation_assets = [eval_scores(name) for name in VARIANTS] + [ablation_report]
