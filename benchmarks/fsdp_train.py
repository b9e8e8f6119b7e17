"""FSDP2 training at scale on every GPU present: tokens/s, MFU and the memory plan against
`torch.cuda.max_memory_allocated`.

    python benchmarks/fsdp_train.py [--preset llama-3.2-1b] [--steps 12] [--checkpointing]

The model is a Llama of the preset's shapes (`lm.memory.PRESETS`; llama-3.2-1b by default)
with random weights, written as a Hugging Face folder first, so that the run takes the path of
continued pre-training: `native_pipeline.training.run` under torchrun, the model created on the
meta device and each rank reading only its shards, FSDP2 with bf16 compute and float32 master
weights and reductions, a sharded checkpoint and the final folder stitched from the shards. The
data is a random token stream (the speed does not depend on it).

tokens/s is measured from the loop's own log between the end of the warm-up steps and the step
before the last (the last writes the checkpoint); MFU is against the GPUs' dense bf16 peak
(`model.PEAK_BF16_FLOPS`) with 6N + attention FLOPs per token (`model.flops_per_token`). The
memory plan of one GPU (rank 0's) is printed beside rank 0's `max_memory_allocated`, with their
ratio (neither counts the CUDA context, the caching allocator's reserve or NCCL's buffers).
`--smoke` runs the same path on a CPU with gloo, 2 processes, a 2-layer model: no speed figure
then.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from native_pipeline.lm.memory import PRESETS, ModelDims
from native_pipeline.lm.model import flops_per_token, peak_flops
from native_pipeline.lm.tokenizer import train_tokenizer
from native_pipeline.training.run import MODULE

SMOKE = ModelDims(512, 128, 2, 2, 1, 384, True, 64)


def write_model(dims: ModelDims, folder: Path) -> None:
    """A random Llama of `dims` as a Hugging Face folder (built on the GPU when there is one)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=dims.vocab_size,
        hidden_size=dims.hidden_size,
        intermediate_size=dims.intermediate_size,
        num_hidden_layers=dims.layers,
        num_attention_heads=dims.heads,
        num_key_value_heads=dims.kv_heads,
        head_dim=dims.head_dim or dims.hidden_size // dims.heads,
        tie_word_embeddings=dims.tied_embeddings,
        max_position_embeddings=8192,
        rope_theta=500000.0,
    )
    device = "cuda" if torch.cuda.is_available() else "cpu"
    with torch.device(device):
        model = LlamaForCausalLM(config)
    model.save_pretrained(folder)


def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="fsdp-") as work:
        run(args, Path(work))


def run(args: argparse.Namespace, work: Path) -> None:
    dims = SMOKE if args.smoke else PRESETS[args.preset]
    nproc = args.nproc or torch.cuda.device_count() or 2
    write_model(dims, work / "model")
    train_tokenizer(["a b c"], vocab_size=300).save_pretrained(work / "tokenizer")
    batch = args.micro_batch * nproc
    tokens = (args.steps + 1) * batch * (args.seq_len + 1)
    stream = np.random.default_rng(0).integers(0, dims.vocab_size, tokens, dtype=np.uint32)
    stream.tofile(work / "tokens.bin")
    spec = {
        "streams": [str(work / "tokens.bin")],
        "dtype": "uint32",
        "out_dir": str(work / "out"),
        "tokenizer": str(work / "tokenizer"),
        "base_model": str(work / "model"),
        "loop": {
            "max_steps": args.steps,
            "batch_size": batch,
            "seq_len": args.seq_len,
            "warmup_steps": 1,
            "save_every": 10**9,
            "log_every": 1,
            "strategy": "fsdp",
            "activation_checkpointing": args.checkpointing,
        },
    }
    (work / "spec.json").write_text(json.dumps(spec))
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc_per_node", str(nproc), "-m", MODULE, str(work / "spec.json")]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"torchrun failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    metadata = json.loads(done.stdout.strip().splitlines()[-1])
    records = [json.loads(line) for line in (work / "out" / "train_log.jsonl").open()]
    plan = {k.removeprefix("plan_"): v for k, v in metadata.items() if k.startswith("plan_")}
    print(f"{args.preset if not args.smoke else 'smoke'}: {dims.n_params() / 1e9:.2f}B parameters")
    print(
        f"  FSDP over {nproc}, micro-batch {args.micro_batch} x {args.seq_len} per GPU, "
        f"activation checkpointing {'on' if args.checkpointing else 'off'}"
    )
    print(f"  loss {records[0]['loss']:.3f} -> {records[-1]['loss']:.3f}")
    print(f"  memory plan per GPU (GiB): {plan}")
    if "max_memory_allocated_gib" in metadata:
        measured = metadata["max_memory_allocated_gib"]
        print(
            f"  max_memory_allocated (rank 0): {measured:.2f} GiB; "
            f"plan / measured {plan['total_gib'] / measured:.3f}"
        )
    if args.smoke or len(records) < args.warmup + 3:
        return
    timed = records[args.warmup : -1]
    seconds = timed[-1]["seconds"] - records[args.warmup - 1]["seconds"]
    rate = (timed[-1]["tokens"] - records[args.warmup - 1]["tokens"]) / seconds
    from transformers import AutoConfig, AutoModelForCausalLM

    with torch.device("meta"):  # for its shapes only
        model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(work / "model"))
    peak = peak_flops(torch.cuda.get_device_name())
    line = f"  {rate:,.0f} tokens/s over {nproc} GPUs, {rate / nproc:,.0f} per GPU"
    if peak:
        achieved = rate * flops_per_token(model, args.seq_len) / (peak * nproc)
        line += f", MFU {achieved:.1%} (goal >= 40 %)"
    print(f"{line}; {torch.cuda.get_device_name()}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="llama-3.2-1b")
    parser.add_argument("--nproc", type=int, default=0, help="0: every GPU (2 on a CPU)")
    parser.add_argument("--micro-batch", type=int, default=4, help="sequences per GPU")
    parser.add_argument("--seq-len", type=int, default=2048)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--checkpointing", action="store_true")
    parser.add_argument("--smoke", action="store_true", help="a 2-layer model on a CPU (gloo)")
    main(parser.parse_args())
