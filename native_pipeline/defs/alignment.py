"""Native alignment, from cleaned_text to the aligned corpus and its audit:

cleaned_text ─▶ rewrite_segments ─▶ seed_segments ─▶ expert_rewrites ─▶ alignment_worker
                      └──────────────────────────────▶ aligned_corpus ◀──────────┘
                                                            └─▶ rewrite_audit
"""

import copy
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import polars as pl
from matplotlib.figure import Figure

from native_pipeline.alignment.audit import (
    alignment_figures,
    audit,
    changed_segments,
    rejected_segments,
)
from native_pipeline.alignment.backends import make_rewriter
from native_pipeline.alignment.backends.base import Rewriter
from native_pipeline.alignment.backends.pairs_file import read_pairs
from native_pipeline.alignment.char_ngram import CharNGram, by_half, reference_model
from native_pipeline.alignment.expert import (
    can_judge,
    fact_judge,
    judge_name,
    judge_rewrites,
    rewrite_seeds,
)
from native_pipeline.alignment.judge import CRITERIA
from native_pipeline.alignment.rewrite import (
    IncompleteShards,
    assemble_shards,
    rewrite_in_chunks,
    shard_count,
)
from native_pipeline.alignment.seeds import sample_segments, seeds_from_pairs, select_seeds
from native_pipeline.alignment.segments import segment_frame, token_counter
from native_pipeline.api_client import Usage
from native_pipeline.defs.automation import FOLLOWS_INPUTS, GPU_RETRY
from native_pipeline.defs.cleaning import cleaned_text
from native_pipeline.defs.cluster import gpu_tags
from native_pipeline.defs.metadata import chart, line_plot, rounded, table
from native_pipeline.defs.partitions import crawl_dumps, dump_key
from native_pipeline.defs.resources import AlignmentResource, HarmResource
from native_pipeline.defs.runs import RunGuard
from native_pipeline.draw import stable_hash
from native_pipeline.lake import ChunkLog, Lake
from native_pipeline.tables import SEGMENTS, frame
from native_pipeline.text.harm import make_scorer


def _endpoint_usage(rewriter: Rewriter) -> Usage | None:
    """What the rewriter's HTTP endpoint has spent so far; None for a local model or rules."""
    return getattr(getattr(rewriter, "backend", None), "usage", None)


def _rewriter_metadata(identity: dict[str, object], usage: Usage | None) -> dict[str, object]:
    """Who rewrote, and what the expert's endpoint cost (tokens, cache hits, dollars)."""
    metadata: dict[str, object] = {"rewriter": dg.MetadataValue.json(identity)}
    if usage is not None:
        metadata.update(usage.as_metadata())
    return metadata


def _output_rate(rows: pl.DataFrame, identity: dict[str, object], seconds: float) -> object:
    """Tokens generated a second; the policy rewriter generates none (it edits by rules)."""
    if identity["backend"] == "policy":
        return "not applicable (the policy rewriter edits by rules, it generates no tokens)"
    return rows["output_tokens"].sum() / seconds if seconds else 0.0


def _worker_folder(lake: Lake) -> Path:
    return lake.store("alignment_worker")


@dg.asset(
    partitions_def=crawl_dumps,
    deps=[cleaned_text],
    group_name="alignment",
    kinds={"polars", "parquet"},
    description="cleaned_text cut into rewrite units on paragraph boundaries, with character "
    "offsets, so that each aligned document is put back together in order.",
)
def rewrite_segments(
    context: dg.AssetExecutionContext, lake: dg.ResourceParam[Lake], alignment: AlignmentResource
) -> dg.MaterializeResult:
    dump = dump_key(context)
    settings = alignment.settings.segments
    count = token_counter(settings.tokenizer)
    parts = sorted((lake.partition_path("cleaned_text", dump) / "data").glob("*.parquet"))
    n_docs = 0
    lengths = [pl.Series("n_tokens", [], SEGMENTS["n_tokens"])]
    with lake.writer("rewrite_segments", dump) as out:
        out.write("data", frame([], SEGMENTS))
        for part in parts:
            docs = pl.read_parquet(part, columns=["doc_id", "text"])
            segments = segment_frame(docs, settings.max_tokens, count)
            out.write("data", segments)
            n_docs += docs.height
            lengths.append(segments["n_tokens"])
    tokens = pl.concat(lengths)
    return dg.MaterializeResult(
        metadata=rounded(
            {
                "dagster/row_count": tokens.len(),
                "documents": n_docs,
                "segments_per_document": round(tokens.len() / max(n_docs, 1), 2),
                "mean_tokens": round(float(tokens.mean() or 0), 1),
                "max_tokens": int(tokens.max() or 0),
                "max_tokens_allowed": settings.max_tokens,
                "tokenizer": str(settings.tokenizer or "words and punctuation marks"),
            }
        )
    )


