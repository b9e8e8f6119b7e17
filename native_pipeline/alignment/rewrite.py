"""Rewrite segments under the code of conduct: generate, validate, retry once, never lose one.

Every segment gets exactly one result. A rejected output is retried once with another sampling
seed; if that fails too, the original segment is kept and flagged with the reason, so an invalid
output is never emitted as aligned and no segment is dropped.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import polars as pl

from native_pipeline.alignment.backends.base import Rewriter, Sampling
from native_pipeline.alignment.conduct import unwrap
from native_pipeline.alignment.validate import VALID, Candidate, Limits, verdict
from native_pipeline.lake import ChunkLog
from native_pipeline.settings import BackendSettings
from native_pipeline.tables import ALIGNED, SEGMENTS, frame
from native_pipeline.text.harm import HARM_KEYS, HarmBackend, text_harm
from native_pipeline.text.langid import LanguageFilter, detect_language

ATTEMPTS = 2  # the first output, then one retry with another seed


@dataclass(frozen=True)
class Measures:
    harm: dict[str, float]
    lang: str
    lang_score: float
    dialect: str


def measure(texts: Sequence[str], scorer: HarmBackend | None = None) -> list[Measures]:
    """Harm scores, language and dialect of each text: what validation and the audit compare
    before and after."""
    dialect = LanguageFilter().dialect
    out = []
    for text, harm in zip(texts, text_harm(list(texts), scorer), strict=True):
        lang, score = detect_language(text.replace("\n", " ")) if text.strip() else ("", 0.0)
        out.append(Measures(harm, lang, score, dialect(text)[0]))
    return out


def edit_ratio(before: str, after: str) -> float:
    """Share of words changed: 0 for an unchanged segment, 1 for a rewrite sharing no word."""
    return 1.0 - difflib.SequenceMatcher(None, before.split(), after.split(), False).ratio()


@dataclass
class AlignedSegment:
    original: str
    aligned: str
    status: str  # "valid", or why the last output was rejected (the original is kept)
    rejected: list[str] = field(default_factory=list)  # reasons of every rejected output
    attempts: int = 0
    before: Measures | None = None
    after: Measures | None = None
    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def unchanged(self) -> bool:
        return self.aligned == self.original

    def row(self) -> dict[str, object]:
        """The columns of aligned_corpus that this result decides."""
        assert self.before and self.after
        return {
            "original": self.original,
            "aligned": self.aligned,
            "status": self.status,
            "rejected": ",".join(self.rejected),
            "attempts": self.attempts,
            "unchanged": self.unchanged,
            "edit_ratio": round(edit_ratio(self.original, self.aligned), 4),
            "length_ratio": round(len(self.aligned) / max(len(self.original), 1), 4),
            **{f"{k}_before": round(self.before.harm[k], 4) for k in HARM_KEYS},
            **{f"{k}_after": round(self.after.harm[k], 4) for k in HARM_KEYS},
            "lang_before": self.before.lang,
            "lang_after": self.after.lang,
            "dialect_before": self.before.dialect,
            "dialect_after": self.after.dialect,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
        }


def align_segments(
    segments: Sequence[str],
    rewriter: Rewriter,
    sampling: Sampling,
    limits: Limits,
    scorer: HarmBackend | None = None,
) -> list[AlignedSegment]:
    """`scorer`: the harm scorer validation compares before and after with (none: offline)."""
    # The originals are measured while the first batch generates: an engine in another process
    # (vLLM) or in native code (torch) leaves this process's thread free.
    with ThreadPoolExecutor(max_workers=1) as pool:
        before_future = pool.submit(measure, segments, scorer)
        completions = rewriter.rewrite(segments, sampling)
        before = before_future.result()
    results = [
        AlignedSegment(s, s, "pending", before=m) for s, m in zip(segments, before, strict=True)
    ]
    pending = list(range(len(segments)))
    for attempt in range(ATTEMPTS):
        if not pending:
            break
        if attempt:
            completions = rewriter.rewrite(
                [segments[i] for i in pending], sampling.with_seed(sampling.seed + attempt)
            )
        outputs = [None if c.error else c.text for c in completions]
        rewrites = [unwrap(o) if o is not None else None for o in outputs]
        # One batched measurement of every rewrite that parsed.
        parsed = [r for r in rewrites if r and r.strip()]
        measured = dict(zip(parsed, measure(parsed, scorer), strict=True))
        retry = []
        for i, completion, output, rewrite in zip(
            pending, completions, outputs, rewrites, strict=True
        ):
            result = results[i]
            result.attempts += 1
            result.input_tokens += completion.input_tokens
            result.output_tokens += completion.output_tokens
            after = measured.get(rewrite) if rewrite else None
            status = verdict(
                Candidate(
                    original=result.original,
                    output=output,
                    lang_before=result.before.lang,
                    lang_after=(after.lang, after.lang_score) if after else None,
                    harm_before=result.before.harm["harm_max"],
                    harm_after=after.harm["harm_max"] if after else 0.0,
                ),
                limits,
            )
            if status == VALID:
                result.aligned, result.status, result.after = rewrite, VALID, after
            else:
                result.rejected.append(status)
                result.status = status
                retry.append(i)
        pending = retry
    for i in pending:  # still rejected: the original is kept, measured as it is
        results[i].after = results[i].before
    return results


def rewrite_frame(
    segments: pl.DataFrame,
    rewriter: Rewriter,
    settings: BackendSettings,
    limits: Limits,
    scorer: HarmBackend | None = None,
) -> pl.DataFrame:
    """`align_segments` over a frame of segments (SEGMENTS schema), as rows of ALIGNED with the
    rewriter's identity in every row."""
    texts = segments["text"].to_list()
    results = align_segments(texts, rewriter, settings.sampling, limits, scorer=scorer)
    identity = rewriter.identity()
    who = {
        "backend": identity["backend"],
        "model": identity["model"],
        "checkpoint": identity.get("checkpoint"),
        "prompt_hash": identity.get("prompt"),
        "sampling": json.dumps(settings.sampling.model_dump(), sort_keys=True),
    }
    keys = segments.select([c for c in SEGMENTS if c != "text"]).to_dicts()
    return frame([{**k, **r.row(), **who} for k, r in zip(keys, results, strict=True)], ALIGNED)


def rewrite_in_chunks(
    segments: pl.DataFrame,
    rewriter: Rewriter,
    settings: BackendSettings,
    limits: Limits,
    chunks: ChunkLog,
    chunk_size: int,
    log: Callable[[str], None] = lambda message: None,
    scorer: HarmBackend | None = None,
) -> tuple[pl.DataFrame, int]:
    """(every segment rewritten, chunks resumed): chunks already in `chunks` are not redone,
    each new one is committed as soon as it is rewritten."""
    resumed = 0
    for index, start in enumerate(range(0, segments.height, chunk_size)):
        if chunks.has(index):
            resumed += 1
            continue
        chunk = segments.slice(start, chunk_size)
        chunks.write(index, rewrite_frame(chunk, rewriter, settings, limits, scorer))
        log(f"chunk {index} committed ({min(start + chunk_size, segments.height)} segments)")
    return pl.concat([frame([], ALIGNED), *chunks.frames()]), resumed
