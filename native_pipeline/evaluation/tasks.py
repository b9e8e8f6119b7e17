"""Benchmark files in the layouts they are published in, read into one item type.

A task's `path` is a file (JSONL, CSV, Parquet) or a folder of them, as a Hugging Face dataset
folder or a release archive unpacks. In a folder, a file belongs to the dev split when a word of
its path is "dev", "validation" or "val" ("test-00000-of-00001.parquet", "dev/x_dev.csv"), is
skipped when it is "train", and belongs to the test split otherwise; a single file is the test
split. `dev_path` adds few-shot examples from elsewhere.

Layouts (`FORMATS`, TaskSettings.format):
- "arabic_mmlu": ArabicMMLU's CSV (ID, Source, Country, Group, Subject, Level, Question, Context,
  Answer Key, Option 1..5); rows with is_few_shot = 1 are the dev split; subject = Subject and
  Level as lm-eval's `arabicmmlu` names its tasks ("Arabic Language (High School)"; Subject
  alone without a Level), so shots come from the same subject and level; category = Group;
- "mmlu": MMLU as Hendrycks et al. released it, dev/ and test/ folders of per-subject CSVs
  without a header (question, A, B, C, D, answer), or the Hugging Face copy's rows (question,
  subject, choices, answer as an index); subject = the file name without "_dev"/"_test" (or the
  `subject` field), category = the paper's group of the subject (`MMLU_CATEGORIES`: STEM,
  Humanities, Social Science, Other), the table the native-alignment paper reports;
- "mmlu_arabic": AceGPT's translated MMLU, the same layout (and categories) in Arabic;
- "exams": the official EXAMS release, {id, question: {stem, choices: [{text, label}]},
  answerKey, info: {grade, subject, language}}, every language in one file: only Arabic rows are
  kept, the others counted as skipped;
- "exams_flat": the AceGPT/OALL copy of EXAMS, {id, question, A, B, C, D, answer}; subject = the
  `subject` field, else the id's prefix ("Islamic Studies-0"), else the sub-folder;
- "acva": {id, question, answer}, the answer صح/خطأ or نعم/لا (choices نعم/لا); subject = the id's
  prefix ("Arabic_Food-3"), else the sub-folder (a dataset with one config per category);
- "aratrust": {Question, A, B, C, Answer, Category, Subcategory}; the options' letter prefixes
  ("أ) ") and spaces are removed, the answer ا read as أ (A/B/C too); subject = Category (as
  lm-eval's tasks group it), category = Subcategory, its spelling variants merged ("racism" and
  "Racism"; "Public Helth" into "Public Health" of the same Category) and reported in
  `Task.merged`. Rows changed that way are counted as normalised.
- "auto": one of the above, told by the first row's fields (mmlu_arabic is never guessed).

A malformed row (an empty option, an answer that is no option, AraTrust's row with option A
empty and the others shifted) is left out with its file:line and reason in `Task.malformed`, and
the rest of the file is read: one bad row must not cost a benchmark. A file where more than
`max_malformed_share` of the rows are malformed is the wrong layout, and refused.

The prompt: see `TEMPLATES`. "cloze" is the project's: "السؤال: …\\nالإجابة:" and each choice's
own text as the continuation, with no lettered options in the context. The model steps are
continued pre-training of base models, and a base model, above all an early checkpoint, scores a
choice's words long before it learns to pick a letter after a list. The other templates are
those of lm-eval's own Arabic tasks, for scores comparable with published leaderboards.
"""

from __future__ import annotations

import csv
import difflib
import json
import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

