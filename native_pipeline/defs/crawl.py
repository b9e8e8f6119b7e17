"""landing zone ──sensor──▶ raw_crawl[dump]"""

import time
from pathlib import Path

import dagster as dg
import polars as pl

from native_pipeline.defs.jobs import ORIGIN
from native_pipeline.defs.metadata import funnel, rounded, schema, table
from native_pipeline.defs.partitions import crawl_dumps, dump_key
from native_pipeline.defs.resources import ComputeResource, LandingResource
from native_pipeline.ingest import ingest_dump
from native_pipeline.lake import Lake
from native_pipeline.landing import fingerprint, rejected_folders, survey
from native_pipeline.progress import Progress
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
    context: dg.AssetExecutionContext,
    lake: dg.ResourceParam[Lake],
    landing: LandingResource,
    compute: ComputeResource,
) -> dg.MaterializeResult:
    dump = dump_key(context)
    folder = landing.path / dump
    if not folder.is_dir():
        raise dg.Failure(f"dump {dump!r} has no folder in the landing zone {landing.path}")
    state = fingerprint(folder)  # before reading: a change while it reads is read again later
    files = [(path, str(path.relative_to(folder))) for path in dump_files(folder)]
    started = time.perf_counter()
    with lake.writer("raw_crawl", dump) as out:
        progress = Progress(context.log.info, "crawl files read", len(files))
        read = ingest_dump(
            files,
            dump,
            out.table_path("data"),
            compute.workers,
            compute.read_limits,
            on_progress=progress.add,
        )
        out.write("data", frame([], RAW_RECORDS))  # a typed table even when nothing was readable
        out.write("quarantine", frame(read.quarantined, QUARANTINE))
        out.write("scanned", pl.DataFrame(read.scanned, schema=SCANNED, orient="row"))
        stats = read.stats
        records_in = stats.records + stats.quarantined
        read_stage = BlockStats(
            docs_in=records_in,
            docs_out=stats.records,
            # in: the payloads as crawled; out: decoded to UTF-8, where single-byte Arabic
            # charsets (windows-1256, ISO-8859-6) take two bytes a letter
            bytes_in=stats.bytes,
            bytes_out=stats.text_bytes,
            seconds=time.perf_counter() - started,
        )
        stages = stages_frame({"read": read_stage})
        out.write("stages", stages)
    head = lake.scan("raw_crawl", "data", dump).head(10).collect()
    reasons = (
        frame(read.quarantined, QUARANTINE)
        .group_by("reason")
        .len("count")
        .sort("count", descending=True)
    )
    return dg.MaterializeResult(
        metadata=rounded(
            {
                "dagster/row_count": stats.records,
                "dagster/column_schema": schema(head),
                "files": stats.files,
                "quarantined": stats.quarantined,
                "quarantine_rate": stats.quarantined / records_in if records_in else 0.0,
                # a number the UI plots, and its split by WARC-Type (request, metadata, warcinfo)
                "control_records_skipped": sum(stats.skipped.values()),
                "control_records_by_type": dg.MetadataValue.json(dict(stats.skipped)),
                "payload_MB": round(stats.bytes / 1e6, 3),
                "parquet_MB": round((out.bytes_written + read.parquet_bytes) / 1e6, 3),
                "preview": table(
                    head.select("url", "content_type", "charset", "charset_source", "byte_length")
                ),
                "quarantine_reasons": table(reasons),
                "funnel": funnel(stages),
                "path": dg.MetadataValue.path(str(lake.partition_path("raw_crawl", dump))),
                FINGERPRINT: state or "",
            }
        )
    )


# raw_crawl records the landing zone's fingerprint of the dump it read (landing.fingerprint).
FINGERPRINT = "landing_fingerprint"

ACTIVE = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def _landing(context, landing: LandingResource) -> tuple[dict[str, str], list[str], list[str]]:
    """(the ready dumps of the landing zone with their fingerprints, those not yet partitions,
    "dump: why it waits" for the others); folders whose names are not dump names are skipped,
    with a warning."""
    if rejected := rejected_folders(landing.path):
        context.log.warning(f"not dump names (letters, digits, . _ -), skipped: {rejected}")
    states = survey(landing.path, landing.quiet_s)
    found = {s.name: fp for s in states if s.ready and (fp := fingerprint(landing.path / s.name))}
    waiting = [f"{s.name}: {s.why}" for s in states if not s.ready]
    known = set(context.instance.get_dynamic_partitions(crawl_dumps.name))
    return found, [d for d in found if d not in known], waiting


