"""The alignment worker: a small causal LM fine-tuned on (original -> rewritten) segment pairs.

The expert LLM rewrites a sample of segments under the code of conduct; the worker learns those
rewrites so that it can rewrite the rest of the corpus cheaply. Each pair becomes the very chat
the worker will see at inference (`conduct.messages` + the wrapped rewrite), and the loss is on
the assistant's tokens only. The loop is one readable torch loop in the style of nanoGPT: AdamW,
linear warm-up then cosine decay, gradient accumulation and clipping, bf16 autocast on GPUs,
atomic checkpoints that a rerun with the same data and hyperparameters resumes from.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import xxhash

from native_pipeline.alignment.backends.base import checkpoint_hash
from native_pipeline.alignment.conduct import CodeOfConduct, wrap
from native_pipeline.training.checkpoint import (
    FINAL,
    atomic_dir,
    resumable,
    rng_states,
    save_checkpoint,
    save_model,
    set_rng_states,
)
from native_pipeline.training.loop import epoch_order, lr_factor

IGNORE = -100  # the label of positions without loss (prompt and padding)
MIN_LR_RATIO = 0.1  # the cosine decays to a tenth of the peak learning rate, as in nanoGPT


@dataclass
class WorkerTraining:
    epochs: int = 2
    learning_rate: float = 5e-4
    batch_size: int = 4
    grad_accum: int = 1
    max_seq_len: int = 2048
    warmup_ratio: float = 0.1
    weight_decay: float = 0.0
    clip_norm: float = 1.0
    held_out_fraction: float = 0.1  # 0: none held out; otherwise at least one pair
    save_every: int = 50  # optimizer steps
    seed: int = 0
    device: str | None = None  # None: cuda if available, else cpu
    bf16: bool | None = None  # None: on cuda


@dataclass
class WorkerReport:
    final_path: Path
    checkpoint: str  # checkpoint_hash of final_path
    steps: int
    resumed_from_step: int | None
    train_losses: list[float]  # mean target-token loss of each optimizer step
    held_out_loss_before: float | None  # None when nothing is held out
    held_out_loss_after: float | None
    held_out_token_accuracy_after: float | None
    n_train: int
    n_held_out: int
    n_skipped_too_long: int
    trained_tokens: int  # non-padding tokens forwarded by this call's optimizer steps
    seconds: float  # wall-clock of this call's training loop, checkpoints included
    tokens_per_second: float
    device: str
    dtype: str

    def as_metadata(self) -> dict[str, Any]:
        """JSON-friendly scalars (the loss curve is summarised by its first and last value)."""
        meta = {k: v for k, v in dataclasses.asdict(self).items() if k != "train_losses"}
        meta["final_path"] = str(self.final_path)
        meta["first_train_loss"] = self.train_losses[0] if self.train_losses else None
        meta["last_train_loss"] = self.train_losses[-1] if self.train_losses else None
        return meta


@dataclass
class Example:
    input_ids: list[int]
    labels: list[int]  # IGNORE on the prompt; the assistant's tokens and its end-of-turn token
    original: str = field(repr=False)


def _chat_ids(tokenizer, messages: list[dict[str, str]], add_generation_prompt: bool) -> list[int]:
    encoded = tokenizer.apply_chat_template(
        messages, tokenize=True, add_generation_prompt=add_generation_prompt
    )
    return list(encoded["input_ids"])


def encode_pair(tokenizer, conduct: CodeOfConduct, original: str, rewritten: str) -> Example:
    """The chat of one pair, tokenized with the model's own template, with a target-only loss."""
    prompt = conduct.messages(original)
    prompt_ids = _chat_ids(tokenizer, prompt, add_generation_prompt=True)
    chat = prompt + [{"role": "assistant", "content": wrap(rewritten)}]
    ids = _chat_ids(tokenizer, chat, add_generation_prompt=False)
    if ids[: len(prompt_ids)] != prompt_ids:
        raise ValueError(
            "the chat template renders the prompt differently with and without the assistant's "
            "answer (it is not a token prefix), so the loss cannot be limited to the answer; "
            "use a model whose template appends the answer after the generation prompt"
        )
    # Templates close a turn with e.g. "<|end|>\n": learn to stop at the end-of-turn token,
    # not what the template writes after it.
    end = len(ids)
    if tokenizer.eos_token_id in ids[len(prompt_ids) :]:
        end = len(ids) - ids[::-1].index(tokenizer.eos_token_id)
    ids = ids[:end]
    labels = [IGNORE] * len(prompt_ids) + ids[len(prompt_ids) :]
    return Example(ids, labels, original)


