"""Continued pre-training on token streams: one readable loop in the style of nanoGPT.

The data is the concatenation of token streams (eos-terminated documents, np.memmaps of the
token shards in production), cut into windows of seq_len + 1 tokens that each epoch visits in a
seeded shuffled order. A step takes the next batch_size * grad_accum windows; under DDP or FSDP
each rank takes every world_size-th of them, so a run computes the same steps on any number of
processes and can resume on another. AdamW (weight decay on matrices only), linear warm-up then
cosine decay to a floor, gradient accumulation and clipping, bf16 autocast on GPUs. Checkpoints
are full state dicts in Hugging Face folders, written by rank 0; a rerun of the same run (data,
config, initial weights) resumes from the latest one, a different run's are discarded.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import shutil
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import xxhash

from native_pipeline.training.checkpoint import (
    FINAL,
    STATE_FILE,
    atomic_dir,
    resumable,
    rng_states,
    save_checkpoint,
    set_rng_states,
)

LOG_FILE = "train_log.jsonl"
# Config fields that do not change the trained weights: a run may resume with other values.
NOT_IN_FINGERPRINT = {"save_every", "log_every", "device", "strategy"}
# Streams longer than this are fingerprinted by their length and evenly spaced blocks: reading
# all of a 40 GB corpus on every start would cost minutes.
SAMPLE_BLOCKS, SAMPLE_TOKENS = 64, 4096


@dataclass
class PretrainConfig:
    max_steps: int = 1000
    batch_size: int = 8  # sequences per micro-batch, all ranks together (each takes its share)
    grad_accum: int = 1
    seq_len: int = 1024
    learning_rate: float = 3e-4
    min_lr_ratio: float = 0.1  # the cosine ends at this fraction of the peak learning rate
    warmup_steps: int = 100
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.95)
    clip_norm: float = 1.0  # 0: no clipping
    seed: int = 0
    save_every: int = 500  # optimizer steps; a checkpoint is also written at the end
    log_every: int = 10
    device: str | None = None  # None: cuda if available, else cpu
    bf16: bool | None = None  # None: on cuda
    strategy: str = "ddp"  # "ddp" | "fsdp", when torch.distributed runs more than one process


@dataclass
class PretrainReport:
    final_path: Path
    steps: int
    resumed_from_step: int | None
    losses: list[float]  # mean loss of each optimizer step, from step 1
    learning_rates: list[float]  # the learning rate of each step
    tokens: int  # tokens trained on by all steps, all ranks
    seconds: float  # wall-clock of this call's loop, checkpoints included
    tokens_per_second: float  # this call's tokens over its seconds
    device: str
    dtype: str
    world_size: int
    fingerprint: str

    def as_metadata(self) -> dict[str, Any]:
        """JSON-friendly scalars (the loss curve is summarised by its last value)."""
        skip = {"losses", "learning_rates"}
        meta = {k: v for k, v in dataclasses.asdict(self).items() if k not in skip}
        meta["final_path"] = str(self.final_path)
        meta["final_loss"] = self.losses[-1] if self.losses else None
        return meta


def lr_factor(step: int, warmup: int, total: int, min_ratio: float) -> float:
    """The learning rate of `step` over the peak: linear warm-up, cosine down to `min_ratio`."""
    if step < warmup:
        return (step + 1) / (warmup + 1)
    progress = (step - warmup) / max(1, total - warmup)
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


class Windows:
    """Windows of seq_len + 1 tokens over the concatenated streams, without copying them.

    Window i starts at token i * seq_len: neighbours share one token, so every token but the
    first is a target exactly once an epoch. A window may span two streams, as documents do.
    """

    def __init__(self, streams: Sequence[np.ndarray], seq_len: int):
        self.streams = [s for s in streams if len(s)]
        self.starts = np.cumsum([0] + [len(s) for s in self.streams])
        self.seq_len = seq_len

    def __len__(self) -> int:
        return max(0, int(self.starts[-1] - 1) // self.seq_len)

    def __getitem__(self, i: int) -> np.ndarray:
        begin, end = i * self.seq_len, (i + 1) * self.seq_len + 1
        k = int(np.searchsorted(self.starts, begin, side="right")) - 1
        pieces = []
        while begin < end:
            offset = begin - int(self.starts[k])
            piece = self.streams[k][offset : offset + end - begin]
            pieces.append(piece)
            begin += len(piece)
            k += 1
        return pieces[0] if len(pieces) == 1 else np.concatenate(pieces)

    def batch(self, indices: Sequence[int]) -> torch.Tensor:
        return torch.from_numpy(np.stack([self[int(i)] for i in indices]).astype(np.int64))


def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """A shuffled order of n items for one epoch, a function of (seed, epoch) only."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=generator).numpy()


