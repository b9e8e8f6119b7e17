"""Continued pre-training on each corpus variant (one asset per variant and stage):

cleaned_text ──┬─▶ <variant>/corpus_mix ─▶ <variant>/token_shards ─▶ <variant>/checkpoints
aligned_corpus ┴─▶ tokenizer ─────────────────────┘

The variants come from the config (`training.variants`): original, aligned, hybrid (both in
full), cleaned (the cleaning baseline) and the nested slices of the scaling axis, each trained
for the token budget its config states. Each variant has its own chain of assets, so that the
UI plots each variant's loss across materializations and a cluster trains them side by side.
"""

import json
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import polars as pl

from native_pipeline.defs.alignment import aligned_corpus
from native_pipeline.defs.automation import GPU_RETRY
from native_pipeline.defs.cleaning import cleaned_text
from native_pipeline.defs.cluster import PipesResource, gpu_tags
from native_pipeline.defs.metadata import line_plot, rounded, table
from native_pipeline.defs.resources import TrainingResource
from native_pipeline.defs.runs import RunGuard
from native_pipeline.lake import Lake, parquet_rows, variant
from native_pipeline.progress import Progress
from native_pipeline.settings import current_settings
from native_pipeline.training.mix import HELD_OUT, documents_by_dump, write_variant

VARIANTS = list(current_settings().training.variants)
BY_SOURCE = {
    "source": "original, aligned, cleaned (the cleaning baseline's) or replay:<name>",
    "documents": "documents of that source in the mix",
    "characters": "their characters",
    "share": "the source's realised share of the mix's characters",
    "weight": "the configured weight of a replay source (the corpus takes the rest)",
}
# The stages with one asset per variant, `<stage>/<variant>`, stored as `variant=<name>` folders.
VARIANT_STAGES = ("corpus_mix", "token_shards", "checkpoints", "eval_scores")


def variant_key(stage: str, name: str) -> dg.AssetKey:
    """`<variant>/<stage>`: in the lineage graph each variant is a group of its own and each
    node is labelled with its stage."""
    return dg.AssetKey([name, stage])


def _latest(context: dg.AssetExecutionContext, asset: dg.AssetKey) -> str | None:
    """The run that last materialized `asset`: the upstream version a manifest records."""
    event = context.instance.get_latest_materialization_event(asset)
    return event.run_id if event else None


def corpus_mix(name: str) -> dg.AssetsDefinition:
    @dg.asset(
        key=variant_key("corpus_mix", name),
        deps=[cleaned_text, aligned_corpus],
        group_name=name,
        kinds={"polars", "parquet"},
        description=f"The documents variant `{name}` trains on (original, aligned, both "
        "(hybrid) or the cleaning baseline's text, a nested slice of the aligned volume, sampled "
        "replay), with the held-out documents set aside in both forms.",
    )
    def _asset(
        context: dg.AssetExecutionContext, lake: dg.ResourceParam[Lake], training: TrainingResource
    ) -> dg.MaterializeResult:
        settings = training.settings
        with lake.writer("corpus_mix", variant(name)) as out:
            summary = write_variant(out, lake, name, settings, log=context.log.info)
        return dg.MaterializeResult(
            metadata=rounded(
                {
                    "dagster/row_count": int(summary.by_source["documents"].sum()),
                    "dumps": dg.MetadataValue.json(summary.dumps),
                    "held_out_documents": summary.held_out_documents,
                    "characters": int(summary.by_source["characters"].sum()),
                    "by_source": table(
                        summary.shares({f"replay:{r.name}": r.weight for r in settings.replay}),
                        described=BY_SOURCE,
                    ),
                    "cleaning_baseline": dg.MetadataValue.json(dict(summary.cleaning_baseline)),
                    # a number the UI plots, and its split by replay source
                    "replay_shortfall_chars": sum(summary.replay_shortfall_chars.values()),
                    "replay_shortfall_by_source": dg.MetadataValue.json(
                        summary.replay_shortfall_chars
                    ),
                    "variant": dg.MetadataValue.json(
                        settings.variants[name].model_dump(mode="json")
                    ),
                }
            )
        )

    return _asset


def _tokenizer_folder(lake: Lake) -> Path:
    return lake.partition_path("tokenizer")


