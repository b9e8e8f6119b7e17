from __future__ import annotations

import json

import polars as pl
import pytest

from native_pipeline.evaluation.tasks import (
    MMLU_CATEGORIES,
    MCItem,
    TaskFormatError,
    context,
    continuations,
    load_harmful_prompts,
    load_task,
)
from native_pipeline_tests.evaluation.conftest import SAMPLE_PATHS, SAMPLES, sample_items

MMLU_HEADER = (
    "ID,Source,Country,Group,Subject,Level,Question,Context,Answer Key,"
    "Option 1,Option 2,Option 3,Option 4,Option 5\n"
)


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path


# (test items, dev items, subjects of the test items) of each bundled sample
EXPECTED = {
    "arabic_mmlu": (30, 18, 9),
    "mmlu": (8, 8, 4),
    "mmlu_arabic": (8, 4, 2),
    "exams": (24, 10, 5),
    "exams_flat": (24, 10, 5),
    "acva": (30, 8, 4),
    "aratrust": (24, 0, 8),
}


@pytest.mark.parametrize("format", SAMPLE_PATHS)
def test_samples_load_with_counts_subjects_and_valid_gold(format):
    test, dev = sample_items(format)
    n_test, n_dev, n_subjects = EXPECTED[format]
    assert (len(test), len(dev), len({i.subject for i in test})) == (n_test, n_dev, n_subjects)
    for item in test + dev:
        assert 0 <= item.gold < len(item.choices) and all(c.strip() for c in item.choices)
        assert item.subject
    assert len({item.id for item in test}) == len(test)
    if dev:  # every test subject has dev items for its shots
        assert {i.subject for i in test} <= {i.subject for i in dev}


@pytest.mark.parametrize("format", [f for f in SAMPLE_PATHS if not f.startswith("mmlu")])
def test_auto_tells_every_named_layout(format):
    assert load_task("auto", SAMPLE_PATHS[format]) == load_task(format, SAMPLE_PATHS[format])


def test_arabic_mmlu_few_shot_rows_are_the_dev_split():
    items, dev = sample_items("arabic_mmlu")
    assert all(i.id.startswith("arabic_mmlu_test") for i in items)
    assert all(i.id.startswith("arabic_mmlu_dev") for i in dev)
    force = next(i for i in items if i.question.startswith("ما وحدة قياس القوة"))
    assert len(force.choices) == 5 and force.choices[force.gold] == "النيوتن"
    assert (force.subject, force.category, force.level) == (
        "Natural Science (High School)",
        "STEM",
        "High",
    )
    assert force.topic == "Natural Science"
    with_context = next(i for i in items if i.passage)
    assert with_context.passage.startswith("قرأ سالم") and with_context.question.endswith("؟")
    assert context(with_context, []).startswith(f"السؤال: {with_context.passage}\n")


def test_mmlu_arabic_subjects_come_from_the_file_names():
    items, dev = sample_items("mmlu_arabic")
    assert {i.subject for i in items} == {"elementary_mathematics", "high_school_geography"}
    sums = next(i for i in items if i.question == "ما ناتج ضرب 7 في 8؟")
    assert sums.choices[sums.gold] == "56" and sums.subject == "elementary_mathematics"
    assert [i.subject for i in dev] == ["elementary_mathematics"] * 2 + [
        "high_school_geography"
    ] * 2


def test_exams_official_keeps_arabic_and_reads_nested_fields():
    task = load_task("exams", SAMPLE_PATHS["exams"])
    assert task.skipped == 2  # the Bulgarian and French rows
    first = task.test[0]
    assert first.choices[first.gold] == "الخلية" and first.subject == "Biology"
    # the same questions as the flat copy, whose subject is only in the id
    flat, _ = sample_items("exams_flat")
    assert [(i.question, i.gold, i.subject) for i in task.test] == [
        (i.question, i.gold, i.subject) for i in flat
    ]
    assert flat[0].id == "Biology-0"


