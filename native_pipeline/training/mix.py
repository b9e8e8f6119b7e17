"""Corpus mixes: what each pre-training variant reads, as the paper's ablation reads them.

Every variant is built from the same documents, so that the ablation compares like with like:
- `original`: the cleaned text; `aligned`: the same documents as the alignment worker rewrote
  them; `hybrid`: both in full, each document once as it was and once aligned (the paper's
  "original + aligned", twice the volume of either); `cleaned`: the original through the
  conventional-cleaning baseline (RefinedWeb-style blocks of the config), what it removes gone;
- `fraction` keeps a nested slice holding that share of the aligned corpus's characters (the
  documents in the order of their hash, so the 25 % slice lies inside the 50 % one): the
  scaling axis in aligned tokens;
- a held-out share of documents, drawn by hash of doc_id, is set aside in both forms for
  perplexity and never trained on, whatever the variant;
- replay sources (local files) add a weighted share of other text to every variant, their
  documents drawn by a seeded sampler, not read in file order.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import polars as pl

from native_pipeline.alignment.segments import reassemble
from native_pipeline.draw import stable_hash, units
from native_pipeline.lake import Lake, PartitionWriter
from native_pipeline.progress import Progress
from native_pipeline.settings import TrainingSettings, VariantSettings
from native_pipeline.text.blocks import Document, Filter
from native_pipeline.text.cleaning import baseline_blocks, run_filters

Source = Literal["original", "aligned", "hybrid", "cleaned"]
# The forms of each document a variant trains on, each a row of its own, and the text each form
# starts from (the cleaned form is the original until the cleaning baseline has run).
FORMS: dict[Source, tuple[str, ...]] = {
    "original": ("original",),
    "aligned": ("aligned",),
    "hybrid": ("original", "aligned"),
    "cleaned": ("cleaned",),
}
TEXT_OF = {"original": "original", "aligned": "aligned", "cleaned": "original"}
DOCUMENTS = {
    "doc_id": pl.String,
    "source": pl.String,
    "segment_ids": pl.List(pl.String),
    "text": pl.String,
}
HELD_OUT = {"doc_id": pl.String, "original": pl.String, "aligned": pl.String}

# Each draw hashes doc_id with its own salt, so the held-out set and the slices are
# independent of each other.
_HELD_OUT, _SLICE = 0, 1


def unit(keys: pl.Series, seed: int, salt: int) -> pl.Series:
    """A uniform number in [0, 1) per key, for the draw `salt` of the run `seed`."""
    return units(keys, seed * 8 + salt)


def documents_in_both_forms(originals: pl.DataFrame, segments: pl.DataFrame) -> pl.DataFrame:
    """One row per document: doc_id, segment_ids, original and aligned text, url.

    `originals` has doc_id, text and url (cleaned_text; url may be absent); `segments` has
    doc_id, segment_id, index, start, end and aligned (aligned_corpus). The aligned document is
    the original with each segment's span replaced by its rewrite, so the text between segments
    is kept as it was.
    A document without aligned segments is an error: the aligned corpus is incomplete.
    """
    grouped = (
        segments.sort("doc_id", "index")
        .group_by("doc_id", maintain_order=True)
        .agg("segment_id", "start", "end", "aligned")
    )
    if "url" not in originals.columns:
        originals = originals.with_columns(url=pl.lit(None, pl.String))
    joined = originals.select("doc_id", "text", "url").join(grouped, on="doc_id", how="left")
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
            "url": joined["url"],
        }
    )


def split_held_out(
    docs: pl.DataFrame, share: float, seed: int
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(documents to train on, held-out documents in the HELD_OUT schema)."""
    held = unit(docs["doc_id"], seed, _HELD_OUT) < share
    held_out = docs.filter(held).select(list(HELD_OUT))
    return docs.filter(~held), held_out


