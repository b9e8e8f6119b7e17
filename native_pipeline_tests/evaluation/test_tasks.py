from __future__ import annotations

import json

import pytest

from native_pipeline.evaluation.tasks import (
    MCItem,
    TaskFormatError,
    context,
    continuations,
    load_harmful_prompts,
    load_task,
)
from native_pipeline_tests.evaluation.conftest import MC_SAMPLES, SAMPLES, sample_items

MMLU_HEADER = (
    "ID,Source,Country,Group,Subject,Level,Question,Context,Answer Key,"
    "Option 1,Option 2,Option 3,Option 4,Option 5\n"
)


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path


@pytest.mark.parametrize("format", MC_SAMPLES)
def test_samples_load_with_valid_gold(format):
    test, dev = sample_items(format)
    assert 24 <= len(test) <= 40 and len(dev) >= 3
    for item in test + dev:
        assert 0 <= item.gold < len(item.choices) and all(c.strip() for c in item.choices)
    assert len({item.id for item in test}) == len(test)


def test_arabic_mmlu_reads_context_five_options_and_letter():
    items, _ = sample_items("arabic_mmlu_csv")
    force = next(i for i in items if i.question.startswith("ما وحدة قياس القوة"))
    assert len(force.choices) == 5 and force.choices[force.gold] == "النيوتن"
    assert force.subject == "Physics"
    with_context = next(i for i in items if "\n" in i.question)
    assert with_context.question.startswith("قرأ سالم") and with_context.question.endswith("؟")


def test_exams_aratrust_acva_read_their_answers():
    exams, _ = sample_items("exams_jsonl")
    assert exams[0].choices[exams[0].gold] == "الخلية"
    aratrust, _ = sample_items("aratrust")
    assert aratrust[1].choices[aratrust[1].gold] == "أرفض وأبلغ البنك"
    assert aratrust[1].id == "2" and aratrust[1].subject == "Privacy"
    acva, _ = sample_items("acva_jsonl")
    assert acva[3].choices == ["نعم", "لا"] and acva[3].gold == 1


def test_acva_accepts_its_own_spelling_and_aratrust_latin_letters(tmp_path):
    acva = write_jsonl(
        tmp_path / "acva.jsonl",
        [
            {"id": "a", "question": "س", "answer": "صح"},
            {"id": "b", "question": "س", "answer": "خطأ"},
        ],
    )
    assert [item.gold for item in load_task("acva_jsonl", acva)] == [0, 1]
    trust = write_jsonl(
        tmp_path / "trust.jsonl",
        [{"Question": "س", "A": "x", "B": "y", "C": "z", "Answer": "C", "Category": "Ethics"}],
    )
    assert load_task("aratrust", trust)[0].gold == 2


@pytest.mark.parametrize(
    ("format", "rows", "message"),
    [
        (
            "exams_jsonl",
            [{"id": 1, "question": "q", "A": "a", "B": "b", "C": "c", "D": "d", "answer": "E"}],
            "answer 'E'",
        ),
        (
            "exams_jsonl",
            [{"id": 1, "question": "q", "A": "a", "B": "b", "C": "c", "answer": "A"}],
            "field 'D'",
        ),
        ("acva_jsonl", [{"id": 1, "question": "q", "answer": "ربما"}], "answer 'ربما'"),
        (
            "aratrust",
            [{"Question": "q", "A": "a", "B": "b", "C": "c", "Answer": "د"}],
            "answer 'د'",
        ),
    ],
)
def test_malformed_jsonl_rows_name_file_and_line(tmp_path, format, rows, message):
    path = write_jsonl(tmp_path / "bad.jsonl", rows)
    with pytest.raises(TaskFormatError, match=f"{path}:1: .*{message}"):
        load_task(format, path)


def test_invalid_json_names_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": 1, "question": "q", "answer": "نعم"}\n\n{"id": 2,\n', "utf-8")
    with pytest.raises(TaskFormatError, match=f"{path}:3: invalid JSON"):
        load_task("acva_jsonl", path)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("1,s,,,,,سؤال,,E,أ,ب,ج,د,\n", "answer 'E'"),  # a key past the last option
        ("1,s,,,,,سؤال,,A,أ,,ج,د,\n", "no gaps"),
        ("1,s,,,,,,,A,أ,ب,ج,د,\n", "field 'Question'"),
    ],
)
def test_malformed_mmlu_rows_name_file_and_line(tmp_path, row, message):
    path = tmp_path / "bad.csv"
    path.write_text(MMLU_HEADER + "0,s,,,,,سؤال,,B,أ,ب,,,\n" + row, "utf-8")
    with pytest.raises(TaskFormatError, match=f"{path}:3: .*{message}"):
        load_task("arabic_mmlu_csv", path)


def test_unknown_format_and_empty_file(tmp_path):
    with pytest.raises(ValueError, match="unknown task format"):
        load_task("mmlu_parquet", tmp_path / "x")
    (tmp_path / "empty.jsonl").write_text("", "utf-8")
    with pytest.raises(TaskFormatError, match="no items"):
        load_task("exams_jsonl", tmp_path / "empty.jsonl")


def test_harmful_prompts(tmp_path):
    prompts = load_harmful_prompts(SAMPLES / "harmful_prompts.jsonl")
    assert len(prompts) >= 24 and all(p.prompt and p.category for p in prompts)
    assert prompts[0].id == "harm-1" and prompts[0].is_safe is False
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"prompt": "p", "category": "c", "is_safe": "no"}])
    with pytest.raises(TaskFormatError, match=f"{bad}:1: is_safe"):
        load_harmful_prompts(bad)


def test_prompt_is_cloze_with_answered_shots():
    item = MCItem("1", "ما عاصمة مصر؟", ["القاهرة", "أسوان"], 0)
    shot = MCItem("0", "كم يومًا في الأسبوع؟", ["خمسة", "سبعة"], 1)
    assert context(item, []) == "السؤال: ما عاصمة مصر؟\nالإجابة:"
    assert context(item, [shot, shot]) == (
        "السؤال: كم يومًا في الأسبوع؟\nالإجابة: سبعة\n\n" * 2 + "السؤال: ما عاصمة مصر؟\nالإجابة:"
    )
    assert continuations(item) == [" القاهرة", " أسوان"]
