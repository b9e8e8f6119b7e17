"""The asset graph as users see it: keys, lineage, partitions, checks and jobs."""

from __future__ import annotations

import tomllib
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)
from dagster._core.definitions.repository_definition.valid_definitions import (
    SINGLETON_REPOSITORY_NAME,
)
from dagster._core.remote_origin import InProcessCodeLocationOrigin, RemoteRepositoryOrigin
from dagster._core.storage.tags import REPOSITORY_LABEL_TAG
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

from native_pipeline.definitions import defs
from native_pipeline.defs.jobs import ORIGIN

ROOT = Path(__file__).resolve().parents[2]
VARIANTS = ["original", "aligned", "hybrid", "cleaned", "aligned_25", "aligned_50"]


def _per_variant(lineage: dict[str, list[str]]) -> dict[str, list[str]]:
    """`<v>/stage` keys and parents for every variant of the default config."""
    return {
        key.replace("<v>", v): sorted(p.replace("<v>", v) for p in parents)
        for key, parents in lineage.items()
        for v in VARIANTS
    }


def test_graph_snapshot():
    graph = defs().resolve_asset_graph()
    lineage = {
        key.to_user_string(): sorted(p.to_user_string() for p in graph.get(key).parent_keys)
        for key in graph.get_all_asset_keys()
    }
    assert lineage == {
        "raw_crawl": [],
        "cleaned_text": ["raw_crawl"],
        "corpus_funnel": ["cleaned_text", "raw_crawl"],
        "rewrite_segments": ["cleaned_text"],
        "seed_segments": ["rewrite_segments"],
        "seed_ablation": ["rewrite_segments"],
        "expert_rewrites": ["seed_segments"],
        "alignment_worker": ["expert_rewrites"],
        "aligned_corpus": ["alignment_worker", "rewrite_segments"],
        "rewrite_audit": ["aligned_corpus"],
        "tokenizer": ["aligned_corpus", "cleaned_text"],
        **_per_variant(
            {
                "<v>/corpus_mix": ["aligned_corpus", "cleaned_text"],
                "<v>/token_shards": ["<v>/corpus_mix", "tokenizer"],
                "<v>/checkpoints": ["<v>/token_shards"],
                "<v>/eval_scores": ["<v>/checkpoints", "<v>/corpus_mix"],
            }
        ),
        "base/eval_scores": ["original/corpus_mix", "tokenizer"],
        "ablation_report": sorted(
            [f"{v}/eval_scores" for v in ["base", *VARIANTS]]
            + [f"{v}/token_shards" for v in VARIANTS]
            + ["seed_ablation"]
        ),
    }
    partitioned = {
        k.to_user_string() for k in graph.get_all_asset_keys() if graph.get(k).partitions_def
    }
    assert partitioned == {"raw_crawl", "cleaned_text", "rewrite_segments", "aligned_corpus"}
    pools = {k.to_user_string(): graph.get(k).pools for k in graph.get_all_asset_keys()}
    assert {k for k, p in pools.items() if p and "gpu" in p} == {
        "alignment_worker",
        "aligned_corpus",
        *(f"{v}/{stage}" for stage in ("checkpoints", "eval_scores") for v in VARIANTS),
        "base/eval_scores",
    }
    checks = {f"{k.asset_key.to_user_string()}:{k.name}" for k in graph.asset_check_keys}
    assert checks == {
        "raw_crawl:unique_doc_id",
        "raw_crawl:quarantine_rate",
        "raw_crawl:conservation",
        "cleaned_text:unique_doc_id",
        "cleaned_text:conservation",
        "cleaned_text:no_empty_text",
        "cleaned_text:arabic_share",
        "cleaned_text:no_pii_left",
        "cleaned_text:block_error_rate",
        "rewrite_segments:segments_tile_documents",
        "aligned_corpus:one_row_per_segment",
        "aligned_corpus:nothing_invalid_emitted",
        "aligned_corpus:failure_rate",
        "aligned_corpus:translation_rate",
        "aligned_corpus:harm_not_increased",
        "aligned_corpus:length_ratio_within_bounds",
        *(
            f"{v}/{stage}:{name}"
            for v in VARIANTS
            for stage, name in (
                ("corpus_mix", "held_out_never_trained"),
                ("corpus_mix", "documents_trace_to_crawl"),
                ("token_shards", "every_document_tokenized"),
                ("eval_scores", "scores_are_valid"),
            )
        ),
        "base/eval_scores:scores_are_valid",
    }


def test_jobs_sensor_and_resources_load():
    definitions = defs()
    jobs = {"ingest", "align", "rewrite", "train", "register_landing_dumps"}
    assert {job.name for job in definitions.jobs} >= jobs
    assert definitions.resolve_sensor_def("landing_zone_sensor").job_name == "ingest"
    assert definitions.resolve_schedule_def("weekly_training").job_name == "train"
    automation = definitions.resolve_sensor_def("automation")
    assert automation.default_status == dg.DefaultSensorStatus.RUNNING  # no click needed
    assert {"lake", "cleaning", "alignment", "training", "evaluation", "sql", "pipes"} <= set(
        definitions.resources or {}
    )


