"""Benchmark files in their public formats, read into one item type, and the one prompt.

Formats (`load_task`'s names):
- "arabic_mmlu_csv": ArabicMMLU's CSV (ID, Source, Country, Group, Subject, Level, Question,
  Context, Answer Key, Option 1..Option 5; unused options empty; the key a letter A-E);
- "exams_jsonl": EXAMS, {id, question, A, B, C, D, answer[, subject]}, the answer a letter;
- "acva_jsonl": ACVA true/false, {id, question, answer}; the answer "نعم"/"لا", or ACVA's own
  "صح"/"خطأ" (both become the choices "نعم"/"لا");
- "aratrust": AraTrust as JSONL, {Question, A, B, C, Answer, Category}, the answer an Arabic
  letter أ/ب/ج as in the dataset (A/B/C also read); the id is the line number.

The prompt is cloze style: "السؤال: …\\nالإجابة:" and each choice's own text as the continuation,
with no lettered options in the context. The model steps are continued pre-training of base
models, and a base model, above all an early checkpoint, scores a choice's words long before it
learns to pick a letter after a list (letter scoring sits at chance until then); listing the
options as well would let a choice's score lean on having just seen it, the same for every
choice. Cloze scoring also makes acc_norm (per character) differ from acc. The lm-eval mirror in
benchmarks/lm_eval_tasks/ builds the same strings.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LETTERS = "ABCDE"
ARABIC_LETTERS = "أبج"  # AraTrust's answer letters
YES, NO = "نعم", "لا"
ACVA_ANSWERS = {YES: 0, "صح": 0, NO: 1, "خطأ": 1}


class TaskFormatError(ValueError):
    """A malformed benchmark row; the message starts with file:line."""


@dataclass(frozen=True)
class MCItem:
    id: str
    question: str
    choices: list[str]
    gold: int  # index into choices
    subject: str | None = None  # subject or category, for per-subject breakdowns


@dataclass(frozen=True)
class HarmfulPrompt:
    id: str
    prompt: str
    category: str
    is_safe: bool | None = None


def _fail(path: Path, line: int, message: str) -> TaskFormatError:
    return TaskFormatError(f"{path}:{line}: {message}")


def _field(row: dict[str, Any], key: str, path: Path, line: int) -> str:
    """A required, non-empty text field."""
    value = row.get(key)
    if not isinstance(value, str) or not value.strip():
        raise _fail(path, line, f"missing or empty field {key!r}")
    return value


def _letter(answer: str, letters: str, n_choices: int, path: Path, line: int) -> int:
    index = letters.find(answer.strip())
    if len(answer.strip()) != 1 or not 0 <= index < n_choices:
        raise _fail(path, line, f"answer {answer!r} is not one of {list(letters[:n_choices])}")
    return index


def _jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line."""
    with path.open(encoding="utf-8") as fh:
        for number, text in enumerate(fh, 1):
            if not text.strip():
                continue
            try:
                row = json.loads(text)
            except json.JSONDecodeError as error:
                raise _fail(path, number, f"invalid JSON: {error.msg}") from None
            if not isinstance(row, dict):
                raise _fail(path, number, "a line must be a JSON object")
            yield number, row


def _arabic_mmlu(path: Path) -> list[MCItem]:
    items = []
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {"ID", "Question", "Answer Key", "Option 1", "Option 2"} - set(
            reader.fieldnames or []
        )
        if missing:
            raise _fail(path, 1, f"missing columns {sorted(missing)}")
        for row in reader:
            line = reader.line_num
            options = [row.get(f"Option {i}") or "" for i in range(1, 6)]
            count = next((i for i, option in enumerate(options) if not option.strip()), 5)
            if count < 2 or any(option.strip() for option in options[count:]):
                raise _fail(path, line, "options must be Option 1, Option 2, ... with no gaps")
            question = _field(row, "Question", path, line)
            context = (row.get("Context") or "").strip()
            items.append(
                MCItem(
                    id=_field(row, "ID", path, line),
                    question=f"{context}\n{question}" if context else question,
                    choices=options[:count],
                    gold=_letter(_field(row, "Answer Key", path, line), LETTERS, count, path, line),
                    subject=row.get("Subject") or None,
                )
            )
    return items


def _exams(path: Path) -> list[MCItem]:
    return [
        MCItem(
            id=str(row.get("id", line)),
            question=_field(row, "question", path, line),
            choices=[_field(row, letter, path, line) for letter in "ABCD"],
            gold=_letter(_field(row, "answer", path, line), LETTERS, 4, path, line),
            subject=row.get("subject"),
        )
        for line, row in _jsonl(path)
    ]


def _acva(path: Path) -> list[MCItem]:
    items = []
    for line, row in _jsonl(path):
        answer = _field(row, "answer", path, line).strip()
        if answer not in ACVA_ANSWERS:
            raise _fail(path, line, f"answer {answer!r} is not one of {list(ACVA_ANSWERS)}")
        items.append(
            MCItem(
                id=str(row.get("id", line)),
                question=_field(row, "question", path, line),
                choices=[YES, NO],
                gold=ACVA_ANSWERS[answer],
                subject=row.get("category"),
            )
        )
    return items


def _aratrust(path: Path) -> list[MCItem]:
    items = []
    for line, row in _jsonl(path):
        answer = _field(row, "Answer", path, line)
        letters = LETTERS if answer.strip() in LETTERS else ARABIC_LETTERS
        items.append(
            MCItem(
                id=str(line),
                question=_field(row, "Question", path, line),
                choices=[_field(row, letter, path, line) for letter in "ABC"],
                gold=_letter(answer, letters, 3, path, line),
                subject=row.get("Category"),
            )
        )
    return items


LOADERS = {
    "arabic_mmlu_csv": _arabic_mmlu,
    "exams_jsonl": _exams,
    "acva_jsonl": _acva,
    "aratrust": _aratrust,
}


def load_task(format: str, path: Path) -> list[MCItem]:
    """The items of a benchmark file in one of the `LOADERS` formats."""
    if format not in LOADERS:
        raise ValueError(f"unknown task format {format!r}; known: {sorted(LOADERS)}")
    items = LOADERS[format](Path(path))
    if not items:
        raise TaskFormatError(f"{path}: no items")
    return items


def load_harmful_prompts(path: Path) -> list[HarmfulPrompt]:
    """BeaverTails-style JSONL: {prompt, category[, id][, is_safe]}; the id defaults to the line."""
    path = Path(path)
    prompts = []
    for line, row in _jsonl(path):
        is_safe = row.get("is_safe")
        if is_safe is not None and not isinstance(is_safe, bool):
            raise _fail(path, line, f"is_safe must be true, false or absent, not {is_safe!r}")
        prompts.append(
            HarmfulPrompt(
                id=str(row.get("id", line)),
                prompt=_field(row, "prompt", path, line),
                category=_field(row, "category", path, line),
                is_safe=is_safe,
            )
        )
    return prompts


def _question(item: MCItem) -> str:
    return f"السؤال: {item.question}\nالإجابة:"


def context(item: MCItem, shots: Sequence[MCItem]) -> str:
    """The scored context: each shot answered with its gold choice, then the question."""
    answered = [f"{_question(shot)} {shot.choices[shot.gold]}" for shot in shots]
    return "\n\n".join([*answered, _question(item)])


def continuations(item: MCItem) -> list[str]:
    """One continuation per choice, in the order of `item.choices`."""
    return [f" {choice}" for choice in item.choices]
