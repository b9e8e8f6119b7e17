"""The one training loop, in the style of nanoGPT: the alignment worker's fine-tuning (loss on the
rewrite only) and continued pre-training (loss on every token) both call `train`, each with its
own batches and its own objective.

A step takes the micro-batches `micro_batches(step)` returns (a function of the step alone, so
a resumed run sees the same data), runs the model on each under bf16 autocast on GPUs, and
differentiates what `objective` returns; then clipping, AdamW (weight decay on matrices only),
and the learning rate of a linear warm-up and a cosine decay to a floor. Under torch.distributed
with more than one process the model is wrapped in DDP or FSDP2 (`lm.parallel`) and each rank's
`micro_batches` returns its share. A model created on the meta device is made real after
sharding and filled from its Hugging Face folder, each rank reading only its shards.
Checkpoints are sharded (`torch.distributed.checkpoint`) with the trainer state beside them; a
rerun of the same run (its fingerprint: data, math-affecting settings, initial weights) resumes
from the latest one on any number of processes, and a different run's are discarded. The
final model is a Hugging Face folder stitched from the ranks' shards.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

from native_pipeline.lm.checkpoint import (
    FINAL,
    atomic_dir_all_ranks,
    resumable,
    rng_states,
    save_checkpoint,
    set_rng_states,
)
from native_pipeline.lm.device import pick_device, use_bf16
from native_pipeline.lm.parallel import (
    apply_activation_checkpointing,
    apply_ddp,
    apply_fsdp,
    is_meta,
    load_hf_weights,
    materialize,
    save_hf_weights,
    tied_names,
)
from native_pipeline.progress import Progress
from native_pipeline.settings import LoopSettings

LOG_FILE = "train_log.jsonl"
# Settings that do not change the trained weights: a run may resume with other values.
NOT_IN_FINGERPRINT = {
    "save_every",
    "log_every",
    "device",
    "strategy",
    "activation_checkpointing",
}

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


def _parallelize(
    model: torch.nn.Module, strategy: str, device: torch.device, bf16: bool, reduce_dtype: str
) -> torch.nn.Module:
    """DDP, or FSDP2 with one shard group per decoder layer, for a multi-process run."""
    if strategy == "ddp":
        return apply_ddp(model, device)
    if strategy == "fsdp":
        return apply_fsdp(model, bf16, reduce_dtype)
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


def _sharded_state(model: torch.nn.Module, optimizer) -> dict[str, Any]:
    """The model's and optimizer's state as this rank holds it, keyed by parameter names."""
    weights, optimizer_state = get_state_dict(model, optimizer)
    return {"model": weights, "optimizer": optimizer_state}


def _save_sharded(state: dict[str, Any], folder: Path) -> None:
    dcp.save(state, checkpoint_id=folder)


def _resume(model: torch.nn.Module, optimizer, folder: Path) -> None:
    """Load a checkpoint written by any number of processes (DCP reshards it)."""
    state = _sharded_state(model, optimizer)
    dcp.load(state, checkpoint_id=folder)
    set_state_dict(
        model, optimizer, model_state_dict=state["model"], optim_state_dict=state["optimizer"]
    )


def _export(
    model: torch.nn.Module, raw: torch.nn.Module, tokenizer, final: Path, rank: int, world: int
) -> None:
    """The Hugging Face folder of the trained model: Hugging Face's own writer when one process
    holds the whole model, else stitched from the ranks' shards."""
    with atomic_dir_all_ranks(final, rank, world) as tmp:
        if world == 1:
            raw.save_pretrained(tmp, safe_serialization=True)
        else:
            save_hf_weights(model, tmp, tied_names(raw), rank)
            if rank == 0:
                # what save_pretrained adds to the config (vLLM picks the class by
                # `architectures`); fully_shard renamed the class FSDP<name>
                raw.config.dtype = str(raw.dtype).removeprefix("torch.")
                raw.config.architectures = [type(raw).__name__.removeprefix("FSDP")]
                raw.config.save_pretrained(tmp)
                if raw.can_generate():
                    raw.generation_config.save_pretrained(tmp)
        if rank == 0:
            tokenizer.save_pretrained(tmp)


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
    weights_from: Path | None = None,
    log: Callable[[str], None] | None = None,
    on_step: Callable[[dict[str, Any]], None] | None = None,
) -> LoopReport:
    """Train `model` for `total_steps`: unwrapped, on the CPU, or created on the meta device
    and filled from `weights_from` (a Hugging Face folder) once sharded. The result ends in
    `out_dir/final` (a Hugging Face folder with `tokenizer`), the loss curve in `out_dir`'s
    train_log.jsonl. Under torch.distributed every rank calls this with the same arguments; rank
    0 writes the log and calls `log` and `on_step` (with each step's record)."""
    s = settings
    out_dir = Path(out_dir)
    world = dist.get_world_size() if dist.is_initialized() else 1
    rank = dist.get_rank() if dist.is_initialized() else 0
    say = (log or (lambda message: None)) if rank == 0 else (lambda message: None)
    device = torch.device(pick_device(s.device))
    bf16 = use_bf16(device.type, s.bf16)
    meta = is_meta(model)
    if meta and weights_from is None:
        raise ValueError("a model on the meta device needs `weights_from`, its weights' folder")

    resume_from, progress = resumable(out_dir, fingerprint, say) if rank == 0 else (None, None)
    resume_from, progress = _from_rank0((resume_from, progress), world)
    raw = model if meta else model.to(device)
    raw.train()
    if s.activation_checkpointing:
        apply_activation_checkpointing(raw)
    model = _parallelize(raw, strategy, device, bf16, s.reduce_dtype) if world > 1 else raw
    if meta:
        materialize(model, device)
    optimizer = adamw(model, s, device)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, warmup_steps, total_steps, s.min_lr_ratio)
    )
    if progress is not None:
        _resume(model, optimizer, resume_from)
        scheduler.load_state_dict(progress["scheduler"])
        set_rng_states(progress["rng"])
        step, tokens = progress["step"], progress["tokens"]
        losses, lrs, seconds_before = progress["losses"], progress["lrs"], progress["seconds"]
        say(f"resuming from step {step} of {total_steps} ({resume_from})")
    else:
        if meta:
            say(f"loading {weights_from} shard by shard")
            load_hf_weights(model, weights_from, tied_names(raw))
        torch.manual_seed(s.seed)  # for models with dropout
        step, tokens, losses, lrs, seconds_before = 0, 0, [], [], 0.0
    resumed_from = step if progress is not None else None
    dtype = "bfloat16" if bf16 else "float32"
    say(
        f"training {total_steps} steps on {world} x {device} ({dtype}, "
        f"{strategy if world > 1 else 'one process'}"
        f"{', activation checkpointing' if s.activation_checkpointing else ''})"
    )

    def save() -> None:
        """A checkpoint of the current step: every rank writes its shards."""
        state = {
            "fingerprint": fingerprint,
            "step": step,
            "tokens": tokens,
            "scheduler": scheduler.state_dict(),
            "rng": rng_states(),
            "losses": losses,
            "lrs": lrs,
            "seconds": seconds_before + time.perf_counter() - started,
        }
        sharded = _sharded_state(model, optimizer)
        write = partial(_save_sharded, sharded)
        save_checkpoint(out_dir, step, write, state, rank=rank, world=world)

    log_path = out_dir / LOG_FILE
    if rank == 0:  # keep the records of the steps this run keeps, for one clean loss curve
        lines = log_path.read_text().splitlines() if step and log_path.exists() else []
        kept = [json.loads(line) for line in lines]
        log_path.write_text("".join(json.dumps(r) + "\n" for r in kept if r["step"] <= step))
    tokens_before = tokens
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
            save()
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
    _export(model, raw, tokenizer, final, rank, world)
    say(f"final model in {final}")
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
