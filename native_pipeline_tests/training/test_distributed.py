"""The entry point as torchrun and Dagster start it: one process, DDP and FSDP on CPU (gloo)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer

from native_pipeline.defs.cluster import PipesResource
from native_pipeline.lm.loop import LOG_FILE
from native_pipeline.training.run import launch_command
from native_pipeline_tests.training.tiny import TINY, pattern_stream

# Two micro-batches a step (DDP's no_sync path) and a checkpoint before the end.
CONFIG = {
    "max_steps": 4,
    "batch_size": 4,
    "grad_accum": 2,
    "seq_len": 16,
    "learning_rate": 1e-2,
    "warmup_steps": 1,
    "save_every": 2,
    "log_every": 1,
}
REPO = Path(__file__).resolve().parents[2]


def write_spec(folder: Path, tokenizer: Path, **config) -> Path:
    eos = AutoTokenizer.from_pretrained(tokenizer).eos_token_id
    streams = []
    for i, n_tokens in enumerate([300, 200]):
        path = folder / f"shard-{i}.bin"
        pattern_stream(n_tokens, eos).tofile(path)
        streams.append(str(path))
    spec = {
        "streams": streams,
        "dtype": "uint32",
        "out_dir": str(folder / "out"),
        "tokenizer": str(tokenizer),
        "base_model": None,
        "tiny": TINY.model_dump(),
        "loop": {**CONFIG, **config},
    }
    path = folder / "spec.json"
    path.write_text(json.dumps(spec))
    return path


def launch(spec: Path, nproc: int) -> list[dict]:
    """Run the spec as a subprocess; return its train_log.jsonl records."""
    command = launch_command(spec, nproc_per_node=nproc)
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    log = Path(json.loads(spec.read_text())["out_dir"]) / LOG_FILE
    return [json.loads(line) for line in log.read_text().splitlines()]


@pytest.fixture(scope="module")
def single(tmp_path_factory, tokenizer_folder) -> tuple[Path, list[dict]]:
    spec = write_spec(tmp_path_factory.mktemp("single"), tokenizer_folder)
    return spec, launch(spec, nproc=1)


def final_weights(spec: Path) -> dict[str, torch.Tensor]:
    return load_file(Path(json.loads(spec.read_text())["out_dir"]) / "final" / "model.safetensors")


def final_config(spec: Path) -> dict:
    return json.loads(
        (Path(json.loads(spec.read_text())["out_dir"]) / "final" / "config.json").read_text()
    )


def test_launch_command():
    spec = Path("/runs/spec.json")
    module = ["-m", "native_pipeline.training.run", str(spec)]
    assert launch_command(spec, nproc_per_node=1) == [sys.executable, *module]
    torchrun = [sys.executable, "-m", "torch.distributed.run"]
    assert launch_command(spec, nproc_per_node=8) == [
        *torchrun,
        *["--standalone", "--nproc_per_node", "8"],
        *module,
    ]
    cluster = ["--nnodes", "4", "--rdzv-backend", "c10d", "--rdzv-endpoint", "head:29500"]
    assert launch_command(spec, nproc_per_node=8, extra_torchrun_args=cluster) == [
        *torchrun,
        *["--nproc_per_node", "8", *cluster],
        *module,
    ]


def test_one_process_writes_a_loadable_model_and_the_log(single):
    spec, records = single
    assert [r["step"] for r in records] == [1, 2, 3, 4]
    assert records[-1]["tokens"] == 4 * 8 * 16
    assert records[-1]["loss"] < records[0]["loss"]
    final = Path(json.loads(spec.read_text())["out_dir"]) / "final"
    for name in ["model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json"]:
        assert (final / name).exists(), name
    model = AutoModelForCausalLM.from_pretrained(final)
    assert model.config.head_dim == 64 and model.config.num_attention_heads == 1
    tokenizer = AutoTokenizer.from_pretrained(final)
    ids = torch.tensor([tokenizer("افتتحت المكتبة").input_ids])
    assert model(input_ids=ids).logits.shape == (1, ids.shape[1], model.config.vocab_size)


@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_two_processes_train_like_one(single, tmp_path, tokenizer_folder, strategy):
    """Each rank takes half of every step's windows: the same global batch, the same run."""
    spec, records = single
    spec_2 = write_spec(tmp_path, tokenizer_folder, strategy=strategy)
    records_2 = launch(spec_2, nproc=2)
    assert [r["step"] for r in records_2] == [r["step"] for r in records]
    assert [r["tokens"] for r in records_2] == [r["tokens"] for r in records]
    assert [r["loss"] for r in records_2] == pytest.approx([r["loss"] for r in records], abs=1e-5)
    expected, got = final_weights(spec), final_weights(spec_2)
    assert expected.keys() == got.keys()
    for name in expected:
        assert torch.allclose(expected[name], got[name], atol=1e-5), name
    # the same config as Hugging Face's own writer, architectures included (vLLM reads them)
    assert final_config(spec_2) == final_config(spec)
    assert final_config(spec_2)["architectures"] == ["LlamaForCausalLM"]


def test_dagster_pipes_reports_the_materialization(tmp_path, tokenizer_folder):
    spec = write_spec(tmp_path, tokenizer_folder, max_steps=2)

    @dg.asset
    def pretrained(context, pipes: PipesResource):
        command = launch_command(spec, nproc_per_node=1)
        run = pipes.run(context=context, step="checkpoints", command=command)
        return run.get_materialize_result()

    # The project's Pipes resource in local mode: a subprocess, as the checkpoints asset runs it.
    result = dg.materialize([pretrained], resources={"pipes": PipesResource()})
    assert result.success
    (materialization,) = result.asset_materializations_for_node("pretrained")
    metadata = {k: v.value for k, v in materialization.metadata.items()}
    assert metadata["steps"] == 2 and metadata["tokens"] == 2 * 8 * 16
    records = [json.loads(line) for line in (tmp_path / "out" / LOG_FILE).read_text().splitlines()]
    assert metadata["final_loss"] == pytest.approx(records[-1]["loss"])
    assert metadata["tokens_per_second"] > 0
    assert "mfu" not in metadata  # CPU: no peak to measure against
    assert "plan_total_gib" in metadata  # the memory plan, as numbers
    assert metadata["seconds"] > 0