def test_every_job_tags_its_runs_with_the_repository_its_page_lists():
    """A run `dg launch` starts in its own process has no code location; the job's own tag
    is the label the UI's job page filters runs by, so the run shows under its job."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["dg"]["project"]
    (workspace,) = yaml.safe_load((ROOT / "workspace.yaml").read_text())["load_from"]
    location = project["code_location_name"]
    assert workspace["python_module"]["location_name"] == location
    label = RemoteRepositoryOrigin(
        InProcessCodeLocationOrigin(LoadableTargetOrigin(), location_name=location),
        SINGLETON_REPOSITORY_NAME,
    ).get_label()
    jobs = defs().jobs
    assert {job.name for job in jobs} >= {"ingest", "align", "rewrite", "train"}
    for job in jobs:
        assert job.run_tags[REPOSITORY_LABEL_TAG] == label, job.name


def test_a_run_launched_from_the_cli_is_found_by_its_job_page_filter(tmp_path):
    """Executed as `dg launch` executes it (execute_job, no code location), the run is found by
    the filter of the job's page: its name and its repository's label."""
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        job = dg.reconstructable(_register_job)
        with dg.execute_job(job, instance=instance) as result:
            assert result.success
        (run,) = instance.get_runs(dg.RunsFilter(job_name="register_landing_dumps", tags=ORIGIN))
        assert run.remote_job_origin is None  # no code location: only the job's tag places it


def _register_job() -> dg.JobDefinition:
    return defs().resolve_job_def("register_landing_dumps")


def test_jobs_follow_their_triggers():
    """Per-dump work is partitioned by dump; the worker and the pre-training are not, so that
    they run once however many dumps there are; the corpus-wide stages follow their inputs."""
    definitions = defs()
    graph = definitions.resolve_asset_graph()

    def selected(job: str) -> set[str]:
        keys = definitions.resolve_job_def(job).asset_layer.selected_asset_keys
        return {key.to_user_string() for key in keys}

    assert selected("ingest") == {"raw_crawl", "cleaned_text", "rewrite_segments", "corpus_funnel"}
    assert selected("align") == {
        "seed_segments",
        "expert_rewrites",
        "alignment_worker",
        "seed_ablation",
    }
    assert selected("rewrite") == {"aligned_corpus", "rewrite_audit"}
    assert all(
        not graph.get(dg.AssetKey.from_user_string(k)).is_partitioned for k in selected("train")
    )
    assert "aligned/checkpoints" in selected("train") and "ablation_report" in selected("train")
    # the seed ablation pays an expert and a judge: with the worker's seed (`align`) or on its
    # own, never by `train` (its weekly schedule)
    assert selected("ablate_seeds") == {"seed_ablation"} and "seed_ablation" not in selected(
        "train"
    )
    follows = {
        key.to_user_string()
        for key in graph.get_all_asset_keys()
        if graph.get(key).automation_condition is not None
    }
    assert follows >= {"aligned_corpus", "rewrite_audit", "corpus_funnel", "ablation_report"}
    assert {f"{v}/eval_scores" for v in ["base", *VARIANTS]} <= follows
    assert not follows & {"alignment_worker", "aligned/checkpoints", "raw_crawl"}
    aligned = graph.get(dg.AssetKey("aligned_corpus"))
    assert aligned.backfill_policy == dg.BackfillPolicy.multi_run(1)


def _record(instance: dg.DagsterInstance, graph, key: dg.AssetKey, dump: str, failing=()):
    """A materialization of `key` (its `dump` partition when partitioned) and its checks'
    results, as a run would record them; the checks named in `failing` fail."""
    partition = dump if graph.get(key).is_partitioned else None
    instance.report_runless_asset_event(dg.AssetMaterialization(key, partition=partition))
    filters = dg.AssetRecordsFilter(
        asset_key=key, asset_partitions=[partition] if partition else None
    )
    record = instance.fetch_materializations(filters, limit=1).records[0]
    target = AssetCheckEvaluationTargetMaterializationData(
        storage_id=record.storage_id, run_id=record.run_id, timestamp=record.timestamp
    )
    for check in graph.get(key).check_keys:
        instance.report_runless_asset_event(
            dg.AssetCheckEvaluation(
                asset_key=key,
                check_name=check.name,
                passed=check.name not in failing,
                partition=partition,
                target_materialization_data=target,
            )
        )


@pytest.mark.parametrize("audit_waits", [True, False])
def test_a_failed_blocking_check_holds_automation_downstream(audit_waits: bool):
    """A dump's aligned corpus waits while its segments fail a blocking check, and the audit over
    every dump waits while any dump's aligned corpus does (Dagster alone would let a report
    over all partitions run once one of them passed)."""
    definitions = defs()
    graph = definitions.resolve_asset_graph()
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("crawl_dumps", ["CC-A", "CC-B"])
    aligned, audit = dg.AssetKey("aligned_corpus"), dg.AssetKey("rewrite_audit")
    selection = dg.AssetSelection.assets(aligned, audit)

    def tick(cursor=None):
        return dg.evaluate_automation_conditions(
            defs=definitions, instance=instance, asset_selection=selection, cursor=cursor
        )

    result = tick()
    _record(instance, graph, dg.AssetKey("alignment_worker"), "")
    _record(instance, graph, dg.AssetKey("rewrite_segments"), "CC-A", {"segments_tile_documents"})
    _record(instance, graph, dg.AssetKey("rewrite_segments"), "CC-B")
    result = tick(result.cursor)
    assert result.get_requested_partitions(aligned) == {"CC-B"}

    _record(instance, graph, aligned, "CC-A", {"harm_not_increased"} if audit_waits else ())
    _record(instance, graph, aligned, "CC-B")
    result = tick(result.cursor)
    assert result.get_num_requested(audit) == (0 if audit_waits else 1)