def test_acva_category_from_the_id_and_its_own_spelling():
    items, _ = sample_items("acva")
    assert items[0].id == "Arabic_Food-0" and items[0].subject == "Arabic_Food"
    assert items[3].choices == ["نعم", "لا"] and items[3].gold == 1


def test_acva_category_from_a_per_category_folder(tmp_path):
    for category in ("Algeria", "Arabic_Food"):
        folder = tmp_path / category
        folder.mkdir()
        pl.DataFrame({"id": ["0"], "question": ["س"], "answer": ["صح"]}).write_parquet(
            folder / "test-00000-of-00001.parquet"
        )
        write_jsonl(folder / "validation.jsonl", [{"id": "1", "question": "س", "answer": "خطأ"}])
    task = load_task("acva", tmp_path)
    assert [i.subject for i in task.test] == ["Algeria", "Arabic_Food"]
    assert [(i.subject, i.gold) for i in task.dev] == [("Algeria", 1), ("Arabic_Food", 1)]


def test_aratrust_parquet_and_csv_are_cleaned_and_counted():
    parquet = load_task("aratrust", SAMPLE_PATHS["aratrust"])
    csv = load_task("aratrust", SAMPLES / "aratrust_test.csv")
    assert parquet.normalised == csv.normalised == 24
    assert [(i.choices, i.gold) for i in parquet.test] == [(i.choices, i.gold) for i in csv.test]
    bank = parquet.test[1]
    assert bank.choices[bank.gold] == "أرفض وأبلغ البنك" and bank.subject == "Privacy"
    assert not any(c.startswith(("أ)", "ب)", "ج)", " ")) for i in parquet.test for c in i.choices)
    # rows whose answer is written ا count as أ
    assert sum(i.gold == 0 for i in parquet.test) == sum(
        json.loads(json.dumps(r))["Answer"] in ("أ", "ا")
        for r in pl.read_parquet(next(SAMPLE_PATHS["aratrust"].glob("*.parquet"))).to_dicts()
    )


def test_clean_aratrust_rows_are_not_counted(tmp_path):
    trust = write_jsonl(
        tmp_path / "trust.jsonl",
        [
            {"Question": "س", "A": "x", "B": "y", "C": "z", "Answer": "C", "Category": "Ethics"},
            {"Question": "س", "A": "x", "B": "y", "C": "z", "Answer": "ا", "Category": "Ethics"},
        ],
    )
    task = load_task("aratrust", trust)
    assert [i.gold for i in task.test] == [2, 0] and task.normalised == 1


def test_dev_path_adds_shots_and_train_files_are_skipped(tmp_path):
    row = {"id": "Physics-0", "question": "q", "A": "a", "B": "b", "C": "c", "D": "d"}
    write_jsonl(tmp_path / "test.jsonl", [{**row, "answer": "A"}])
    write_jsonl(tmp_path / "train.jsonl", [{**row, "answer": "B"}] * 3)
    extra = write_jsonl(tmp_path.parent / "extra_dev.jsonl", [{**row, "answer": "C"}])
    task = load_task("exams_flat", tmp_path, dev_path=extra)
    assert [i.gold for i in task.test] == [0] and [i.gold for i in task.dev] == [2]