LETTERS = "ABCDE"
ARABIC_LETTERS = "أبجده"
YES, NO = "نعم", "لا"
ACVA_ANSWERS = {YES: 0, "صح": 0, NO: 1, "خطأ": 1}
SUFFIXES = (".jsonl", ".json", ".csv", ".parquet", ".txt")
DEV_WORDS = {"dev", "validation", "val"}
# an AraTrust option's letter prefix: "أ) ", "ب. ", "A) "
OPTION_PREFIX = re.compile(r"^\s*[أاإآبجABC]\s*[).:-]\s*")
MMLU_COLUMNS = ["question", "A", "B", "C", "D", "answer"]  # the released CSVs have no header
# ArabicMMLU's Level as lm-eval's task names write it ("History (High School)")
LEVEL_NAMES = {
    "Primary": "Primary School",
    "Middle": "Middle School",
    "High": "High School",
    "Univ": "University",
    "Prof": "Professional",
}
# MMLU's subjects by the four groups of Hendrycks et al. (2021), as lm-eval's mmlu groups them
MMLU_GROUPS = {
    "STEM": "abstract_algebra anatomy astronomy college_biology college_chemistry "
    "college_computer_science college_mathematics college_physics computer_security "
    "conceptual_physics electrical_engineering elementary_mathematics high_school_biology "
    "high_school_chemistry high_school_computer_science high_school_mathematics "
    "high_school_physics high_school_statistics machine_learning",
    "Humanities": "formal_logic high_school_european_history high_school_us_history "
    "high_school_world_history international_law jurisprudence logical_fallacies "
    "moral_disputes moral_scenarios philosophy prehistory professional_law world_religions",
    "Social Science": "econometrics high_school_geography high_school_government_and_politics "
    "high_school_macroeconomics high_school_microeconomics high_school_psychology "
    "human_sexuality professional_psychology public_relations security_studies sociology "
    "us_foreign_policy",
    "Other": "business_ethics clinical_knowledge college_medicine global_facts human_aging "
    "management marketing medical_genetics miscellaneous nutrition professional_accounting "
    "professional_medicine virology",
}
MMLU_CATEGORIES = {s: group for group, names in MMLU_GROUPS.items() for s in names.split()}
# two AraTrust sub-category spellings this close are one sub-category (difflib's ratio)
SPELLING_RATIO = 0.85


class TaskFormatError(ValueError):
    """A malformed benchmark row; the message starts with file:line."""


@dataclass(frozen=True)
class MCItem:
    id: str
    question: str
    choices: list[str]
    gold: int  # index into choices
    subject: str | None = None  # the finest grouping the benchmark reports
    category: str | None = None  # a coarser one (ArabicMMLU's Group, AraTrust's Category)
    passage: str = ""  # ArabicMMLU's Context, read before the question
    level: str | None = None  # ArabicMMLU's Level and Country, used by its lm-eval prompt
    country: str | None = None
    topic: str | None = None  # the subject as the file writes it, where `subject` adds the level


@dataclass
class Task:
    test: list[MCItem]
    dev: list[MCItem]
    normalised: int = 0  # rows whose options or answer were cleaned (AraTrust)
    skipped: int = 0  # rows left out on purpose (EXAMS in other languages)
    malformed: list[str] = field(default_factory=list)  # "file:line: reason" of rows left out
    merged: dict[str, str] = field(default_factory=dict)  # a category's variant -> its spelling


@dataclass(frozen=True)
class HarmfulPrompt:
    id: str
    prompt: str
    category: str = ""  # "; "-joined when several; empty when the file names none
    is_safe: bool | None = None


@dataclass(frozen=True)
class Row:
    """One record of a benchmark file, with where it came from."""

    where: str  # "file:line" (CSV, JSONL) or "file:row" (Parquet), for error messages
    split: str  # "test", "dev" or "train"
    stem: str  # the file name without suffix
    fields: dict[str, Any]
    folder: str | None = None  # the sub-folder of a dataset folder (a per-category config)


def _fail(where: str, message: str) -> TaskFormatError:
    return TaskFormatError(f"{where}: {message}")


def _text(row: Row, key: str) -> str:
    """A required, non-empty text field."""
    value = row.fields.get(key)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise _fail(row.where, f"missing or empty field {key!r}")
    return value


def _optional(row: Row, key: str) -> str | None:
    value = row.fields.get(key)
    return str(value).strip() or None if value is not None else None


def _split_of(relative: Path) -> str:
    words = set(re.split(r"[/\\_.\-\s]+", str(relative).lower()))
    if words & DEV_WORDS:
        return "dev"
    return "train" if "train" in words else "test"


