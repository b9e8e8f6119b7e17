from __future__ import annotations

import polars as pl
import pytest

from native_pipeline.alignment.char_ngram import CharNGram, by_half
from native_pipeline.alignment.seeds import select_seeds

FLUENT = "يتناول هذا المقال تاريخ المدينة القديمة وأسواقها الشعبية."
SEGMENTS = pl.DataFrame(
    {
        "segment_id": [f"d{i}:0" for i in range(200)],
        "text": [FLUENT] * 200,
        "perplexity": [float(i % 17) for i in range(200)],
    }
)


def test_random_seeds_are_reproducible_whatever_the_order():
    a = select_seeds(SEGMENTS, 20, "random", seed=3)
    b = select_seeds(SEGMENTS.reverse(), 20, "random", seed=3)
    assert a["segment_id"].to_list() == b["segment_id"].to_list()
    assert a.height == 20 and a["segment_id"].n_unique() == 20
    other = select_seeds(SEGMENTS, 20, "random", seed=4)
    assert set(other["segment_id"]) != set(a["segment_id"])
    assert a.columns == SEGMENTS.columns


def test_growing_the_pool_keeps_the_seeds_that_still_rank():
    small = select_seeds(SEGMENTS.head(100), 10, "random", seed=0)
    grown = select_seeds(SEGMENTS, 10, "random", seed=0)
    # a seed of the grown pool that was already in the small pool was a seed there too
    old = set(SEGMENTS.head(100)["segment_id"])
    assert set(grown["segment_id"]) & old <= set(small["segment_id"])
    assert set(grown["segment_id"]) != set(small["segment_id"])


@pytest.mark.parametrize(
    ("strategy", "expected"), [("perplexity_high", 16.0), ("perplexity_low", 0.0)]
)
def test_perplexity_strategies_take_the_extremes(strategy, expected):
    seeds = select_seeds(SEGMENTS, 5, strategy, seed=0)
    assert set(seeds["perplexity"]) == {expected}
    assert (
        seeds["segment_id"].to_list()
        == select_seeds(SEGMENTS, 5, strategy, 0)["segment_id"].to_list()
    )


def test_bad_strategies_are_refused():
    with pytest.raises(ValueError, match="unknown seed strategy"):
        select_seeds(SEGMENTS, 5, "longest", 0)
    with pytest.raises(ValueError, match="perplexity column"):
        select_seeds(SEGMENTS.drop("perplexity"), 5, "perplexity_low", 0)


def test_perplexity_ranks_fluent_text_below_noise():
    reference = [
        FLUENT,
        "وتشتهر المدينة بأسواقها القديمة ومساجدها التاريخية.",
        "زار المقال الأسواق.",
    ]
    model = CharNGram(order=4).fit(reference * 3)
    fluent = model.perplexity("يتناول المقال تاريخ الأسواق الشعبية في المدينة.")
    noise = model.perplexity("ظظظ ثثثخ غغغ ززژ ۋۋ qqq")
    assert 1 < fluent < noise
    assert model.perplexity(FLUENT) == model.perplexity(FLUENT)  # deterministic
    assert CharNGram(order=4).fit(reference * 3).perplexity(FLUENT) == model.perplexity(FLUENT)


def test_probabilities_sum_to_one_over_the_vocabulary():
    model = CharNGram(order=3).fit(["ابتث ابجد", "هوز حطي"])
    history = "\x02\x02اب"
    total = sum(model._probability(history, c) for c in model.vocabulary)
    unseen = model._probability(history, "\uffff")
    assert total + unseen == pytest.approx(1.0, abs=1e-9)


def test_halves_are_stable_and_disjoint():
    keys = [f"k{i}" for i in range(1000)]
    fit, measure = by_half(keys)
    assert fit.isdisjoint(measure) and len(fit | measure) == 1000
    assert 400 < len(fit) < 600
    assert by_half(reversed(keys)) == (fit, measure)
