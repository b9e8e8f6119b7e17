from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from native_pipeline.lm.loop import LOG_FILE, epoch_order
from native_pipeline.settings import PretrainLoop
from native_pipeline.training.pretrain import (
    Windows,
    budget_steps,
    pretrain,
    rank_share,
    step_tokens,
)
from native_pipeline_tests.training.tiny import pattern_stream, tiny_model

FAST = PretrainLoop(
    max_steps=6,
    batch_size=2,
    grad_accum=2,
    seq_len=16,
    learning_rate=1e-2,
    warmup_steps=2,
    save_every=2,
    log_every=1,
    device="cpu",
)


class Crash(Exception):
    pass


def crash_after(step: int):
    def on_step(record: dict) -> None:
        if record["step"] == step:
            raise Crash(record)

    return on_step


def weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(folder / "model.safetensors")


def test_windows_are_consecutive_stream_tokens_across_stream_borders():
    streams = [np.arange(0, 50), np.arange(50, 75), np.arange(75, 120)]
    windows = Windows([s.astype(np.uint32) for s in streams], seq_len=8)
    assert len(windows) == (120 - 1) // 8
    for i in range(len(windows)):
        assert windows[i].tolist() == list(range(i * 8, i * 8 + 9))  # seq_len + 1 tokens
    batch = windows.batch([3, 0])
    assert batch.dtype == torch.int64 and batch.shape == (2, 9)
    assert batch[0].tolist() == list(range(24, 33))