@pytest.mark.parametrize(
    ("format", "rows", "message"),
    [
        (
            "exams_flat",
            [{"id": 1, "question": "q", "A": "a", "B": "b", "C": "c", "D": "d", "answer": "E"}],
            "answer 'E'",
        ),
        (
            "exams_flat",
            [{"id": 1, "question": "q", "A": "a", "B": "b", "C": "c", "answer": "A"}],
            "field 'D'",
        ),
        ("acva", [{"id": 1, "question": "q", "answer": "ربما"}], "answer 'ربما'"),
        (
            "aratrust",
            [{"Question": "q", "A": "a", "B": "b", "C": "c", "Answer": "د"}],
            "answer 'د'",
        ),
        (
            "aratrust",
            [{"Question": "q", "A": "أ) ", "B": "b", "C": "c", "Answer": "ب"}],
            "option is empty",
        ),
        ("exams", [{"id": 1, "question": "q", "answerKey": "A"}], "question must be"),
        ("auto", [{"id": 1, "text": "q"}], "cannot tell the layout"),
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
        load_task("acva", path)


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
        load_task("arabic_mmlu", path)


def test_unknown_format_missing_path_and_empty_file(tmp_path):
    with pytest.raises(ValueError, match="unknown task format"):
        load_task("mmlu_parquet", tmp_path / "x")
    with pytest.raises(TaskFormatError, match="no such file or folder"):
        load_task("acva", tmp_path / "x")
    (tmp_path / "empty.jsonl").write_text("", "utf-8")
    with pytest.raises(TaskFormatError, match="no items"):
        load_task("exams_flat", tmp_path / "empty.jsonl")


def test_harmful_prompts_in_every_layout(tmp_path):
    prompts = load_harmful_prompts(SAMPLES / "harmful_prompts.jsonl")
    assert len(prompts) == 24 and all(p.prompt and p.category for p in prompts)
    assert prompts[0].id == "harm-1" and prompts[0].is_safe is False
    # BeaverTails 30k: two responses per prompt, a dict of 14 booleans; one prompt each
    beaver = load_harmful_prompts(SAMPLES / "beavertails_30k.jsonl")
    assert [p.prompt for p in beaver] == [p.prompt for p in prompts[:6]]
    assert [p.category for p in beaver] == [p.category for p in prompts[:6]]
    assert all(p.is_safe is False for p in beaver)
    plain = load_harmful_prompts(SAMPLES / "harmful_prompts.txt")
    assert [p.prompt for p in plain] == [p.prompt for p in prompts[:8]]
    assert plain[0].category == "" and plain[0].id == "1"
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


def test_lm_eval_templates():
    item = MCItem("1", "ما عاصمة مصر؟ ", ["القاهرة", "أسوان"], 0, subject="Social")
    assert context(item, [], "aexams") == (
        "قم بالإجابة على مايلي في مجال العلوم الإجتماعية \n\n"
        "ما عاصمة مصر؟\nA. القاهرة\nB. أسوان\nالجواب："
    )
    assert continuations(item, "aexams") == [" A", " B"]
    assert continuations(item, "oall_mmlu") == [" أ", " ب"]
    assert context(item, [], "oall_mmlu").endswith("ما عاصمة مصر؟ \nأ. القاهرة\nب. أسوان\nالإجابة:")


def test_arabic_mmlu_groups_by_subject_and_level_and_draws_shots_within(tmp_path):
    """lm-eval's arabicmmlu: one task per subject and level, shots the first of that task."""
    from native_pipeline.evaluation.tasks import fewshot_pool, shots_for

    items, dev = sample_items("arabic_mmlu")
    science = {i.subject for i in items if i.topic == "Natural Science"}
    assert science == {"Natural Science (Primary School)", "Natural Science (High School)"}
    pool = fewshot_pool(dev)
    for item in items:
        shots = shots_for(item, pool, 2)
        assert {(s.topic, s.level) for s in shots} == {(item.topic, item.level)}
    # the lm-eval prompt names the subject as the file writes it, the level apart
    force = next(i for i in items if i.question.startswith("ما وحدة قياس القوة"))
    assert context(force, [], "arabicmmlu").startswith(
        "This is a Natural Science question for high school in Lebanon."
    )
    # a subject without a Level keeps its name alone
    path = tmp_path / "mmlu.csv"
    path.write_text(MMLU_HEADER + "0,s,,Other,Driving Test,,سؤال,,B,أ,ب,,,\n", "utf-8")
    assert load_task("arabic_mmlu", path).test[0].subject == "Driving Test"


def trust_row(category: str, subcategory: str, **fields) -> dict:
    row = {"Question": "س", "A": "أ) x", "B": "ب) y", "C": "ج) z", "Answer": "أ"}
    return {**row, "Category": category, "Subcategory": subcategory, **fields}


def test_aratrust_groups_by_category_with_one_spelling_per_subcategory(tmp_path):
    rows = [trust_row("Unfairness", "Racism")] * 3 + [
        trust_row("Unfairness", "racism "),
        trust_row("Physical Health", "Public Health"),
        trust_row("Physical Health", "Public Health"),
        trust_row("Physical Health", "Public Helth"),
        trust_row("Physical Health", "Nutrition"),
    ]
    task = load_task("aratrust", write_jsonl(tmp_path / "trust.jsonl", rows))
    assert [i.subject for i in task.test] == ["Unfairness"] * 4 + ["Physical Health"] * 4
    assert [i.category for i in task.test] == ["Racism"] * 4 + ["Public Health"] * 3 + ["Nutrition"]
    assert task.merged == {"racism": "Racism", "Public Helth": "Public Health"}


def test_a_malformed_row_is_left_out_with_its_reason(tmp_path):
    """AraTrust as published: one row's option A empty, the others shifted to the left."""
    good = [trust_row("Ethics", "") for _ in range(30)]
    shifted = trust_row("Ethics", "", A="", B="أ) x", C="ب) y")
    path = write_jsonl(tmp_path / "trust.jsonl", good[:10] + [shifted] + good[10:])
    task = load_task("aratrust", path)
    assert len(task.test) == 30
    assert task.malformed == [f"{path}:11: missing or empty field 'A'"]
    # a CSV line with more cells than the header names is one malformed row too
    csv_path = tmp_path / "mmlu.csv"
    rows = "".join(f"{n},s,,,,,سؤال,,B,أ,ب,,,\n" for n in range(30))
    csv_path.write_text(MMLU_HEADER + rows + "30,s,,,,,سؤال,,B,أ,ب,ج,د,هـ,و\n", "utf-8")
    mmlu = load_task("arabic_mmlu", csv_path)
    assert len(mmlu.test) == 30 and mmlu.malformed == [f"{csv_path}:32: more cells than columns"]
    # more malformed rows than the share allowed: the wrong layout, refused
    with pytest.raises(TaskFormatError, match="1 of 31 rows are malformed .*:11: missing"):
        load_task("aratrust", path, max_malformed_share=0.5 / 31)


def test_mmlu_subjects_in_the_papers_four_categories(tmp_path):
    items, dev = sample_items("mmlu")
    assert {(i.subject, i.category) for i in items} == {
        ("elementary_mathematics", "STEM"),
        ("philosophy", "Humanities"),
        ("high_school_geography", "Social Science"),
        ("nutrition", "Other"),
    }
    assert len(MMLU_CATEGORIES) == 57 and set(MMLU_CATEGORIES.values()) == {
        "STEM",
        "Humanities",
        "Social Science",
        "Other",
    }
    # AceGPT's Arabic translation keeps the subjects, hence the categories
    arabic, _ = sample_items("mmlu_arabic")
    assert {i.category for i in arabic} == {"STEM", "Social Science"}
    # the Hugging Face copy: a list of choices and the answer's index
    hf = tmp_path / "test-00000-of-00001.parquet"
    pl.DataFrame(
        {"question": ["2+2?"], "subject": ["virology"], "choices": [["3", "4"]], "answer": [1]}
    ).write_parquet(hf)
    item = load_task("mmlu", hf).test[0]
    assert (item.choices, item.gold, item.category) == (["3", "4"], 1, "Other")


def test_acva_clean_is_a_subset_of_acva_all():
    from native_pipeline.evaluation.suite import TASK_SAMPLES

    clean = load_task("acva", TASK_SAMPLES["acva_clean"])
    whole, _ = sample_items("acva")
    assert 0 < len(clean.test) < len(whole)
    assert {(i.id, i.question, i.gold) for i in clean.test} <= {
        (i.id, i.question, i.gold) for i in whole
    }
