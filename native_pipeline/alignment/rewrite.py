"""Rewrite segments under the code of conduct: generate, validate, retry once, never lose one.

Every segment gets exactly one result. A rejected output is retried once with another sampling
seed at the retry temperature (no retry when that is 0: greedy decoding would repeat the same
output); if that fails too, the original segment is kept and flagged with the reason, so an
invalid output is never emitted as aligned and no segment is dropped.
"""

from __future__ import annotations

import difflib
import json
import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from native_pipeline.alignment.backends.base import ChatBackend, Completion, Rewriter, Sampling
from native_pipeline.alignment.conduct import Message, unwrap
from native_pipeline.alignment.fidelity import UNDECIDED, Fidelity, compare, prepare
from native_pipeline.alignment.judge import keeps_facts
from native_pipeline.alignment.validate import VALID, Candidate, Limits, review
from native_pipeline.lake import ChunkLog
from native_pipeline.progress import Progress
from native_pipeline.settings import BackendSettings
from native_pipeline.tables import ALIGNED, SEGMENTS, frame
from native_pipeline.text.harm import HARM_KEYS, HarmBackend, make_scorer, text_harm
from native_pipeline.text.langid import LanguageFilter, detect_language

ATTEMPTS = 2  # the first output, then one retry with another seed
# The fact judge answers a yes or no: greedy, and short.
_JUDGE_SAMPLING = Sampling(temperature=0.0, max_tokens=64)


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
    fidelity: Fidelity | None = None  # of the last rewrite that parsed, kept or not
    judge: str = ""  # the fact judge on an undecided rewrite: accepted, rejected or failed

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
            "numbers_kept": self.fidelity.numbers_kept if self.fidelity else None,
            "names_kept": round(self.fidelity.names_kept, 4) if self.fidelity else None,
            "new_names": self.fidelity.new_names if self.fidelity else None,
            "new_words": self.fidelity.new_words if self.fidelity else None,
            "synonyms": self.fidelity.synonyms if self.fidelity else None,
            "judge": self.judge,
        }


def harmful_sentences(
    sentences: Sequence[str], threshold: float, scorer: HarmBackend | None = None
) -> frozenset[str]:
    """The sentences the harm scorer flags: the ones a rewrite may remove or neutralise."""
    scores = (scorer or make_scorer()).score(list(sentences)) if sentences else []
    return frozenset(
        s for s, h in zip(sentences, scores, strict=True) if h["harm_max"] >= threshold
    )