# `dg dev` started where DAGSTER_HOME is unset opens a throw-away instance in a folder named so
# (dagster/_cli/utils.py): it knows no dump and no run, and the sensor would ingest every dump
# of the landing zone again, over the data the real instance's runs wrote.
TEMPORARY_PREFIX = ".tmp_dagster_home_"
TEMPORARY = (
    "not watching: this is a temporary Dagster instance (DAGSTER_HOME is not set), which would "
    "ingest every dump again. Start the UI with `make dev`, or `DAGSTER_HOME=$PWD dg dev` from "
    "the repository root, to open the instance `make run` wrote to."
)


def is_temporary(instance: dg.DagsterInstance) -> bool:
    return Path(instance.root_directory).name.startswith(TEMPORARY_PREFIX)


def _read_as(instance: dg.DagsterInstance, dump: str) -> str | None:
    """The landing fingerprint that raw_crawl's latest materialization of `dump` recorded."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=raw_crawl.key, asset_partitions=[dump]), limit=1
    ).records
    value = records[0].asset_materialization.metadata.get(FINGERPRINT) if records else None
    return value.value if value is not None else None


@dg.sensor(
    job_name="ingest",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Adds a partition for each new dump folder in the landing zone and runs the ingest "
    "job on dumps that raw_crawl has not read as they are now, one at a time, oldest first (each "
    "dump is deduplicated against the dumps before it). A dump is ready once marked _SUCCESS "
    "or unchanged for landing_quiet_s seconds.",
)
def landing_zone_sensor(
    context: dg.SensorEvaluationContext, landing: LandingResource
) -> dg.SensorResult | dg.SkipReason:
    if is_temporary(context.instance):
        return dg.SkipReason(TEMPORARY)
    found, new, not_ready = _landing(context, landing)
    add = [crawl_dumps.build_add_request(new)] if new else []
    running = context.instance.get_run_records(
        dg.RunsFilter(job_name="ingest", statuses=ACTIVE), limit=1
    )
    # What the asset holds decides, not a cursor: a dump read from the CLI is not read again.
    # A run already asked for this state of a dump (it may have failed) is not asked again.
    waiting = [
        dump
        for dump, seen in found.items()
        if _read_as(context.instance, dump) != seen
        and not context.instance.get_run_records(
            dg.RunsFilter(tags={"dagster/run_key": f"{dump}:{seen}"}), limit=1
        )
    ]
    if not waiting or running:
        busy = [f"an ingest run is active ({len(waiting)} dumps to read)"] if running else []
        idle = busy or [f"{len(found)} dumps ready, each read as it is now"]
        return dg.SensorResult(
            dynamic_partitions_requests=add, skip_reason="; ".join([*idle, *not_ready])
        )
    dump = waiting[0]
    return dg.SensorResult(
        run_requests=[dg.RunRequest(partition_key=dump, run_key=f"{dump}:{found[dump]}")],
        dynamic_partitions_requests=add,
    )


@dg.op(description="Add a crawl_dumps partition for every dump folder in the landing zone.")
def register_dumps(context: dg.OpExecutionContext, landing: LandingResource) -> list[str]:
    found, new, not_ready = _landing(context, landing)
    context.instance.add_dynamic_partitions(crawl_dumps.name, new)
    context.log.info(f"{len(found)} dumps ready in the landing zone, {len(new)} new: {new}")
    if not_ready:
        context.log.info(f"{len(not_ready)} dumps not ready yet: " + "; ".join(not_ready))
    return list(found)


@dg.job(
    run_tags=ORIGIN,
    description="Register the landing zone's dumps as partitions (what the sensor does), "
    "for the CLI: `dg launch --job register_landing_dumps`.",
)
def register_landing_dumps() -> None:
    register_dumps()