def split_held_out(
    examples: Sequence[Example], fraction: float, seed: int
) -> tuple[list[Example], list[Example]]:
    """(train, held out), by a seeded hash of the original: a rerun holds out the same pairs."""

    def unit(example: Example) -> float:
        return xxhash.xxh64_intdigest(example.original.encode(), seed=seed) / 2**64

    ranked = sorted(examples, key=unit)
    n_held = sum(unit(e) < fraction for e in ranked)
    if fraction > 0 and len(ranked) >= 2:
        n_held = max(n_held, 1)  # something to measure
    n_held = min(n_held, len(ranked) - 1)  # and something to train on
    return ranked[n_held:], ranked[:n_held]


def fingerprint(
    pairs: Sequence[tuple[str, str]], base_model: Path, conduct: CodeOfConduct, t: WorkerTraining
) -> str:
    """Names a training run: a checkpoint is resumed only by the run that wrote it."""
    digest = hashlib.sha256()
    for original, rewritten in pairs:
        digest.update(json.dumps([original, rewritten], ensure_ascii=False).encode())
    # Fields that do not change the trained weights may differ between a run and its resume.
    math_fields = {
        k: v for k, v in dataclasses.asdict(t).items() if k not in {"save_every", "device"}
    }
    digest.update(json.dumps(math_fields, sort_keys=True).encode())
    digest.update(checkpoint_hash(base_model).encode())
    digest.update(conduct.prompt_hash.encode())
    return digest.hexdigest()[:16]


def _collate(batch: Sequence[Example], pad_id: int, device: str) -> dict[str, torch.Tensor]:
    """Right-padded to the longest example of the batch."""
    width = max(len(e.input_ids) for e in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, e in enumerate(batch):
        n = len(e.input_ids)
        ids[row, :n] = torch.tensor(e.input_ids)
        labels[row, :n] = torch.tensor(e.labels)
        mask[row, :n] = 1
    return {"input_ids": ids.to(device), "labels": labels.to(device), "mask": mask.to(device)}


def _target_loss(model, batch: dict[str, torch.Tensor], bf16: bool):
    """(summed loss over target tokens, logits): the caller divides by the target count."""
    device_type = batch["input_ids"].device.type
    with torch.autocast(device_type, dtype=torch.bfloat16, enabled=bf16):
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["mask"]).logits
    logits = logits[:, :-1].float()
    loss = torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.size(-1)),
        batch["labels"][:, 1:].reshape(-1),
        ignore_index=IGNORE,
        reduction="sum",
    )
    return loss, logits


def _n_targets(batch: Sequence[Example]) -> int:
    return sum(sum(label != IGNORE for label in e.labels[1:]) for e in batch)


@torch.no_grad()
def evaluate(
    model, examples: Sequence[Example], batch_size: int, pad_id: int, device: str, bf16: bool
) -> tuple[float, float]:
    """(mean loss, accuracy of the greedy next token) over the target tokens of `examples`."""
    model.eval()
    total_loss, correct, count = 0.0, 0, 0
    for start in range(0, len(examples), batch_size):
        batch = _collate(examples[start : start + batch_size], pad_id, device)
        loss, logits = _target_loss(model, batch, bf16)
        labels = batch["labels"][:, 1:]
        targets = labels != IGNORE
        total_loss += loss.item()
        correct += int(((logits.argmax(-1) == labels) & targets).sum())
        count += int(targets.sum())
    model.train()
    return total_loss / count, correct / count


def _groups(order: list[int], t: WorkerTraining) -> list[list[list[int]]]:
    """One epoch as optimizer steps, each a list of micro-batches of example indices."""
    batches = [order[i : i + t.batch_size] for i in range(0, len(order), t.batch_size)]
    return [batches[i : i + t.grad_accum] for i in range(0, len(batches), t.grad_accum)]