def _subfolder(relative: Path) -> str | None:
    """The first folder of a file's path in a dataset folder, unless it only names a split."""
    if len(relative.parts) < 2 or _split_of(Path(relative.parts[0])) != "test":
        return None
    return None if relative.parts[0].lower() in {"test", "data"} else relative.parts[0]


def _file_rows(path: Path, columns: Sequence[str] | None) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, record) of one file; `columns` names a CSV without header."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import polars as pl

        for number, record in enumerate(pl.read_parquet(path).iter_rows(named=True), 1):
            yield f"{path}:{number}", record
    elif suffix == ".csv":
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh, fieldnames=columns) if columns else csv.DictReader(fh)
            for record in reader:  # a row with more cells than columns keeps them under None
                yield f"{path}:{reader.line_num}", record
    elif suffix == ".txt":
        with path.open(encoding="utf-8") as fh:
            for number, text in enumerate(fh, 1):
                if text.strip():
                    yield f"{path}:{number}", {"prompt": text.strip()}
    else:  # JSON lines
        with path.open(encoding="utf-8") as fh:
            for number, text in enumerate(fh, 1):
                if not text.strip():
                    continue
                try:
                    record = json.loads(text)
                except json.JSONDecodeError as error:
                    raise _fail(f"{path}:{number}", f"invalid JSON: {error.msg}") from None
                if not isinstance(record, dict):
                    raise _fail(f"{path}:{number}", "a line must be a JSON object")
                yield f"{path}:{number}", record


