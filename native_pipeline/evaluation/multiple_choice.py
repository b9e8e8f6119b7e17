"""Multiple-choice accuracy from per-choice log-likelihoods, lm-eval's acc and acc_norm, overall
and per subject and category."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from native_pipeline.evaluation.loglik import loglikelihoods
from native_pipeline.evaluation.tasks import (
    TEMPLATES,
    MCItem,
    context,
    continuations,
    fewshot_pool,
    shots_for,
)


@dataclass(frozen=True)
class MCRow:
    id: str
    subject: str | None
    category: str | None
    gold: int
    prediction: int  # argmax of the log-likelihoods (acc)
    prediction_norm: int  # argmax of the log-likelihoods per character of the choice (acc_norm)
    logliks: list[float]
    is_greedy: list[bool]


@dataclass(frozen=True)
class GroupScore:
    by: str  # "subject" or "category"
    group: str
    acc: float
    acc_norm: float
    n: int


@dataclass(frozen=True)
class GroupFailure:
    """A subject that could not be scored (lm-eval: one task of a group), and why."""

    subject: str | None
    reason: str
    n: int  # its test items, left out of every score


@dataclass(frozen=True)
class MCResult:
    acc: float  # over all items (micro)
    acc_norm: float
    acc_macro: float  # the mean of the per-subject accuracies
    acc_norm_macro: float
    n: int
    shots: int
    rows: list[MCRow]
    groups: list[GroupScore]  # per subject, then per category, in order of first appearance
    failed: list[GroupFailure]  # subjects left out (too few dev items for the shots)


def _argmax(values: Sequence[float]) -> int:
    # the first maximum on ties, as numpy's argmax (lm-eval's)
    return max(range(len(values)), key=values.__getitem__)


def _accuracy(rows: Sequence[MCRow]) -> tuple[float, float]:
    return (
        sum(row.prediction == row.gold for row in rows) / len(rows),
        sum(row.prediction_norm == row.gold for row in rows) / len(rows),
    )


def group_scores(rows: Sequence[MCRow], by: str) -> list[GroupScore]:
    """acc and acc_norm of the rows of each subject (or category); rows without one left out."""
    groups: dict[str, list[MCRow]] = {}
    for row in rows:
        name = getattr(row, by)
        if name is not None:
            groups.setdefault(name, []).append(row)
    return [
        GroupScore(by, name, *_accuracy(members), len(members)) for name, members in groups.items()
    ]


def multiple_choice(
    model: Any,
    tokenizer: Any,
    items: Sequence[MCItem],
    *,
    shots: int = 0,
    dev: Sequence[MCItem] = (),
    template: str = "cloze",
    batch_size: int = 16,
) -> MCResult:
    """Score every item's choices after `shots` examples: the first dev items of its subject.

    acc_norm divides a choice's log-likelihood by its length in characters (the scored string,
    without the leading space), lm-eval's definition. A subject with fewer dev items than
    `shots` is left out and listed in `failed` (lm-eval fails that subject's task); an error
    when no subject is left.
    """
    if not items:
        raise ValueError("no items to evaluate")
    if shots and not dev:
        raise ValueError(f"{shots} shots asked for and there is no dev data")
    pool = fewshot_pool(dev)
    requests, scored_items, failed = [], [], {}
    for item in items:
        if len(TEMPLATES[template].choices(item)) != len(item.choices):
            raise ValueError(f"template {template!r} does not fit item {item.id}'s choices")
        try:
            prompt = context(item, shots_for(item, pool, shots), template)
        except ValueError as error:
            reason, n = failed.get(item.subject, (str(error), 0))
            failed[item.subject] = (reason, n + 1)
            continue
        scored_items.append(item)
        requests += [(prompt, continuation) for continuation in continuations(item, template)]
    if not scored_items:
        raise ValueError(f"no subject can be scored: {next(iter(failed.values()))[0]}")
    items = scored_items
    scores = iter(loglikelihoods(model, tokenizer, requests, batch_size=batch_size))
    rows = []
    for item in items:
        item_scores = [next(scores) for _ in item.choices]
        logliks = [score.logprob for score in item_scores]
        scored = TEMPLATES[template].choices(item)
        rows.append(
            MCRow(
                id=item.id,
                subject=item.subject,
                category=item.category,
                gold=item.gold,
                prediction=_argmax(logliks),
                prediction_norm=_argmax(
                    [ll / len(choice) for ll, choice in zip(logliks, scored, strict=True)]
                ),
                logliks=logliks,
                is_greedy=[score.is_greedy for score in item_scores],
            )
        )
    acc, acc_norm = _accuracy(rows)
    # The macro average weighs every subject alike; items without one make one group.
    by_subject: dict[str | None, list[MCRow]] = {}
    for row in rows:
        by_subject.setdefault(row.subject, []).append(row)
    macro = [_accuracy(members) for members in by_subject.values()]
    return MCResult(
        acc=acc,
        acc_norm=acc_norm,
        acc_macro=sum(a for a, _ in macro) / len(macro),
        acc_norm_macro=sum(a for _, a in macro) / len(macro),
        n=len(rows),
        shots=shots,
        rows=rows,
        groups=group_scores(rows, "subject") + group_scores(rows, "category"),
        failed=[GroupFailure(subject, reason, n) for subject, (reason, n) in failed.items()],
    )