@dg.asset(
    deps=[cleaned_text, aligned_corpus],
    group_name="training",
    kinds={"huggingface"},
    description="The tokenizer every variant shares: the base model's own when one is "
    "configured, else a byte-level BPE learned from the training documents in both forms. "
    "Fertility (tokens per word) is measured on the held-out Arabic documents.",
)
def tokenizer(lake: dg.ResourceParam[Lake], training: TrainingResource) -> dg.MaterializeResult:
    from native_pipeline.lm.tokenizer import (
        fertility,
        load_tokenizer,
        tokenizer_hash,
        train_tokenizer,
    )

    settings = training.settings
    held_out: list[pl.DataFrame] = []

    def texts() -> Iterator[str]:
        budget = settings.tokenizer.max_chars
        for _, train, held in documents_by_dump(lake, settings):
            held_out.append(held)
            for text in pl.concat([train["original"], train["aligned"]]):
                if budget <= 0:
                    return
                budget -= len(text)
                yield text

    source = settings.tokenizer.path or settings.model.base_model
    if source:
        loaded = load_tokenizer(source)
        for _ in texts():  # the held-out documents, to measure fertility on
            pass
    else:
        loaded = train_tokenizer(texts(), settings.tokenizer.vocab_size)
    with lake.writer("tokenizer") as out:
        loaded.save_pretrained(out.staging)
    held = pl.concat(held_out) if held_out else pl.DataFrame(schema=HELD_OUT)
    return dg.MaterializeResult(
        metadata=rounded(
            {
                "source": str(source or "byte-level BPE trained on the corpus"),
                "vocab_size": len(loaded),
                "tokenizer_hash": tokenizer_hash(loaded),
                "held_out_documents": held.height,
                "fertility_original": round(fertility(loaded, held["original"]), 3),
                "fertility_aligned": round(fertility(loaded, held["aligned"]), 3),
                "path": dg.MetadataValue.path(str(_tokenizer_folder(lake))),
            }
        )
    )


def token_shards(name: str) -> dg.AssetsDefinition:
    @dg.asset(
        key=variant_key("token_shards", name),
        deps=[variant_key("corpus_mix", name), tokenizer],
        group_name=name,
        kinds={"numpy"},
        description=f"Variant `{name}` tokenized into Megatron-compatible indexed shards "
        "(.bin of int32 tokens, .idx of document boundaries), a manifest with checksums, and "
        "a sidecar mapping each document to its doc_id and segment_ids.",
    )
    def _asset(
        context: dg.AssetExecutionContext, lake: dg.ResourceParam[Lake], training: TrainingResource
    ) -> dg.MaterializeResult:
        from native_pipeline.lm.tokenizer import load_tokenizer
        from native_pipeline.training.shards import write_shards

        loaded = load_tokenizer(_tokenizer_folder(lake))
        parts = sorted(
            (lake.partition_path("corpus_mix", variant(name)) / "documents").glob("*.parquet")
        )
        frames = (
            pl.read_parquet(part, columns=["doc_id", "segment_ids", "source", "text"])
            for part in parts
        )
        progress = Progress(context.log.info, "documents tokenized", parquet_rows(parts))
        upstream = {
            "corpus_mix": _latest(context, variant_key("corpus_mix", name)),
            "tokenizer": _latest(context, tokenizer.key),
        }
        started = time.perf_counter()
        with lake.writer("token_shards", variant(name)) as out:
            manifest = write_shards(
                out.staging,
                loaded,
                frames,
                shard_tokens=training.settings.shard_tokens,
                upstream=upstream,
                on_progress=progress.add,
            )
        seconds = time.perf_counter() - started
        return dg.MaterializeResult(
            metadata=rounded(
                {
                    "dagster/row_count": manifest["documents"],
                    "tokens": manifest["tokens"],
                    # one number per source, plotted across materializations
                    **{f"tokens/{s}": n for s, n in manifest["tokens_by_source"].items()},
                    "shards": len(manifest["shards"]),
                    "skipped_empty": manifest["skipped_empty"],
                    "tokenizer_hash": manifest["tokenizer_hash"],
                    "tokens_per_second": round(manifest["tokens"] / seconds) if seconds else 0,
                    "manifest": dg.MetadataValue.json(manifest),
                }
            )
        )

    return _asset


