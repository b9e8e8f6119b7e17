"""Our scores against lm-evaluation-harness's, on the same tiny model and the mirrored tasks."""

from __future__ import annotations

from pathlib import Path

import pytest

from native_pipeline.evaluation.multiple_choice import multiple_choice
from native_pipeline.evaluation.perplexity import perplexity
from native_pipeline.evaluation.tasks import context
from native_pipeline_tests.evaluation.conftest import sample_items

lm_eval = pytest.importorskip("lm_eval", reason="lm-eval is not installed (pip install lm-eval)")

REPO = Path(__file__).parents[2]
TASKS = {
    "arabic_mmlu_csv": "native_arabic_mmlu",
    "exams_jsonl": "native_exams",
    "acva_jsonl": "native_acva",
    "aratrust": "native_aratrust",
}


@pytest.fixture(scope="module")
def hflm(tiny_lm):
    from lm_eval.models.huggingface import HFLM

    folder, _, _ = tiny_lm
    return HFLM(pretrained=str(folder), device="cpu", batch_size=16)


@pytest.fixture(scope="module")
def task_manager():
    from lm_eval.tasks import TaskManager

    # Our YAMLs only: indexing lm-eval's thousands of bundled tasks costs seconds per run.
    return TaskManager(
        include_path=str(REPO / "benchmarks" / "lm_eval_tasks"), include_defaults=False
    )


@pytest.mark.parametrize("shots", [0, 2])
@pytest.mark.parametrize("format", TASKS)
def test_same_logliks_and_accuracy_as_lm_eval(
    tiny_lm, hflm, task_manager, monkeypatch, format, shots
):
    monkeypatch.chdir(REPO)  # the task YAMLs name the sample files from the repository root
    results = lm_eval.simple_evaluate(
        model=hflm,
        tasks=[TASKS[format]],
        num_fewshot=shots,
        task_manager=task_manager,
        log_samples=True,
    )
    samples = sorted(results["samples"][TASKS[format]], key=lambda s: s["doc_id"])
    metrics = results["results"][TASKS[format]]

    _, model, tokenizer = tiny_lm
    items, dev = sample_items(format)
    ours = multiple_choice(model, tokenizer, items, shots=shots, fewshot_items=dev, batch_size=4)

    assert len(samples) == ours.n == len(items)
    for item, row, sample in zip(items, ours.rows, samples, strict=True):
        assert [args[0] for args in sample["arguments"]] == [context(item, dev[:shots])] * len(
            item.choices
        )
        theirs = sample["filtered_resps"]  # (loglik, is_greedy) per choice
        assert row.logliks == pytest.approx([float(ll) for ll, _ in theirs], abs=1e-4)
        assert row.is_greedy == [bool(greedy) for _, greedy in theirs]
        assert (row.prediction == row.gold) == bool(sample["acc"])
        assert (row.prediction_norm == row.gold) == bool(sample["acc_norm"])
    assert ours.acc == pytest.approx(metrics["acc,none"])
    assert ours.acc_norm == pytest.approx(metrics["acc_norm,none"])


def test_perplexity_windows_match_loglikelihood_rolling(tiny_lm):
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    folder, model, tokenizer = tiny_lm
    texts = [item.question for item in sample_items("arabic_mmlu_csv")[0][:6]]
    # lm-eval's rolling windows are the model's max length: 8 gives several per document
    rolling = HFLM(pretrained=str(folder), device="cpu", batch_size=4, max_length=8)
    requests = [Instance("loglikelihood_rolling", {}, (text,), i) for i, text in enumerate(texts)]
    theirs = -sum(rolling.loglikelihood_rolling(requests, disable_tqdm=True))
    ours = perplexity(model, tokenizer, texts, context_length=8, batch_size=4)
    assert ours.nll == pytest.approx(theirs, abs=1e-3)