def read_rows(path: Path, columns: Sequence[str] | None = None) -> list[Row]:
    """Every record of a file, or of the files of a folder (in name order) with their split."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
        if not files:
            raise TaskFormatError(f"{path}: no {'/'.join(SUFFIXES)} files in the folder")
        named = [
            (p, _split_of(p.relative_to(path)), _subfolder(p.relative_to(path))) for p in files
        ]
    elif path.is_file():
        named = [(path, "test", None)]
    else:
        raise TaskFormatError(f"{path}: no such file or folder")
    return [
        Row(where, split, file.stem, record, folder)
        for file, split, folder in named
        for where, record in _file_rows(file, columns)
    ]


def _whole(row: Row) -> Row:
    """The row, unless a CSV line had more cells than the header names (shifted columns)."""
    if None in row.fields:
        raise _fail(row.where, "more cells than columns")
    return row


def _letter(row: Row, answer: str, letters: str, n_choices: int) -> int:
    index = letters.find(answer.strip())
    if len(answer.strip()) != 1 or not 0 <= index < n_choices:
        raise _fail(row.where, f"answer {answer!r} is not one of {list(letters[:n_choices])}")
    return index


def _options(row: Row, keys: Sequence[str]) -> list[str]:
    """The options up to the first empty one; none may follow a gap."""
    options = [str(row.fields.get(key) or "") for key in keys]
    count = next((i for i, option in enumerate(options) if not option.strip()), len(keys))
    if count < 2 or any(option.strip() for option in options[count:]):
        raise _fail(row.where, f"options must be {', '.join(keys[:2])}, ... with no gaps")
    return options[:count]


def _id_prefix(identifier: str) -> str | None:
    """ "Islamic Studies-12" -> "Islamic Studies"; None when the id has no such prefix."""
    head, _, number = identifier.rpartition("-")
    return head.strip() or None if number.isdigit() else None


def _arabic_mmlu(row: Row, task: Task) -> tuple[str, MCItem]:
    missing = {"ID", "Question", "Answer Key", "Option 1", "Option 2"} - set(row.fields)
    if missing:
        raise _fail(row.where, f"missing columns {sorted(missing)}")
    options = _options(row, [f"Option {i}" for i in range(1, 6)])
    few_shot = str(row.fields.get("is_few_shot") or "0").strip().lower() in {"1", "true"}
    subject, level = _optional(row, "Subject"), _optional(row, "Level")
    return "dev" if few_shot else row.split, MCItem(
        id=_text(row, "ID"),
        question=_text(row, "Question"),
        choices=options,
        gold=_letter(row, _text(row, "Answer Key"), LETTERS, len(options)),
        subject=f"{subject} ({LEVEL_NAMES.get(level, level)})" if subject and level else subject,
        category=_optional(row, "Group"),
        passage=_optional(row, "Context") or "",
        level=level,
        country=_optional(row, "Country"),
        topic=subject,
    )


def _mmlu(row: Row, task: Task) -> tuple[str, MCItem]:
    subject = _optional(row, "subject") or re.sub(r"_(dev|val|validation|test)$", "", row.stem)
    choices = row.fields.get("choices")
    if choices is None:  # the released CSVs: lettered options and answer
        options = [_text(row, letter) for letter in "ABCD"]
        gold = _letter(row, _text(row, "answer"), LETTERS, 4)
    else:  # the Hugging Face copy: a list of choices and the answer's index
        options = [str(c) for c in choices] if isinstance(choices, list) else []
        gold = row.fields.get("answer")
        if len(options) < 2 or not all(o.strip() for o in options):
            raise _fail(row.where, f"choices must be a list of texts, not {choices!r}")
        if not isinstance(gold, int) or not 0 <= gold < len(options):
            raise _fail(row.where, f"answer {gold!r} is not an index of the {len(options)} choices")
    return row.split, MCItem(
        id=f"{subject}-{row.where.rsplit(':', 1)[1]}",
        question=_text(row, "question"),
        choices=options,
        gold=gold,
        subject=subject,
        category=MMLU_CATEGORIES.get(subject),
    )


def _exams(row: Row, task: Task) -> tuple[str, MCItem] | None:
    question, info = row.fields.get("question"), row.fields.get("info") or {}
    if not isinstance(question, dict) or not isinstance(question.get("choices"), list):
        raise _fail(row.where, "question must be {stem, choices: [{text, label}]}")
    if info.get("language") != "Arabic":
        task.skipped += 1
        return None
    choices = question["choices"]
    labels = [str(choice.get("label", "")).strip() for choice in choices]
    texts = [str(choice.get("text") or "") for choice in choices]
    answer = _text(row, "answerKey").strip()
    if answer not in labels or len(choices) < 2 or not all(t.strip() for t in texts):
        raise _fail(row.where, f"answer {answer!r} is not one of the labels {labels}")
    stem = question.get("stem")
    if not isinstance(stem, str) or not stem.strip():
        raise _fail(row.where, "missing or empty field 'question.stem'")
    return row.split, MCItem(
        id=str(row.fields.get("id") or row.where),
        question=stem,
        choices=texts,
        gold=labels.index(answer),
        subject=info.get("subject") or None,
    )


def _exams_flat(row: Row, task: Task) -> tuple[str, MCItem]:
    identifier = str(row.fields.get("id") or row.where)
    return row.split, MCItem(
        id=identifier,
        question=_text(row, "question"),
        choices=[_text(row, letter) for letter in "ABCD"],
        gold=_letter(row, _text(row, "answer"), LETTERS, 4),
        subject=_optional(row, "subject") or _id_prefix(identifier) or row.folder,
    )


def _acva(row: Row, task: Task) -> tuple[str, MCItem]:
    answer = _text(row, "answer").strip()
    if answer not in ACVA_ANSWERS:
        raise _fail(row.where, f"answer {answer!r} is not one of {list(ACVA_ANSWERS)}")
    identifier = str(row.fields.get("id") or row.where)
    return row.split, MCItem(
        id=identifier,
        question=_text(row, "question"),
        choices=[YES, NO],
        gold=ACVA_ANSWERS[answer],
        subject=_id_prefix(identifier) or row.folder,
    )


def _aratrust(row: Row, task: Task) -> tuple[str, MCItem]:
    raw = [_text(row, letter) for letter in "ABC"]
    options = [OPTION_PREFIX.sub("", option).strip() for option in raw]
    if not all(options):
        raise _fail(row.where, f"an option is empty once its letter is removed: {raw}")
    answer = _text(row, "Answer").strip()
    letter = {"ا": "أ", "إ": "أ", "آ": "أ"}.get(answer, answer)
    letters = LETTERS if letter in LETTERS else ARABIC_LETTERS
    task.normalised += options != raw or letter != answer
    return row.split, MCItem(
        id=row.where.rsplit(":", 1)[1],  # the line or row number: AraTrust has no ids
        question=_text(row, "Question"),
        choices=options,
        gold=_letter(row, letter, letters, 3),
        subject=_optional(row, "Category"),
        category=_optional(row, "Subcategory"),
    )


Parser = Callable[[Row, Task], "tuple[str, MCItem] | None"]
FORMATS: dict[str, Parser] = {
    "arabic_mmlu": _arabic_mmlu,
    "mmlu": _mmlu,
    "mmlu_arabic": _mmlu,
    "exams": _exams,
    "exams_flat": _exams_flat,
    "acva": _acva,
    "aratrust": _aratrust,
}


def detect_format(row: Row) -> str:
    """The layout a record's fields show; headerless MMLU-Arabic must be named."""
    keys = set(row.fields)
    if {"Answer Key", "Option 1"} <= keys:
        return "arabic_mmlu"
    if isinstance(row.fields.get("question"), dict) and "answerKey" in keys:
        return "exams"
    if {"Question", "A", "B", "C", "Answer"} <= keys:
        return "aratrust"
    if {"question", "A", "B", "C", "D", "answer"} <= keys:
        return "exams_flat"
    if {"question", "answer"} <= keys:
        return "acva"
    raise _fail(row.where, f"cannot tell the layout from the fields {sorted(keys)}; name it")


