"""Schemas of the tables every stage writes, so empty partitions still have typed columns."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict
from typing import Any

import polars as pl

from native_pipeline.text.blocks import BlockStats
from native_pipeline.text.harm import HARM_KEYS

RAW_RECORDS = {
    "doc_id": pl.String,
    "source_file": pl.String,
    "offset": pl.Int64,  # see warc.RawRecord
    "record_id": pl.String,
    "url": pl.String,
    "fetch_time": pl.Datetime("us", "UTC"),
    "content_type": pl.String,
    "http_status": pl.Int32,
    "byte_length": pl.Int64,
    "charset": pl.String,
    "charset_source": pl.String,
    "content": pl.String,
}
QUARANTINE = {
    "source_file": pl.String,
    "offset": pl.Int64,
    "record_id": pl.String,
    "url": pl.String,
    "reason": pl.String,
    "detail": pl.String,
}
# raw_crawl: the records an independent scan of each file found, by offset (conservation).
SCANNED = {"source_file": pl.String, "offset": pl.Int64, "records": pl.Int64}
# cleaned_text's kept documents: the text and what the blocks learnt about it.
CLEANED = {
    "doc_id": pl.String,
    "text": pl.String,
    "url": pl.String,
    "content_type": pl.String,
    "title": pl.String,
    "lang": pl.String,
    "lang_score": pl.Float64,
    "dialect": pl.String,
    "dialect_score": pl.Float64,
    "pii_count": pl.Int64,
    **{k: pl.Float64 for k in HARM_KEYS},
}
DECISIONS = {
    "doc_id": pl.String,
    "stage": pl.String,
    "action": pl.String,
    "reason": pl.String,
    "score": pl.Float64,
    "detail": pl.String,
}
STAGES = {
    "step": pl.Int32,
    "stage": pl.String,
    "docs_in": pl.Int64,
    "docs_out": pl.Int64,
    "bytes_in": pl.Int64,
    "bytes_out": pl.Int64,
    "seconds": pl.Float64,
}


def frame(rows: Iterable[Any], schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """Dataclass instances or dicts to a frame with exactly the schema's columns."""
    dicts = [row if isinstance(row, dict) else asdict(row) for row in rows]
    return pl.DataFrame(dicts, schema=schema)


def stages_frame(stats: dict[str, BlockStats]) -> pl.DataFrame:
    rows = [{"step": i, "stage": name, **s.as_dict()} for i, (name, s) in enumerate(stats.items())]
    return frame(rows, STAGES)


SEGMENTS = {
    "doc_id": pl.String,
    "segment_id": pl.String,
    "index": pl.Int32,
    "start": pl.Int64,
    "end": pl.Int64,
    "text": pl.String,
    "n_tokens": pl.Int32,
}
ALIGNED = {
    **{k: v for k, v in SEGMENTS.items() if k != "text"},
    "original": pl.String,
    "aligned": pl.String,
    "status": pl.String,
    "rejected": pl.String,
    "attempts": pl.Int32,
    "unchanged": pl.Boolean,
    "edit_ratio": pl.Float64,
    "length_ratio": pl.Float64,
    **{f"{k}_before": pl.Float64 for k in HARM_KEYS},
    **{f"{k}_after": pl.Float64 for k in HARM_KEYS},
    "lang_before": pl.String,
    "lang_after": pl.String,
    "dialect_before": pl.String,
    "dialect_after": pl.String,
    "input_tokens": pl.Int64,
    "output_tokens": pl.Int64,
    # Knowledge preservation of the last rewrite that parsed (null when none did): shares of the
    # original's numbers and names it kept, the names and the words it added
    # (alignment/fidelity.py).
    "numbers_kept": pl.Float64,
    "names_kept": pl.Float64,
    "new_names": pl.Int32,
    "new_words": pl.Int32,
    "synonyms": pl.Int32,  # common words swapped for others
    # The fact judge's word on a rewrite the rules could not decide: accepted, rejected, failed
    # (no answer), or empty when it was not asked.
    "judge": pl.String,
    # The rewriter's identity: which backend, model, checkpoint, prompt and sampling wrote it.
    "backend": pl.String,
    "model": pl.String,
    "checkpoint": pl.String,
    "prompt_hash": pl.String,
    "sampling": pl.String,
}
