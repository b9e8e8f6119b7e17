"""The loop's schedule and data order; the loop itself runs in training/test_pretrain.py and
alignment/test_worker.py, with their own batches and objectives."""

from __future__ import annotations

import numpy as np
import pytest

from native_pipeline.lm.loop import epoch_order, lr_factor, run_fingerprint
from native_pipeline.settings import LoopSettings


def test_schedule_warms_up_then_decays_to_the_floor():
    warmup, total, floor = 4, 20, 0.1
    factors = [lr_factor(s, warmup, total, floor) for s in range(total + 5)]
    assert factors[:warmup] == pytest.approx([1 / 5, 2 / 5, 3 / 5, 4 / 5])
    assert factors[warmup] == pytest.approx(1.0)
    assert factors[(warmup + total) // 2] == pytest.approx((1 + floor) / 2)  # half-way down
    decay = factors[warmup : total + 1]
    assert all(a > b for a, b in zip(decay, decay[1:], strict=False))
    assert factors[total:] == pytest.approx([floor] * 5)  # stays on the floor past the end


def test_epoch_order_is_a_seeded_permutation_that_changes_with_the_epoch():
    first = epoch_order(100, seed=0, epoch=0)
    assert sorted(first) == list(range(100))
    assert np.array_equal(first, epoch_order(100, seed=0, epoch=0))
    assert not np.array_equal(first, epoch_order(100, seed=0, epoch=1))
    assert not np.array_equal(first, epoch_order(100, seed=1, epoch=0))


def test_the_fingerprint_changes_with_the_weights_math_not_with_bookkeeping():
    base = LoopSettings()
    same = run_fingerprint(base, [b"data"])
    assert (
        run_fingerprint(base.model_copy(update={"save_every": 7, "log_every": 3}), [b"data"])
        == same
    )
    assert run_fingerprint(base.model_copy(update={"learning_rate": 1e-3}), [b"data"]) != same
    assert run_fingerprint(base, [b"other data"]) != same