def _audit_perplexity(
    alignment: AlignmentResource, lake: Lake
) -> tuple[Callable[[str], float], str]:
    """The audit's perplexity scorer and its name: a causal LM (the configured one, else the
    alignment worker) or the character n-gram."""
    settings = alignment.settings.perplexity
    if settings.scorer == "ngram":
        return _reference_model(alignment, lake).perplexity, f"character {settings.order}-gram"
    from native_pipeline.evaluation.perplexity import TextPerplexity

    folder = settings.model or _worker_folder(lake) / "train" / "final"
    scorer = TextPerplexity(folder, settings.context_length)
    return scorer, scorer.name


def _reference_model(alignment: AlignmentResource, lake: Lake) -> CharNGram:
    parts = sorted(Path(p) for p in lake.root.glob("rewrite_segments/dump=*/data/*.parquet"))
    return reference_model(alignment.settings.perplexity, parts)


@dg.asset(
    deps=[rewrite_segments],
    group_name="alignment",
    kinds={"polars", "parquet"},
    description="The seed: a reproducible sample of segments, from every dump, for the "
    "alignment expert (random, or by perplexity high or low); with the pairs_file expert, of "
    "the originals of its file.",
)
def seed_segments(
    lake: dg.ResourceParam[Lake], alignment: AlignmentResource
) -> dg.MaterializeResult:
    settings = alignment.settings.seeds
    expert = alignment.settings.expert
    if expert.backend == "pairs_file":  # the seed is drawn from the file's originals
        count = token_counter(alignment.settings.segments.tokenizer)
        segments = seeds_from_pairs(read_pairs(expert.pairs_path), count).lazy()
    else:
        segments = lake.scan_dumps("rewrite_segments", "data")
    if settings.strategy == "random":
        seeds = sample_segments(segments, settings.size, settings.seed)
    else:  # a random pool, ranked by the reference model
        pool = sample_segments(segments, settings.size * settings.pool_factor, settings.seed)
        model = _reference_model(alignment, lake)
        scores = pl.col("text").map_elements(model.perplexity, return_dtype=pl.Float64)
        pool = pool.with_columns(scores.alias("perplexity"))
        seeds = select_seeds(pool, settings.size, settings.strategy, settings.seed)
    with lake.writer("seed_segments") as out:
        out.write("data", seeds)
    return dg.MaterializeResult(
        metadata=rounded(
            {
                "dagster/row_count": seeds.height,
                "strategy": settings.strategy,
                "pool": segments.select(pl.len()).collect().item(),
                "by_dump": table(seeds.group_by("dump").len("count").sort("dump")),
                "preview": table(seeds.select("segment_id", "text").head(5)),
            }
        )
    )


ABLATION_COLUMNS = {
    "strategy": "how the seeds were chosen (random, perplexity_*, change_*)",
    "repeat": "the sampling seed of the run (its random pool)",
    "repeats": "runs averaged",
    "judged": "seeds the judge scored in the run",
    **{c: f"the run's mean judge score for {c} (1-10)" for c in CRITERIA},
    **{f"{c}_mean": f"mean over the runs of the judge's {c} score (1-10)" for c in CRITERIA},
    **{f"{c}_std": f"standard deviation over the runs of the {c} score" for c in CRITERIA},
}