@pytest.mark.parametrize("world", [1, 2, 4])
def test_rank_shares_are_disjoint_and_cover_the_step(world):
    order, per_step = np.asarray(epoch_order(64, seed=0, epoch=0)), 8
    for index in range(64 // per_step):
        shares = [rank_share(order, index, per_step, rank, world) for rank in range(world)]
        assert all(len(share) == per_step // world for share in shares)
        together = np.concatenate(shares)
        assert len(set(together.tolist())) == per_step  # disjoint
        assert set(together.tolist()) == set(order[index * per_step : (index + 1) * per_step])


def test_loss_goes_down_on_a_repeated_pattern(tmp_path, tokenizer_folder):
    logged: list[str] = []
    config = FAST.model_copy(update=dict(max_steps=12, save_every=1000))
    report = pretrain(
        tiny_model(),
        [pattern_stream(2000)],
        tmp_path / "out",
        config,
        tokenizer_folder=tokenizer_folder,
        log=logged.append,
    )
    assert report.steps == len(report.losses) == 12
    assert report.losses[-1] < 0.3 * report.losses[0], report.losses
    assert math.isclose(report.losses[0], math.log(300), rel_tol=0.1)  # random init: uniform
    assert report.tokens == 12 * 2 * 2 * 16 and report.tokens_per_second > 0
    assert (report.device, report.dtype, report.world_size) == ("cpu", "float32", 1)
    assert report.learning_rates[1] > report.learning_rates[0]  # warming up
    assert any(line.startswith("step 12/12 loss") for line in logged)
    # the progress line says steps done, the rate and the time left (the end always speaks)
    assert any(
        line.startswith("optimizer steps: 12 of 12 (100%)")
        and f"{12 * 2 * 2 * 16:,} tokens" in line
        for line in logged
    )
    records = [json.loads(line) for line in (tmp_path / "out" / LOG_FILE).read_text().splitlines()]
    assert [r["step"] for r in records] == list(range(1, 13))
    assert [r["loss"] for r in records] == report.losses
    assert records[-1]["tokens"] == report.tokens
    # The final folder is the last checkpoint's model, without its trainer state.
    assert sorted(p.name for p in (tmp_path / "out").glob("checkpoint-*")) == ["checkpoint-12"]
    assert (report.final_path / "model.safetensors").exists()
    assert not (report.final_path / "trainer_state.pt").exists()


def test_resume_after_a_crash_ends_like_an_uninterrupted_run(tmp_path, tokenizer_folder):
    # 210 tokens: 13 windows of 16 + 1, three steps of four windows an epoch, so the six steps
    # cross two epoch borders and the crashed run resumes in the second epoch.
    streams = [pattern_stream(120), pattern_stream(90)]
    whole = pretrain(
        tiny_model(), streams, tmp_path / "whole", FAST, tokenizer_folder=tokenizer_folder
    )

    out = tmp_path / "crashed"
    with pytest.raises(Crash):
        pretrain(
            tiny_model(),
            streams,
            out,
            FAST,
            tokenizer_folder=tokenizer_folder,
            on_step=crash_after(5),
        )
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-4"]
    assert not (out / "final").exists()

    resumed = pretrain(tiny_model(), streams, out, FAST, tokenizer_folder=tokenizer_folder)
    assert resumed.resumed_from_step == 4
    assert resumed.fingerprint == whole.fingerprint
    assert resumed.losses == pytest.approx(whole.losses, abs=1e-6)
    assert resumed.learning_rates == pytest.approx(whole.learning_rates, abs=1e-12)
    expected, got = weights(whole.final_path), weights(resumed.final_path)
    assert expected.keys() == got.keys()
    for name in expected:
        assert torch.allclose(expected[name], got[name], atol=1e-6), name
    # Step 5 of the crashed run is not in the log twice.
    records = [json.loads(line) for line in (out / LOG_FILE).read_text().splitlines()]
    assert [r["step"] for r in records] == list(range(1, 7))


def test_a_changed_run_discards_stale_checkpoints(tmp_path, tokenizer_folder):
    streams, out = [pattern_stream(400)], tmp_path / "out"
    config = FAST.model_copy(update=dict(max_steps=2, save_every=1))

    def run(config=config, streams=streams, seed=0, logged=None):
        log = logged.append if logged is not None else None
        model = tiny_model(seed)
        return pretrain(model, streams, out, config, tokenizer_folder=tokenizer_folder, log=log)

    first = run()
    assert run().resumed_from_step == 2  # the same run: nothing left to do
    assert (
        run(config.model_copy(update=dict(save_every=2, log_every=5))).resumed_from_step == 2
    )  # bookkeeping
    logged: list[str] = []
    changed = run(config.model_copy(update=dict(learning_rate=2e-2)), logged=logged)
    assert changed.resumed_from_step is None
    assert changed.fingerprint != first.fingerprint
    assert any("discarding 2 checkpoints" in line for line in logged)
    assert run(streams=[pattern_stream(401)]).resumed_from_step is None  # other data
    assert run(seed=1).resumed_from_step is None  # other initial weights


def test_the_base_model_evaluated_is_the_one_pre_training_starts_from(
    tmp_path, tokenizer_folder, monkeypatch
):
    """base/eval_scores scores `save_initial_model`: the very weights train_from_spec trains."""
    from native_pipeline.lm.model import save_initial_model
    from native_pipeline.training import run
    from native_pipeline_tests.training.tiny import TINY

    started: dict[str, torch.Tensor] = {}

    def capture(model, *args, **kwargs):
        started.update({k: v.clone() for k, v in model.state_dict().items()})
        raise Crash("captured")

    monkeypatch.setattr(run, "pretrain", capture)
    loop = FAST.model_copy(update={"seed": 7})
    spec = {
        "streams": [],
        "dtype": "uint32",
        "out_dir": str(tmp_path / "run"),
        "tokenizer": str(tokenizer_folder),
        "base_model": None,
        "tiny": TINY.model_dump(),
        "loop": loop.model_dump(mode="json"),
    }
    with pytest.raises(Crash):
        run.train_from_spec(spec, log=None)
    folder = save_initial_model(tmp_path / "base", tokenizer_folder, None, tiny=TINY, seed=7)
    saved = weights(folder)
    assert set(saved) <= set(started) and all(torch.equal(saved[k], started[k]) for k in saved)
    assert (folder / "tokenizer.json").exists()
    # a configured base model is evaluated where it is
    assert save_initial_model(tmp_path / "x", tokenizer_folder, Path("/m"), tiny=TINY, seed=7) == (
        Path("/m")
    )


def test_a_variant_trains_for_the_token_budget_its_config_states():
    loop = PretrainLoop(max_steps=40, batch_size=4, grad_accum=2, seq_len=16, warmup_steps=0)
    assert step_tokens(loop) == 128
    # same_tokens: the loop's steps, whatever the variant holds (a small slice repeats data)
    assert budget_steps("same_tokens", loop, tokens=1_000) == 40
    assert budget_steps("same_tokens", loop, tokens=1_000_000) == 40
    # one_epoch: every window once; twice the tokens, twice the steps
    windows = len(Windows([np.zeros(12_801, dtype=np.int32)], loop.seq_len))
    assert budget_steps("one_epoch", loop, tokens=12_801) == windows // 8 == 100
    assert budget_steps("one_epoch", loop, tokens=25_601) == 200
    assert budget_steps("one_epoch", loop, tokens=10) == 1  # never zero steps
