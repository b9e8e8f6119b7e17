"""Continued pre-training on token streams: the batches and the objective of `lm.loop.train`.

The data is the concatenation of token streams (eos-terminated documents, np.memmaps of the
token shards in production), cut into windows of seq_len + 1 tokens that each epoch visits in a
seeded shuffled order. A step takes the next batch_size * grad_accum windows; under DDP or FSDP
each rank takes every world_size-th of them, so a run computes the same steps on any number of
processes and can resume on another. The loss is the mean next-token cross-entropy over every
token of the window.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.distributed as dist
import xxhash

from native_pipeline.lm.loop import Batch, LoopReport, StepLoss, epoch_order, run_fingerprint, train
from native_pipeline.settings import PretrainLoop

# Streams longer than this are fingerprinted by their length and evenly spaced blocks: reading
# all of a 40 GB corpus on every start would cost minutes.
SAMPLE_BLOCKS, SAMPLE_TOKENS = 64, 4096


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


def budget_steps(
    budget: Literal["same_tokens", "one_epoch"], loop: PretrainLoop, tokens: int
) -> int:
    """The optimizer steps of a variant's token budget: `same_tokens`, loop.max_steps whatever
    the variant holds (a small slice repeats its data); `one_epoch`, the steps that visit each
    of its windows once (at least one)."""
    if budget == "same_tokens":
        return loop.max_steps
    windows = max(0, tokens - 1) // loop.seq_len  # as `Windows` counts them
    return max(1, windows // (loop.batch_size * loop.grad_accum))


def step_tokens(loop: PretrainLoop) -> int:
    """Tokens one optimizer step trains on (the targets of its windows)."""
    return loop.batch_size * loop.grad_accum * loop.seq_len


def rank_share(order: np.ndarray, index: int, per_step: int, rank: int, world: int) -> np.ndarray:
    """This rank's windows of the epoch's step `index`: every world-th of the step's windows."""
    return order[index * per_step : (index + 1) * per_step][rank::world]


def _stream_digests(streams: Sequence[np.ndarray]) -> Iterator[bytes]:
    for stream in streams:
        yield f"{len(stream)}:".encode()
        if len(stream) <= SAMPLE_BLOCKS * SAMPLE_TOKENS:
            yield xxhash.xxh3_64_digest(np.ascontiguousarray(stream))
        else:
            for start in np.linspace(0, len(stream) - SAMPLE_TOKENS, SAMPLE_BLOCKS, dtype=int):
                yield xxhash.xxh3_64_digest(
                    np.ascontiguousarray(stream[start : start + SAMPLE_TOKENS])
                )


def _weights_digest(model: torch.nn.Module, folder: Path | None) -> bytes:
    """The initial weights: a base model's folder, or a config's and seed's tensors."""
    weights = xxhash.xxh3_64()
    if folder is not None:  # its files, by name, size and sampled blocks: reading 140 GB is minutes
        for file in sorted(Path(folder).glob("*.safetensors")):
            weights.update(f"{file.name}:{file.stat().st_size}".encode())
            weights.update(_file_digest(file))
        return weights.digest()
    for name, tensor in model.state_dict().items():
        weights.update(name.encode())
        weights.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy())
    return weights.digest()


def _file_digest(file: Path) -> bytes:
    tokens = np.memmap(file, dtype=np.uint8, mode="r")
    return b"".join(_stream_digests([tokens]))


def fingerprint(
    model: torch.nn.Module,
    streams: Sequence[np.ndarray],
    loop: PretrainLoop,
    base_model: Path | None = None,
) -> str:
    """Names a training run: a checkpoint is resumed only by the run that wrote it."""
    digests = [*_stream_digests(streams), _weights_digest(model, base_model)]
    return run_fingerprint(loop, digests)


def next_token_loss(grad_accum: int) -> Callable[[torch.Tensor, Batch], StepLoss]:
    """The mean cross-entropy of every next token; a step's micro-batches weigh the same."""

    def objective(logits: torch.Tensor, batch: Batch) -> StepLoss:
        labels = batch["labels"]
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1).float(), labels.flatten())
        share = loss / grad_accum
        return StepLoss(share, share.detach(), labels.numel())

    return objective


def pretrain(
    model: torch.nn.Module,
    streams: Sequence[np.ndarray],
    out_dir: Path,
    loop: PretrainLoop,
    *,
    tokenizer_folder: Path,
    base_model: Path | None = None,
    log: Callable[[str], None] | None = None,
    on_step: Callable[[dict[str, Any]], None] | None = None,
) -> LoopReport:
    """Train `model` on `streams`; the result ends in `out_dir/final`. The model is unwrapped
    on the CPU, or on the meta device; `base_model` is the Hugging Face folder it came from
    (None for a random model), which names the run and fills a meta-device model.

    Under torch.distributed with more than one process every rank calls this with the same
    arguments (see `lm.loop.train`).
    """
    from transformers import AutoTokenizer

    world = dist.get_world_size() if dist.is_initialized() else 1
    rank = dist.get_rank() if dist.is_initialized() else 0
    if loop.batch_size % world:
        raise ValueError(f"batch_size={loop.batch_size} does not split over {world} processes")
    windows = Windows(streams, loop.seq_len)
    per_step = loop.batch_size * loop.grad_accum
    steps_per_epoch = len(windows) // per_step
    if steps_per_epoch == 0:
        raise ValueError(
            f"{int(windows.starts[-1])} tokens do not fill one step of {per_step} sequences "
            f"of {loop.seq_len + 1} tokens"
        )
    if log and rank == 0:
        log(
            f"pre-training on {len(windows)} windows of {loop.seq_len} tokens, "
            f"{per_step} a step, {steps_per_epoch} steps an epoch"
        )
    orders: dict[int, np.ndarray] = {}

    def micro_batches(step: int) -> list[Batch]:
        epoch, index = divmod(step, steps_per_epoch)
        if epoch not in orders:
            orders.clear()
            orders[epoch] = np.asarray(epoch_order(len(windows), loop.seed, epoch))
        share = rank_share(orders[epoch], index, per_step, rank, world)
        return [
            {"input_ids": tokens[:, :-1], "labels": tokens[:, 1:]}
            for tokens in (windows.batch(ids) for ids in share.reshape(loop.grad_accum, -1))
        ]

    return train(
        model,
        micro_batches=micro_batches,
        objective=next_token_loss(loop.grad_accum),
        total_steps=loop.max_steps,
        warmup_steps=loop.warmup_steps,
        settings=loop,
        out_dir=out_dir,
        tokenizer=AutoTokenizer.from_pretrained(tokenizer_folder),
        fingerprint=fingerprint(model, streams, loop, base_model),
        strategy=loop.strategy,
        weights_from=base_model,
        log=log,
        on_step=on_step,
    )
