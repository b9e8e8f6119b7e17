"""Native alignment, from cleaned_text to the aligned corpus and its audit:

cleaned_text ─▶ rewrite_segments ─▶ seed_segments ─▶ expert_rewrites ─▶ alignment_worker
                      └──────────────────────────────▶ aligned_corpus ◀──────────┘
                                                            └─▶ rewrite_audit
"""

import glob
import json
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import dagster as dg
import polars as pl

from native_pipeline.alignment.audit import audit
from native_pipeline.alignment.backends import chat_backend, make_rewriter, sampling
from native_pipeline.alignment.backends.base import Rewriter
from native_pipeline.alignment.judge import judge
from native_pipeline.alignment.perplexity import CharNGram, by_half
from native_pipeline.alignment.rewrite import align_segments
from native_pipeline.alignment.seeds import select_seeds, stable_hash
from native_pipeline.alignment.segments import segment_document, token_counter
from native_pipeline.alignment.tiny import create_tiny_llama
from native_pipeline.alignment.validate import Limits
from native_pipeline.defs.cleaning import cleaned_text
from native_pipeline.defs.metadata import line_plot, markdown_table, png
from native_pipeline.defs.partitions import crawl_dumps, dump_key
from native_pipeline.defs.resources import AlignmentResource, LakeResource
from native_pipeline.lake import Lake
from native_pipeline.settings import BackendSettings
from native_pipeline.tables import ALIGNED, SEGMENTS, frame

# On Kubernetes (dagster-k8s), the pod of a GPU step asks for one GPU.
GPU_TAGS = {
    "dagster-k8s/config": {
        "container_config": {"resources": {"limits": {"nvidia.com/gpu": "1"}}},
    }
}


def _rewriter_metadata(rewriter: Rewriter) -> dict[str, object]:
    """Who rewrote, and what the expert's endpoint cost (tokens, cache hits, dollars)."""
    metadata: dict[str, object] = {"rewriter": dg.MetadataValue.json(rewriter.identity())}
    usage = getattr(getattr(rewriter, "backend", None), "usage", None)
    if usage is not None:
        metadata.update(usage.as_metadata())
    return metadata


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
    context: dg.AssetExecutionContext, lake: LakeResource, alignment: AlignmentResource
) -> dg.MaterializeResult:
    dump = dump_key(context)
    settings = alignment.settings.segments
    count = token_counter(settings.tokenizer)
    parts = sorted((lake.lake.partition_path("cleaned_text", dump) / "data").glob("*.parquet"))
    n_docs = 0
    lengths: list[int] = []
    with lake.lake.writer("rewrite_segments", dump) as out:
        for part in parts:
            docs = pl.read_parquet(part, columns=["doc_id", "text"])
            n_docs += docs.height
            rows = [
                asdict(segment)
                for doc_id, text in docs.iter_rows()
                for segment in segment_document(doc_id, text, settings.max_tokens, count)
            ]
            lengths += [row["n_tokens"] for row in rows]
            out.write("data", frame(rows, SEGMENTS))
        if not parts:
            out.write("data", frame([], SEGMENTS))
    tokens = pl.Series(lengths, dtype=pl.Int64)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(lengths),
            "documents": n_docs,
            "segments_per_document": round(len(lengths) / max(n_docs, 1), 2),
            "mean_tokens": round(float(tokens.mean() or 0), 1),
            "max_tokens": int(tokens.max() or 0),
            "max_tokens_allowed": settings.max_tokens,
            "tokenizer": str(settings.tokenizer or "words and punctuation marks"),
        }
    )


def _sample(
    scan: pl.LazyFrame, size: int, seed: int, among: set[str] | None = None
) -> pl.DataFrame:
    """`size` rows of `scan` (segments of every dump) in the seed order of select_seeds: the
    ids are read and ranked first, then only the chosen rows are read whole."""
    ids = scan.select("dump", "segment_id").collect()
    if among is not None:
        ids = ids.filter(pl.col("segment_id").is_in(list(among)))
    chosen = select_seeds(ids, size, "random", seed)
    rows = scan.join(chosen.lazy(), on=["dump", "segment_id"], how="semi").collect()
    return select_seeds(rows, size, "random", seed)


