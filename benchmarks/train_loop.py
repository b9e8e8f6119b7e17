"""Pre-training loop overhead: `pretrain` against a bare torch loop, side by side in one run.

    python benchmarks/train_loop.py [--preset cpu|tiny|125m|350m|1b] [--steps 8] [--repeats 3]

Both sides train the same random Llama (`build_model`, seed 0) on the same batch shape with the
same AdamW (`loop.adamw`), in float32 on a CPU and bf16 autocast on a GPU:

- bare: one fixed batch already on the device; forward, cross-entropy, backward, step,
  zero_grad, nothing else;
- ours: `pretrain` on a random uint32 token stream: windows, gradient clipping, the schedule,
  the loss sent to the host every step, train_log.jsonl. Checkpoints off for the timed part
  (save_every=0): the one written after the last step is left out of the timing, which runs
  from the end of the warm-up steps to the end of the step before the last.

Each side runs `--repeats` times, alternately, each time in a fresh model; tokens/s is measured
after `--warmup` steps and the median is reported, with the ratio ours / bare. On a GPU the MFU
is against the GPU's dense bf16 peak (model.PEAK_BF16_FLOPS). The GPU presets are Llama-style
125M, 350M and 1B models at seq 2048; `tiny` runs that code path on a CPU in seconds.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from native_pipeline.lm.loop import adamw
from native_pipeline.lm.model import build_model, flops_per_token, mfu, n_params, peak_flops
from native_pipeline.lm.tokenizer import train_tokenizer
from native_pipeline.settings import PretrainLoop, TinyModelSettings
from native_pipeline.training.pretrain import pretrain

# (model, vocab size, batch of sequences, seq_len)
PRESETS = {
    "cpu": ({"hidden_size": 256, "layers": 4}, 4096, 8, 256),
    "tiny": ({"hidden_size": 64, "layers": 1}, 512, 2, 64),
    "125m": ({"hidden_size": 768, "layers": 12}, 32000, 8, 2048),
    "350m": ({"hidden_size": 1024, "layers": 24}, 32000, 8, 2048),
    "1b": ({"hidden_size": 2048, "layers": 16}, 32000, 8, 2048),
}


def model_for(preset: str):
    tiny, vocab, _, seq_len = PRESETS[preset]
    tiny = TinyModelSettings(**tiny, max_positions=seq_len)
    return build_model(None, vocab_size=vocab, eos_token_id=1, pad_token_id=0, tiny=tiny, seed=0)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def bare(preset: str, config: PretrainLoop, warmup: int, steps: int, bf16: bool) -> float:
    """Tokens/s of forward, backward, step and zero_grad on one fixed batch."""
    _, vocab, batch_size, seq_len = PRESETS[preset]
    device = torch.device(config.device)
    model = model_for(preset).to(device)
    model.train()
    optimizer = adamw(model, config, device)
    batch = torch.randint(0, vocab, (batch_size, seq_len + 1), device=device)
    x, y = batch[:, :-1], batch[:, 1:].flatten()
    for step in range(warmup + steps):
        if step == warmup:
            sync(device)
            started = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            logits = model(input_ids=x, use_cache=False).logits
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1).float(), y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    sync(device)
    return steps * batch_size * seq_len / (time.perf_counter() - started)


def ours(
    preset: str,
    config: PretrainLoop,
    warmup: int,
    steps: int,
    stream: np.ndarray,
    tokenizer: Path,
) -> float:
    """Tokens/s of `pretrain` between the end of the warm-up and the step before the last."""
    _, _, batch_size, seq_len = PRESETS[preset]
    seconds: list[float] = []
    with tempfile.TemporaryDirectory() as out:
        pretrain(
            model_for(preset),
            [stream],
            Path(out),
            config,
            tokenizer_folder=tokenizer,
            on_step=lambda record: seconds.append(record["seconds"]),
        )
    # Record i ends step i + 1; the last step also writes the final checkpoint.
    assert len(seconds) == warmup + steps + 1
    return steps * batch_size * seq_len / (seconds[-2] - seconds[warmup - 1])


def main(args: argparse.Namespace) -> None:
    tiny, vocab, batch_size, seq_len = PRESETS[args.preset]
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    bf16 = device.type == "cuda"
    config = PretrainLoop(
        max_steps=args.warmup + args.steps + 1,
        batch_size=batch_size,
        seq_len=seq_len,
        warmup_steps=0,
        save_every=10**9,
        log_every=10**9,
        device=str(device),
    )
    n_tokens = (config.max_steps + 1) * batch_size * seq_len + 1
    stream = np.random.default_rng(0).integers(0, vocab, n_tokens, dtype=np.uint32)
    tokenizer = Path(tempfile.mkdtemp()) / "tokenizer"
    train_tokenizer(["a b c"], vocab_size=300).save_pretrained(tokenizer)

    model = model_for(args.preset)
    token_flops = flops_per_token(model, seq_len)
    print(
        f"preset {args.preset}: {n_params(model) / 1e6:.1f}M parameters, {tiny}, vocab {vocab}, "
        f"batch {batch_size} x {seq_len}, {device} {'bf16' if bf16 else 'fp32'}, "
        f"torch threads {torch.get_num_threads()}; {args.warmup} warm-up + {args.steps} timed "
        f"steps, {args.repeats} repeats"
    )
    del model
    results: dict[str, list[float]] = {"bare": [], "ours": []}
    for repeat in range(args.repeats):
        results["bare"].append(bare(args.preset, config, args.warmup, args.steps, bf16))
        results["ours"].append(
            ours(args.preset, config, args.warmup, args.steps, stream, tokenizer)
        )
        print(
            f"repeat {repeat + 1}: bare {results['bare'][-1]:,.0f} tokens/s, "
            f"ours {results['ours'][-1]:,.0f} tokens/s"
        )
    peak = peak_flops(torch.cuda.get_device_name()) if device.type == "cuda" else None
    median = {side: statistics.median(values) for side, values in results.items()}
    for side, value in median.items():
        line = f"{side:5s} median {value:,.0f} tokens/s"
        if peak:
            line += f", MFU {mfu(value, token_flops, peak):.1%}"
        print(line)
    print(f"ratio ours / bare: {median['ours'] / median['bare']:.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="cpu")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    main(parser.parse_args())
