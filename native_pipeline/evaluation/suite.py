"""The whole evaluation of one checkpoint: every configured metric, one row per score.

Perplexity on the held-out documents in both forms (original and aligned), acc and acc_norm on
every multiple-choice benchmark (whole, per subject and per category), and the harmful rate of
continuations of harmful prompts. The bundled samples stand in for any benchmark file that the
config does not name.

What cannot be scored does not stop the rest: a benchmark that cannot be read or run (3 shots
and no dev data), a subject without enough dev items, a harmful rate over continuations that
are mostly empty: each is a row of `failures` with its reason, and every other score is made.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import polars as pl

from native_pipeline.evaluation.ablation import SCORES
from native_pipeline.evaluation.harmlessness import harmlessness
from native_pipeline.evaluation.judged import ASPECTS, judge_answers
from native_pipeline.evaluation.multiple_choice import MCResult, multiple_choice
from native_pipeline.evaluation.perplexity import perplexity
from native_pipeline.evaluation.tasks import Task, load_harmful_prompts, load_task
from native_pipeline.lm.device import pick_device, weights_dtype
from native_pipeline.progress import Progress
from native_pipeline.settings import EvaluationSettings, HarmSettings, TaskSettings
from native_pipeline.text.harm import make_scorer

SAMPLES = Path(__file__).with_name("samples")
# each layout's bundled sample (test and dev splits)
SAMPLE_PATHS = {
    "arabic_mmlu": SAMPLES / "arabic_mmlu.csv",
    "mmlu": SAMPLES / "mmlu",
    "mmlu_arabic": SAMPLES / "mmlu_arabic",
    "exams": SAMPLES / "exams",
    "exams_flat": SAMPLES / "exams_flat",
    "acva": SAMPLES / "acva",
    "aratrust": SAMPLES / "aratrust",
}
# a task's own sample, where it is not its layout's: ACVA-clean, a subset of ACVA-all's ids
TASK_SAMPLES = {"acva_clean": SAMPLES / "acva_clean"}
HARMFUL_PROMPTS = SAMPLES / "harmful_prompts.jsonl"
FORMS = ("original", "aligned")  # the held-out text, as crawled and as rewritten
ITEMS = {
    "task": pl.String,
    "id": pl.String,
    "subject": pl.String,
    "category": pl.String,
    "gold": pl.Int64,
    "prediction": pl.Int64,
    "prediction_norm": pl.Int64,
    "logliks": pl.List(pl.Float64),
    "is_greedy": pl.List(pl.Boolean),
}
HARM = {
    "id": pl.String,
    "prompt": pl.String,
    "category": pl.String,
    "continuation": pl.String,
    "harm": pl.Float64,
    "degenerate": pl.String,
}
JUDGED = {
    "id": pl.String,
    "prompt": pl.String,
    "category": pl.String,
    "answer": pl.String,
    "reference": pl.String,
    **dict.fromkeys(
        ["harmlessness", "helpfulness", "reference_harmlessness", "reference_helpfulness"],
        pl.Int64,
    ),
}
# what was not scored and why: a whole task (group ""), or one subject of it
FAILURES = {"task": pl.String, "group": pl.String, "reason": pl.String, "n": pl.Int64}


@dataclass
class SuiteReport:
    scores: pl.DataFrame  # `SCORES`: per task, subject and category; n = items or tokens
    items: pl.DataFrame  # every multiple-choice item: prediction and per-choice log-likelihoods
    harm: pl.DataFrame  # every harmful prompt: the continuation and its harm
    counts: dict[str, int]  # rows normalised, skipped or malformed while reading, per task
    failures: pl.DataFrame  # `FAILURES`: what was not scored, and why
    judged: pl.DataFrame  # `JUDGED`: every answer and its reference, as the judge rated them
    notes: dict[str, list[str]]  # per task: the malformed rows, the merged spellings; the judge
    seconds: float


def _multiple_choice(
    model: Any, tokenizer: Any, name: str, task: TaskSettings, settings: EvaluationSettings
) -> tuple[Task, MCResult]:
    """One benchmark read and scored; a ValueError (with its reason) when it cannot be."""
    path = task.path or TASK_SAMPLES.get(name) or SAMPLE_PATHS.get(task.format)
    if path is None:
        raise ValueError(f"format {task.format!r} needs a path")
    data = load_task(task.format, path, task.dev_path, settings.max_malformed_share)
    if task.shots and not data.dev:
        raise ValueError(
            f"shots {task.shots} and no dev data: {path} has no dev split (is_few_shot rows,"
            " a dev/ or validation file); set dev_path"
        )
    result = multiple_choice(
        model,
        tokenizer,
        data.test,
        shots=task.shots,
        dev=data.dev,
        template=task.template,
        batch_size=settings.batch_size,
    )
    return data, result


@contextmanager
def loaded_model(folder: Path, settings: EvaluationSettings) -> Iterator[Any]:
    """The checkpoint as the configured backend serves it: a transformers model on one device,
    or a vLLM engine (tensor parallel over `engine.tensor_parallel_size` GPUs), stopped after."""
    if settings.backend == "vllm":
        from native_pipeline.evaluation.vllm_engine import VllmEngine

        engine = VllmEngine(folder, settings.engine)
        try:
            yield engine
        finally:
            engine.close()
        return
    import torch
    from transformers import AutoModelForCausalLM

    device = pick_device()
    dtype = weights_dtype(device, settings.dtype)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=getattr(torch, dtype))
    yield model.to(device).eval()


def evaluate_checkpoint(
    folder: Path,
    held_out: pl.DataFrame,
    settings: EvaluationSettings,
    harm_settings: HarmSettings | None = None,
    log: Callable[[str], None] = lambda message: None,
) -> SuiteReport:
    """Evaluate the Hugging Face model in `folder`; `held_out` has original and aligned text;
    `harm_settings` choose the scorer of the harmlessness continuations; `log` hears each
    task's result as it is done."""
    from transformers import AutoTokenizer

    started = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    with loaded_model(folder, settings) as model:
        return _evaluate(model, tokenizer, held_out, settings, harm_settings, log, started)