def align_segments(
    segments: Sequence[str],
    rewriter: Rewriter,
    sampling: Sampling,
    limits: Limits,
    retry_temperature: float | None = None,
    scorer: HarmBackend | None = None,
    judge: ChatBackend | None = None,
) -> list[AlignedSegment]:
    """`retry_temperature`: the temperature of the retry; None keeps `sampling`'s. `scorer`: the
    harm scorer validation compares before and after with (none: the offline one). `judge`: asked
    whether the rewrites the rules cannot decide (fidelity.UNDECIDED) keep every fact; without
    one they are rejected."""
    if retry_temperature is not None:
        retry = sampling.model_copy(update={"temperature": retry_temperature})
    else:
        retry = sampling
    # The originals are measured (and their sentences, numbers and names read) while the first
    # batch generates: an engine in another process (vLLM) or in native code (torch) leaves this
    # process's thread free.
    with ThreadPoolExecutor(max_workers=1) as pool:
        before_future = pool.submit(measure, segments, scorer)
        prepared_future = pool.submit(lambda: [prepare(s) for s in segments])
        completions = rewriter.rewrite(segments, sampling)
        before, prepared = before_future.result(), prepared_future.result()
    results = [
        AlignedSegment(s, s, "pending", before=m) for s, m in zip(segments, before, strict=True)
    ]
    pending = list(range(len(segments)))
    for attempt in range(ATTEMPTS):
        if not pending or (attempt and retry.temperature == 0):
            break
        if attempt:
            completions = rewriter.rewrite(
                [segments[i] for i in pending], retry.with_seed(sampling.seed + attempt)
            )
        outputs = [None if c.error else c.text for c in completions]
        rewrites = [unwrap(o) if o is not None else None for o in outputs]
        # Only rewrites that changed their segment are measured and lined up against it (in
        # one batch): an unchanged one measures as the original did. Clean text mostly comes
        # back unchanged, so this is most of a real batch.
        changed = {
            i: r
            for i, r in zip(pending, rewrites, strict=True)
            if r and r.strip() and r != segments[i]
        }
        parsed = list(dict.fromkeys(changed.values()))
        measured = dict(zip(parsed, measure(parsed, scorer), strict=True))
        measured.update({segments[i]: results[i].before for i in pending})
        comparisons = {i: compare(prepared[i], r) for i, r in changed.items()}
        # Only sentences a rewrite removed or changed are scored, all in one batch.
        questioned = {s for c in comparisons.values() for s in c.questioned}
        harmful = harmful_sentences(sorted(questioned), limits.harm_removal_min, scorer)
        rejected = []
        undecided = []
        for i, completion, output, rewrite in zip(
            pending, completions, outputs, rewrites, strict=True
        ):
            result = results[i]
            result.attempts += 1
            result.input_tokens += completion.input_tokens
            result.output_tokens += completion.output_tokens
            after = measured.get(rewrite) if rewrite else None
            status, fidelity = review(
                Candidate(
                    original=result.original,
                    output=output,
                    lang_before=result.before.lang,
                    lang_after=(after.lang, after.lang_score) if after else None,
                    harm_before=result.before.harm["harm_max"],
                    harm_after=after.harm["harm_max"] if after else 0.0,
                    truncated=completion.truncated,
                    comparison=comparisons.get(i),
                    harmful=harmful,
                ),
                limits,
            )
            result.fidelity = fidelity or result.fidelity
            if status == VALID:
                result.aligned, result.status, result.after = rewrite, VALID, after
            elif judge is not None and status in UNDECIDED:
                undecided.append((i, rewrite, after, status))
            else:
                result.rejected.append(status)
                result.status = status
                rejected.append(i)
        pairs = [(segments[i], rewrite) for i, rewrite, _, _ in undecided]
        verdicts = keeps_facts(judge, pairs, _JUDGE_SAMPLING) if judge is not None else []
        for (i, rewrite, after, status), verdict in zip(undecided, verdicts, strict=True):
            result = results[i]
            result.judge = {True: "accepted", False: "rejected", None: "failed"}[verdict]
            if verdict:
                result.aligned, result.status, result.after = rewrite, VALID, after
            else:
                result.rejected.append(status)
                result.status = status
                rejected.append(i)
        pending = sorted(rejected)
    for i in pending:  # still rejected: the original is kept, measured as it is
        results[i].after = results[i].before
    return results


def rewrite_frame(
    segments: pl.DataFrame,
    rewriter: Rewriter,
    settings: BackendSettings,
    limits: Limits,
    scorer: HarmBackend | None = None,
    judge: ChatBackend | None = None,
) -> pl.DataFrame:
    """`align_segments` over a frame of segments (SEGMENTS schema), as rows of ALIGNED with the
    rewriter's identity in every row."""
    texts = segments["text"].to_list()
    results = align_segments(
        texts, rewriter, settings.sampling, limits, settings.retry_temperature, scorer, judge
    )
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


class TooManyFailedRequests(RuntimeError):
    """More rewrites failed to come back than allowed: an endpoint down or a quota spent. Kept
    as failed rewrites they would pass as success."""


def check_requests(rows: pl.DataFrame, max_share: float, what: str) -> None:
    """Raise when more than `max_share` of the rows' requests failed."""
    failed = int((rows["status"] == "request_failed").sum())
    if rows.height and failed / rows.height > max_share:
        raise TooManyFailedRequests(
            f"{what}: {failed} of {rows.height} requests failed, over "
            f"alignment.max_failed_requests = {max_share}; the log says why"
        )


