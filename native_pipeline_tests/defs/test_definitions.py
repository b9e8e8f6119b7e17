"""The asset graph as users see it: keys, lineage, partitions, checks and jobs."""

from __future__ import annotations

import dagster as dg

from native_pipeline.definitions import defs


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
        "expert_rewrites": ["seed_segments"],
        "alignment_worker": ["expert_rewrites"],
        "aligned_corpus": ["alignment_worker", "rewrite_segments"],
        "rewrite_audit": ["aligned_corpus"],
    }
    partitioned = {
        k.to_user_string() for k in graph.get_all_asset_keys() if graph.get(k).partitions_def
    }
    assert partitioned == {"raw_crawl", "cleaned_text", "rewrite_segments", "aligned_corpus"}
    pools = {k.to_user_string(): graph.get(k).pools for k in graph.get_all_asset_keys()}
    assert {k for k, p in pools.items() if p and "gpu" in p} == {
        "alignment_worker",
        "aligned_corpus",
    }
    checks = {f"{k.asset_key.to_user_string()}:{k.name}" for k in graph.asset_check_keys}
    assert checks == {
        "raw_crawl:unique_doc_id",
        "raw_crawl:quarantine_rate",
        "cleaned_text:unique_doc_id",
        "cleaned_text:conservation",
        "cleaned_text:no_empty_text",
        "cleaned_text:arabic_share",
        "cleaned_text:no_pii_left",
        "rewrite_segments:segments_tile_documents",
        "aligned_corpus:one_row_per_segment",
        "aligned_corpus:nothing_invalid_emitted",
        "aligned_corpus:failure_rate",
        "aligned_corpus:translation_rate",
        "aligned_corpus:harm_not_increased",
        "aligned_corpus:length_ratio_within_bounds",
    }


def test_jobs_sensor_and_resources_load():
    definitions = defs()
    assert definitions.resolve_job_def("main") is not None
    assert definitions.resolve_job_def("register_landing_dumps") is not None
    assert definitions.resolve_sensor_def("landing_zone_sensor").job_name == "main"
    assert {"lake", "cleaning", "alignment", "sql"} <= set(definitions.resources or {})
    assert isinstance(definitions, dg.Definitions)