def _merge_spellings(items: list[MCItem], task: Task) -> list[MCItem]:
    """AraTrust's sub-categories with one spelling per Category: case and spaces folded, and a
    rare spelling within `SPELLING_RATIO` of a more frequent one of its Category merged into it
    ("Public Helth" -> "Public Health"); every change in `task.merged`."""
    counts = Counter((i.subject, " ".join(i.category.split())) for i in items if i.category)
    spelling: dict[tuple[str | None, str], str] = {}
    # most frequent first, so that a variant joins the spelling most rows use
    for (subject, name), _ in counts.most_common():
        known = [s for (group, _), s in spelling.items() if group == subject]
        folded = [s for s in known if s.casefold() == name.casefold()]
        close = folded or difflib.get_close_matches(name, known, n=1, cutoff=SPELLING_RATIO)
        spelling[subject, name] = close[0] if close else name
    merged = []
    for item in items:
        if not item.category:
            merged.append(item)
            continue
        name = spelling[item.subject, " ".join(item.category.split())]
        if name != item.category:
            task.merged[item.category] = name
        merged.append(replace(item, category=name))
    return merged


def load_task(
    format: str, path: Path, dev_path: Path | None = None, max_malformed_share: float = 0.05
) -> Task:
    """The test and dev items of a benchmark file or folder in one of the `FORMATS` layouts;
    malformed rows are left out and listed, up to `max_malformed_share` of the rows."""
    if format not in FORMATS and format != "auto":
        raise ValueError(f"unknown task format {format!r}; known: {sorted(FORMATS)} or auto")
    columns = MMLU_COLUMNS if format in ("mmlu", "mmlu_arabic") else None
    rows = read_rows(path, columns)
    if dev_path is not None:
        rows += [
            Row(r.where, "dev", r.stem, r.fields)
            for r in read_rows(dev_path, columns)
            if r.split != "train"
        ]
    if not rows:
        raise TaskFormatError(f"{path}: no items")
    format = detect_format(rows[0]) if format == "auto" else format
    parse = FORMATS[format]
    task = Task(test=[], dev=[])
    read = [row for row in rows if row.split != "train"]
    for row in read:
        try:
            parsed = parse(_whole(row), task)
        except TaskFormatError as error:
            task.malformed.append(str(error))
            continue
        if parsed is not None:
            (task.dev if parsed[0] == "dev" else task.test).append(parsed[1])
    if len(task.malformed) > max_malformed_share * len(read):
        raise TaskFormatError(
            f"{path}: {len(task.malformed)} of {len(read)} rows are malformed (more than"
            f" {max_malformed_share:.0%}: the wrong layout?); the first: {task.malformed[0]}"
        )
    if not task.test:
        raise TaskFormatError(f"{path}: no test items")
    if format == "aratrust":
        task.test = _merge_spellings(task.test, task)
    return task


