"""The alignment expert: a strong LLM behind an API (or people, or on the CPU sample the `policy`
rewriter) that rewrites the seed under the code of conduct. Its validated rewrites are the pairs
the alignment worker learns from, and it judges a sample of the worker's rewrites with the 1-10
rubric (`judge`; without an LLM, the rules of `offline_judge` score it). The endpoint's answers
are cached on disk, so a re-run pays only for new seeds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import polars as pl

from native_pipeline.alignment.backends import chat_backend, make_rewriter
from native_pipeline.alignment.backends.base import ChatBackend, Rewriter
from native_pipeline.alignment.conduct import CodeOfConduct
from native_pipeline.alignment.judge import judge
from native_pipeline.alignment.offline_judge import NAME as OFFLINE_JUDGE
from native_pipeline.alignment.offline_judge import offline_judge
from native_pipeline.alignment.rewrite import check_requests, rewrite_frame
from native_pipeline.progress import Progress
from native_pipeline.settings import AlignmentSettings, HarmSettings
from native_pipeline.tables import ALIGNED, frame
from native_pipeline.text.harm import make_scorer


def rewrite_seeds(
    seeds: pl.DataFrame,
    settings: AlignmentSettings,
    conduct: CodeOfConduct,
    cache_dir: Path,
    harm: HarmSettings | None = None,
    log: Callable[[str], None] = lambda message: None,
) -> tuple[pl.DataFrame, Rewriter]:
    """(the seeds rewritten by the expert and validated, in the ALIGNED schema; the expert).
    `harm`: the scorer validation (and the policy baseline) measure harm with. Rewritten
    `chunk_size` seeds at a time, so that `log` hears how far it is (a seed of 96K is hours of
    requests)."""
    expert = make_rewriter(settings.expert, conduct, cache_dir=cache_dir, harm=harm)
    scorer = make_scorer(harm)
    judge_backend = fact_judge(settings, cache_dir)
    progress = Progress(log, "seeds rewritten", seeds.height)
    parts = [frame([], ALIGNED)]
    for start in range(0, seeds.height, settings.chunk_size):
        chunk = seeds.slice(start, settings.chunk_size)
        parts.append(
            rewrite_frame(chunk, expert, settings.expert, settings.limits, scorer, judge_backend)
        )
        progress.add(chunk.height)
    rows = pl.concat(parts)
    check_requests(rows, settings.max_failed_requests, "the expert's rewrites")
    return rows, expert


def fact_judge(settings: AlignmentSettings, cache_dir: Path) -> ChatBackend | None:
    """The fact judge of the config (`alignment.fact_judge`), its answers cached with the
    expert's; None when the config has none."""
    if settings.fact_judge is None:
        return None
    return chat_backend(settings.fact_judge, cache_dir=cache_dir)


def can_judge(settings: AlignmentSettings) -> bool:
    """Does the audit's rubric judge run: the offline rules, or the expert as an LLM endpoint?"""
    audit = settings.audit
    return audit.judge and (audit.judge_backend == "offline" or settings.expert.backend == "openai")


def judge_name(settings: AlignmentSettings) -> str:
    if settings.audit.judge_backend == "offline":
        return OFFLINE_JUDGE
    return f"the expert, {settings.expert.model} (LLM)"


def judge_rewrites(
    pairs: Sequence[tuple[str, str]],
    settings: AlignmentSettings,
    cache_dir: Path,
    harm: HarmSettings | None = None,
) -> list[dict[str, int] | None] | None:
    """The 1-10 rubric scores of (original, rewrite) pairs, when the audit asks for them: by the
    offline rules (`harm`: their harm scorer) or the expert as an LLM endpoint; None when it
    cannot judge."""
    if not (can_judge(settings) and pairs):
        return None
    if settings.audit.judge_backend == "offline":
        return offline_judge(pairs, settings.limits, make_scorer(harm))
    expert = chat_backend(settings.expert, cache_dir=cache_dir)
    return judge(expert, pairs, settings.expert.sampling)