def aligned_slice(docs: pl.DataFrame, fraction: float, seed: int) -> pl.DataFrame:
    """The documents (in their order) that hold `fraction` of the aligned characters of `docs`:
    taken in the order of their hash until the share is reached, so that slices are nested."""
    if fraction >= 1:
        return docs
    chars = docs["aligned"].str.len_chars().cast(pl.Int64)
    order = unit(docs["doc_id"], seed, _SLICE).arg_sort()
    before = chars.gather(order).cum_sum() - chars.gather(order)  # aligned chars ahead of each
    taken = pl.Series([False] * docs.height).scatter(order, before < fraction * chars.sum())
    return docs.filter(taken)


def mix(docs: pl.DataFrame, variant: VariantSettings, seed: int) -> pl.DataFrame:
    """The training documents of one variant (DOCUMENTS schema) from documents in both forms,
    before the cleaning baseline: one row per document and form (two for hybrid)."""
    docs = aligned_slice(docs, variant.fraction, seed)
    forms = [
        docs.select(
            "doc_id",
            pl.lit(form).alias("source"),
            "segment_ids",
            pl.col(TEXT_OF[form]).alias("text"),
        )
        for form in FORMS[variant.source]
    ]
    return pl.concat(forms).cast(DOCUMENTS)


def clean_baseline(
    mixed: pl.DataFrame, urls: pl.DataFrame, filters: list[Filter]
) -> tuple[pl.DataFrame, Counter[str]]:
    """`mixed` (DOCUMENTS) through the cleaning baseline's filters (`baseline_blocks`): the
    documents kept, their text as the filters left it, and the count of each removal and
    modification reason. `urls` maps doc_id to url, which the URL blocklist reads."""
    url_of = dict(urls.select("doc_id", "url").iter_rows())
    docs = [
        Document(d, t, {"url": url_of.get(d)}) for d, t in mixed.select("doc_id", "text").rows()
    ]
    kept, decisions = run_filters(filters, docs)
    text = {doc.doc_id: doc.text for doc in kept}
    cleaned = mixed.filter(pl.col("doc_id").is_in(list(text))).with_columns(
        text=pl.col("doc_id").replace_strict(text, return_dtype=pl.String)
    )
    return cleaned, Counter(decision.reason for decision in decisions)


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


def replay(name: str, path: Path, text_field: str, target_chars: int, seed: int) -> pl.DataFrame:
    """Documents of one replay source drawn at random (seeded by `seed` and the name) until
    `target_chars` are reached, in file order; doc_id keeps each one's place in the file. The
    file is read twice: the lengths to draw from, then the documents drawn."""
    lengths = np.fromiter((len(text) for text in read_replay(path, text_field)), dtype=np.int64)
    order = np.random.default_rng(stable_hash(name, seed)).permutation(len(lengths))
    order = order[lengths[order] > 0]
    taken = np.cumsum(lengths[order]) - lengths[order] < target_chars  # chars drawn before each
    chosen = set(order[taken].tolist())
    rows = [
        {"doc_id": f"replay:{name}:{number}", "text": text}
        for number, text in enumerate(read_replay(path, text_field))
        if number in chosen
    ]
    return pl.DataFrame(rows, schema={"doc_id": pl.String, "text": pl.String}).select(
        "doc_id",
        pl.lit(f"replay:{name}").alias("source"),
        pl.lit([], dtype=pl.List(pl.String)).alias("segment_ids"),
        "text",
    )


def aligned_dumps(lake: Lake) -> list[str]:
    """Dumps with both cleaned and aligned text: every variant reads the same documents."""
    cleaned = {p.name for p in lake.root.glob("cleaned_text/dump=*")}
    aligned = {p.name for p in lake.root.glob("aligned_corpus/dump=*")}
    return sorted(name.removeprefix("dump=") for name in cleaned & aligned)