def _category(value: Any, where: str) -> str:
    """BeaverTails' category: a string, or a dict of booleans (the names of the true ones)."""
    if value is None:
        return ""
    if isinstance(value, dict):
        return "; ".join(name for name, flag in value.items() if flag)
    if isinstance(value, str):
        return value.strip()
    raise _fail(where, f"category must be a string or a dict of booleans, not {value!r}")


def load_harmful_prompts(path: Path) -> list[HarmfulPrompt]:
    """Harmful prompts: BeaverTails' layouts (category a string or a dict of 14 booleans; the
    30k/330k files repeat a prompt once per response: kept once, with the union of categories),
    {prompt} rows, or a .txt file of one prompt a line. The id defaults to the position."""
    prompts: dict[str, HarmfulPrompt] = {}
    for row in read_rows(path):
        prompt = _text(_whole(row), "prompt").strip()
        is_safe = row.fields.get("is_safe")
        if is_safe is not None and not isinstance(is_safe, bool):
            raise _fail(row.where, f"is_safe must be true, false or absent, not {is_safe!r}")
        category = _category(row.fields.get("category"), row.where)
        seen = prompts.get(prompt)
        if seen is None:
            identifier = str(row.fields.get("id") or len(prompts) + 1)
            prompts[prompt] = HarmfulPrompt(identifier, prompt, category, is_safe)
            continue
        names = [n for n in (seen.category + "; " + category).split("; ") if n]
        safe = None if seen.is_safe is None or is_safe is None else seen.is_safe and is_safe
        prompts[prompt] = HarmfulPrompt(seen.id, prompt, "; ".join(dict.fromkeys(names)), safe)
    if not prompts:
        raise TaskFormatError(f"{path}: no prompts")
    return list(prompts.values())


# Prompt templates: the text before the answer, and the answer strings that are scored.
@dataclass(frozen=True)
class Template:
    query: Callable[[MCItem], str]
    choices: Callable[[MCItem], list[str]]  # scored after one space
    description: Callable[[MCItem], str] = field(default=lambda item: "")  # once, before shots


def _cloze(item: MCItem) -> str:
    question = f"{item.passage}\n{item.question}" if item.passage else item.question
    return f"السؤال: {question}\nالإجابة:"


# lm-eval 0.4.13 tasks/arabicmmlu/utils.py: an English header, options lettered A.-E.
LEVELS = {
    "Primary": "primary school",
    "Middle": "middle school",
    "High": "high school",
    "Univ": "university",
    "Prof": "professional",
}


def _arabicmmlu(item: MCItem) -> str:
    level = f" for {LEVELS.get(item.level, item.level)}" if item.level else ""
    country = f" in {item.country}" if item.country else ""
    question = f"{item.passage}\n\n{item.question}" if item.passage else item.question
    options = "\n".join(f"{LETTERS[i]}. {choice}" for i, choice in enumerate(item.choices))
    subject = item.topic or item.subject
    return (
        f"This is a {subject} question{level}{country}. Select the correct answer!"
        f"\n\nQuestion: {question}\n{options}\n\nAnswer:"
    )


# lm-eval tasks/aexams: one description per subject, options lettered A.-D.
AEXAMS_DESCRIPTIONS = {
    "Biology": "قم بالإجابة على مايلي في مجال العلوم الحيوية\n\n",
    "IslamicStudies": "قم بالإجابة على مايلي في مجال العلوم الإسلامية \n\n",
    "Physics": "قم بالإجابة على مايلي في مجال الفيزياء \n\n",
    "Science": "قم بالإجابة على مايلي في مجال العلوم \n\n",
    "Social": "قم بالإجابة على مايلي في مجال العلوم الإجتماعية \n\n",
}


