"""Checkpoints: written whole or not at all, rotated, resumed only by the run that wrote them,
and read back without unpickling code."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from native_pipeline.lm.checkpoint import (
    STATE_FILE,
    atomic_dir,
    checkpoints,
    resumable,
    rng_states,
    save_checkpoint,
    set_rng_states,
)


def write_shards(folder) -> None:
    """What save_checkpoint's `write` does on every rank: its shards into the folder."""
    (folder / "__0_0.distcp").write_bytes(b"weights")


def test_atomic_dir_replaces_the_target_whole_or_leaves_it(tmp_path):
    target = tmp_path / "final"
    with atomic_dir(target) as tmp:
        (tmp / "a").write_text("old")
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "a").write_text("half")
        raise RuntimeError("killed")
    assert (target / "a").read_text() == "old"  # the half-written copy never replaced it
    with atomic_dir(target) as tmp:
        (tmp / "b").write_text("new")
    assert sorted(p.name for p in target.iterdir()) == ["b"]


def test_a_checkpoint_holds_the_shards_and_the_state(tmp_path):
    folder = save_checkpoint(tmp_path, 1, write_shards, {"fingerprint": "run", "step": 1})
    assert sorted(p.name for p in folder.iterdir()) == ["__0_0.distcp", STATE_FILE]


def test_the_latest_two_checkpoints_are_kept(tmp_path):
    for step in (1, 2, 3):
        save_checkpoint(tmp_path, step, write_shards, {"fingerprint": "run", "step": step})
    assert [p.name for p in checkpoints(tmp_path)] == ["checkpoint-2", "checkpoint-3"]


def test_resumable_returns_this_runs_latest_and_discards_another_runs(tmp_path):
    save_checkpoint(tmp_path, 4, write_shards, {"fingerprint": "run", "step": 4})
    (tmp_path / ".tmp-checkpoint-5").mkdir()  # a write cut short
    said: list[str] = []
    folder, state = resumable(tmp_path, "run", said.append)
    assert folder.name == "checkpoint-4" and state["step"] == 4
    assert not (tmp_path / ".tmp-checkpoint-5").exists()
    assert resumable(tmp_path, "another run", said.append) == (None, None)
    assert not checkpoints(tmp_path) and said == [
        "discarding 1 checkpoints of a different training run"
    ]


def test_a_state_that_would_run_code_is_refused(tmp_path):
    save_checkpoint(tmp_path, 1, write_shards, {"fingerprint": "run", "step": 1})
    torch.save({"fingerprint": "run", "payload": object()}, tmp_path / "checkpoint-1" / STATE_FILE)
    with pytest.raises(Exception, match="[Ww]eights only"):
        resumable(tmp_path, "run", print)


def test_rng_states_survive_a_weights_only_round_trip(tmp_path):
    torch.save(rng_states(), tmp_path / "rng.pt")
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    set_rng_states(torch.load(tmp_path / "rng.pt", weights_only=True))
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected
