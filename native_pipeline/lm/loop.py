"""The one training loop, in the style of nanoGPT: the alignment worker's fine-tuning (loss on the
rewrite only) and continued pre-training (loss on every token) both call `train`, each with its
own batches and its own objective.

A step takes the micro-batches `micro_batches(step)` returns (a function of the step alone, so
a resumed run sees the same data), runs the model on each under bf16 autocast on GPUs, and
differentiates what `objective` returns; then clipping, AdamW (weight decay on matrices only),
and the learning rate of a linear warm-up and a cosine decay to a floor. Under torch.distributed
with more than one process the model is wrapped in DDP or FSDP2 and each rank's `micro_batches`
returns its share. Checkpoints are Hugging Face folders with the trainer state beside them,
written by rank 0; a rerun of the same run (its fingerprint: data, math-affecting settings,
initial weights) resumes from the latest one, and a different run's are discarded.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import torch
import torch.distributed as dist

from native_pipeline.lm.checkpoint import (
    FINAL,
    STATE_FILE,
    atomic_dir,
    resumable,
    rng_states,
    save_checkpoint,
    set_rng_states,
)
from native_pipeline.lm.device import pick_device, use_bf16
from native_pipeline.progress import Progress
from native_pipeline.settings import LoopSettings

LOG_FILE = "train_log.jsonl"
# Settings that do not change the trained weights: a run may resume with other values.
NOT_IN_FINGERPRINT = {"save_every", "log_every", "device", "strategy"}

Batch = dict[str, torch.Tensor]  # input_ids, optionally attention_mask, what the objective reads


class StepLoss(NamedTuple):
    """One micro-batch's share of its step's loss."""

    backward: torch.Tensor  # differentiated: the shares of a step add up to the step's loss
    logged: torch.Tensor  # the same, detached: the shares add up to the logged loss
    tokens: int  # tokens this micro-batch trained on


@dataclass
class LoopReport:
    final_path: Path
    steps: int
    resumed_from_step: int | None
    losses: list[float]  # the loss of each optimizer step, from step 1
    learning_rates: list[float]  # the learning rate of each step
    tokens: int  # tokens trained on by all steps, all ranks
    seconds: float  # wall-clock of this call's loop, checkpoints included
    tokens_per_second: float  # this call's tokens over its seconds
    device: str
    dtype: str
    world_size: int
    fingerprint: str

    def as_metadata(self) -> dict[str, Any]:
        """JSON-friendly scalars (the loss curve is summarised by its first and last value)."""
        skip = {"losses", "learning_rates"}
        meta = {k: v for k, v in dataclasses.asdict(self).items() if k not in skip}
        meta["final_path"] = str(self.final_path)
        meta["first_loss"] = self.losses[0] if self.losses else None
        meta["final_loss"] = self.losses[-1] if self.losses else None
        return meta


def lr_factor(step: int, warmup: int, total: int, min_ratio: float) -> float:
    """The learning rate of `step` over the peak: linear warm-up, cosine down to `min_ratio`."""
    if step < warmup:
        return (step + 1) / (warmup + 1)
    progress = (step - warmup) / max(1, total - warmup)
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def epoch_order(n: int, seed: int, epoch: int) -> list[int]:
    """A shuffled order of n items for one epoch, a function of (seed, epoch) only."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=generator).tolist()


def run_fingerprint(settings: LoopSettings, parts: Iterable[bytes]) -> str:
    """Names a training run from its data and initial weights (`parts`) and the settings that
    change the weights: a checkpoint is resumed only by the run that wrote it."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part)
    math_fields = settings.model_dump(mode="json", exclude=NOT_IN_FINGERPRINT)
    digest.update(json.dumps(math_fields, sort_keys=True).encode())
    return digest.hexdigest()[:16]


def adamw(model: torch.nn.Module, settings: LoopSettings, device: torch.device):
    """AdamW with weight decay on matrices only (not on norms or biases), as nanoGPT."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": settings.weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(
        groups, lr=settings.learning_rate, betas=settings.betas, fused=device.type == "cuda"
    )


def forward(model: torch.nn.Module, batch: Batch, bf16: bool) -> torch.Tensor:
    """The model's logits for a batch, under bf16 autocast when asked."""
    device_type = batch["input_ids"].device.type
    with torch.autocast(device_type, dtype=torch.bfloat16, enabled=bf16):
        return model(
            input_ids=batch["input_ids"],
            attention_mask=batch.get("attention_mask"),
            use_cache=False,
        ).logits


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


