"""raw_crawl[dump] ──▶ cleaned_text[dump]"""

import time

import dagster as dg
import polars as pl

from native_pipeline.defs.crawl import raw_crawl
from native_pipeline.defs.metadata import funnel, rounded, schema, table
from native_pipeline.defs.partitions import crawl_dumps, dump_key
from native_pipeline.defs.resources import (
    CleaningResource,
    ComputeResource,
    HarmResource,
)
from native_pipeline.defs.runs import RunGuard
from native_pipeline.lake import Lake, parquet_rows
from native_pipeline.progress import Progress
from native_pipeline.tables import CLEANED, DECISIONS, frame, stages_frame
from native_pipeline.text.blocks import Decision, Document
from native_pipeline.text.cleaning import Cleaning, raw_batches

FLUSH_ROWS = 5000  # documents per Parquet part


def _documents(docs: list[Document]) -> pl.DataFrame:
    return frame([{"doc_id": d.doc_id, "text": d.text, **d.meta} for d in docs], CLEANED)


@dg.asset(
    partitions_def=crawl_dumps,
    deps=[raw_crawl],
    group_name="cleaning",
    kinds={"polars", "parquet"},
    # One writer at a time for the dedup signature index that every dump reads and extends.
    pool="dedup_index",
    description="Main text of each kept document: extracted, normalised, Arabic, past the "
    "quality filters, PII redacted, harm-scored and deduplicated within the dump and against "
    "every earlier dump. The decisions table says why each other record was removed.",
)
def cleaned_text(
    context: dg.AssetExecutionContext,
    lake: dg.ResourceParam[Lake],
    cleaning: CleaningResource,
    compute: ComputeResource,
    harm: HarmResource,
    run_guard: RunGuard,  # set up before the pool is claimed: dead runs' slots freed
) -> dg.MaterializeResult:
    dump = dump_key(context)
    parts = sorted((lake.partition_path("raw_crawl", dump) / "data").glob("*.parquet"))
    index = lake.store("dedup_index")
    settings = cleaning.settings
    run = Cleaning(
        settings.blocks, index, dump, compute.workers, settings.doc_timeout_s, harm.settings
    )
    started = time.perf_counter()
    kept = removed = 0
    head: pl.DataFrame | None = None
    buffer: list[Document] = []
    decisions: list[Decision] = []
    with lake.writer("cleaned_text", dump) as out:

        def flush() -> None:
            nonlocal head
            if buffer:
                documents = _documents(buffer)
                out.write("data", documents)
                head = documents.head(10) if head is None else head
            out.write("decisions", frame(decisions, DECISIONS))
            buffer.clear()
            decisions.clear()

        progress = Progress(context.log.info, "documents cleaned", parquet_rows(parts))
        for docs, batch_decisions in run.run(raw_batches(parts, cleaning.settings.batch_size)):
            batch_removed = sum(d.action == "removed" for d in batch_decisions)
            progress.add(len(docs) + batch_removed)
            buffer += docs
            decisions += batch_decisions
            kept += len(docs)
            removed += batch_removed
            if len(buffer) >= FLUSH_ROWS:
                flush()
        flush()
        if head is None:  # nothing kept: the table still has every column, for the checks
            out.write("data", frame([], CLEANED))
        stages = stages_frame(run.pipeline.stats)
        out.write("stages", stages)
    run.commit()  # the index learns this dump only once its partition is written
    seconds = time.perf_counter() - started
    decided = lake.scan("cleaned_text", "decisions", dump)
    reasons = (
        decided.group_by("stage", "action", "reason")
        .len("count")
        .sort("count", descending=True)
        .collect()
    )
    head = head if head is not None else frame([], CLEANED)
    preview = ["text", "url", "dialect", "harm_max"]  # the text first, and wide
    return dg.MaterializeResult(
        metadata=rounded(
            {
                "dagster/row_count": kept,
                "dagster/column_schema": schema(head),
                "removed": removed,
                "documents_per_second": round((kept + removed) / seconds, 1) if seconds else 0.0,
                "parquet_MB": round(out.bytes_written / 1e6, 3),
                "preview": table(head.select(preview)),
                "funnel": funnel(stages),
                "decisions_by_reason": table(reasons),
                "blocks": dg.MetadataValue.json(
                    {name: s.as_dict() for name, s in run.pipeline.stats.items()}
                ),
                # The settings that made this partition (extractor, thresholds, MinHash parameters).
                "block_settings": dg.MetadataValue.json(cleaning.settings.blocks),
                "path": dg.MetadataValue.path(str(lake.partition_path("cleaned_text", dump))),
            }
        )
    )
