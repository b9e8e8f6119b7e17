"""Evaluation of each variant's checkpoint and of the base model, and the ablation:

<variant>/checkpoints ─▶ <variant>/eval_scores ─▶ ablation_report
<variant>/corpus_mix (held-out) ──┘                   ▲
tokenizer ─▶ base/eval_scores (the model before any pre-training) ┘
"""

import tempfile
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from native_pipeline.defs.alignment import ABLATION_COLUMNS, seed_ablation, seed_ablation_chart
from native_pipeline.defs.automation import FOLLOWS_INPUTS, GPU_RETRY
from native_pipeline.defs.cluster import gpu_tags
from native_pipeline.defs.metadata import chart, rounded, table
from native_pipeline.defs.resources import (
    EvaluationResource,
    HarmResource,
    TrainingResource,
)
from native_pipeline.defs.runs import RunGuard
from native_pipeline.defs.training import VARIANTS, tokenizer, variant_key
from native_pipeline.evaluation.ablation import (
    BASE,
    ablation_table,
    by_task,
    deltas_by_task,
    group_deltas,
    scaling_table,
)
from native_pipeline.lake import Lake, variant
from native_pipeline.settings import JudgeSettings, TrainingSettings

if BASE in VARIANTS:
    raise ValueError(f"training.variants: {BASE!r} names the base model's scores; rename it")
# the held-out documents the base model is scored on: every variant holds out the same ones
HELD_OUT_OF = "original" if "original" in VARIANTS else VARIANTS[0]


def _evaluate(
    lake: Lake,
    evaluation: EvaluationResource,
    harm: HarmResource,
    folder: Path,
    held_out_of: str,
    name: str,
    log: Callable[[str], None],
) -> dg.MaterializeResult:
    """The model in `folder` on every metric, stored as `eval_scores` of variant `name`."""
    from native_pipeline.evaluation.suite import evaluate_checkpoint

    settings = evaluation.settings
    if settings.judge.base_url and settings.judge.cache_dir is None:  # judgements kept for reruns
        judge = settings.judge.model_copy(update={"cache_dir": lake.store("judge_cache")})
        settings = settings.model_copy(update={"judge": judge})
    held_out = (
        lake.scan("corpus_mix", "held_out", variant(held_out_of))
        .head(settings.max_held_out_docs)
        .collect()
    )
    report = evaluate_checkpoint(folder, held_out, settings, harm.settings, log=log)
    scores = report.scores
    overall = scores.filter(by="all")
    with lake.writer("eval_scores", variant(name)) as out:
        out.write("scores", scores)
        out.write("items", report.items)
        out.write("harm", report.harm)
        out.write("failures", report.failures)
        out.write("judged", report.judged)
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
                # what was not scored, and why (a task, a subject, a harmful rate of blanks)
                "failures": table(
                    report.failures,
                    described={
                        "reason": "why the task, subject or harmful rate was not scored",
                        "n": "the items (prompts) left unscored; 0 when the file was unread",
                    },
                ),
                "failed": report.failures.height,
                **report.counts,
                **{f"{task}/notes": dg.MetadataValue.json(n) for task, n in report.notes.items()},
                "seconds": round(report.seconds, 1),
            }
        )
    )


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
        gpu_guard: RunGuard,  # set up before the gpu pool is claimed: dead runs' slots freed
    ) -> dg.MaterializeResult:
        folder = lake.partition_path("checkpoints", variant(name)) / "final"
        return _evaluate(lake, evaluation, harm, folder, name, name, context.log.info)

    return _asset


@dg.asset(
    key=variant_key("eval_scores", BASE),
    deps=[tokenizer, variant_key("corpus_mix", HELD_OUT_OF)],
    group_name="evaluation",
    kinds={"pytorch", "parquet"},
    pool="gpu",
    op_tags=gpu_tags("eval_scores"),
    retry_policy=GPU_RETRY,
    automation_condition=FOLLOWS_INPUTS,
    description="The base model before any continued pre-training (training.model.base_model, "
    "or the random Llama every variant starts from: the same tokenizer, size and seed) on every "
    "metric of the variants' eval_scores: the zero line of every delta in ablation_report.",
)
def base_eval_scores(
    context: dg.AssetExecutionContext,
    lake: dg.ResourceParam[Lake],
    training: TrainingResource,
    evaluation: EvaluationResource,
    harm: HarmResource,
    gpu_guard: RunGuard,  # set up before the gpu pool is claimed: dead runs' slots freed
) -> dg.MaterializeResult:
    from native_pipeline.lm.model import save_initial_model

    model = training.settings.model
    with tempfile.TemporaryDirectory() as scratch:
        folder = save_initial_model(
            scratch,
            lake.partition_path("tokenizer"),
            model.base_model,
            tiny=model.tiny,
            seed=training.settings.loop.seed,
        )
        return _evaluate(lake, evaluation, harm, folder, HELD_OUT_OF, BASE, context.log.info)


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