def train_worker(
    pairs: Sequence[tuple[str, str]],
    base_model: Path,
    out_dir: Path,
    conduct: CodeOfConduct,
    training: WorkerTraining,
    log: Callable[[str], None] | None = None,
) -> WorkerReport:
    """Fine-tune `base_model` on the pairs; the model and tokenizer end in `out_dir/final`."""
    from transformers import AutoModelForCausalLM, AutoTokenizer  # seconds to import: lazily

    t = training
    say = log or (lambda message: None)
    base_model, out_dir = Path(base_model), Path(out_dir)
    device = t.device or ("cuda" if torch.cuda.is_available() else "cpu")
    bf16 = device.startswith("cuda") if t.bf16 is None else t.bf16

    tokenizer = AutoTokenizer.from_pretrained(base_model)
    pad_id = tokenizer.pad_token_id
    if pad_id is None:  # padded positions are masked, any id does
        pad_id = tokenizer.eos_token_id or 0
    examples = [encode_pair(tokenizer, conduct, o, r) for o, r in pairs]
    usable = [e for e in examples if len(e.input_ids) <= t.max_seq_len]
    n_skipped = len(examples) - len(usable)
    if n_skipped:
        say(f"skipping {n_skipped} of {len(examples)} pairs longer than {t.max_seq_len} tokens")
    if not usable:
        raise ValueError(
            f"no usable pairs to train the worker on: {len(examples)} given, "
            f"{n_skipped} longer than max_seq_len={t.max_seq_len} tokens"
        )
    train, held_out = split_held_out(usable, t.held_out_fraction, t.seed)
    steps_per_epoch = len(_groups(list(range(len(train))), t))
    total_steps = t.epochs * steps_per_epoch
    warmup = int(t.warmup_ratio * total_steps)

    run_id = fingerprint(pairs, base_model, conduct, t)
    resume_from, state = resumable(out_dir, run_id, say)
    torch.manual_seed(t.seed)  # for models with dropout
    source = resume_from or base_model
    model = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32).to(device)
    model.train()
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=t.learning_rate, weight_decay=t.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, warmup, total_steps, MIN_LR_RATIO)
    )

    def evaluate_held_out() -> tuple[float | None, float | None]:
        if not held_out:
            return None, None
        return evaluate(model, held_out, t.batch_size, pad_id, device, bf16)

    if state is not None:
        # Both objects exist before loading, so the restored learning rate is not overwritten.
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        set_rng_states(state["rng"])
        step = state["step"]
        train_losses, loss_before = state["train_losses"], state["held_out_loss_before"]
        say(f"resuming from step {step} of {total_steps} ({source})")
    else:
        step, train_losses = 0, []
        loss_before, _ = evaluate_held_out()
    resumed_from = step if state is not None else None
    say(
        f"training on {len(train)} pairs, {len(held_out)} held out, {total_steps} steps "
        f"on {device} ({'bf16' if bf16 else 'fp32'})"
    )

    trained_tokens, started = 0, time.perf_counter()
    groups: list[list[list[int]]] = []
    while step < total_steps:
        epoch, position = divmod(step, steps_per_epoch)
        if position == 0 or not groups:
            groups = _groups(epoch_order(len(train), t.seed, epoch).tolist(), t)
        micro_batches = [[train[i] for i in batch] for batch in groups[position]]
        n_targets = sum(_n_targets(batch) for batch in micro_batches)
        step_loss = 0.0
        for micro_batch in micro_batches:
            batch = _collate(micro_batch, pad_id, device)
            loss, _ = _target_loss(model, batch, bf16)
            # Divided by the step's target count: every target token weighs the same.
            (loss / n_targets).backward()
            step_loss += loss.item()
            trained_tokens += sum(len(e.input_ids) for e in micro_batch)
        if t.clip_norm > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), t.clip_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        train_losses.append(step_loss / n_targets)
        if step % t.save_every == 0 or step == total_steps:
            epoch, position = divmod(step, steps_per_epoch)  # where the next step starts
            state = {
                "fingerprint": run_id,
                "step": step,
                "epoch": epoch,
                "position": position,
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "rng": rng_states(),
                "train_losses": train_losses,
                "held_out_loss_before": loss_before,
            }
            save_checkpoint(out_dir, step, model, tokenizer, state)
        say(
            f"step {step}/{total_steps} loss {train_losses[-1]:.4f} "
            f"lr {scheduler.get_last_lr()[0]:.2e}"
        )
    seconds = time.perf_counter() - started

    loss_after, accuracy_after = evaluate_held_out()
    final = out_dir / FINAL
    with atomic_dir(final) as tmp:
        save_model(tmp, model, tokenizer)
    if held_out:
        say(f"held-out loss {loss_before:.4f} -> {loss_after:.4f}")
    say(f"final model in {final}")
    return WorkerReport(
        final_path=final,
        checkpoint=checkpoint_hash(final),
        steps=step,
        resumed_from_step=resumed_from,
        train_losses=train_losses,
        held_out_loss_before=loss_before,
        held_out_loss_after=loss_after,
        held_out_token_accuracy_after=accuracy_after,
        n_train=len(train),
        n_held_out=len(held_out),
        n_skipped_too_long=n_skipped,
        trained_tokens=trained_tokens,
        seconds=seconds,
        tokens_per_second=trained_tokens / seconds if seconds > 0 else 0.0,
        device=device,
        dtype="bfloat16" if bf16 else "float32",
    )