def seed_ablation_chart(summary: pl.DataFrame) -> Figure:
    """One group of bars per rubric aspect, a bar per strategy, the std as its error bar."""
    figure = Figure(figsize=(9, 3.2))
    axes = figure.subplots()
    width = 0.8 / summary.height
    for i, row in enumerate(summary.iter_rows(named=True)):
        axes.bar(
            [x + i * width for x in range(len(CRITERIA))],
            [row[f"{c}_mean"] for c in CRITERIA],
            width,
            yerr=[row[f"{c}_std"] for c in CRITERIA],
            label=row["strategy"],
            capsize=2,
        )
    axes.set_xticks([x + 0.4 - width / 2 for x in range(len(CRITERIA))], list(CRITERIA))
    axes.set_ylim(0, 10.5)
    axes.set_ylabel("judge score (1-10), mean ± std over repeats")
    axes.legend(fontsize=7, ncol=summary.height)
    figure.tight_layout()
    return figure


@dg.asset(
    deps=[rewrite_segments],
    group_name="alignment",
    kinds={"matplotlib", "parquet"},
    description="The seed ablation: each seed strategy (random; perplexity high/low of the "
    "original; change high/low, the published ranking by how much rewriting changed them) "
    "through the expert and the 1-10 rubric judge, repeated with other sampling seeds; mean "
    "± std per strategy and aspect.",
)
def seed_ablation(
    context: dg.AssetExecutionContext,
    lake: dg.ResourceParam[Lake],
    alignment: AlignmentResource,
    harm: HarmResource,
) -> dg.MaterializeResult:
    from native_pipeline.alignment.seed_ablation import seed_ablation as run_ablation

    settings = alignment.settings
    ablation = settings.seed_ablation
    if not can_judge(settings):
        raise ValueError(
            "the seed ablation needs a judge: alignment.audit.judge true, and judge_backend "
            "offline or an LLM expert (alignment.expert.backend openai)"
        )
    segments = lake.scan_dumps("rewrite_segments", "data")
    cache = lake.store("expert_cache")

    def rewrite(seeds: pl.DataFrame) -> pl.DataFrame:
        return rewrite_seeds(seeds, settings, alignment.conduct, cache, harm.settings)[0]

    runs, summary = run_ablation(
        lambda repeat: sample_segments(segments, ablation.size * ablation.pool_factor, repeat),
        ablation.strategies,
        ablation.repeats,
        ablation.size,
        _reference_model(alignment, lake).perplexity,
        rewrite,
        lambda pairs: judge_rewrites(pairs, settings, cache, harm.settings) or [],
    )
    with lake.writer("seed_ablation") as out:
        out.write("runs", runs)
        out.write("summary", summary)
    context.log.info(f"seed ablation: {runs.height} runs judged")
    return dg.MaterializeResult(
        metadata=rounded(
            {
                "dagster/row_count": summary.height,
                "judge": judge_name(settings),
                "expert": settings.expert.backend,
                "summary (mean ± std over repeats)": table(
                    summary.with_columns(pl.col(pl.Float64).round(3)), described=ABLATION_COLUMNS
                ),
                "runs": table(
                    runs.with_columns(pl.col(pl.Float64).round(3)), described=ABLATION_COLUMNS
                ),
                **chart("mean ± std per aspect", seed_ablation_chart(summary)),
            }
        )
    )


def _before_after(rows: pl.DataFrame | pl.LazyFrame) -> dict[str, object]:
    """The rewrites that changed a segment, and those rejected, as tables (a line, not an empty
    table, when there are none)."""
    shown = {
        "changed_segments": (changed_segments(rows), "no rewrite changed a segment"),
        "rejected_rewrites": (rejected_segments(rows), "none: every segment has a valid rewrite"),
    }
    return {key: table(frame) if frame.height else none for key, (frame, none) in shown.items()}


def _rewrite_summary(rows: pl.DataFrame) -> dict[str, object]:
    return {
        "dagster/row_count": rows.height,
        **alignment_figures(rows),
        "valid_share": round(float((rows["status"] == "valid").mean() or 0), 4),
        "unchanged_share": round(float(rows["unchanged"].mean() or 0), 4),
        "mean_edit_ratio": round(float(rows["edit_ratio"].mean() or 0), 4),
        "harm_max_before": round(float(rows["harm_max_before"].mean() or 0), 4),
        "harm_max_after": round(float(rows["harm_max_after"].mean() or 0), 4),
        "by_status": table(rows.group_by("status").len("count").sort("count", descending=True)),
        **_before_after(rows),
    }


