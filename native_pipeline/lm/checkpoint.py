"""Checkpoints of the one training loop (the alignment worker's fine-tuning, pre-training).

A checkpoint is a `torch.distributed.checkpoint` folder: the model's and the optimizer's state
as each rank holds it (its FSDP shards, or whole tensors), which DCP reshards on load, so a run
resumes on any number of processes; plus one `trainer_state.pt` with the rest of what a resume
needs: scheduler, RNG states, progress, and the fingerprint of the run that wrote it. Folders
are written under a temporary name and renamed when complete, so a crash never leaves a half
checkpoint that a rerun would trust. Under torch.distributed every rank calls `save_checkpoint`;
rank 0 prepares, finishes and rotates the folders.
"""

from __future__ import annotations

import os
import random
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

KEEP_CHECKPOINTS = 2
STATE_FILE = "trainer_state.pt"
FINAL = "final"


def _staging(target: Path) -> Path:
    tmp = target.with_name(f".tmp-{target.name}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    return tmp


def _commit(tmp: Path, target: Path) -> None:
    """Replace `target` by the complete `tmp`."""
    if target.exists():  # os.replace cannot replace a non-empty folder: move it aside first
        old = target.with_name(f".old-{target.name}")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
        os.replace(tmp, target)
        shutil.rmtree(old)
    else:
        os.replace(tmp, target)


@contextmanager
def atomic_dir(target: Path) -> Iterator[Path]:
    """A temporary folder beside `target` that replaces it once written completely."""
    tmp = _staging(target)
    yield tmp
    _commit(tmp, target)


@contextmanager
def atomic_dir_all_ranks(target: Path, rank: int, world: int) -> Iterator[Path]:
    """`atomic_dir` for a folder every rank writes into: rank 0 prepares and commits it."""
    tmp = target.with_name(f".tmp-{target.name}")
    if rank == 0:
        _staging(target)
    _barrier(world)
    yield tmp
    _barrier(world)  # every rank's part is written
    if rank == 0:
        _commit(tmp, target)
    _barrier(world)


def _barrier(world: int) -> None:
    if world > 1:
        torch.distributed.barrier()


def checkpoints(out_dir: Path) -> list[Path]:
    """Complete checkpoints, oldest first."""
    found = [p for p in out_dir.glob("checkpoint-*") if (p / STATE_FILE).exists()]
    return sorted(found, key=lambda p: int(p.name.split("-")[1]))


def save_checkpoint(
    out_dir: Path,
    step: int,
    write: Callable[[Path], None],
    state: dict[str, Any],
    *,
    rank: int = 0,
    world: int = 1,
) -> Path:
    """Write checkpoint-<step>: `write(folder)` on every rank (the sharded model and
    optimizer), `state` by rank 0; keep only the latest KEEP_CHECKPOINTS; return its folder."""
    target = out_dir / f"checkpoint-{step}"
    with atomic_dir_all_ranks(target, rank, world) as tmp:
        write(tmp)
        if rank == 0:
            torch.save(state, tmp / STATE_FILE)
    if rank == 0:
        for old in checkpoints(out_dir)[:-KEEP_CHECKPOINTS]:
            shutil.rmtree(old)
    return target


def resumable(
    out_dir: Path, run_id: str, say: Callable[[str], None]
) -> tuple[Path | None, dict[str, Any] | None]:
    """The latest checkpoint in `out_dir` and its trainer state, if this run wrote it.

    A different run's checkpoints are removed: their steps mean nothing to this run and would
    outrank its own checkpoints when the oldest are rotated out.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    for leftover in out_dir.glob(".tmp-*"):  # a write cut short by a crash
        shutil.rmtree(leftover)
    found = checkpoints(out_dir)
    if not found:
        return None, None
    # weights_only: a checkpoint under the data root is data, and unpickling it may not run
    # code. The state holds only tensors, numbers, strings and containers of them.
    state = torch.load(found[-1] / STATE_FILE, weights_only=True)
    if state["fingerprint"] == run_id:
        return found[-1], state
    say(f"discarding {len(found)} checkpoints of a different training run")
    for stale in found:
        shutil.rmtree(stale)
    return None, None


def rng_states() -> dict[str, Any]:
    """Every RNG's state in types that `torch.load(weights_only=True)` reads back."""
    numpy_state = np.random.get_state(legacy=False)
    numpy_state["state"]["key"] = torch.from_numpy(numpy_state["state"]["key"].astype(np.int64))
    states = {"torch": torch.get_rng_state(), "python": random.getstate(), "numpy": numpy_state}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    numpy_state = states["numpy"]
    key = numpy_state["state"]["key"].numpy().astype(np.uint32)
    np.random.set_state({**numpy_state, "state": {**numpy_state["state"], "key": key}})
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
