"""landing zone ──sensor──▶ raw_crawl[dump]"""

import json
import time

import dagster as dg
import polars as pl

from native_pipeline.defs.metadata import funnel, markdown_table, schema
from native_pipeline.defs.partitions import crawl_dumps, dump_key
from native_pipeline.defs.resources import ComputeResource, LakeResource
from native_pipeline.ingest import ingest_dump
from native_pipeline.landing import landing_dumps, rejected_folders
from native_pipeline.tables import QUARANTINE, RAW_RECORDS, SCANNED, frame, stages_frame
from native_pipeline.text.blocks import BlockStats
from native_pipeline.text.warc import dump_files


@dg.asset(
    partitions_def=crawl_dumps,
    group_name="crawl",
    kinds={"warc", "parquet"},
    description="One row per WARC/WET/JSONL record of the dump, decoded; unreadable records are "
    "quarantined with the reason; `scanned` counts the records of each file independently.",
)
def raw_crawl(
    context: dg.AssetExecutionContext, lake: LakeResource, compute: ComputeResource
) -> dg.MaterializeResult:
    dump = dump_key(context)
    folder = lake.landing_path / dump
    if not folder.is_dir():
        raise dg.Failure(f"dump {dump!r} has no folder in the landing zone {lake.landing_path}")
    files = [(path, str(path.relative_to(folder))) for path in dump_files(folder)]
    started = time.perf_counter()
    with lake.lake.writer("raw_crawl", dump) as out:
        read = ingest_dump(
            files, dump, out.table_path("data"), compute.workers, compute.read_limits
        )
        out.write("data", frame([], RAW_RECORDS))  # a typed table even when nothing was readable
        out.write("quarantine", frame(read.quarantined, QUARANTINE))
        out.write("scanned", pl.DataFrame(read.scanned, schema=SCANNED, orient="row"))
        stats = read.stats
        records_in = stats.records + stats.quarantined
        read_stage = BlockStats(
            docs_in=records_in,
            docs_out=stats.records,
            bytes_in=stats.bytes,
            bytes_out=stats.bytes,
            seconds=time.perf_counter() - started,
        )
        stages = stages_frame({"read": read_stage})
        out.write("stages", stages)
    head = lake.lake.scan("raw_crawl", "data", dump).head(10).collect()
    reasons = (
        frame(read.quarantined, QUARANTINE).group_by("reason").len().sort("len", descending=True)
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": stats.records,
            "dagster/column_schema": schema(head),
            "files": stats.files,
            "quarantined": stats.quarantined,
            "quarantine_rate": stats.quarantined / records_in if records_in else 0.0,
            "control_records_skipped": json.dumps(dict(stats.skipped)),
            "payload_MB": round(stats.bytes / 1e6, 3),
            "parquet_MB": round((out.bytes_written + read.parquet_bytes) / 1e6, 3),
            "preview": markdown_table(
                head.select("url", "content_type", "charset", "charset_source", "byte_length")
            ),
            "quarantine_reasons": markdown_table(reasons),
            "funnel": funnel(stages),
            "path": dg.MetadataValue.path(str(lake.lake.partition_path("raw_crawl", dump))),
        }
    )


ACTIVE = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


@dg.sensor(
    job_name="ingest",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Adds a partition for each new dump folder in the landing zone and runs the ingest "
    "job on new or changed dumps one at a time, oldest first: each dump is deduplicated against "
    "the dumps before it, so those must be done.",
)
def landing_zone_sensor(context: dg.SensorEvaluationContext, lake: LakeResource) -> dg.SensorResult:
    done: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    found = landing_dumps(lake.landing_path)
    if rejected := rejected_folders(lake.landing_path):
        context.log.warning(f"not dump names (letters, digits, . _ -), skipped: {rejected}")
    known = set(context.instance.get_dynamic_partitions(crawl_dumps.name))
    new = [d for d in found if d not in known]
    add = [crawl_dumps.build_add_request(new)] if new else []
    waiting = [d for d, fingerprint in found.items() if done.get(d) != fingerprint]
    running = context.instance.get_run_records(
        dg.RunsFilter(job_name="ingest", statuses=ACTIVE), limit=1
    )
    if not waiting or running:
        return dg.SensorResult(dynamic_partitions_requests=add, cursor=context.cursor)
    dump = waiting[0]
    return dg.SensorResult(
        run_requests=[dg.RunRequest(partition_key=dump, run_key=f"{dump}:{found[dump]}")],
        dynamic_partitions_requests=add,
        cursor=json.dumps({**done, dump: found[dump]}),
    )


@dg.op(description="Add a crawl_dumps partition for every dump folder in the landing zone.")
def register_dumps(context: dg.OpExecutionContext, lake: LakeResource) -> list[str]:
    found = list(landing_dumps(lake.landing_path))
    if rejected := rejected_folders(lake.landing_path):
        context.log.warning(f"not dump names (letters, digits, . _ -), skipped: {rejected}")
    known = set(context.instance.get_dynamic_partitions(crawl_dumps.name))
    new = [d for d in found if d not in known]
    context.instance.add_dynamic_partitions(crawl_dumps.name, new)
    context.log.info(f"{len(found)} dumps in the landing zone, {len(new)} new: {new}")
    return found


@dg.job(
    description="Register the landing zone's dumps as partitions (what the sensor does), "
    "for the CLI: `dg launch --job register_landing_dumps`."
)
def register_landing_dumps() -> None:
    register_dumps()
