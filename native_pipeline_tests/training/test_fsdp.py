"""Training at scale on CPU with gloo: a base model created on the meta device and filled shard by
shard, FSDP2 with its mixed-precision policy, activation checkpointing, sharded checkpoints that
resume on another number of processes, and the memory plan against the shards a rank holds."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from transformers import AutoModelForCausalLM

from native_pipeline.lm.model import build_model
from native_pipeline.settings import DistributedSettings, PretrainLoop, TinyModelSettings
from native_pipeline.training.run import launch_plan, train_from_spec
from native_pipeline_tests.training.sharded_rank import sharded_rank
from native_pipeline_tests.training.test_distributed import launch, write_spec
from native_pipeline_tests.training.tiny import meta_model

# Two layers of two heads, tied embeddings; batch 6 splits over 1, 2 and 3 processes.
TWO_LAYERS = TinyModelSettings(hidden_size=128, layers=2, heads=2, max_positions=64)
RUN = {"strategy": "fsdp", "batch_size": 6, "grad_accum": 1, "activation_checkpointing": True}


@pytest.fixture(scope="module")
def base_model(tmp_path_factory) -> Path:
    """A random Llama written as a Hugging Face folder: the 'pre-trained' model to continue."""
    folder = tmp_path_factory.mktemp("base")
    model = build_model(
        None, vocab_size=300, eos_token_id=1, pad_token_id=0, tiny=TWO_LAYERS, seed=3
    )
    model.save_pretrained(folder)
    return folder


def test_two_ranks_load_their_shards_like_an_eager_load_and_hold_what_the_plan_says(
    base_model, tmp_path
):
    init = f"file://{tmp_path / 'rendezvous'}"
    mp.spawn(sharded_rank, args=(2, init, base_model), nprocs=2, join=True)


def test_meta_model_needs_its_weights_folder(base_model, tmp_path):
    from native_pipeline.lm.loop import train

    meta = meta_model(base_model)
    assert all(p.is_meta for p in meta.parameters())
    with pytest.raises(ValueError, match="weights_from"):
        train(
            meta,
            micro_batches=list,
            objective=None,
            total_steps=1,
            warmup_steps=0,
            settings=PretrainLoop(),
            out_dir=tmp_path,
            tokenizer=None,
            fingerprint="x",
        )


def spec_for(folder: Path, tokenizer: Path, base: Path, **loop) -> Path:
    spec_path = write_spec(folder, tokenizer, **{**RUN, **loop})
    spec = json.loads(spec_path.read_text()) | {"base_model": str(base)}
    spec_path.write_text(json.dumps(spec))
    return spec_path


def records_of(spec_path: Path) -> list[dict]:
    out = Path(json.loads(spec_path.read_text())["out_dir"])
    return [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory, tokenizer_folder, base_model) -> Path:
    """Continued pre-training of the base model by 2 processes: FSDP2, meta-device load,
    activation checkpointing, checkpoints after steps 2 and 4."""
    spec = spec_for(tmp_path_factory.mktemp("two"), tokenizer_folder, base_model)
    launch(spec, nproc=2)
    return spec


def test_two_fsdp_ranks_train_like_one_eager_process(
    two_ranks, tmp_path, tokenizer_folder, base_model
):
    """The base model loaded whole by one process (strategy ddp: from_pretrained), no
    activation checkpointing: the same losses, the same final Hugging Face folder."""
    spec = spec_for(
        tmp_path, tokenizer_folder, base_model, strategy="ddp", activation_checkpointing=False
    )
    report, metadata = train_from_spec(json.loads(spec.read_text()), None)
    expected = [r["loss"] for r in records_of(two_ranks)]
    assert report.losses == pytest.approx(expected, abs=1e-5)
    kinds = ("parameters", "gradients", "optimizer", "activations", "transient", "total")
    assert {f"plan_{kind}_gib" for kind in kinds} <= metadata.keys()
    stitched = Path(records_dir(two_ranks)) / "final"
    # the whole config, architectures included: vLLM picks the model class by it
    config = json.loads((stitched / "config.json").read_text())
    assert config == json.loads((Path(report.final_path) / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"]
    sharded = AutoModelForCausalLM.from_pretrained(stitched)
    whole = AutoModelForCausalLM.from_pretrained(report.final_path)
    for (name, a), (_, b) in zip(
        sharded.state_dict().items(), whole.state_dict().items(), strict=True
    ):
        assert torch.allclose(a, b, atol=1e-5), name


def records_dir(spec: Path) -> str:
    return json.loads(spec.read_text())["out_dir"]


def stopped_after_step_2(two_ranks: Path, folder: Path, tokenizer: Path, base: Path) -> Path:
    """The 2-process run as if it had stopped after its checkpoint of step 2."""
    spec = spec_for(folder, tokenizer, base)
    shutil.copytree(records_dir(two_ranks), folder / "out")
    for later in ["checkpoint-4", "final"]:
        shutil.rmtree(folder / "out" / later)
    return spec


def test_a_checkpoint_of_two_ranks_resumes_in_one(
    two_ranks, tmp_path, tokenizer_folder, base_model
):
    spec = stopped_after_step_2(two_ranks, tmp_path, tokenizer_folder, base_model)
    report, _ = train_from_spec(json.loads(spec.read_text()), None)
    assert report.resumed_from_step == 2
    expected = [r["loss"] for r in records_of(two_ranks)]
    assert report.losses == pytest.approx(expected, abs=1e-5)


def test_a_checkpoint_of_two_ranks_resumes_in_three(
    two_ranks, tmp_path, tokenizer_folder, base_model
):
    spec = stopped_after_step_2(two_ranks, tmp_path, tokenizer_folder, base_model)
    records = launch(spec, nproc=3)
    expected = [r["loss"] for r in records_of(two_ranks)]
    assert [r["loss"] for r in records] == pytest.approx(expected, abs=1e-5)
    assert (tmp_path / "out" / "final" / "model.safetensors").exists()


def test_the_plan_before_launch_stops_a_run_that_cannot_fit(tmp_path, tokenizer_folder, base_model):
    spec = json.loads(spec_for(tmp_path, tokenizer_folder, base_model).read_text())
    loop = PretrainLoop.model_validate(spec["loop"])
    plan = launch_plan(spec, loop, DistributedSettings(nproc_per_node=2, nnodes=3))
    assert (plan.world_size, plan.micro_batch, plan.strategy) == (6, 1, "fsdp")
    assert plan.n_params == AutoModelForCausalLM.from_pretrained(base_model).num_parameters()
    tight = DistributedSettings(nproc_per_node=2, gpu_memory_gib=0.001)
    with pytest.raises(ValueError, match="does not fit the GPU"):
        launch_plan(spec, loop, tight)
