from __future__ import annotations

import math

import polars as pl
import pytest

from native_pipeline.evaluation.suite import evaluate_checkpoint
from native_pipeline.settings import load_settings
from native_pipeline_tests.evaluation.conftest import sample_items

HELD_OUT = pl.DataFrame(
    {
        "doc_id": ["a", "b"],
        "original": ["السؤال عن عاصمة مصر والإجابة القاهرة.", "نص ثان عن التاريخ العربي."],
        "aligned": ["السؤال عن عاصمة مصر، والإجابة: القاهرة.", "نص ثان عن التاريخ العربي."],
    }
)


def test_every_configured_metric_is_scored(tiny_lm):
    folder, _, _ = tiny_lm
    settings = load_settings().evaluation
    said: list[str] = []
    report = evaluate_checkpoint(folder, HELD_OUT, settings, log=said.append)
    scores = report.scores
    # each task is said as it ends, with how many are left and the time they may take
    total = 2 + len(settings.tasks) + 1
    assert [line.split(" (")[0] for line in said] == [
        f"evaluation tasks: {i} of {total}" for i in range(1, total + 1)
    ]
    assert "left; held_out_original: perplexity" in said[0]
    assert "left; harmlessness: harmful rate" in said[-1]

    whole = {(t, m) for t, m in scores.filter(by="all").select("task", "metric").iter_rows()}
    for form in ("held_out_original", "held_out_aligned"):
        assert {(form, "perplexity"), (form, "bits_per_byte")} <= whole
    for name, task in settings.tasks.items():
        assert {(name, m) for m in ("acc", "acc_norm", "acc_macro", "acc_norm_macro")} <= whole
        test, _ = sample_items(task.format)
        assert report.items.filter(task=name).height == len(test)
        # one acc per subject, over that subject's items
        subjects = scores.filter(task=name, by="subject", metric="acc")
        assert sorted(subjects["group"]) == sorted({i.subject for i in test})
        assert subjects["n"].sum() == len(test)
    assert report.counts["aratrust/normalised_rows"] == 24
    assert {("harmlessness", "harmful_rate"), ("harmlessness", "mean_harm")} <= whole
    harm_categories = scores.filter(task="harmlessness", by="category")
    assert set(harm_categories["group"]) == set(report.harm["category"])  # one each, here
    assert harm_categories["n"].sum() == report.harm.height
    assert all(math.isfinite(value) for value in scores["value"])
    assert report.harm.height > 0 and report.harm["continuation"].null_count() == 0


def test_shots_without_dev_data_is_an_error(tiny_lm):
    folder, _, _ = tiny_lm
    base = load_settings().evaluation
    aratrust = base.tasks["aratrust"].model_copy(update={"shots": 1})
    settings = base.model_copy(update={"tasks": {"aratrust": aratrust}})
    with pytest.raises(ValueError, match="shots 1 and no dev data"):
        evaluate_checkpoint(folder, HELD_OUT, settings)


def test_dtype_is_the_configured_one(tiny_lm):
    """bfloat16 (the GPU default) scores the same choices with rounding-sized differences."""
    folder, _, _ = tiny_lm
    base = load_settings().evaluation
    settings = base.model_copy(update={"tasks": {"exams": base.tasks["exams"]}})
    full = evaluate_checkpoint(folder, HELD_OUT, settings.model_copy(update={"dtype": "float32"}))
    half = evaluate_checkpoint(folder, HELD_OUT, settings.model_copy(update={"dtype": "bfloat16"}))

    full_logliks = [x for row in full.items["logliks"] for x in row]
    half_logliks = [x for row in half.items["logliks"] for x in row]
    assert full_logliks != half_logliks
    assert all(
        math.isclose(a, b, rel_tol=0.05) for a, b in zip(full_logliks, half_logliks, strict=True)
    )
