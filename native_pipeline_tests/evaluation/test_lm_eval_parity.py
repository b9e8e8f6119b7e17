"""Our scores against lm-evaluation-harness's, on the same tiny model and the mirrored tasks."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from native_pipeline.evaluation.multiple_choice import multiple_choice
from native_pipeline.evaluation.perplexity import perplexity
from native_pipeline.evaluation.tasks import context, fewshot_pool, shots_for
from native_pipeline_tests.evaluation.conftest import SAMPLE_PATHS, sample_items

lm_eval = pytest.importorskip("lm_eval", reason="lm-eval is not installed (pip install lm-eval)")

REPO = Path(__file__).parents[2]
TASKS = REPO / "benchmarks" / "lm_eval_tasks"
# every layout with its shots (AraTrust is published without a dev split)
CASES = [(f, s) for f in SAMPLE_PATHS for s in (0, 2) if f != "aratrust" or s == 0]


def _mirror_utils():
    spec = importlib.util.spec_from_file_location("lm_eval_task_utils", TASKS / "utils.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def hflm(tiny_lm):
    from lm_eval.models.huggingface import HFLM

    folder, _, _ = tiny_lm
    return HFLM(pretrained=str(folder), device="cpu", batch_size=16)


@pytest.mark.parametrize(("format", "shots"), CASES)
def test_same_logliks_and_accuracy_per_subject_as_lm_eval(
    tiny_lm, hflm, tmp_path, monkeypatch, format, shots
):
    """lm-eval reads the layout on its own (utils.py), one task per subject as its arabicmmlu
    and aexams groups do; every item, every subject's acc and acc_norm must agree."""
    from lm_eval.tasks import TaskManager

    monkeypatch.chdir(REPO)  # the task YAMLs name the sample files from the repository root
    _, model, tokenizer = tiny_lm
    items, dev = sample_items(format)
    subjects = list(dict.fromkeys(item.subject for item in items))
    names = _mirror_utils().subject_tasks(TASKS / f"native_{format}.yaml", subjects, tmp_path)
    # Our YAMLs only: indexing lm-eval's thousands of bundled tasks costs seconds per run.
    manager = TaskManager(include_path=[str(TASKS), str(tmp_path)], include_defaults=False)
    results = lm_eval.simple_evaluate(
        model=hflm, tasks=names, num_fewshot=shots, task_manager=manager, log_samples=True
    )
    ours = multiple_choice(model, tokenizer, items, shots=shots, dev=dev, batch_size=4)
    rows = {row.id: row for row in ours.rows}
    by_id = {item.id: item for item in items}
    pool = fewshot_pool(dev)

    seen = 0
    for name, subject in zip(names, subjects, strict=True):
        metrics = results["results"][name]
        group = next(g for g in ours.groups if g.by == "subject" and g.group == subject)
        assert (group.acc, group.acc_norm) == pytest.approx(
            (metrics["acc,none"], metrics["acc_norm,none"])
        )
        for sample in results["samples"][name]:
            item, row = by_id[sample["doc"]["id"]], rows[sample["doc"]["id"]]
            expected = context(item, shots_for(item, pool, shots))
            assert [args[0] for args in sample["arguments"]] == [expected] * len(item.choices)
            theirs = sample["filtered_resps"]  # (loglik, is_greedy) per choice
            assert row.logliks == pytest.approx([float(ll) for ll, _ in theirs], abs=1e-4)
            assert row.is_greedy == [bool(greedy) for _, greedy in theirs]
            assert (row.prediction == row.gold) == bool(sample["acc"])
            assert (row.prediction_norm == row.gold) == bool(sample["acc_norm"])
            seen += 1
    assert seen == ours.n == len(items)


def test_perplexity_windows_match_loglikelihood_rolling(tiny_lm):
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    folder, model, tokenizer = tiny_lm
    texts = [item.question for item in sample_items("arabic_mmlu")[0][:6]]
    # lm-eval's rolling windows are the model's max length: 8 gives several per document
    rolling = HFLM(pretrained=str(folder), device="cpu", batch_size=4, max_length=8)
    requests = [Instance("loglikelihood_rolling", {}, (text,), i) for i, text in enumerate(texts)]
    theirs = -sum(rolling.loglikelihood_rolling(requests, disable_tqdm=True))
    ours = perplexity(model, tokenizer, texts, context_length=8, batch_size=4)
    assert ours.nll == pytest.approx(theirs, abs=1e-3)