def rank_share(order: np.ndarray, index: int, per_step: int, rank: int, world: int) -> np.ndarray:
    """This rank's windows of the epoch's step `index`: every world-th of the step's windows."""
    return order[index * per_step : (index + 1) * per_step][rank::world]


def fingerprint(
    model: torch.nn.Module, streams: Sequence[np.ndarray], config: PretrainConfig
) -> str:
    """Names a training run: a checkpoint is resumed only by the run that wrote it."""
    digest = hashlib.sha256()
    for stream in streams:
        digest.update(f"{len(stream)}:".encode())
        if len(stream) <= SAMPLE_BLOCKS * SAMPLE_TOKENS:
            digest.update(xxhash.xxh3_64_digest(np.ascontiguousarray(stream)))
        else:
            for start in np.linspace(0, len(stream) - SAMPLE_TOKENS, SAMPLE_BLOCKS, dtype=int):
                block = np.ascontiguousarray(stream[start : start + SAMPLE_TOKENS])
                digest.update(xxhash.xxh3_64_digest(block))
    fields = dataclasses.asdict(config)
    math_fields = {k: v for k, v in fields.items() if k not in NOT_IN_FINGERPRINT}
    digest.update(json.dumps(math_fields, sort_keys=True).encode())
    weights = xxhash.xxh3_64()  # the initial weights: base model, or config and seed
    for name, tensor in model.state_dict().items():
        weights.update(name.encode())
        weights.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy())
    digest.update(weights.digest())
    return digest.hexdigest()[:16]


def _wrap(model: torch.nn.Module, strategy: str, device: torch.device) -> torch.nn.Module:
    """DDP, or FSDP2 with one shard group per decoder layer, for a multi-process run."""
    if strategy == "ddp":
        from torch.nn.parallel import DistributedDataParallel

        ids = [device.index] if device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)
    if strategy == "fsdp":
        from torch.distributed.fsdp import fully_shard

        for layer in model.model.layers:  # Hugging Face decoder-only models keep them here
            fully_shard(layer)
        fully_shard(model)
        return model
    raise ValueError(f"unknown strategy {strategy!r}: use 'ddp' or 'fsdp'")


def _grad_sync(model: torch.nn.Module, sync: bool):
    """Skip the gradient all-reduce on micro-batches before the step's last one."""
    from torch.distributed.fsdp import FSDPModule
    from torch.nn.parallel import DistributedDataParallel

    if isinstance(model, FSDPModule):
        model.set_requires_gradient_sync(sync)
    elif isinstance(model, DistributedDataParallel) and not sync:
        return model.no_sync()
    return nullcontext()