def documents_by_dump(
    lake: Lake, settings: TrainingSettings
) -> Iterator[tuple[str, pl.DataFrame, pl.DataFrame]]:
    """(dump, documents to train on, held-out documents), one dump at a time."""
    for dump in aligned_dumps(lake):
        originals = (
            lake.scan("cleaned_text", "data", dump).select("doc_id", "text", "url").collect()
        )
        segments = (
            lake.scan("aligned_corpus", "data", dump)
            .select("doc_id", "segment_id", "index", "start", "end", "aligned")
            .collect()
        )
        docs = documents_in_both_forms(originals, segments)
        train, held_out = split_held_out(docs, settings.held_out_share, settings.seed)
        yield dump, train, held_out


@dataclass
class MixSummary:
    dumps: list[str] = field(default_factory=list)
    held_out_documents: int = 0
    by_source: pl.DataFrame = field(
        default_factory=lambda: pl.DataFrame(
            schema={"source": pl.String, "documents": pl.UInt32, "characters": pl.UInt64}
        )
    )
    replay_shortfall_chars: dict[str, int] = field(default_factory=dict)
    cleaning_baseline: Counter[str] = field(default_factory=Counter)  # reason -> documents

    def tally(self, docs: pl.DataFrame) -> None:
        counts = docs.group_by("source", maintain_order=True).agg(
            documents=pl.len(), characters=pl.col("text").str.len_chars().sum()
        )
        self.by_source = pl.concat([self.by_source, counts.cast(self.by_source.schema)])

    def shares(self, weights: dict[str, float]) -> pl.DataFrame:
        """Per source: its characters' realised share of the mix, beside its configured weight
        (replay sources; null for the corpus, which takes what the weights leave)."""
        chars = pl.col("characters")
        return self.by_source.with_columns(
            share=(chars / chars.sum()).round(4),
            weight=pl.col("source").replace_strict(weights, default=None, return_dtype=pl.Float64),
        )


def write_variant(
    out: PartitionWriter,
    lake: Lake,
    name: str,
    settings: TrainingSettings,
    log: Callable[[str], None] = lambda message: None,
) -> MixSummary:
    """Write variant `name`'s documents and held-out documents (with their dump) to `out`:
    every dump's documents mixed as the variant says (through the cleaning baseline for
    `cleaned`), then the replay sources. `log` hears how many dumps are mixed."""
    variant = settings.variants[name]
    # built once: a URL blocklist file can hold millions of domains
    filters = baseline_blocks(settings.cleaning_baseline) if variant.source == "cleaned" else []
    summary = MixSummary()
    progress = Progress(log, "dumps mixed", len(aligned_dumps(lake)))
    out.write("documents", pl.DataFrame(schema={**DOCUMENTS, "dump": pl.String}))
    out.write("held_out", pl.DataFrame(schema={**HELD_OUT, "dump": pl.String}))
    for dump, train, held_out in documents_by_dump(lake, settings):
        docs = mix(train, variant, settings.seed)
        if variant.source == "cleaned":
            docs, reasons = clean_baseline(docs, train, filters)
            summary.cleaning_baseline.update(reasons)
        out.write("documents", docs.with_columns(dump=pl.lit(dump)))
        out.write("held_out", held_out.with_columns(dump=pl.lit(dump)))
        summary.tally(docs)
        summary.held_out_documents += held_out.height
        summary.dumps.append(dump)
        progress.add(1, f"{int(summary.by_source['documents'].sum()):,} documents")
    if not summary.dumps:
        raise ValueError("no dump has both cleaned_text and aligned_corpus to mix")
    corpus_chars = int(summary.by_source["characters"].sum())
    total_weight = sum(r.weight for r in settings.replay)
    for source in settings.replay:
        target = replay_target_chars(corpus_chars, source.weight, total_weight)
        docs = replay(source.name, source.path, source.text_field, target, settings.seed)
        out.write("documents", docs.with_columns(dump=pl.lit(None, pl.String)))
        summary.tally(docs)
        if (got := int(docs["text"].str.len_chars().sum())) < target:
            summary.replay_shortfall_chars[source.name] = target - got  # the file holds less
    summary.by_source = summary.by_source.group_by("source", maintain_order=True).sum()
    return summary
