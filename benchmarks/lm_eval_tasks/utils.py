"""The bundled samples' layouts read for lm-eval, apart from native_pipeline's readers.

Each `load_*` is a task's `custom_dataset`: lm-eval calls it with the task's metadata and
dataset_kwargs. It returns the test and dev splits as question, choices, gold (our cloze
prompt's fields), id and subject; with a `subject` in the metadata, only that subject's rows,
as lm-eval's per-subject tasks (arabicmmlu_*, aexams_*) do. `subject_tasks` writes those
per-subject task files.
"""

from __future__ import annotations

import re
from pathlib import Path

import datasets

ARATRUST_LETTERS = {"أ": 0, "ا": 0, "ب": 1, "ج": 2}


def _splits(test, dev, subject):
    if subject is not None:
        test = test.filter(lambda doc: doc["subject"] == subject)
        dev = dev.filter(lambda doc: doc["subject"] == subject)
    return datasets.DatasetDict({"test": test, "dev": dev})


def _read(builder, files, **kwargs):
    return datasets.load_dataset(builder, data_files=files, split="train", **kwargs)


# lm-eval's arabicmmlu task names: one task per subject and level
LEVELS = {
    "Primary": "Primary School",
    "Middle": "Middle School",
    "High": "High School",
    "Univ": "University",
    "Prof": "Professional",
}


def load_arabic_mmlu(files, subject=None, **_):
    def fields(doc):
        passage = (doc["Context"] or "").strip()
        options = [doc[f"Option {i}"] for i in range(1, 6)]
        options = options[: options.index(None)] if None in options else options
        level = LEVELS[doc["Level"]] if doc["Level"] else None
        return {
            "id": doc["ID"],
            "subject": f"{doc['Subject']} ({level})" if level else doc["Subject"],
            "question": f"{passage}\n{doc['Question']}" if passage else doc["Question"],
            "choices": [str(option) for option in options],
            "gold": "ABCDE".index(doc["Answer Key"].strip()),
        }

    rows = _read("csv", files).map(fields)
    return _splits(
        rows.filter(lambda doc: not doc["is_few_shot"]),
        rows.filter(lambda doc: bool(doc["is_few_shot"])),
        subject,
    )


def load_mmlu_arabic(folder, subject, **_):  # English MMLU too: the same layout
    columns = ["question", "A", "B", "C", "D", "answer"]

    def read(split):
        rows = _read("csv", f"{folder}/{split}/{subject}_{split}.csv", column_names=columns)
        return rows.map(
            lambda doc, index: {
                "id": f"{subject}-{index + 1}",
                "subject": subject,
                # the csv builder types a column of numbers as numbers
                "choices": [str(doc[letter]) for letter in "ABCD"],
                "gold": "ABCD".index(doc["answer"]),
            },
            with_indices=True,
        )

    return _splits(read("test"), read("dev"), None)


def load_exams(files, subject=None, **_):
    def fields(doc):
        labels = [choice["label"] for choice in doc["question"]["choices"]]
        return {
            "subject": doc["info"]["subject"],
            "question": doc["question"]["stem"],
            "choices": [choice["text"] for choice in doc["question"]["choices"]],
            "gold": labels.index(doc["answerKey"]),
        }

    def read(split):
        rows = _read("json", files[split])
        return rows.filter(lambda doc: doc["info"]["language"] == "Arabic").map(fields)

    return _splits(read("test"), read("dev"), subject)


def _id_subject(doc):
    return {"subject": doc["id"].rsplit("-", 1)[0]}


def load_exams_flat(files, subject=None, **_):
    def read(split):
        rows = _read("json", files[split]).map(_id_subject)
        return rows.map(
            lambda doc: {
                "choices": [doc[letter] for letter in "ABCD"],
                "gold": "ABCD".index(doc["answer"]),
            }
        )

    return _splits(read("test"), read("dev"), subject)


def load_acva(files, subject=None, **_):
    def read(split):
        rows = _read("json", files[split]).map(_id_subject)
        return rows.map(
            lambda doc: {
                "choices": ["نعم", "لا"],
                "gold": 0 if doc["answer"] in ("صح", "نعم") else 1,
            }
        )

    return _splits(read("test"), read("dev"), subject)


def load_aratrust(files, subject=None, **_):
    def option(text):
        return re.sub(r"^[^\s)]\)", "", text.strip()).strip()

    rows = _read("parquet", files["test"]).map(
        lambda doc, index: {
            "id": str(index + 1),
            "subject": doc["Category"],
            "question": doc["Question"],
            "choices": [option(doc[letter]) for letter in "ABC"],
            "gold": ARATRUST_LETTERS[doc["Answer"].strip()],
        },
        with_indices=True,
    )
    return _splits(rows, rows.select([]), subject)


def subject_tasks(base: Path, subjects: list[str], folder: Path, **metadata) -> list[str]:
    """Write one task per subject over `base` (a native_*.yaml) into `folder`; their names."""
    names = []
    for number, subject in enumerate(subjects):
        name = f"{base.stem}__{number}"
        lines = [f"include: {base}", f"task: {name}", "metadata:", "  version: 1.0"]
        lines += [f"  {key}: {value!r}" for key, value in {"subject": subject, **metadata}.items()]
        (folder / f"{name}.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
        names.append(name)
    return names