def adamw(model: torch.nn.Module, config: PretrainConfig, device: torch.device):
    """AdamW with weight decay on matrices only (not on norms or biases), as nanoGPT."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": config.weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(
        groups, lr=config.learning_rate, betas=config.betas, fused=device.type == "cuda"
    )


def _from_rank0(obj: Any, world: int) -> Any:
    if world == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def _load_weights(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    weights: dict[str, torch.Tensor] = {}
    for file in sorted(folder.glob("*.safetensors")):  # one file, or shards of a large model
        weights.update(load_file(file))
    return weights


def pretrain(
    model: torch.nn.Module,
    streams: Sequence[np.ndarray],
    out_dir: Path,
    config: PretrainConfig,
    *,
    tokenizer_folder: Path,
    log: Callable[[str], None] | None = None,
    on_step: Callable[[dict[str, Any]], None] | None = None,
) -> PretrainReport:
    """Train `model` (unwrapped, on the CPU) on `streams`; the result ends in `out_dir/final`.

    When torch.distributed is initialised with more than one process, every rank calls this
    with the same arguments; the model is wrapped in DDP or FSDP here, rank 0 writes the files,
    calls `log` and `on_step` (with each step's log record) and every rank gets the report.
    """
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        get_state_dict,
        set_model_state_dict,
        set_optimizer_state_dict,
    )
    from transformers import AutoTokenizer

    c = config
    out_dir = Path(out_dir)
    world = dist.get_world_size() if dist.is_initialized() else 1
    rank = dist.get_rank() if dist.is_initialized() else 0
    say = (log or (lambda message: None)) if rank == 0 else (lambda message: None)
    device = torch.device(c.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    bf16 = device.type == "cuda" if c.bf16 is None else c.bf16
    if c.batch_size % world:
        raise ValueError(f"batch_size={c.batch_size} does not split over {world} processes")
    windows = Windows(streams, c.seq_len)
    per_step = c.batch_size * c.grad_accum
    steps_per_epoch = len(windows) // per_step
    if steps_per_epoch == 0:
        raise ValueError(
            f"{int(windows.starts[-1])} tokens do not fill one step of {per_step} sequences "
            f"of {c.seq_len + 1} tokens"
        )

    run_id = fingerprint(model, streams, c)
    resume_from, state = resumable(out_dir, run_id, say) if rank == 0 else (None, None)
    progress = _from_rank0(state and {k: v for k, v in state.items() if k != "optimizer"}, world)
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_folder)

    raw = model.to(device)
    raw.train()
    # Names of a tied parameter's second home (lm_head.weight): gathered FSDP weights hold a
    # copy under that name too, which the Hugging Face folder must not.
    unique = {name for name, _ in [*raw.named_parameters(), *raw.named_buffers()]}
    tied = set(raw.state_dict()) - unique
    model = _wrap(raw, c.strategy, device) if world > 1 else raw
    optimizer = adamw(model, c, device)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, c.warmup_steps, c.max_steps, c.min_lr_ratio)
    )
    full = StateDictOptions(full_state_dict=True, cpu_offload=True)
    if progress is not None:
        # Rank 0 read the files; the others receive the tensors (broadcast_from_rank0).
        # Not strict: a tied output embedding is not saved a second time.
        load = StateDictOptions(full_state_dict=True, broadcast_from_rank0=world > 1, strict=False)
        weights = _load_weights(resume_from) if rank == 0 else {}
        set_model_state_dict(model, weights, options=load)
        optimizer_state = state["optimizer"] if rank == 0 else {}
        set_optimizer_state_dict(model, optimizer, optimizer_state, options=load)
        scheduler.load_state_dict(progress["scheduler"])
        set_rng_states(progress["rng"])
        step, (epoch, index) = progress["step"], progress["data"]
        losses, lrs, seconds_before = progress["losses"], progress["lrs"], progress["seconds"]
        say(f"resuming from step {step} of {c.max_steps} ({resume_from})")
    else:
        torch.manual_seed(c.seed)  # for models with dropout
        step, epoch, index, losses, lrs, seconds_before = 0, 0, 0, [], [], 0.0
    resumed_from = step if progress is not None else None
    dtype = "bfloat16" if bf16 else "float32"
    tokens_per_step = per_step * c.seq_len
    say(
        f"pre-training {c.max_steps} steps of {per_step} x {c.seq_len} tokens on {world} x "
        f"{device} ({dtype}, {c.strategy if world > 1 else 'one process'}); "
        f"{len(windows)} windows, {steps_per_epoch} steps an epoch"
    )

    def save() -> Path | None:
        """A checkpoint of the current step; every rank gathers, rank 0 writes."""
        weights, optimizer_state = get_state_dict(model, optimizer, options=full)
        if rank != 0:
            return None
        weights = {k: v for k, v in weights.items() if k not in tied}
        state = {
            "fingerprint": run_id,
            "step": step,
            "data": (epoch, index),  # where the next step starts
            "optimizer": optimizer_state,
            "scheduler": scheduler.state_dict(),
            "rng": rng_states(),
            "losses": losses,
            "lrs": lrs,
            "seconds": seconds_before + time.perf_counter() - started,
        }
        return save_checkpoint(out_dir, step, raw, tokenizer, state, weights)

    log_path = out_dir / LOG_FILE
    if rank == 0:  # keep the records of the steps this run keeps, for one clean loss curve
        lines = log_path.read_text().splitlines() if step and log_path.exists() else []
        kept = [json.loads(line) for line in lines]
        log_path.write_text("".join(json.dumps(r) + "\n" for r in kept if r["step"] <= step))
    steps_before, latest = step, resume_from
    order = epoch_order(len(windows), c.seed, epoch)
    started = time.perf_counter()
    while step < c.max_steps:
        if index == steps_per_epoch:
            epoch, index = epoch + 1, 0
            order = epoch_order(len(windows), c.seed, epoch)
        share = rank_share(order, index, per_step, rank, world).reshape(c.grad_accum, -1)
        lr = optimizer.param_groups[0]["lr"]
        step_loss = torch.zeros((), device=device)
        for micro, ids in enumerate(share):
            batch = windows.batch(ids).to(device, non_blocking=True)
            with _grad_sync(model, sync=micro == c.grad_accum - 1):
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                    logits = model(input_ids=batch[:, :-1], use_cache=False).logits
                loss = torch.nn.functional.cross_entropy(
                    logits.flatten(0, 1).float(), batch[:, 1:].flatten()
                )
                (loss / c.grad_accum).backward()  # the step's loss is the micro-batches' mean
            step_loss += loss.detach()
        if c.clip_norm > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), c.clip_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step, index = step + 1, index + 1
        if world > 1:
            dist.all_reduce(step_loss)  # the ranks' means of equal shares: their mean is the step's
        losses.append(step_loss.item() / (c.grad_accum * world))  # the one host sync of a step
        lrs.append(lr)
        if (c.save_every and step % c.save_every == 0) or step == c.max_steps:
            latest = save()
        if rank == 0:
            seconds = seconds_before + time.perf_counter() - started
            record = {"step": step, "loss": losses[-1], "lr": lr, "tokens": step * tokens_per_step}
            record["seconds"] = round(seconds, 3)
            with log_path.open("a") as f:
                f.write(json.dumps(record) + "\n")
            if step % c.log_every == 0 or step == c.max_steps:
                say(f"step {step}/{c.max_steps} loss {losses[-1]:.4f} lr {lr:.2e}")
            if on_step is not None:
                on_step(record)
    seconds = time.perf_counter() - started

    final = out_dir / FINAL
    if rank == 0:  # the weights of the last checkpoint, without the trainer state
        with atomic_dir(final) as tmp:
            for file in latest.iterdir():
                if file.name != STATE_FILE:
                    shutil.copy2(file, tmp / file.name)
        say(f"final model in {final}")
    if world > 1:
        dist.barrier()  # the files exist when any rank returns
    tokens = (step - steps_before) * tokens_per_step
    return PretrainReport(
        final_path=final,
        steps=step,
        resumed_from_step=resumed_from,
        losses=losses,
        learning_rates=lrs,
        tokens=step * tokens_per_step,
        seconds=seconds,
        tokens_per_second=tokens / seconds if seconds > 0 else 0.0,
        device=str(device),
        dtype=dtype,
        world_size=world,
        fingerprint=run_id,
    )
