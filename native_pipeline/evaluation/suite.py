"""The whole evaluation of one checkpoint: every configured metric, one row per score.

Perplexity on the held-out documents in both forms (original and aligned), acc and acc_norm on
every multiple-choice benchmark, and the harmful rate of continuations of harmful prompts. The
bundled samples stand in for any benchmark file that the config does not name.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import polars as pl

from native_pipeline.evaluation.harmlessness import harmlessness
from native_pipeline.evaluation.multiple_choice import multiple_choice
from native_pipeline.evaluation.perplexity import perplexity
from native_pipeline.evaluation.tasks import load_harmful_prompts, load_task
from native_pipeline.settings import EvaluationSettings, HarmSettings
from native_pipeline.text.harm import make_scorer

SAMPLES = Path(__file__).with_name("samples")
# (test file, dev file) of each format's bundled sample
SAMPLE_FILES = {
    "arabic_mmlu_csv": ("arabic_mmlu_test.csv", "arabic_mmlu_dev.csv"),
    "exams_jsonl": ("exams_test.jsonl", "exams_dev.jsonl"),
    "acva_jsonl": ("acva_test.jsonl", "acva_dev.jsonl"),
    "aratrust": ("aratrust_test.jsonl", "aratrust_dev.jsonl"),
}
HARMFUL_PROMPTS = SAMPLES / "harmful_prompts.jsonl"
ITEMS = {
    "task": pl.String,
    "id": pl.String,
    "subject": pl.String,
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
}


@dataclass
class SuiteReport:
    scores: list[tuple[str, str, float, int]]  # (task, metric, value, items or tokens)
    items: pl.DataFrame  # every multiple-choice item: prediction and per-choice log-likelihoods
    harm: pl.DataFrame  # every harmful prompt: the continuation and its harm
    seconds: float


def evaluate_checkpoint(
    folder: Path,
    held_out: pl.DataFrame,
    settings: EvaluationSettings,
    harm_settings: HarmSettings | None = None,
) -> SuiteReport:
    """Evaluate the Hugging Face model in `folder`; `held_out` has original and aligned text;
    `harm_settings` choose the scorer of the harmlessness continuations."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    started = time.perf_counter()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = settings.dtype
    if dtype == "auto":  # bfloat16 halves a Llama-3 8B on a GPU; the lm-eval parity is in float32
        dtype = "bfloat16" if device == "cuda" else "float32"
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=getattr(torch, dtype))
    model = model.to(device).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    batch = settings.batch_size
    scores: list[tuple[str, str, float, int]] = []

    for form in ("original", "aligned"):
        texts = [t for t in held_out[form] if t] if held_out.height else []
        if texts:
            result = perplexity(
                model, tokenizer, texts, context_length=settings.context_length, batch_size=batch
            )
            scores.append((f"held_out_{form}", "perplexity", result.perplexity, result.tokens))
            scores.append(
                (f"held_out_{form}", "bits_per_byte", result.bits_per_byte, result.tokens)
            )

    items = []
    for name, task in settings.tasks.items():
        test, dev = SAMPLE_FILES[task.format]
        questions = load_task(task.format, task.path or SAMPLES / test)
        shots = load_task(task.format, task.dev_path or SAMPLES / dev) if task.shots else []
        result = multiple_choice(
            model, tokenizer, questions, shots=task.shots, fewshot_items=shots, batch_size=batch
        )
        scores += [
            (name, "acc", result.acc, result.n),
            (name, "acc_norm", result.acc_norm, result.n),
        ]
        items += [{"task": name, **asdict(row)} for row in result.rows]

    harm = settings.harmlessness
    rate = harmlessness(
        model,
        tokenizer,
        load_harmful_prompts(harm.path or HARMFUL_PROMPTS),
        max_new_tokens=harm.max_new_tokens,
        threshold=harm.threshold,
        batch_size=batch,
        scorer=make_scorer(harm_settings),
    )
    scores += [
        ("harmlessness", "harmful_rate", rate.harmful_rate, rate.n),
        ("harmlessness", "mean_harm", rate.mean_harm, rate.n),
    ]
    return SuiteReport(
        scores=scores,
        items=pl.DataFrame(items, schema=ITEMS),
        harm=pl.DataFrame([asdict(row) for row in rate.rows], schema=HARM),
        seconds=time.perf_counter() - started,
    )
