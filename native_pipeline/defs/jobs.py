"""The jobs follow their triggers: per dump what a new dump changes, once what the whole corpus
feeds. A crawl of 90 dumps is 90 ingests and 90 rewrites, one worker and one pre-training of each
variant, never 90. `make run` launches them in this order on the sample:

    ingest[dump] (each dump, oldest first) -> align -> rewrite[dump] (each dump) -> train
"""

import dagster as dg

# The code location's name (pyproject.toml's code_location_name, workspace.yaml's location_name)
# and the repository that @dg.definitions makes.
LOCATION = "native_pipeline"
REPOSITORY = "__repository__"
# A job's page lists only the runs tagged with their repository. A run the UI, a sensor or
# automation launches gets the tag from its code location; one that `dg launch` starts in its
# own process has no code location and would not (dagster issue #17707): every job carries the
# same tag itself, so its runs show under it however they were launched.
ORIGIN = {".dagster/repository": f"{REPOSITORY}@{LOCATION}"}

INGEST = dg.AssetSelection.assets("raw_crawl", "cleaned_text", "rewrite_segments", "corpus_funnel")
SEED_ABLATION = dg.AssetSelection.assets("seed_ablation")
ALIGN = (
    dg.AssetSelection.assets("seed_segments", "expert_rewrites", "alignment_worker") | SEED_ABLATION
)
REWRITE = dg.AssetSelection.assets("aligned_corpus", "rewrite_audit")
TRAIN = dg.AssetSelection.all() - INGEST - ALIGN - REWRITE

ingest = dg.define_asset_job(
    "ingest",
    run_tags=ORIGIN,
    selection=INGEST,
    description="One crawl dump (the partition): read, clean, cut into rewrite segments, with "
    "their checks; the funnel report over every dump so far. The landing-zone sensor launches "
    "it for each new or changed dump, oldest first.",
)
align = dg.define_asset_job(
    "align",
    run_tags=ORIGIN,
    selection=ALIGN,
    description="The seed from every dump, the alignment expert's rewrites (cached: a re-run "
    "pays only for new seeds) and the alignment worker fine-tuned on them, and the seed "
    "ablation (alignment.seed_ablation) that ablation_report shows. Launched when you decide; "
    "a new worker marks every dump's aligned corpus stale.",
)
rewrite = dg.define_asset_job(
    "rewrite",
    run_tags=ORIGIN,
    selection=REWRITE,
    description="One dump (the partition) rewritten by the alignment worker, validated, and the "
    "audit over every dump so far. Automation runs it by itself after a dump's segments or a "
    "new worker; this job is for the CLI.",
)
train = dg.define_asset_job(
    "train",
    run_tags=ORIGIN,
    selection=TRAIN,
    description="Corpus mixes, the tokenizer, token shards, continued pre-training, evaluation "
    "and the ablation report of every variant, over every dump with an aligned corpus.",
)
ablate_seeds = dg.define_asset_job(
    "ablate_seeds",
    run_tags=ORIGIN,
    selection=SEED_ABLATION,
    description="The published seed ablation alone (`align` runs it too): each seed "
    "strategy's seeds rewritten by the expert and judged on the 1-10 rubric (the LLM expert, "
    "or the offline rules), repeated with other sampling seeds (mean ± std). For a rerun at "
    "another size or with another judge without paying for the worker again.",
)

# Off by default: a weekly pre-training on whatever has been aligned, once switched on.
weekly_training = dg.ScheduleDefinition(
    name="weekly_training",
    job=train,
    cron_schedule="0 3 * * 0",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Pre-train and evaluate every variant on Sundays at 03:00 (switch it on in the UI "
    "or with `dagster schedule start weekly_training`).",
)