def _aexams(item: MCItem) -> str:
    options = "".join(f"\n{LETTERS[i]}. {choice}" for i, choice in enumerate(item.choices))
    return f"{item.question.strip()}{options}\nالجواب："


# lm-eval tasks/arabic_leaderboard_complete (OALL): Arabic letters, the subject in an instruction
def _oall_instruction(item: MCItem) -> str:
    topic = (item.subject or "").replace("_", " ")
    return f"الأسئلة التالية هي أسئلة متعددة الإختيارات مع الجواب الصحيح حول {topic}. \n\n"


def _oall_exams(item: MCItem) -> str:
    options = "\n".join(
        f" {ARABIC_LETTERS[i]}) {choice}\n" for i, choice in enumerate(item.choices)
    )
    return f"{_oall_instruction(item)}السؤال: {item.question}\n{options}\nالإجابة:"


def _oall_mmlu(item: MCItem) -> str:
    options = "".join(f"{ARABIC_LETTERS[i]}. {choice}\n" for i, choice in enumerate(item.choices))
    return f"{_oall_instruction(item)}{item.question}\n{options}الإجابة:"


# lm-eval tasks/mmlu/default: the subject in an English description, options lettered A.-D.
def _mmlu_description(item: MCItem) -> str:
    topic = (item.subject or "").replace("_", " ")
    return f"The following are multiple choice questions (with answers) about {topic}.\n\n"


def _mmlu_query(item: MCItem) -> str:
    options = "".join(f"\n{LETTERS[i]}. {choice}" for i, choice in enumerate(item.choices))
    return f"{item.question.strip()}{options}\nAnswer:"


def _letters(item: MCItem) -> list[str]:
    return list(LETTERS[: len(item.choices)])


def _arabic_letters(item: MCItem) -> list[str]:
    return list(ARABIC_LETTERS[: len(item.choices)])


TEMPLATES: dict[str, Template] = {
    "cloze": Template(_cloze, lambda item: item.choices),
    "arabicmmlu": Template(_arabicmmlu, _letters),
    "mmlu": Template(_mmlu_query, _letters, _mmlu_description),
    "aexams": Template(
        _aexams,
        _letters,
        lambda item: AEXAMS_DESCRIPTIONS.get((item.subject or "").replace(" ", ""), ""),
    ),
    "oall_exams": Template(_oall_exams, _arabic_letters),
    "oall_mmlu": Template(_oall_mmlu, _arabic_letters),
    "oall_acva": Template(
        lambda item: f"السؤال: {item.question}\nالإجابة:", lambda i: ["صح", "خطأ"]
    ),
}


def context(item: MCItem, shots: Sequence[MCItem], template: str = "cloze") -> str:
    """The scored context, as lm-eval builds it: the description, each shot answered with its
    gold choice, then the question."""
    form = TEMPLATES[template]
    answered = [f"{form.query(shot)} {form.choices(shot)[shot.gold]}" for shot in shots]
    return form.description(item) + "\n\n".join([*answered, form.query(item)])


def continuations(item: MCItem, template: str = "cloze") -> list[str]:
    """One continuation per choice, in the order of `item.choices`."""
    return [f" {choice}" for choice in TEMPLATES[template].choices(item)]


def fewshot_pool(dev: Sequence[MCItem]) -> dict[str | None, list[MCItem]]:
    """Dev items by subject, in file order: an item's shots are the first of its subject's."""
    pool: dict[str | None, list[MCItem]] = {}
    for item in dev:
        pool.setdefault(item.subject, []).append(item)
    return pool


def shots_for(item: MCItem, pool: dict[str | None, list[MCItem]], shots: int) -> list[MCItem]:
    """The first `shots` dev items of the item's subject, as lm-eval's per-subject tasks take
    them (first_n); an error when the subject has fewer."""
    if shots == 0:
        return []
    examples = pool.get(item.subject, [])
    if len(examples) < shots:
        raise ValueError(
            f"{shots} shots asked for, the dev split has {len(examples)} items of subject "
            f"{item.subject!r} (item {item.id})"
        )
    return examples[:shots]