@dg.asset(
    deps=[seed_segments],
    group_name="alignment",
    kinds={"parquet"},
    description="The alignment expert's rewrite of each seed under the code of conduct, "
    "validated (an OpenAI-compatible endpoint, cached on disk; `policy` on the CPU sample).",
)
def expert_rewrites(
    context: dg.AssetExecutionContext,
    lake: dg.ResourceParam[Lake],
    alignment: AlignmentResource,
    harm: HarmResource,
) -> dg.MaterializeResult:
    seeds = lake.scan("seed_segments", "data").collect()
    started = time.perf_counter()
    rows, rewriter = rewrite_seeds(
        seeds,
        alignment.settings,
        alignment.conduct,
        lake.store("expert_cache"),
        harm.settings,
        log=context.log.info,
    )
    with lake.writer("expert_rewrites") as out:
        out.write("data", rows)
    return dg.MaterializeResult(
        metadata=rounded(
            {
                **_rewrite_summary(rows),
                **_rewriter_metadata(rewriter.identity(), _endpoint_usage(rewriter)),
                # the worker learns from the valid pairs only
                "pairs_for_training": int((rows["status"] == "valid").sum()),
                "seconds": round(time.perf_counter() - started, 2),
            }
        )
    )


@dg.asset(
    deps=[expert_rewrites],
    group_name="alignment",
    kinds={"pytorch", "safetensors"},
    pool="gpu",
    op_tags=gpu_tags("alignment_worker"),
    retry_policy=GPU_RETRY,
    description="A small causal LM fine-tuned on the expert's (original → rewritten) pairs: "
    "the alignment worker that rewrites the whole corpus.",
)
def alignment_worker(
    context: dg.AssetExecutionContext,
    lake: dg.ResourceParam[Lake],
    alignment: AlignmentResource,
    gpu_guard: RunGuard,  # set up before the gpu pool is claimed: dead runs' slots freed
) -> dg.MaterializeResult:
    # torch loads in seconds: imported here, not when the code location loads.
    from native_pipeline.alignment.worker import fine_tune

    pairs_frame = lake.scan("expert_rewrites", "data").filter(pl.col("status") == "valid")
    pairs = pairs_frame.select("original", "aligned").collect().rows()
    report, base = fine_tune(
        pairs,
        alignment.settings.worker,
        _worker_folder(lake),
        alignment.conduct,
        log=context.log.info,
    )
    return dg.MaterializeResult(
        metadata=rounded(
            {
                **report.as_metadata(),
                "base_model": dg.MetadataValue.path(str(base)),
                "path": dg.MetadataValue.path(str(report.loop.final_path)),
                **line_plot("train_loss", report.loop.losses, "optimizer step", "train loss"),
            }
        )
    )


@dataclass(frozen=True)
class ShardReport:
    """What one shard's step hands to the step that publishes the dump."""

    index: int
    made_by: str  # the key of the chunks: every shard of a dump must have the same
    identity: dict[str, object]  # the rewriter's
    usage: Usage | None  # what the rewriter's endpoint spent on this shard
    chunks_resumed: int
    seconds: float


@dg.op(
    ins={"segments": dg.In(dg.Nothing), "worker": dg.In(dg.Nothing)},
    out=dg.DynamicOut(int, io_manager_key="step_values"),
    description="Cuts the dump's segments into shards of alignment.shard_size.",
)
def plan_shards(
    context: dg.OpExecutionContext, lake: dg.ResourceParam[Lake], alignment: AlignmentResource
) -> Iterator[dg.DynamicOutput[int]]:
    dump = context.partition_key
    n = lake.scan("rewrite_segments", "data", dump).select(pl.len()).collect().item()
    shards = shard_count(n, alignment.settings.shard_size)
    context.log.info(f"{n:,} segments in {shards} shards of {alignment.settings.shard_size:,}")
    for index in range(shards):
        yield dg.DynamicOutput(index, mapping_key=f"shard_{index:06d}")


# One rewriter a process: the shards a process runs one after the other (the in-process
# executor) share its vLLM engine; on a cluster each shard's pod builds its own.
_REWRITERS: dict[str, Rewriter] = {}


