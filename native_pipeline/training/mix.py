"""Corpus mixes: what each pre-training variant reads.

Every variant is built from the same documents, so that the ablation compares like with like:
- `original`: the cleaned text; `aligned`: the same documents as the alignment worker rewrote
  them; `hybrid`: each document in one form or the other, a configured share aligned;
- `fraction` keeps a nested volume slice (the documents whose hash falls under it, so the 25 %
  slice lies inside the 50 % one) for the scaling curve;
- a held-out share of documents, drawn by hash of doc_id, is set aside in both forms for
  perplexity and never trained on, whatever the variant;
- replay sources (local files) add a weighted share of other text to every variant.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import polars as pl
import xxhash

from native_pipeline.alignment.segments import reassemble

Source = Literal["original", "aligned", "hybrid"]
DOCUMENTS = {
    "doc_id": pl.String,
    "source": pl.String,
    "segment_ids": pl.List(pl.String),
    "text": pl.String,
}
HELD_OUT = {"doc_id": pl.String, "original": pl.String, "aligned": pl.String}

# Each draw hashes doc_id with its own salt, so the held-out set, the slices and the hybrid
# choice are independent of each other.
_HELD_OUT, _SLICE, _HYBRID = 0, 1, 2


def unit(keys: pl.Series, seed: int, salt: int) -> pl.Series:
    """A reproducible uniform number in [0, 1) per key, the same on every machine."""
    values = [xxhash.xxh64_intdigest(key.encode(), seed * 8 + salt) / 2**64 for key in keys]
    return pl.Series(values, dtype=pl.Float64)


@dataclass(frozen=True)
class Variant:
    name: str
    source: Source
    fraction: float = 1.0
    aligned_share: float = 0.5


def documents_in_both_forms(originals: pl.DataFrame, segments: pl.DataFrame) -> pl.DataFrame:
    """One row per document: doc_id, segment_ids, original and aligned text.

    `originals` has doc_id and text (cleaned_text); `segments` has doc_id, segment_id, index,
    start, end and aligned (aligned_corpus). The aligned document is the original with each
    segment's span replaced by its rewrite, so the text between segments is kept as it was.
    A document without aligned segments is an error: the aligned corpus is incomplete.
    """
    grouped = (
        segments.sort("doc_id", "index")
        .group_by("doc_id", maintain_order=True)
        .agg("segment_id", "start", "end", "aligned")
    )
    joined = originals.select("doc_id", "text").join(grouped, on="doc_id", how="left")
    missing = joined.filter(pl.col("segment_id").is_null())["doc_id"]
    if missing.len():
        raise ValueError(
            f"{missing.len()} documents of cleaned_text have no aligned segments "
            f"(first: {missing[0]}); materialize aligned_corpus for their dump first"
        )
    aligned = [
        reassemble(text, list(zip(starts, ends, strict=True)), rewrites)
        for text, starts, ends, rewrites in joined.select("text", "start", "end", "aligned").rows()
    ]
    return pl.DataFrame(
        {
            "doc_id": joined["doc_id"],
            "segment_ids": joined["segment_id"],
            "original": joined["text"],
            "aligned": pl.Series(aligned, dtype=pl.String),
        }
    )


def split_held_out(
    docs: pl.DataFrame, share: float, seed: int
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(documents to train on, held-out documents in the HELD_OUT schema)."""
    held = unit(docs["doc_id"], seed, _HELD_OUT) < share
    held_out = docs.filter(held).select(list(HELD_OUT))
    return docs.filter(~held), held_out


def mix(docs: pl.DataFrame, variant: Variant, seed: int) -> pl.DataFrame:
    """The training documents of one variant (DOCUMENTS schema) from documents in both forms."""
    docs = docs.filter(unit(docs["doc_id"], seed, _SLICE) < variant.fraction)
    if variant.source == "hybrid":
        aligned = unit(docs["doc_id"], seed, _HYBRID) < variant.aligned_share
    else:
        aligned = pl.Series([variant.source == "aligned"] * docs.height, dtype=pl.Boolean)
    return docs.select(
        "doc_id",
        pl.when(aligned).then(pl.lit("aligned")).otherwise(pl.lit("original")).alias("source"),
        "segment_ids",
        pl.when(aligned).then("aligned").otherwise("original").alias("text"),
    ).cast(DOCUMENTS)


def replay_target_chars(variant_chars: int, weight: float, total_weight: float) -> int:
    """Characters of one replay source so that it is `weight` of the mixed variant."""
    if total_weight >= 1:
        raise ValueError(f"replay weights add up to {total_weight}; they must stay below 1")
    return round(variant_chars * weight / (1 - total_weight))


def read_replay(path: Path, text_field: str = "text") -> Iterator[str]:
    """Texts of a local replay file: JSONL or Parquet with a text column, or plain text with
    documents separated by blank lines."""
    if path.suffix == ".parquet":
        frame = pl.read_parquet(path)
        if text_field not in frame.columns:
            raise ValueError(f"{path}: no column {text_field!r} (columns: {frame.columns})")
        yield from frame[text_field].drop_nulls()
    elif path.suffix in (".jsonl", ".json"):
        with path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    yield json.loads(line)[text_field]
                except (json.JSONDecodeError, KeyError, TypeError) as error:
                    raise ValueError(
                        f"{path}:{number}: no {text_field!r} in {line[:80]!r}"
                    ) from error
    elif path.suffix == ".txt":
        yield from (doc.strip() for doc in path.read_text(encoding="utf-8").split("\n\n"))
    else:
        raise ValueError(f"{path}: replay files are .jsonl, .parquet or .txt")


def replay(name: str, path: Path, text_field: str, target_chars: int) -> pl.DataFrame:
    """Documents of one replay source, in file order, until `target_chars` are reached."""
    rows, chars = [], 0
    for number, text in enumerate(read_replay(path, text_field)):
        if chars >= target_chars:
            break
        if text:
            rows.append({"doc_id": f"replay:{name}:{number}", "text": text})
            chars += len(text)
    return pl.DataFrame(rows, schema={"doc_id": pl.String, "text": pl.String}).select(
        "doc_id",
        pl.lit(f"replay:{name}").alias("source"),
        pl.lit([], dtype=pl.List(pl.String)).alias("segment_ids"),
        "text",
    )