def checkpoints(name: str) -> dg.AssetsDefinition:
    @dg.asset(
        key=variant_key("checkpoints", name),
        deps=[variant_key("token_shards", name)],
        group_name=name,
        kinds={"pytorch", "safetensors"},
        pool="gpu",
        op_tags=gpu_tags("checkpoints", pipes=True),
        retry_policy=GPU_RETRY,
        description=f"Continued pre-training on variant `{name}`: torchrun (DDP or FSDP2; one "
        "pod, or a PyTorchJob over several nodes) started through Dagster Pipes once the "
        "memory plan of one GPU fits; warm-up and cosine decay, sharded checkpoints that "
        "resume on any number of GPUs, a Hugging Face model folder (safetensors) at the end.",
    )
    def _asset(
        context: dg.AssetExecutionContext,
        lake: dg.ResourceParam[Lake],
        training: TrainingResource,
        pipes: PipesResource,
        gpu_guard: RunGuard,  # set up before the gpu pool is claimed: dead runs' slots freed
    ) -> dg.MaterializeResult:
        from native_pipeline.cluster import rendezvous_args
        from native_pipeline.lm.loop import LOG_FILE
        from native_pipeline.training.pretrain import budget_steps, step_tokens
        from native_pipeline.training.run import launch_command, launch_plan
        from native_pipeline.training.shards import read_manifest

        settings = training.settings
        distributed = settings.distributed
        shards = lake.partition_path("token_shards", variant(name))
        manifest = read_manifest(shards)
        budget = settings.variants[name].budget
        loop = settings.loop.model_copy(
            update={"max_steps": budget_steps(budget, settings.loop, manifest["tokens"])}
        )
        # Not staged and renamed: the checkpoints inside are what a killed run resumes from.
        out_dir = lake.partition_path("checkpoints", variant(name))
        out_dir.mkdir(parents=True, exist_ok=True)
        spec = {
            "streams": [str(shards / "shards" / f"{s['name']}.bin") for s in manifest["shards"]],
            "dtype": manifest["dtype"],
            "out_dir": str(out_dir),
            "tokenizer": str(_tokenizer_folder(lake)),
            "base_model": str(settings.model.base_model) if settings.model.base_model else None,
            "tiny": settings.model.tiny.model_dump(),
            "loop": loop.model_dump(mode="json"),
            "memory_headroom": distributed.memory_headroom,
        }
        plan = launch_plan(spec, loop, distributed)  # stops a run that cannot fit
        context.log.info(plan.describe())
        spec_path = out_dir / "spec.json"
        spec_path.write_text(json.dumps(spec, indent=2))
        # Several nodes: a PyTorchJob whose pods meet at the master's c10d rendezvous.
        nodes = (
            rendezvous_args(distributed.nnodes, context.run_id) if distributed.nnodes > 1 else []
        )
        command = launch_command(
            spec_path,
            nproc_per_node=distributed.nproc_per_node,
            extra_torchrun_args=[*nodes, *distributed.torchrun_args],
        )
        run = pipes.run(
            context=context, step="checkpoints", command=command, nodes=distributed.nnodes
        )
        reported = run.get_materialize_result()
        # The loop's log of every step (a resumed run's too, from the start).
        log = (out_dir / LOG_FILE).read_text().splitlines()
        curve = [json.loads(line)["loss"] for line in log]
        return dg.MaterializeResult(
            metadata=rounded(
                {
                    **reported.metadata,
                    "memory_plan": dg.MetadataValue.json(plan.as_metadata()),
                    "first_loss": curve[0],
                    # the token budget the config states, and what it is of the variant's tokens
                    "budget": budget,
                    "token_budget": loop.max_steps * step_tokens(loop),
                    "epochs": round(loop.max_steps * step_tokens(loop) / manifest["tokens"], 3),
                    **line_plot("loss_curve", curve, "optimizer step", "train loss"),
                    "path": dg.MetadataValue.path(str(out_dir / "final")),
                }
            )
        )

    return _asset


training_assets = [tokenizer] + [
    factory(name) for name in VARIANTS for factory in (corpus_mix, token_shards, checkpoints)
]
