"""The alignment worker: a small causal LM fine-tuned on (original -> rewritten) segment pairs.

The expert LLM rewrites a sample of segments under the code of conduct; the worker learns those
rewrites so that it can rewrite the rest of the corpus cheaply. Each pair becomes the very chat
the worker will see at inference (`conduct.messages` + the wrapped rewrite), and the loss is on
the assistant's tokens only. The optimisation is `lm.loop.train`, the same loop as pre-training.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import torch

from native_pipeline.alignment.backends.base import checkpoint_hash
from native_pipeline.alignment.conduct import CodeOfConduct, wrap
from native_pipeline.draw import unit
from native_pipeline.lm.device import pick_device, use_bf16
from native_pipeline.lm.loop import (
    Batch,
    LoopReport,
    StepLoss,
    epoch_order,
    forward,
    run_fingerprint,
    train,
)
from native_pipeline.lm.model import create_tiny_chat_model
from native_pipeline.settings import WorkerSettings, WorkerTraining

IGNORE = -100  # the label of positions without loss (prompt and padding)


@dataclass
class WorkerReport:
    """The loop's report, and what the worker adds: the held-out pairs before and after."""

    loop: LoopReport
    checkpoint: str  # checkpoint_hash of the final model
    held_out_loss_before: float | None  # None when nothing is held out
    held_out_loss_after: float | None
    held_out_token_accuracy_after: float | None
    n_train: int
    n_held_out: int
    n_skipped_too_long: int

    def as_metadata(self) -> dict[str, Any]:
        meta = {k: v for k, v in dataclasses.asdict(self).items() if k != "loop"}
        return {**self.loop.as_metadata(), **meta}


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


def hold_out(
    examples: Sequence[Example], fraction: float, seed: int
) -> tuple[list[Example], list[Example]]:
    """(train, held out), by a seeded hash of the original: a rerun holds out the same pairs."""
    ranked = sorted(examples, key=lambda e: unit(e.original, seed))
    n_held = sum(unit(e.original, seed) < fraction for e in ranked)
    if fraction > 0 and len(ranked) >= 2:
        n_held = max(n_held, 1)  # something to measure
    n_held = min(n_held, len(ranked) - 1)  # and something to train on
    return ranked[n_held:], ranked[:n_held]


def fingerprint(
    pairs: Sequence[tuple[str, str]], base_model: Path, conduct: CodeOfConduct, t: WorkerTraining
) -> str:
    """Names a training run: a checkpoint is resumed only by the run that wrote it."""
    parts = [json.dumps(pair, ensure_ascii=False).encode() for pair in pairs]
    parts += [checkpoint_hash(base_model).encode(), conduct.prompt_hash.encode()]
    return run_fingerprint(t, parts)


def collate(batch: Sequence[Example]) -> Batch:
    """Right-padded to the longest example of the batch (padding is masked and has no loss)."""
    width = max(len(e.input_ids) for e in batch)
    ids = torch.zeros((len(batch), width), dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, e in enumerate(batch):
        n = len(e.input_ids)
        ids[row, :n] = torch.tensor(e.input_ids)
        labels[row, :n] = torch.tensor(e.labels)
        mask[row, :n] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def target_loss(logits: torch.Tensor, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
    """(summed cross-entropy over the target tokens, the targets), predicted one position on."""
    labels = batch["labels"][:, 1:]
    logits = logits[:, :-1].float()
    loss = torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.size(-1)),
        labels.reshape(-1),
        ignore_index=IGNORE,
        reduction="sum",
    )
    return loss, labels


@torch.no_grad()
def evaluate(
    model, examples: Sequence[Example], batch_size: int, device: str, bf16: bool
) -> tuple[float, float]:
    """(mean loss, accuracy of the greedy next token) over the target tokens of `examples`."""
    model.eval()
    total_loss, correct, count = 0.0, 0, 0
    for start in range(0, len(examples), batch_size):
        batch = {k: v.to(device) for k, v in collate(examples[start : start + batch_size]).items()}
        logits = forward(model, batch, bf16)
        loss, labels = target_loss(logits, batch)
        targets = labels != IGNORE
        total_loss += loss.item()
        correct += int(((logits[:, :-1].argmax(-1) == labels) & targets).sum())
        count += int(targets.sum())
    model.train()
    return total_loss / count, correct / count


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
    tokenizer = AutoTokenizer.from_pretrained(base_model)
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
    train_set, held_out = hold_out(usable, t.held_out_fraction, t.seed)
    per_step = t.batch_size * t.grad_accum
    steps_per_epoch = math.ceil(len(train_set) / per_step)
    total_steps = t.epochs * steps_per_epoch
    order = cache(lambda epoch: epoch_order(len(train_set), t.seed, epoch))  # once an epoch

    def micro_batches(step: int) -> list[Batch]:
        epoch, position = divmod(step, steps_per_epoch)
        chosen = order(epoch)[position * per_step :][:per_step]
        step_examples = [
            [train_set[i] for i in chosen[j : j + t.batch_size]]
            for j in range(0, len(chosen), t.batch_size)
        ]
        # Every target token of the step weighs the same, whatever its micro-batch.
        n_targets = sum(
            sum(label != IGNORE for label in e.labels[1:]) for b in step_examples for e in b
        )
        return [{**collate(b), "n_targets": torch.tensor(n_targets)} for b in step_examples]

    def objective(logits: torch.Tensor, batch: Batch) -> StepLoss:
        loss, _ = target_loss(logits, batch)
        share = loss / batch["n_targets"]
        return StepLoss(share, share.detach(), int(batch["attention_mask"].sum()))

    device = pick_device(t.device)
    bf16 = use_bf16(device, t.bf16)
    model = AutoModelForCausalLM.from_pretrained(base_model, dtype=torch.float32).to(device)
    loss_before, _ = (
        evaluate(model, held_out, t.batch_size, device, bf16) if held_out else (None, None)
    )
    say(f"training on {len(train_set)} pairs, {len(held_out)} held out")
    report = train(
        model,
        micro_batches=micro_batches,
        objective=objective,
        total_steps=total_steps,
        warmup_steps=int(t.warmup_ratio * total_steps),
        settings=t,
        out_dir=out_dir,
        tokenizer=tokenizer,
        fingerprint=fingerprint(pairs, base_model, conduct, t),
        log=say,
    )
    loss_after, accuracy_after = (
        evaluate(model, held_out, t.batch_size, device, bf16) if held_out else (None, None)
    )
    if held_out:
        say(f"held-out loss {loss_before:.4f} -> {loss_after:.4f}")
    return WorkerReport(
        loop=report,
        checkpoint=checkpoint_hash(report.final_path),
        held_out_loss_before=loss_before,
        held_out_loss_after=loss_after,
        held_out_token_accuracy_after=accuracy_after,
        n_train=len(train_set),
        n_held_out=len(held_out),
        n_skipped_too_long=n_skipped,
    )


def fine_tune(
    pairs: Sequence[tuple[str, str]],
    settings: WorkerSettings,
    folder: Path,
    conduct: CodeOfConduct,
    log: Callable[[str], None] | None = None,
) -> tuple[WorkerReport, Path]:
    """(the report, the base model): the configured base model fine-tuned under `folder/train`,
    or on the CPU default a tiny Llama whose tokenizer learns the corpus and the instruction."""
    base = settings.base_model
    if base is None:
        texts = [conduct.system_prompt, *(text for pair in pairs for text in pair)]
        base = create_tiny_chat_model(folder / "tiny-base", texts, settings.tiny)
    return train_worker(pairs, base, folder / "train", conduct, settings.training, log), base
