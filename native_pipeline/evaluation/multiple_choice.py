"""Multiple-choice accuracy from per-choice log-likelihoods, lm-eval's acc and acc_norm."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from native_pipeline.evaluation.loglik import loglikelihoods
from native_pipeline.evaluation.tasks import MCItem, context, continuations


@dataclass(frozen=True)
class MCRow:
    id: str
    subject: str | None
    gold: int
    prediction: int  # argmax of the log-likelihoods (acc)
    prediction_norm: int  # argmax of the log-likelihoods per character of the choice (acc_norm)
    logliks: list[float]
    is_greedy: list[bool]


@dataclass(frozen=True)
class MCResult:
    acc: float
    acc_norm: float
    n: int
    shots: int
    rows: list[MCRow]


def _argmax(values: Sequence[float]) -> int:
    # the first maximum on ties, as numpy's argmax (lm-eval's)
    return max(range(len(values)), key=values.__getitem__)


def multiple_choice(
    model: Any,
    tokenizer: Any,
    items: Sequence[MCItem],
    *,
    shots: int = 0,
    fewshot_items: Sequence[MCItem] = (),
    batch_size: int = 16,
) -> MCResult:
    """Score every item's choices after `shots` examples: the first items of `fewshot_items`.

    acc_norm divides a choice's log-likelihood by its length in characters (the choice text,
    without the leading space), lm-eval's definition.
    """
    if not items:
        raise ValueError("no items to evaluate")
    if shots > len(fewshot_items):
        raise ValueError(f"{shots} shots asked for, {len(fewshot_items)} few-shot items given")
    examples = fewshot_items[:shots]
    requests = [
        (context(item, examples), continuation)
        for item in items
        for continuation in continuations(item)
    ]
    scores = iter(loglikelihoods(model, tokenizer, requests, batch_size=batch_size))
    rows = []
    for item in items:
        item_scores = [next(scores) for _ in item.choices]
        logliks = [score.logprob for score in item_scores]
        rows.append(
            MCRow(
                id=item.id,
                subject=item.subject,
                gold=item.gold,
                prediction=_argmax(logliks),
                prediction_norm=_argmax(
                    [ll / len(choice) for ll, choice in zip(logliks, item.choices, strict=True)]
                ),
                logliks=logliks,
                is_greedy=[score.is_greedy for score in item_scores],
            )
        )
    return MCResult(
        acc=sum(row.prediction == row.gold for row in rows) / len(rows),
        acc_norm=sum(row.prediction_norm == row.gold for row in rows) / len(rows),
        n=len(rows),
        shots=shots,
        rows=rows,
    )