def _reference_model(alignment: AlignmentResource, lake: Lake) -> CharNGram:
    """The perplexity model: fitted on the configured reference text, else on one half of the
    segments (by hash), read part by part up to max_chars, so the other half is measured unseen."""
    settings = alignment.settings.perplexity
    model = CharNGram(settings.order)
    if settings.reference:
        return model.fit(settings.reference.read_text(encoding="utf-8").split("\n"))
    segments = lake.scan_dumps("rewrite_segments", "data")
    fit, _ = by_half(segments.select("segment_id").collect()["segment_id"])

    def texts() -> Iterator[str]:
        for part in sorted(glob.glob(lake.table_glob("rewrite_segments", "data", "*"))):
            frame = pl.read_parquet(part, columns=["segment_id", "text"])
            yield from frame.filter(pl.col("segment_id").is_in(list(fit)))["text"]

    return model.fit(texts(), max_chars=settings.max_chars)


@dg.asset(
    deps=[rewrite_segments],
    group_name="alignment",
    kinds={"polars", "parquet"},
    description="The seed: a reproducible sample of segments, from every dump, for the "
    "alignment expert (random, or by perplexity high or low).",
)
def seed_segments(lake: LakeResource, alignment: AlignmentResource) -> dg.MaterializeResult:
    settings = alignment.settings.seeds
    segments = lake.lake.scan_dumps("rewrite_segments", "data")
    if settings.strategy == "random":
        seeds = _sample(segments, settings.size, settings.seed)
    else:  # a random pool, ranked by the reference model
        pool = _sample(segments, settings.size * settings.pool_factor, settings.seed)
        model = _reference_model(alignment, lake.lake)
        scores = pl.col("text").map_elements(model.perplexity, return_dtype=pl.Float64)
        pool = pool.with_columns(scores.alias("perplexity"))
        seeds = select_seeds(pool, settings.size, settings.strategy, settings.seed)
    with lake.lake.writer("seed_segments") as out:
        out.write("data", seeds)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": seeds.height,
            "strategy": settings.strategy,
            "pool": segments.select(pl.len()).collect().item(),
            "by_dump": markdown_table(seeds.group_by("dump").len().sort("dump")),
            "preview": markdown_table(seeds.select("segment_id", "text").head(5)),
        }
    )


def _aligned_rows(
    segments: pl.DataFrame, rewriter: Rewriter, settings: BackendSettings, limits: Limits
) -> pl.DataFrame:
    """align_segments over a frame of segments, as rows of the ALIGNED schema."""
    results = align_segments(segments["text"].to_list(), rewriter, sampling(settings), limits)
    identity = rewriter.identity()
    who = {
        "backend": identity["backend"],
        "model": identity["model"],
        "checkpoint": identity.get("checkpoint"),
        "prompt_hash": identity.get("prompt"),
        "sampling": json.dumps(settings.sampling.model_dump(), sort_keys=True),
    }
    keys = segments.select([c for c in SEGMENTS if c != "text"]).to_dicts()
    return frame([{**k, **r.row(), **who} for k, r in zip(keys, results, strict=True)], ALIGNED)


def _check_requests(rows: pl.DataFrame, max_share: float, what: str) -> None:
    """Fail the step when more than `max_share` of the rows' requests failed (an endpoint down,
    a quota spent): keeping every original as a failed rewrite would pass as success."""
    failed = int((rows["status"] == "request_failed").sum())
    if rows.height and failed / rows.height > max_share:
        raise dg.Failure(
            f"{what}: {failed} of {rows.height} requests failed, over "
            f"alignment.max_failed_requests = {max_share}; see the step's log for the reasons"
        )


