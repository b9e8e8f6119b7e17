"""dbt_like_sql/ wired into Dagster: checks become asset checks, models become report assets."""

from collections.abc import Callable

import dagster as dg
import polars as pl

from native_pipeline.defs.alignment import aligned_corpus, rewrite_segments
from native_pipeline.defs.automation import FOLLOWS_INPUTS
from native_pipeline.defs.cleaning import cleaned_text
from native_pipeline.defs.crawl import raw_crawl
from native_pipeline.defs.metadata import rounded, table
from native_pipeline.defs.partitions import dump_key
from native_pipeline.defs.resources import SqlResource
from native_pipeline.defs.training import VARIANT_STAGES, VARIANTS, variant_key
from native_pipeline.evaluation.ablation import BASE
from native_pipeline.lake import ALL, Lake, variant
from native_pipeline.settings import current_settings
from native_pipeline.sql import (
    MAIN_TABLE,
    Rendered,
    SqlFile,
    load_checks,
    load_models,
    measured,
    query,
    render,
)

# Partitioned assets: a check on one of them reads the same partition of every asset it refs.
PARTITIONED = {
    a.key.to_user_string(): a.partitions_def
    for a in (raw_crawl, cleaned_text, rewrite_segments, aligned_corpus)
}


def _globber(
    lake: dg.ResourceParam[Lake], partition: str | None, of_variant: str | None = None
) -> Callable[[str, str], str]:
    """Refs read the checked dump of a dump asset (every dump, from a variant's check) and the
    checked variant of a variant stage."""

    def glob(asset: str, table: str) -> str:
        if asset in VARIANT_STAGES:
            return lake.table_glob(asset, table, variant(of_variant or ALL))
        if asset in PARTITIONED:
            return lake.table_glob(asset, table, partition or ALL)
        return lake.table_glob(asset, table)

    return glob


def _run(
    sql_file: SqlFile,
    lake: dg.ResourceParam[Lake],
    variables: dict,
    partition: str | None,
    of_variant: str | None = None,
) -> tuple[Rendered, pl.DataFrame]:
    rendered = render(sql_file, _globber(lake, partition, of_variant), variables)
    return rendered, query(rendered)


def _asset_key(asset: str, of_variant: str | None) -> dg.AssetKey:
    return variant_key(asset, of_variant) if asset in VARIANT_STAGES else dg.AssetKey(asset)


def check_metadata(
    offending: pl.DataFrame, rendered: Rendered, shown: pl.DataFrame | None = None
) -> dict[str, object]:
    """How many rows offend, the first of them (none when the check passed), what the check
    measured (its `shows` header) and the query."""
    metadata: dict[str, object] = {"offending_rows": offending.height}
    if offending.height:
        metadata["sample"] = table(offending.head(10))
    if shown is not None:
        metadata["measured"] = table(shown)
    metadata["query"] = dg.MetadataValue.md(f"```sql\n{rendered.shown()}\n```")
    return metadata


def build_check(sql_file: SqlFile, of_variant: str | None = None) -> dg.AssetChecksDefinition:
    """The check of `sql_file` on its asset (on one variant's asset for a variant stage)."""
    partitions_def = PARTITIONED.get(sql_file.target)

    @dg.asset_check(
        asset=_asset_key(sql_file.target, of_variant),
        name=sql_file.name,
        description=sql_file.description,
        blocking=sql_file.blocking,
        partitions_def=partitions_def,
        additional_deps=[
            _asset_key(a, of_variant) for a in sql_file.upstream if a != sql_file.target
        ],
    )
    def _check(
        context: dg.AssetCheckExecutionContext, lake: dg.ResourceParam[Lake], sql: SqlResource
    ) -> dg.AssetCheckResult:
        partition = dump_key(context) if partitions_def else None
        rendered, offending = _run(sql_file, lake, sql.variables, partition, of_variant)
        shown = query(measured(rendered, sql_file.shows)) if sql_file.shows else None
        return dg.AssetCheckResult(
            passed=offending.is_empty(),
            severity=dg.AssetCheckSeverity.ERROR
            if sql_file.severity == "error"
            else dg.AssetCheckSeverity.WARN,
            metadata=rounded(check_metadata(offending, rendered, shown)),
        )

    return _check


def build_model(sql_file: SqlFile) -> dg.AssetsDefinition:
    @dg.asset(
        name=sql_file.name,
        deps=sql_file.upstream,
        group_name="reports",
        kinds={"duckdb", "parquet"},
        description=sql_file.description,
        automation_condition=FOLLOWS_INPUTS,
    )
    def _model(lake: dg.ResourceParam[Lake], sql: SqlResource) -> dg.MaterializeResult:
        # A report reads every partition of what it refs.
        _, result = _run(sql_file, lake, sql.variables, ALL)
        with lake.writer(sql_file.name) as out:
            out.write(MAIN_TABLE, result)
        return dg.MaterializeResult(
            metadata=rounded({"dagster/row_count": result.height, "result": table(result)})
        )

    return _model


def _variants_of(target: str) -> list[str | None]:
    """The variants whose asset a check of `target` runs on (the base model is scored too)."""
    if target == "eval_scores":
        return [BASE, *VARIANTS]
    return list(VARIANTS) if target in VARIANT_STAGES else [None]


_sql_dir = current_settings().sql_dir
sql_checks = [
    build_check(f, name) for f in load_checks(_sql_dir) for name in _variants_of(f.target)
]
sql_models = [build_model(f) for f in load_models(_sql_dir)]
