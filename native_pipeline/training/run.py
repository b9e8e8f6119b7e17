"""The pre-training process: `python -m native_pipeline.training.run spec.json`, one per rank.

The spec (JSON) names everything the run needs:

    {"streams": ["/data/shards/aligned/00000.bin", ...],  # Megatron .bin token files
     "dtype": "int32",                        # the shards' manifest says
     "out_dir": "/data/checkpoints/aligned",
     "tokenizer": "/data/tokenizer",          # a Hugging Face tokenizer folder
     "base_model": "/models/llama-3-8b" | null,  # null: a random Llama of "tiny"
     "tiny": {"hidden_size": 512, "layers": 8, "max_positions": 2048},  # TinyModelSettings
     "loop": {"max_steps": 1000, "seq_len": 2048, ...},  # PretrainLoop, checked on load
     "memory_headroom": 0.9}                  # the share of a GPU the memory plan may fill

One process trains alone. Under torchrun (WORLD_SIZE > 1) each process joins the process group
(nccl on GPUs, the local rank picking the GPU; gloo on CPUs) and `pretrain` wraps the model in
DDP or FSDP (loop.strategy). With FSDP a base model is created on the meta device and each rank
reads only its shards of the safetensors. `launch_command` builds either command line. Before
the first step rank 0 logs the memory plan of one GPU (`lm.memory`), and on a GPU the run
stops with the plan in the error when it does not fit the device.

Dagster launches it with Pipes (the `pipes` resource, defs/cluster.py): `PipesSubprocessClient`
beside the step, or `PipesK8sClient` in a GPU pod of its own when `cluster.mode` is kubernetes
(native_pipeline/cluster.py builds the pod). When the Pipes environment variables are set,
rank 0 sends its log lines to Dagster and ends with `report_asset_materialization` (final_loss,
tokens_per_second, steps, tokens, the memory plan's figures; mfu and max_memory_allocated on
GPUs); without them it prints. The files
(out_dir/final, checkpoints, train_log.jsonl) are the same either way.

On a cluster, the same process runs on every node, with the checkpoint folder on storage that
all nodes share:

- torchrun across nodes: on each of N nodes,
  `launch_command(spec, nproc_per_node=8, extra_torchrun_args=["--nnodes", "N",
  "--rdzv-backend", "c10d", "--rdzv-endpoint", "head-node:29500", "--rdzv-id", "run-1"])`;
- Kubernetes: one pod is what `cluster.mode: kubernetes` starts (above); with
  `training.distributed.nnodes` > 1 the checkpoints step starts a PyTorchJob (Kubeflow training
  operator) of that many pods, each running this command with `cluster.rendezvous_args`.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from native_pipeline.lm.device import pick_device, use_bf16
from native_pipeline.lm.loop import LoopReport
from native_pipeline.lm.memory import GIB, MemoryPlan, ModelDims, check_fits, plan_memory
from native_pipeline.lm.model import build_model, flops_per_token, mfu, model_config, peak_flops
from native_pipeline.settings import DistributedSettings, PretrainLoop, TinyModelSettings
from native_pipeline.training.pretrain import pretrain

MODULE = "native_pipeline.training.run"
# Arguments that point torchrun at a multi-node rendezvous instead of --standalone.
RENDEZVOUS_ARGS = ("--nnodes", "--rdzv")


def launch_command(
    spec_path: Path, *, nproc_per_node: int, extra_torchrun_args: Sequence[str] = ()
) -> list[str]:
    """The command line of a run: plain Python for one process, torchrun for more.

    `extra_torchrun_args` go to torchrun as they are (e.g. --nnodes, --rdzv-endpoint for a
    multi-node run, which then replace --standalone).
    """
    if nproc_per_node == 1 and not extra_torchrun_args:
        return [sys.executable, "-m", MODULE, str(spec_path)]
    multi_node = any(a.startswith(RENDEZVOUS_ARGS) for a in extra_torchrun_args)
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        *([] if multi_node else ["--standalone"]),
        "--nproc_per_node",
        str(nproc_per_node),
        *extra_torchrun_args,
        "-m",
        MODULE,
        str(spec_path),
    ]


def memory_plan(dims: ModelDims, loop: PretrainLoop, world: int, device: str) -> MemoryPlan:
    """The memory plan of one GPU of a run of `loop` on `world` processes."""
    return plan_memory(
        dims,
        world_size=world,
        strategy=loop.strategy,
        micro_batch=loop.batch_size // world,
        seq_len=loop.seq_len,
        bf16=use_bf16(device, loop.bf16),
        activation_checkpointing=loop.activation_checkpointing,
        reduce_dtype=loop.reduce_dtype,
    )


def spec_dims(spec: dict[str, Any]) -> ModelDims:
    """The shapes of the spec's model, from its config alone (no weights are read)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(spec["tokenizer"])
    base = spec.get("base_model")
    config = model_config(
        Path(base) if base else None,
        vocab_size=len(tokenizer),
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tiny=TinyModelSettings.model_validate(spec.get("tiny", {})),
    )
    return ModelDims.of(config)