def _rewrite_summary(rows: pl.DataFrame) -> dict[str, object]:
    return {
        "dagster/row_count": rows.height,
        "valid_share": round(float((rows["status"] == "valid").mean() or 0), 4),
        "unchanged_share": round(float(rows["unchanged"].mean() or 0), 4),
        "mean_edit_ratio": round(float(rows["edit_ratio"].mean() or 0), 4),
        "harm_max_before": round(float(rows["harm_max_before"].mean() or 0), 4),
        "harm_max_after": round(float(rows["harm_max_after"].mean() or 0), 4),
        "by_status": markdown_table(rows.group_by("status").len().sort("len", descending=True)),
    }


@dg.asset(
    deps=[seed_segments],
    group_name="alignment",
    kinds={"parquet"},
    description="The alignment expert's rewrite of each seed under the code of conduct, "
    "validated (an OpenAI-compatible endpoint, cached on disk; `policy` on the CPU sample).",
)
def expert_rewrites(lake: LakeResource, alignment: AlignmentResource) -> dg.MaterializeResult:
    seeds = lake.lake.scan("seed_segments", "data").collect()
    rewriter = make_rewriter(
        alignment.settings.expert, alignment.conduct, cache_dir=lake.lake.store("expert_cache")
    )
    started = time.perf_counter()
    rows = _aligned_rows(seeds, rewriter, alignment.settings.expert, alignment.limits)
    _check_requests(rows, alignment.settings.max_failed_requests, "expert_rewrites")
    with lake.lake.writer("expert_rewrites") as out:
        out.write("data", rows)
    return dg.MaterializeResult(
        metadata={
            **_rewrite_summary(rows),
            **_rewriter_metadata(rewriter),
            "seconds": round(time.perf_counter() - started, 2),
            "preview": markdown_table(rows.select("original", "aligned", "status").head(5)),
        }
    )


@dg.asset(
    deps=[expert_rewrites],
    group_name="alignment",
    kinds={"pytorch", "safetensors"},
    pool="gpu",
    op_tags=GPU_TAGS,
    description="A small causal LM fine-tuned on the expert's (original → rewritten) pairs: "
    "the alignment worker that rewrites the whole corpus.",
)
def alignment_worker(
    context: dg.AssetExecutionContext, lake: LakeResource, alignment: AlignmentResource
) -> dg.MaterializeResult:
    # torch loads in seconds: imported here, not when the code location loads.
    from native_pipeline.alignment.worker import WorkerTraining, train_worker

    settings = alignment.settings.worker
    pairs_frame = lake.lake.scan("expert_rewrites", "data").filter(pl.col("status") == "valid")
    pairs = pairs_frame.select("original", "aligned").collect().rows()
    folder = _worker_folder(lake.lake)
    base = settings.base_model
    if base is None:  # the CPU default: a tiny Llama, its tokenizer trained on the corpus
        texts = [alignment.conduct.system_prompt, *(text for pair in pairs for text in pair)]
        base = create_tiny_llama(folder / "tiny-base", texts, **settings.tiny)
    report = train_worker(
        pairs,
        base,
        folder / "train",
        alignment.conduct,
        WorkerTraining(**settings.training),
        log=context.log.info,
    )
    return dg.MaterializeResult(
        metadata={
            **report.as_metadata(),
            "base_model": dg.MetadataValue.path(str(base)),
            "path": dg.MetadataValue.path(str(report.final_path)),
            "train_loss": line_plot(report.train_losses, "optimizer step", "train loss"),
        }
    )


