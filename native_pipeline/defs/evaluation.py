"""Evaluation of each variant's checkpoint, and the ablation that compares them:

<variant>/checkpoints ─▶ <variant>/eval_scores ─▶ ablation_report
<variant>/corpus_mix (held-out) ──┘
"""

import dagster as dg
import polars as pl
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from native_pipeline.defs.automation import FOLLOWS_INPUTS, GPU_RETRY
from native_pipeline.defs.cluster import gpu_tags
from native_pipeline.defs.metadata import png, table
from native_pipeline.defs.resources import (
    EvaluationResource,
    HarmResource,
    TrainingResource,
)
from native_pipeline.defs.training import VARIANTS, variant_key
from native_pipeline.evaluation.ablation import ablation_table, group_deltas, scaling_table
from native_pipeline.lake import Lake, variant
from native_pipeline.settings import TrainingSettings


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
            metadata={
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

    return _asset


def _chart(table: pl.DataFrame, scaling: pl.DataFrame) -> Figure:
    """One panel per metric: a bar per variant, and the scaling curve against aligned tokens."""
    metrics = table["score"].to_list()
    variants = [c for c in table.columns if c != "score"]
    figure = Figure(figsize=(3.2 * min(len(metrics), 4), 2.8 * -(-len(metrics) // 4)))
    axes_grid = figure.subplots(-(-len(metrics) // 4), min(len(metrics), 4), squeeze=False)
    for axes, (metric, *values) in zip(axes_grid.flat, table.iter_rows(), strict=False):
        axes.bar(variants, [v if v is not None else 0 for v in values], color="tab:blue")
        axes.set_title(metric, fontsize=9)
        axes.tick_params(axis="x", labelrotation=45, labelsize=7)
        if scaling.height > 1:
            twin = axes.twiny()
            twin.plot(scaling["aligned_tokens"], scaling[metric], "o-", color="tab:orange")
            twin.set_xlabel("aligned tokens", fontsize=7)
    for axes in list(axes_grid.flat)[len(metrics) :]:
        axes.set_visible(False)
    legend = [Patch(color="tab:blue", label="each variant's score (x: variant)")]
    if scaling.height > 1:
        label = "scaling: score by the aligned tokens a variant holds (top x)"
        legend.append(Line2D([], [], color="tab:orange", marker="o", label=label))
    figure.legend(handles=legend, loc="lower center", ncol=len(legend), fontsize=8)
    figure.tight_layout(rect=(0, 0.06, 1, 1))  # room for the legend
    return figure


def _scaling_axis(lake: Lake, settings: TrainingSettings) -> dict[str, tuple[int, int]]:
    """Each aligned variant's (aligned tokens it holds, tokens its budget trains on), from its
    shards' manifest and the config."""
    from native_pipeline.training.pretrain import budget_steps, step_tokens
    from native_pipeline.training.shards import read_manifest

    axis = {}
    for name, spec in settings.variants.items():
        if spec.source == "aligned":
            manifest = read_manifest(lake.partition_path("token_shards", variant(name)))
            steps = budget_steps(spec.budget, settings.loop, manifest["tokens"])
            axis[name] = (
                manifest["tokens_by_source"].get("aligned", 0),
                steps * step_tokens(settings.loop),
            )
    return axis


@dg.asset(
    deps=[
        variant_key(stage, name) for stage in ("eval_scores", "token_shards") for name in VARIANTS
    ],
    automation_condition=FOLLOWS_INPUTS,
    group_name="evaluation",
    kinds={"matplotlib", "parquet"},
    description="The published comparison: original vs cleaning baseline vs aligned vs hybrid "
    "on every metric, and the scaling axis (every metric against the aligned tokens a variant "
    "holds), as tables and one chart; and per subject and category "
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
    scaling = scaling_table(compared, _scaling_axis(lake, training.settings))
    with lake.writer("ablation_report") as out:
        out.write("data", compared)
        out.write("by_subject", deltas)
        out.write("scaling", scaling)
    # the columns named after the variants
    described = {
        "score": "the whole-task score compared: task/metric",
        **{v: f"variant {v}'s value" for v in order},
        **{f"{v} - {baseline}": f"variant {v}'s value minus {baseline}'s" for v in order},
    }
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": compared.height,
            "table": table(compared.with_columns(pl.col(order).round(4)), described=described),
            "chart": png(_chart(compared, scaling)),
            "scaling (every metric against aligned tokens)": table(
                scaling.with_columns(pl.col(pl.Float64).round(4)),
                described={
                    "variant": "a variant trained on aligned text (a nested slice of it)",
                    "aligned_tokens": "the aligned tokens it holds",
                    "trained_tokens": "the tokens its budget trained on (same_tokens, one_epoch)",
                    **{s: f"its whole-task score {s}" for s in compared["score"]},
                },
            ),
            # per subject and category, the largest differences from the baseline first
            f"by_subject (acc and harmful_rate, against {baseline})": table(
                deltas.with_columns(pl.col(pl.Float64).round(4)), described=described
            ),
        }
    )


evaluation_assets = [eval_scores(name) for name in VARIANTS] + [ablation_report]