def _corpus_rewriter(
    run_id: str, lake: Lake, alignment: AlignmentResource, harm: HarmResource
) -> Rewriter:
    settings = alignment.settings.rewriter
    key = json.dumps(
        [run_id, settings.model_dump(mode="json"), harm.settings.model_dump(mode="json")]
    )
    if key not in _REWRITERS:
        _REWRITERS.clear()  # a GPU holds one engine
        _REWRITERS[key] = make_rewriter(
            settings,
            alignment.conduct,
            cache_dir=lake.store("expert_cache"),
            default_model=_worker_folder(lake) / "train" / "final",
            harm=harm.settings,
        )
    return _REWRITERS[key]


def _chunks(lake: Lake, dump: str, made_by: str) -> ChunkLog:
    return lake.chunk_log("aligned_corpus", dump, f"{stable_hash(made_by, 0):016x}")


@dg.op(
    pool="gpu",
    tags=gpu_tags("aligned_corpus"),
    retry_policy=GPU_RETRY,
    out=dg.Out(io_manager_key="step_values"),
    description="One shard of the dump rewritten by the alignment worker and validated, "
    "committed in chunks: a retry resumes after the last committed one.",
)
def rewrite_shard(
    context: dg.OpExecutionContext,
    shard: int,
    lake: dg.ResourceParam[Lake],
    alignment: AlignmentResource,
    harm: HarmResource,
    gpu_guard: RunGuard,  # set up before the gpu pool is claimed: dead runs' slots freed
) -> ShardReport:
    dump = context.partition_key
    size = alignment.settings.shard_size
    segments = lake.scan("rewrite_segments", "data", dump).slice(shard * size, size).collect()
    rewriter = _corpus_rewriter(context.run_id, lake, alignment, harm)
    # Chunks made by another rewriter, harm scorer, sampling or chunking are not resumed.
    made_by = json.dumps(
        [
            rewriter.identity(),
            harm.settings.model_dump(mode="json"),
            alignment.settings.rewriter.sampling.model_dump(),
            alignment.settings.chunk_size,
            size,
            alignment.settings.limits.model_dump(),
            alignment.settings.model_dump(mode="json")["fact_judge"],
        ],
        sort_keys=True,
    )
    usage = _endpoint_usage(rewriter)
    spent_before = copy.deepcopy(usage)
    started = time.perf_counter()
    _, resumed = rewrite_in_chunks(
        segments,
        rewriter,
        alignment.settings.rewriter,
        alignment.settings.limits,
        _chunks(lake, dump, made_by).part(shard),
        alignment.settings.chunk_size,
        lambda line: context.log.info(f"shard {shard}: {line}"),
        make_scorer(harm.settings),
        alignment.settings.max_failed_requests,
        fact_judge(alignment.settings, lake.store("expert_cache")),
    )
    return ShardReport(
        index=shard,
        made_by=made_by,
        identity=rewriter.identity(),
        usage=usage - spent_before if usage is not None else None,
        chunks_resumed=resumed,
        seconds=time.perf_counter() - started,
    )


@dg.op(
    out=dg.Out(dg.Nothing),
    description="The dump's aligned corpus put together from its shards, each segment exactly "
    "once, and published in one step.",
)
def publish_aligned_corpus(
    context: dg.OpExecutionContext, shards: list[ShardReport], lake: dg.ResourceParam[Lake]
) -> None:
    dump = context.partition_key
    shards = sorted(shards, key=lambda report: report.index)
    if len({report.made_by for report in shards}) != 1:
        raise IncompleteShards("the shards were rewritten by different rewriters or settings")
    chunks = _chunks(lake, dump, shards[0].made_by)
    segment_ids = lake.scan("rewrite_segments", "data", dump).select("segment_id").collect()
    rows = assemble_shards(
        segment_ids["segment_id"].to_list(),
        [frame for report in shards for frame in chunks.part(report.index).frames()],
    )
    with lake.writer("aligned_corpus", dump) as out:
        out.write("data", rows)
    chunks.clear()
    _REWRITERS.clear()  # the dump is done: its engine goes
    # The rate of one engine: the shards' seconds added up, however many ran at once.
    seconds = sum(report.seconds for report in shards)
    usages = [report.usage for report in shards if report.usage is not None]
    identity = shards[0].identity
    context.add_output_metadata(
        rounded(
            {
                **_rewrite_summary(rows),
                **_rewriter_metadata(identity, sum(usages[1:], usages[0]) if usages else None),
                "shards": len(shards),
                "chunks_resumed": sum(report.chunks_resumed for report in shards),
                "output_tokens_per_second": _output_rate(rows, identity, seconds),
                "segments_per_second": round(rows.height / seconds, 2) if seconds else 0.0,
                "rejected_by_reason": table(
                    rows.filter(pl.col("rejected") != "")
                    .select(pl.col("rejected").str.split(",").alias("reason"))
                    .explode("reason")
                    .group_by("reason")
                    .len("count")
                    .sort("count", descending=True)
                ),
            }
        )
    )