@dg.asset(
    partitions_def=crawl_dumps,
    deps=[rewrite_segments, alignment_worker],
    group_name="alignment",
    kinds={"vllm", "parquet"},
    pool="gpu",
    op_tags=GPU_TAGS,
    description="Every segment of the dump rewritten by the alignment worker (vLLM batches on "
    "a GPU; `policy` on the CPU sample), validated, with the original kept and flagged where "
    "the rewrite failed. Committed in chunks: a killed run resumes where it stopped.",
)
def aligned_corpus(
    context: dg.AssetExecutionContext, lake: LakeResource, alignment: AlignmentResource
) -> dg.MaterializeResult:
    dump = dump_key(context)
    segments = lake.lake.scan("rewrite_segments", "data", dump).collect()
    settings = alignment.settings.rewriter
    rewriter = make_rewriter(
        settings,
        alignment.conduct,
        cache_dir=lake.lake.store("expert_cache"),
        default_model=_worker_folder(lake.lake) / "train" / "final",
    )
    # Chunks made by another rewriter, sampling or chunking are not resumed.
    made_by = json.dumps(
        [rewriter.identity(), settings.sampling.model_dump(), alignment.settings.chunk_size],
        sort_keys=True,
    )
    chunks = lake.lake.chunk_log("aligned_corpus", dump, f"{stable_hash(made_by, 0):016x}")
    size = alignment.settings.chunk_size
    started, resumed = time.perf_counter(), 0
    for index, start in enumerate(range(0, segments.height, size)):
        if chunks.has(index):
            resumed += 1
            continue
        rows = _aligned_rows(segments.slice(start, size), rewriter, settings, alignment.limits)
        # Checked before the chunk is committed, so that a rerun asks again.
        _check_requests(
            rows, alignment.settings.max_failed_requests, f"aligned_corpus chunk {index}"
        )
        chunks.write(index, rows)
        context.log.info(f"chunk {index} committed ({min(start + size, segments.height)} segments)")
    rows = pl.concat([frame([], ALIGNED), *chunks.frames()])
    with lake.lake.writer("aligned_corpus", dump) as out:
        out.write("data", rows)
    chunks.clear()
    seconds = time.perf_counter() - started
    return dg.MaterializeResult(
        metadata={
            **_rewrite_summary(rows),
            **_rewriter_metadata(rewriter),
            "chunks_resumed": resumed,
            "output_tokens_per_second": round(rows["output_tokens"].sum() / seconds, 1)
            if seconds
            else 0.0,
            "segments_per_second": round(rows.height / seconds, 2) if seconds else 0.0,
            "rejected_by_reason": markdown_table(
                rows.filter(pl.col("rejected") != "")
                .select(pl.col("rejected").str.split(",").alias("reason"))
                .explode("reason")
                .group_by("reason")
                .len()
                .sort("len", descending=True)
            ),
        }
    )


@dg.asset(
    deps=[aligned_corpus],
    group_name="alignment",
    kinds={"matplotlib", "parquet"},
    description="The preliminary analysis on a fixed sample: harm per category before and "
    "after, perplexity histograms, unchanged share, edit ratios, language and dialect kept, "
    "and the expert's 1–10 judge rubric when the expert is an LLM endpoint.",
)
def rewrite_audit(lake: LakeResource, alignment: AlignmentResource) -> dg.MaterializeResult:
    settings = alignment.settings
    model = _reference_model(alignment, lake.lake)
    rows = lake.lake.scan_dumps("aligned_corpus", "data")
    # The fixed sample comes from the half the reference model was not fitted on.
    among = None
    if settings.perplexity.reference is None:
        _, among = by_half(rows.select("segment_id").collect()["segment_id"])
    sample = _sample(rows, settings.audit.sample_size, settings.audit.seed, among)
    scores = None
    if settings.audit.judge and settings.expert.backend == "openai" and sample.height:
        expert = chat_backend(settings.expert, cache_dir=lake.lake.store("expert_cache"))
        scores = judge(
            expert, sample.select("original", "aligned").rows(), sampling(settings.expert)
        )
    report = audit(sample, model.perplexity, scores)
    with lake.lake.writer("rewrite_audit") as out:
        out.write("sample", report.sample)
        out.write("summary", report.summary)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": report.sample.height,
            **report.headline,
            "harm_by_category": markdown_table(report.harm),
            "figures": png(report.figure()),
            "summary": markdown_table(report.summary),
        }
    )