def train(
    model: torch.nn.Module,
    *,
    micro_batches: Callable[[int], Sequence[Batch]],
    objective: Callable[[torch.Tensor, Batch], StepLoss],
    total_steps: int,
    warmup_steps: int,
    settings: LoopSettings,
    out_dir: Path,
    tokenizer,
    fingerprint: str,
    strategy: str = "ddp",
    log: Callable[[str], None] | None = None,
    on_step: Callable[[dict[str, Any]], None] | None = None,
) -> LoopReport:
    """Train `model` (unwrapped, on the CPU) for `total_steps`; the result ends in
    `out_dir/final` (a Hugging Face folder with `tokenizer`), the loss curve in `out_dir`'s
    train_log.jsonl. Under torch.distributed every rank calls this with the same arguments; rank
    0 writes the files and calls `log` and `on_step` (with each step's record)."""
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        get_state_dict,
        set_model_state_dict,
        set_optimizer_state_dict,
    )

    s = settings
    out_dir = Path(out_dir)
    world = dist.get_world_size() if dist.is_initialized() else 1
    rank = dist.get_rank() if dist.is_initialized() else 0
    say = (log or (lambda message: None)) if rank == 0 else (lambda message: None)
    device = torch.device(pick_device(s.device))
    bf16 = use_bf16(device.type, s.bf16)

    resume_from, state = resumable(out_dir, fingerprint, say) if rank == 0 else (None, None)
    progress = _from_rank0(state and {k: v for k, v in state.items() if k != "optimizer"}, world)
    raw = model.to(device)
    raw.train()
    # Names of a tied parameter's second home (lm_head.weight): gathered FSDP weights hold a
    # copy under that name too, which the Hugging Face folder must not.
    unique = {name for name, _ in [*raw.named_parameters(), *raw.named_buffers()]}
    tied = set(raw.state_dict()) - unique
    model = _wrap(raw, strategy, device) if world > 1 else raw
    optimizer = adamw(model, s, device)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, warmup_steps, total_steps, s.min_lr_ratio)
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
        step, tokens = progress["step"], progress["tokens"]
        losses, lrs, seconds_before = progress["losses"], progress["lrs"], progress["seconds"]
        say(f"resuming from step {step} of {total_steps} ({resume_from})")
    else:
        torch.manual_seed(s.seed)  # for models with dropout
        step, tokens, losses, lrs, seconds_before = 0, 0, [], [], 0.0
    resumed_from = step if progress is not None else None
    dtype = "bfloat16" if bf16 else "float32"
    say(
        f"training {total_steps} steps on {world} x {device} ({dtype}, "
        f"{strategy if world > 1 else 'one process'})"
    )

    def save() -> Path | None:
        """A checkpoint of the current step; every rank gathers, rank 0 writes."""
        weights, optimizer_state = get_state_dict(model, optimizer, options=full)
        if rank != 0:
            return None
        weights = {k: v for k, v in weights.items() if k not in tied}
        state = {
            "fingerprint": fingerprint,
            "step": step,
            "tokens": tokens,
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
    tokens_before, latest = tokens, resume_from
    started = time.perf_counter()
    steps_done = Progress(say, "optimizer steps", total_steps, done=step)
    while step < total_steps:
        batches = micro_batches(step)
        lr = optimizer.param_groups[0]["lr"]
        step_loss = torch.zeros((), device=device)
        for micro, batch in enumerate(batches):
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            with _grad_sync(model, sync=micro == len(batches) - 1):
                loss = objective(forward(model, batch, bf16), batch)
                loss.backward.backward()
            step_loss += loss.logged
            tokens += loss.tokens * world  # every rank trains on an equal share
        if s.clip_norm > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), s.clip_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        if world > 1:
            dist.all_reduce(step_loss)  # the ranks' means of equal shares: their mean is the step's
        losses.append(step_loss.item() / world)  # the one host sync of a step
        lrs.append(lr)
        if step % s.save_every == 0 or step == total_steps:
            latest = save()
        if rank == 0:
            seconds = seconds_before + time.perf_counter() - started
            record = {"step": step, "loss": losses[-1], "lr": lr, "tokens": tokens}
            record["seconds"] = round(seconds, 3)
            with log_path.open("a") as f:
                f.write(json.dumps(record) + "\n")
            if step % s.log_every == 0 or step == total_steps:
                say(f"step {step}/{total_steps} loss {losses[-1]:.4f} lr {lr:.2e}")
            rate = (tokens - tokens_before) / max(time.perf_counter() - started, 1e-9)
            steps_done.add(1, f"{tokens:,} tokens, {rate:,.0f} tokens/s")
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
    return LoopReport(
        final_path=final,
        steps=step,
        resumed_from_step=resumed_from,
        losses=losses,
        learning_rates=lrs,
        tokens=tokens,
        seconds=seconds,
        tokens_per_second=(tokens - tokens_before) / seconds if seconds > 0 else 0.0,
        device=str(device),
        dtype=dtype,
        world_size=world,
        fingerprint=fingerprint,
    )