@dg.graph_asset(
    partitions_def=crawl_dumps,
    ins={
        "rewrite_segments": dg.AssetIn(dagster_type=dg.Nothing),
        "alignment_worker": dg.AssetIn(dagster_type=dg.Nothing),
    },
    group_name="alignment",
    kinds={"vllm", "parquet"},
    automation_condition=FOLLOWS_INPUTS,
    # A new worker re-aligns every dump: one run per dump, each resuming its committed chunks.
    backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=1),
    description="Every segment of the dump rewritten by the alignment worker (vLLM batches on "
    "a GPU; `policy` on the CPU sample), validated, with the original kept and flagged where "
    "the rewrite failed. In shards of alignment.shard_size, each its own step (a GPU pod "
    "each on a cluster), committed in chunks: a killed run resumes where it stopped, and the "
    "dump is published once, from every shard.",
)
def aligned_corpus(rewrite_segments, alignment_worker):  # noqa: ANN001, ANN201 (a graph)
    shards = plan_shards(segments=rewrite_segments, worker=alignment_worker)
    return publish_aligned_corpus(shards.map(rewrite_shard).collect())


@dg.asset(
    deps=[aligned_corpus],
    automation_condition=FOLLOWS_INPUTS,
    group_name="alignment",
    kinds={"matplotlib", "parquet"},
    description="The preliminary analysis on a fixed sample: harm per category before and "
    "after, perplexity histograms, unchanged share, edit ratios, language and dialect kept, "
    "and the 1–10 judge rubric (the expert as an LLM endpoint, or the offline rules); per "
    "dump, each validation check's rejection rate and the numbers and names kept, beside the "
    "judge's accuracy.",
)
def rewrite_audit(
    lake: dg.ResourceParam[Lake], alignment: AlignmentResource, harm: HarmResource
) -> dg.MaterializeResult:
    settings = alignment.settings
    scorer, name = _audit_perplexity(alignment, lake)
    rows = lake.scan_dumps("aligned_corpus", "data")
    # The fixed sample comes from the half the reference model was not fitted on.
    among = None
    if settings.perplexity.reference is None:
        _, among = by_half(rows.select("segment_id").collect()["segment_id"])
    sample = sample_segments(rows, settings.audit.sample_size, settings.audit.seed, among)
    pairs = sample.select("original", "aligned").rows()
    scores = judge_rewrites(pairs, settings, lake.store("expert_cache"), harm.settings)
    corpus = rows.select(
        "dump",
        "rejected",
        "numbers_kept",
        "names_kept",
        "status",
        "unchanged",
        "edit_ratio",
        "judge",
    ).collect()
    categories = make_scorer(harm.settings).categories
    report = audit(sample, scorer, scores, corpus, categories, scorer=name)
    with lake.writer("rewrite_audit") as out:
        out.write("sample", report.sample)
        out.write("summary", report.summary)
        out.write("fidelity", report.fidelity)
    return dg.MaterializeResult(
        metadata=rounded(
            {
                "dagster/row_count": report.sample.height,
                "perplexity_scorer": name,
                "judge": judge_name(settings) if scores is not None else "none",
                **report.headline,
                "harm_by_category": table(report.harm),
                "fidelity_by_dump": table(report.fidelity),
                **_before_after(rows),
                **chart("perplexity and edit ratio", report.figure()),
                "summary": table(report.summary),
            }
        )
    )