def launch_plan(
    spec: dict[str, Any], loop: PretrainLoop, distributed: DistributedSettings
) -> MemoryPlan:
    """The plan of one GPU of the spec's run, before it is launched; with
    `distributed.gpu_memory_gib` set, a ValueError when it cannot fit that GPU."""
    world = distributed.nproc_per_node * distributed.nnodes
    device = "cuda" if distributed.gpu_memory_gib else pick_device(loop.device)
    plan = memory_plan(spec_dims(spec), loop, world, device)
    if distributed.gpu_memory_gib:
        check_fits(plan, int(distributed.gpu_memory_gib * GIB), distributed.memory_headroom)
    return plan


def train_from_spec(spec: dict[str, Any], log) -> tuple[LoopReport, dict[str, Any]]:
    """Run the spec in this process; returns the report and its metadata."""
    from transformers import AutoTokenizer

    loop = PretrainLoop.model_validate(spec["loop"])
    if torch.cuda.is_available() and dist.is_initialized():
        loop = loop.model_copy(update={"device": f"cuda:{torch.cuda.current_device()}"})
    world = dist.get_world_size() if dist.is_initialized() else 1
    streams = [np.memmap(p, dtype=spec["dtype"], mode="r") for p in spec["streams"]]
    tokenizer = AutoTokenizer.from_pretrained(spec["tokenizer"])
    base = Path(spec["base_model"]) if spec.get("base_model") else None
    model = build_model(
        base,
        vocab_size=len(tokenizer),
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tiny=TinyModelSettings.model_validate(spec.get("tiny", {})),
        seed=loop.seed,
        meta=loop.strategy == "fsdp",
    )
    device = pick_device(loop.device)
    plan = memory_plan(ModelDims.of(model.config), loop, world, device)
    if log:
        log(plan.describe())
    if device.startswith("cuda"):
        total = torch.cuda.get_device_properties(torch.device(device)).total_memory
        headroom = spec.get("memory_headroom", DistributedSettings().memory_headroom)
        check_fits(plan, total, headroom)
    token_flops = flops_per_token(model, loop.seq_len)
    report = pretrain(
        model,
        streams,
        Path(spec["out_dir"]),
        loop,
        tokenizer_folder=spec["tokenizer"],
        base_model=base,
        log=log,
    )
    metadata: dict[str, Any] = {
        "final_loss": report.losses[-1] if report.losses else float("nan"),
        "tokens_per_second": report.tokens_per_second,
        "steps": report.steps,
        "tokens": report.tokens,
        "seconds": report.seconds,
        "world_size": report.world_size,
        # The plan's figures as numbers (Pipes metadata is flat), plotted by the UI.
        **{f"plan_{k}": v for k, v in plan.as_metadata().items() if k.endswith("_gib")},
    }
    if report.device.startswith("cuda"):
        metadata["max_memory_allocated_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    peak = peak_flops(torch.cuda.get_device_name()) if report.device.startswith("cuda") else None
    if peak:
        metadata["mfu"] = mfu(report.tokens_per_second, token_flops, peak * report.world_size)
    return report, metadata


def main(argv: Sequence[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    spec = json.loads(Path(argv[0]).read_text())
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    try:
        rank = dist.get_rank() if dist.is_initialized() else 0
        if rank == 0 and "DAGSTER_PIPES_CONTEXT" in os.environ:
            from dagster_pipes import open_dagster_pipes

            with open_dagster_pipes() as pipes:
                _, metadata = train_from_spec(spec, pipes.log.info)
                pipes.report_asset_materialization(metadata=metadata)
        else:
            _, metadata = train_from_spec(spec, partial(print, flush=True) if rank == 0 else None)
            if rank == 0:
                print(json.dumps(metadata))
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


if __name__ == "__main__":
    main()