def _scaling_chart(scaling: pl.DataFrame) -> Figure:
    """The scaling law of native alignment: one panel per metric, its score against the aligned
    tokens each aligned variant holds."""
    metrics = scaling.columns[3:]
    columns = min(len(metrics), 4) or 1
    figure = Figure(figsize=(3.2 * columns, 2.6 * -(-len(metrics) // columns) or 2.6))
    grid = figure.subplots(-(-len(metrics) // columns) or 1, columns, squeeze=False)
    for axes, metric in zip(grid.flat, metrics, strict=False):
        axes.plot(scaling["aligned_tokens"], scaling[metric], "o-", color="tab:orange")
        axes.set_title(metric, fontsize=9)
        axes.set_xlabel("aligned tokens", fontsize=7)
        axes.tick_params(labelsize=7)
    for axes in list(grid.flat)[len(metrics) :]:
        axes.set_visible(False)
    figure.tight_layout()
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


def _judged(judge: JudgeSettings) -> tuple[str, dict[str, str]]:
    """Who rates the judged task (evaluation/judged.py), and its metrics as the paper reads
    them."""
    from native_pipeline.evaluation.judged import ASPECTS, judge_name  # torch: not at load

    described = {
        **{a: f"the mean {a} (1-10) of the model's answers" for a in ASPECTS},
        **{f"reference_{a}": f"the reference answers' mean {a} (1-10)" for a in ASPECTS},
        **{f"{a}_ratio": f"the mean {a} over the reference's: the paper's figure" for a in ASPECTS},
    }
    return (judge_name(judge) if judge.enabled else "off"), described


def _seed_ablation(lake: Lake) -> dict[str, object]:
    """The seed ablation's summary (one row per seed strategy, mean ± std per rubric aspect)
    and its chart."""
    if not lake.exists("seed_ablation"):
        return {"seed ablation": "not materialised: launch the align or ablate_seeds job"}
    summary = lake.scan("seed_ablation", "summary").collect()
    return {
        "seed ablation (rubric mean ± std over repeats)": table(
            summary.with_columns(pl.col(pl.Float64).round(3)), described=ABLATION_COLUMNS
        ),
        **chart("seed ablation by strategy", seed_ablation_chart(summary)),
    }


@dg.asset(
    deps=[variant_key("eval_scores", name) for name in [BASE, *VARIANTS]]
    + [variant_key("token_shards", name) for name in VARIANTS]
    + [seed_ablation],
    automation_condition=FOLLOWS_INPUTS,
    group_name="evaluation",
    kinds={"matplotlib", "parquet"},
    description="The published comparison: the base model vs original vs cleaning baseline vs "
    "aligned vs hybrid on every metric, each variant's difference from the base model, and the "
    "scaling axis (every metric against the aligned tokens a variant holds), as tables and one "
    "chart; and per subject and category (ACVA's and AraTrust's categories, ArabicMMLU's "
    "subjects, English MMLU's four) each variant's acc and its difference from the base; the "
    "judged harmlessness and helpfulness ratios (scores: judged); the seed ablation's table "
    "and chart.",
)
def ablation_report(
    lake: dg.ResourceParam[Lake], training: TrainingResource, evaluation: EvaluationResource
) -> dg.MaterializeResult:
    scores = pl.read_parquet(
        lake.table_glob("eval_scores", "scores", variant("*")), hive_partitioning=True
    )
    compared = ablation_table(scores, [BASE, *VARIANTS])
    order = compared.columns[1:]
    baseline = BASE if BASE in order else "original" if "original" in order else order[0]
    deltas = group_deltas(scores, [BASE, *VARIANTS], baseline)
    scaling = scaling_table(compared, _scaling_axis(lake, training.settings))
    variants = training.settings.variants
    slices = {v: spec.fraction for v, spec in variants.items() if spec.source == "aligned"}
    with lake.writer("ablation_report") as out:
        out.write("data", compared)
        out.write("by_subject", deltas)
        out.write("scaling", scaling)
    judge, judged_metrics = _judged(evaluation.settings.judge)
    # the columns named after the baseline and the metrics
    described = {
        baseline: f"{baseline}'s value (the baseline)",
        "difference": f"the variant's value minus {baseline}'s",
        **{m: f"the task's {m}" for m in compared["score"].str.split("/").list.last()},
        **judged_metrics,
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
                "judge (scores: judged)": judge,
                "scaling (every metric against aligned tokens)": table(
                    scaling,
                    described={
                        "variant": "a variant trained on aligned text (a nested slice of it)",
                        "aligned_tokens": "the aligned tokens it holds",
                        "trained_tokens": "the tokens its budget trained on",
                        **{s: f"its whole-task score {s}" for s in compared["score"]},
                    },
                ),
                **chart("every metric against aligned tokens", _scaling_chart(scaling)),
                # per subject and category, the largest differences from the baseline first (the
                # paper's English-MMLU table: "mmlu by category", Humanities, STEM, Social
                # Science, Other)
                **{
                    f"against {baseline}: {name}": table(rows, described=described)
                    for name, rows in deltas_by_task(deltas, baseline).items()
                },
                **_seed_ablation(lake),
            }
        )
    )


evaluation_assets = [eval_scores(name) for name in VARIANTS] + [base_eval_scores, ablation_report]
