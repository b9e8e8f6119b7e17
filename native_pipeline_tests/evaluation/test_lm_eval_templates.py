"""Our copies of lm-eval's Arabic prompts against lm-eval 0.4.13's own task code, on the samples."""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import pytest
import yaml

from native_pipeline.evaluation.tasks import context, continuations
from native_pipeline_tests.evaluation.conftest import SAMPLE_PATHS, sample_items

lm_eval = pytest.importorskip("lm_eval", reason="lm-eval is not installed (pip install lm-eval)")
LM_EVAL_TASKS = Path(lm_eval.__file__).parent / "tasks"


def task_module(relative: str):
    spec = importlib.util.spec_from_file_location(relative, LM_EVAL_TASKS / relative)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def flat_rows(name: str) -> list[dict]:
    path = SAMPLE_PATHS[name] / "test.jsonl"
    return [json.loads(line) for line in path.open(encoding="utf-8")]


def test_arabicmmlu_prompt_is_lm_evals():
    utils = task_module("arabicmmlu/utils.py")
    with SAMPLE_PATHS["arabic_mmlu"].open(encoding="utf-8", newline="") as fh:
        rows = [row for row in csv.DictReader(fh) if row["is_few_shot"] == "0"]
    items, _ = sample_items("arabic_mmlu")
    for item, row in zip(items, rows, strict=True):
        assert context(item, [], "arabicmmlu") == utils.doc_to_text(row)
        assert continuations(item, "arabicmmlu") == [f" {c}" for c in utils.doc_to_choice(row)]


def test_aexams_prompt_is_lm_evals():
    from lm_eval.utils import apply_template

    config = yaml.safe_load((LM_EVAL_TASKS / "aexams" / "_default_template_yaml").read_text())
    items, _ = sample_items("exams_flat")
    for item, row in zip(items, flat_rows("exams_flat"), strict=True):
        subject = item.subject.replace(" ", "")
        task = yaml.safe_load((LM_EVAL_TASKS / "aexams" / f"aexams_{subject}.yaml").read_text())
        expected = task["description"] + apply_template(config["doc_to_text"], row)
        assert context(item, [], "aexams") == expected
        assert continuations(item, "aexams") == [f" {c}" for c in config["doc_to_choice"]]


@pytest.mark.parametrize(
    ("template", "module", "sample"),
    [
        ("oall_exams", "arabic_leaderboard_arabic_exams", "exams_flat"),
        ("oall_mmlu", "arabic_leaderboard_arabic_mmlu", "exams_flat"),
        ("oall_acva", "arabic_leaderboard_avca", "acva"),
    ],
)
def test_arabic_leaderboard_prompts_are_lm_evals(template, module, sample):
    import datasets

    utils = task_module(f"arabic_leaderboard_complete/{module}/utils.py")
    items, _ = sample_items(sample)
    rows = [
        {**row, "subject": item.subject} for item, row in zip(items, flat_rows(sample), strict=True)
    ]
    docs = utils.process_docs(datasets.Dataset.from_list(rows))
    for item, doc in zip(items, docs, strict=True):
        assert context(item, [], template) == doc["query"]
        assert continuations(item, template) == [f" {c}" for c in doc["choices"]]
        assert item.gold == doc["gold"]


def test_mmlu_prompt_is_lm_evals():
    """English MMLU in lm-eval's mmlu task's prompt: its description per subject, A.-D."""
    from lm_eval.utils import apply_template

    config = yaml.safe_load((LM_EVAL_TASKS / "mmlu/default/_default_template_yaml").read_text())
    items, _ = sample_items("mmlu")
    for item in items:
        task = yaml.safe_load(
            (LM_EVAL_TASKS / f"mmlu/default/mmlu_{item.subject}.yaml").read_text()
        )
        doc = {"question": item.question, "choices": item.choices}
        expected = task["description"] + apply_template(config["doc_to_text"], doc)
        assert context(item, [], "mmlu") == expected
        assert continuations(item, "mmlu") == [f" {c}" for c in config["doc_to_choice"]]