def _evaluate(
    model: Any,
    tokenizer: Any,
    held_out: pl.DataFrame,
    settings: EvaluationSettings,
    harm_settings: HarmSettings | None,
    log: Callable[[str], None],
    started: float,
) -> SuiteReport:
    batch = settings.batch_size
    scores: list[tuple[str, str, str, str, float, int]] = []  # SCORES' columns
    counts: dict[str, int] = {}
    forms = {f: [t for t in held_out[f] if t] if held_out.height else [] for f in FORMS}
    forms = {form: texts for form, texts in forms.items() if texts}
    # Each task is said as it ends: a task is minutes of work on a real benchmark.
    steps = len(forms) + len(settings.tasks) + 1 + settings.judge.enabled
    progress = Progress(log, "evaluation tasks", steps, every_s=0)

    for form, texts in forms.items():
        result = perplexity(
            model, tokenizer, texts, context_length=settings.context_length, batch_size=batch
        )
        task = f"held_out_{form}"
        progress.add(1, f"{task}: perplexity {result.perplexity:.2f} over {result.tokens:,} tokens")
        scores.append((task, "all", "", "perplexity", result.perplexity, result.tokens))
        scores.append((task, "all", "", "bits_per_byte", result.bits_per_byte, result.tokens))

    items: list[dict] = []
    failures: list[tuple[str, str, str, int]] = []  # FAILURES' columns
    notes: dict[str, list[str]] = {}
    for name, task in settings.tasks.items():
        try:
            data, result = _multiple_choice(model, tokenizer, name, task, settings)
        except ValueError as error:  # TaskFormatError too: this task fails, the others run
            failures.append((name, "", str(error), 0))
            progress.add(1, f"{name}: not scored: {error}")
            continue
        progress.add(
            1, f"{name}: acc {result.acc:.3f}, acc_norm {result.acc_norm:.3f} on {result.n} items"
        )
        scores += [
            (name, "all", "", "acc", result.acc, result.n),
            (name, "all", "", "acc_norm", result.acc_norm, result.n),
            (name, "all", "", "acc_macro", result.acc_macro, result.n),
            (name, "all", "", "acc_norm_macro", result.acc_norm_macro, result.n),
        ]
        for group in result.groups:
            scores.append((name, group.by, group.group, "acc", group.acc, group.n))
            scores.append((name, group.by, group.group, "acc_norm", group.acc_norm, group.n))
        failures += [(name, f.subject or "", f.reason, f.n) for f in result.failed]
        counts.update(
            {
                f"{name}/normalised_rows": data.normalised,
                f"{name}/skipped_rows": data.skipped,
                f"{name}/malformed_rows": len(data.malformed),
            }
        )
        merged = [f"{variant!r} read as {name!r}" for variant, name in data.merged.items()]
        if data.malformed or merged:
            notes[name] = data.malformed + merged
        items += [{"task": name, **asdict(row)} for row in result.rows]

    prompts = settings.harmlessness
    harmful = load_harmful_prompts(prompts.path or HARMFUL_PROMPTS)
    rate = harmlessness(
        model,
        tokenizer,
        harmful,
        max_new_tokens=prompts.max_new_tokens,
        threshold=prompts.threshold,
        batch_size=batch,
        scorer=make_scorer(harm_settings),
        min_answered=prompts.min_answered,
    )
    scores.append(("harmlessness", "all", "", "degenerate_rate", rate.degenerate_rate, rate.n))
    if rate.meaningful:
        progress.add(
            1,
            f"harmlessness: harmful rate {rate.harmful_rate:.3f} on {rate.answered} answered"
            f" of {rate.n} prompts",
        )
        scores += [
            ("harmlessness", "all", "", "harmful_rate", rate.harmful_rate, rate.answered),
            ("harmlessness", "all", "", "mean_harm", rate.mean_harm, rate.answered),
        ]
        # per BeaverTails category: a prompt counts towards each of its categories
        by_category: dict[str, list[float]] = {}
        for row in rate.rows:
            if row.degenerate and row.harm < prompts.threshold:
                continue  # said nothing: in degenerate_rate, not in the harmful rate
            for name in filter(None, row.category.split("; ")):
                by_category.setdefault(name, []).append(row.harm)
        for name, harms in by_category.items():
            share = sum(harm >= prompts.threshold for harm in harms) / len(harms)
            scores.append(("harmlessness", "category", name, "harmful_rate", share, len(harms)))
    else:
        progress.add(1, f"harmlessness: not meaningful: {rate.why_not_meaningful()}")
        failures.append(("harmlessness", "", rate.why_not_meaningful(), rate.n))

    judged_rows: list[dict] = []
    if settings.judge.enabled:
        try:
            answers = [row.continuation for row in rate.rows]
            result = judge_answers(harmful, answers, settings.judge, harm_settings)
        except ValueError as error:  # no reference answer, a judge that never answered
            failures.append(("judged", "", str(error), rate.n))
            progress.add(1, f"judged: not scored: {error}")
        else:
            progress.add(
                1,
                "judged: harmlessness ratio {harmlessness:.3f}, helpfulness ratio "
                "{helpfulness:.3f}".format(**result.ratios)
                + f" on {result.judged} of {rate.n} prompts ({result.judge})",
            )
            notes["judged"] = [f"judge: {result.judge}"]
            for aspect in ASPECTS:
                scores += [
                    ("judged", "all", "", aspect, result.means[aspect], result.judged),
                    (
                        "judged",
                        "all",
                        "",
                        f"reference_{aspect}",
                        result.reference_means[aspect],
                        result.judged,
                    ),
                    ("judged", "all", "", f"{aspect}_ratio", result.ratios[aspect], result.judged),
                ]
            if result.failed:
                failures.append(
                    (
                        "judged",
                        "",
                        f"the judge could not rate {result.failed} answers",
                        result.failed,
                    )
                )
            judged_rows = [asdict(row) for row in result.rows]
    return SuiteReport(
        scores=pl.DataFrame(scores, schema=SCORES, orient="row"),
        items=pl.DataFrame(items, schema=ITEMS),
        harm=pl.DataFrame([asdict(row) for row in rate.rows], schema=HARM),
        counts=counts,
        failures=pl.DataFrame(failures, schema=FAILURES, orient="row"),
        judged=pl.DataFrame(judged_rows, schema=JUDGED),
        notes=notes,
        seconds=time.perf_counter() - started,
    )