class _OneCallAtATime:
    """A rewriter or judge whose calls wait for one another's: two chunks in flight share the
    engine, which takes one batch at a time (vLLM's `LLM` is not thread-safe), while the other
    chunk's measurement and checks run beside it."""

    def __init__(self, model: Any, lock: threading.Lock) -> None:
        self.model = model
        self.lock = lock

    def identity(self) -> dict[str, str]:
        return self.model.identity()

    def rewrite(self, segments: Sequence[str], sampling: Sampling) -> list[Completion]:
        with self.lock:
            return self.model.rewrite(segments, sampling)

    def chat(self, conversations: Sequence[list[Message]], sampling: Sampling) -> list[Completion]:
        with self.lock:
            return self.model.chat(conversations, sampling)


def rewrite_in_chunks(
    segments: pl.DataFrame,
    rewriter: Rewriter,
    settings: BackendSettings,
    limits: Limits,
    chunks: ChunkLog,
    chunk_size: int,
    log: Callable[[str], None] = lambda message: None,
    scorer: HarmBackend | None = None,
    max_failed_requests: float = 1.0,
    judge: ChatBackend | None = None,
) -> tuple[pl.DataFrame, int]:
    """(every segment rewritten, chunks resumed): chunks already in `chunks` are not redone,
    each new one is committed as soon as it is rewritten and validated, in order. A chunk with
    more failed requests than `max_failed_requests` raises before it is committed, so that a
    rerun asks again.

    Two chunks are in flight: chunk k's rewrites are measured and checked while chunk k+1
    generates (an engine in another process or in native code leaves this process free), and
    the engine runs one call at a time. A chunk that fails stops the run after the chunks
    before it are committed; the one generating beside it is not committed."""
    starts = range(0, segments.height, chunk_size)
    committed = {index for index in range(len(starts)) if chunks.has(index)}
    done = sum(min(chunk_size, segments.height - starts[index]) for index in committed)
    if committed:
        log(f"resuming: {len(committed)} chunks ({done:,} segments) committed by an earlier run")
    progress = Progress(log, "segments rewritten", segments.height, done=done)
    lock = threading.Lock()
    engine = _OneCallAtATime(rewriter, lock)
    checker = _OneCallAtATime(judge, lock) if judge is not None else None
    in_flight: deque[tuple[int, int, Future[pl.DataFrame]]] = deque()

    def commit_oldest() -> None:
        index, size, future = in_flight.popleft()
        rows = future.result()
        check_requests(rows, max_failed_requests, f"chunk {index}")
        chunks.write(index, rows)
        progress.add(size, f"chunk {index} committed")

    with ThreadPoolExecutor(max_workers=2) as pool:
        for index, start in enumerate(starts):
            if index in committed:
                continue
            chunk = segments.slice(start, chunk_size)
            rows = pool.submit(rewrite_frame, chunk, engine, settings, limits, scorer, checker)
            in_flight.append((index, chunk.height, rows))
            if len(in_flight) == 2:
                commit_oldest()
        while in_flight:
            commit_oldest()
    return pl.concat([frame([], ALIGNED), *chunks.frames()]), len(committed)


class IncompleteShards(RuntimeError):
    """A dump's shards do not hold each of its segments exactly once, in order."""


def shard_count(n_segments: int, shard_size: int) -> int:
    """The shards of a dump: at least one, so that an empty dump is published too."""
    return max(1, -(-n_segments // shard_size))


def assemble_shards(segment_ids: Sequence[str], shards: Sequence[pl.DataFrame]) -> pl.DataFrame:
    """The dump's rows from its shards' rows, each segment exactly once and in the dump's order;
    raises when a shard is missing, short, repeated or out of place."""
    rows = pl.concat([frame([], ALIGNED), *shards])
    got = rows["segment_id"].to_list()
    if got != list(segment_ids):
        where = next(
            (i for i, (a, b) in enumerate(zip(got, segment_ids, strict=False)) if a != b),
            min(len(got), len(segment_ids)),
        )
        raise IncompleteShards(
            f"the shards hold {len(got):,} rows for {len(segment_ids):,} segments; they first "
            f"differ at row {where:,}"
        )
    return rows
