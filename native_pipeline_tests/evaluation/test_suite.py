from __future__ import annotations

import math

import polars as pl

from native_pipeline.alignment.offline_judge import NAME as OFFLINE_JUDGE
from native_pipeline.evaluation.suite import TASK_SAMPLES, evaluate_checkpoint
from native_pipeline.evaluation.tasks import load_task
from native_pipeline.settings import load_settings
from native_pipeline_tests.evaluation.conftest import SAMPLE_PATHS

HELD_OUT = pl.DataFrame(
    {
        "doc_id": ["a", "b"],
        "original": ["السؤال عن عاصمة مصر والإجابة القاهرة.", "نص ثان عن التاريخ العربي."],
        "aligned": ["السؤال عن عاصمة مصر، والإجابة: القاهرة.", "نص ثان عن التاريخ العربي."],
    }
)


def test_every_configured_metric_is_scored(tiny_lm, monkeypatch):
    from native_pipeline.evaluation import harmlessness

    folder, _, _ = tiny_lm
    settings = load_settings().evaluation
    # the random tiny model continues with blank lines (see the test below): here it answers
    monkeypatch.setattr(
        harmlessness,
        "generate",
        lambda model, tokenizer, prompts, **_: [
            f"جواب رقم {i} عن السؤال" for i in range(len(prompts))
        ],
    )
    said: list[str] = []
    report = evaluate_checkpoint(folder, HELD_OUT, settings, log=said.append)
    scores = report.scores
    # each task is said as it ends, with how many are left and the time they may take
    total = 2 + len(settings.tasks) + 1 + 1  # and the packaged config's offline judge
    assert [line.split(" (")[0] for line in said] == [
        f"evaluation tasks: {i} of {total}" for i in range(1, total + 1)
    ]
    assert "left; held_out_original: perplexity" in said[0]
    assert "left; harmlessness: harmful rate" in said[-2]
    assert "left; judged: harmlessness ratio" in said[-1] and "not an LLM" in said[-1]

    whole = {(t, m) for t, m in scores.filter(by="all").select("task", "metric").iter_rows()}
    for form in ("held_out_original", "held_out_aligned"):
        assert {(form, "perplexity"), (form, "bits_per_byte")} <= whole
    for name, task in settings.tasks.items():
        assert {(name, m) for m in ("acc", "acc_norm", "acc_macro", "acc_norm_macro")} <= whole
        test = load_task(task.format, TASK_SAMPLES.get(name) or SAMPLE_PATHS[task.format]).test
        assert report.items.filter(task=name).height == len(test)
        # one acc per subject, over that subject's items
        subjects = scores.filter(task=name, by="subject", metric="acc")
        assert sorted(subjects["group"]) == sorted({i.subject for i in test})
        assert subjects["n"].sum() == len(test)
    assert report.counts["aratrust/normalised_rows"] == 24
    assert {("harmlessness", m) for m in ("harmful_rate", "mean_harm", "degenerate_rate")} <= whole
    assert report.failures.height == 0
    harm_categories = scores.filter(task="harmlessness", by="category")
    assert set(harm_categories["group"]) == set(report.harm["category"])  # one each, here
    assert harm_categories["n"].sum() == report.harm.height
    assert all(math.isfinite(value) for value in scores["value"])
    assert report.harm.height > 0 and report.harm["continuation"].null_count() == 0
    # the judged ratios against the bundled reference answers, every prompt rated
    assert {("judged", f"{a}_ratio") for a in ("harmlessness", "helpfulness")} <= whole
    assert report.judged.height == report.harm.height
    assert report.notes["judged"] == [f"judge: {OFFLINE_JUDGE}"]


def test_a_task_that_cannot_run_fails_alone_with_its_reason(tiny_lm, tmp_path):
    """3 shots and no dev data, a file that is not there, a subject without dev rows: each is
    a failure row, and every other task, perplexity and harmlessness are still scored."""
    folder, _, _ = tiny_lm
    base = load_settings().evaluation
    # ArabicMMLU without one of the two dev rows of Natural Science (High School)
    mmlu = tmp_path / "arabic_mmlu.csv"
    lines = (SAMPLE_PATHS["arabic_mmlu"]).read_text("utf-8").splitlines(keepends=True)
    mmlu.write_text("".join(x for x in lines if not x.startswith("arabic_mmlu_dev-17,")))
    tasks = {
        "aratrust": base.tasks["aratrust"].model_copy(update={"shots": 3}),
        "missing": base.tasks["acva"].model_copy(update={"path": tmp_path / "nowhere.jsonl"}),
        "arabic_mmlu": base.tasks["arabic_mmlu"].model_copy(update={"path": mmlu, "shots": 2}),
        "exams": base.tasks["exams"],
    }
    report = evaluate_checkpoint(folder, HELD_OUT, base.model_copy(update={"tasks": tasks}))
    failures = {(t, g): (r, n) for t, g, r, n in report.failures.iter_rows()}
    assert "shots 3 and no dev data" in failures["aratrust", ""][0]
    assert "no such file or folder" in failures["missing", ""][0]
    reason, n = failures["arabic_mmlu", "Natural Science (High School)"]
    assert n == 3 and "2 shots asked for, the dev split has 1 items" in reason
    scored = report.scores.filter(task="arabic_mmlu", by="subject", metric="acc")
    assert scored["n"].sum() == 30 - 3
    whole = set(report.scores.filter(by="all")["task"])
    assert {"exams", "arabic_mmlu", "held_out_original", "harmlessness"} <= whole
    assert not whole & {"aratrust", "missing"}


def test_blank_continuations_are_a_failure_not_a_harmless_score(tiny_lm, monkeypatch):
    from native_pipeline.evaluation import harmlessness

    folder, _, _ = tiny_lm
    base = load_settings().evaluation
    monkeypatch.setattr(
        harmlessness, "generate", lambda model, tokenizer, prompts, **_: ["\n\n"] * len(prompts)
    )
    report = evaluate_checkpoint(folder, HELD_OUT, base.model_copy(update={"tasks": {}}))
    harm = report.scores.filter(task="harmlessness")
    assert harm.select("metric", "value").rows() == [("degenerate_rate", 1.0)]
    (reason,) = report.failures.filter(task="harmlessness")["reason"]
    assert reason.startswith(f"{report.harm.height} of {report.harm.height} continuations")
    assert set(report.harm["degenerate"]) == {"empty"}


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
