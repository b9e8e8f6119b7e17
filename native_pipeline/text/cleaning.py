"""The cleaning recipe: raw records in, kept documents and decisions out.

The order is the method's: extract → normalize → language → quality filters → PII → harm →
exact and near dedup. Each block's arguments come from the config, by block name.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from native_pipeline.settings import HarmSettings
from native_pipeline.text.blocks import Block, Decision, Document, Filter
from native_pipeline.text.dedup import (
    ExactDeduplicator,
    NearDeduplicator,
    SignatureIndex,
    commit,
)
from native_pipeline.text.extract import Extractor
from native_pipeline.text.harm import HarmScorer
from native_pipeline.text.langid import LanguageFilter
from native_pipeline.text.minhash import MinHashParams
from native_pipeline.text.normalize import Normalizer
from native_pipeline.text.pii import PIIRedactor
from native_pipeline.text.pipeline import Pipeline
from native_pipeline.text.quality import (
    C4Filter,
    FineWebQualityFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
    RefinedWebLineFilter,
)
from native_pipeline.text.url_filter import URLBlocklist

# Stateless blocks: they see one batch at a time, on any core.
STATELESS: tuple[type[Block], ...] = (
    Extractor,
    Normalizer,
    LanguageFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
    C4Filter,
    FineWebQualityFilter,
    PIIRedactor,
    HarmScorer,
)
# Stateful blocks: they remember every document of the dump, and earlier dumps through the index.
BLOCK_NAMES = [b.name for b in STATELESS] + [ExactDeduplicator.name, NearDeduplicator.name]
# What takes each block's config arguments: the block itself, MinHashParams for near dedup, and
# nothing for exact dedup (`object()` accepts no arguments). The settings check against these.
CONFIGURABLE: dict[str, type] = {
    **{b.name: b for b in STATELESS},
    NearDeduplicator.name: MinHashParams,
    ExactDeduplicator.name: object,
}

# The conventional-cleaning baseline the paper compares native alignment with (RefinedWeb's
# URL, document and line rules), run on cleaned text in the order the config lists them.
BASELINE_BLOCKS: dict[str, type[Filter]] = {
    b.name: b
    for b in (
        URLBlocklist,
        GopherRepetitionFilter,
        GopherQualityFilter,
        RefinedWebLineFilter,
        C4Filter,
        FineWebQualityFilter,
    )
}

RAW_COLUMNS = ["doc_id", "url", "content_type", "content"]


def baseline_blocks(blocks: Mapping[str, Mapping[str, Any]]) -> list[Filter]:
    """The cleaning baseline's filters, in the order of `blocks` (name -> arguments)."""
    unknown = set(blocks) - set(BASELINE_BLOCKS)
    if unknown:
        raise ValueError(
            f"unknown cleaning baseline blocks {sorted(unknown)}; known: {list(BASELINE_BLOCKS)}"
        )
    return [BASELINE_BLOCKS[name](**args) for name, args in blocks.items()]


def run_filters(
    filters: list[Filter], docs: list[Document]
) -> tuple[list[Document], list[Decision]]:
    """The documents every filter keeps (their text as the filters left it), and the decisions."""
    decisions: list[Decision] = []
    for block in filters:
        docs = block(docs)
        decisions += block.drain()[0]
    return docs, decisions


class Cleaning:
    """One dump's cleaning: the blocks in order, and the dedup index it reads and extends."""

    def __init__(
        self,
        blocks: Mapping[str, Mapping[str, Any]],
        index_root: Path,
        dump: str,
        workers: int,
        doc_timeout_s: float = 60.0,
        harm: HarmSettings | None = None,
    ) -> None:
        """`harm`: the scorer the `harm` block uses (none: offline)."""
        unknown = set(blocks) - set(BLOCK_NAMES)
        if unknown:
            raise ValueError(f"unknown cleaning blocks {sorted(unknown)}; known: {BLOCK_NAMES}")
        self.dump = dump
        self.index = SignatureIndex(index_root, MinHashParams(**blocks.get("near_dedup", {})))
        self.exact = ExactDeduplicator(self.index, dump)
        self.near = NearDeduplicator(self.index, dump)
        stateless = [
            cls(**blocks.get(cls.name, {}), settings=harm)
            if cls is HarmScorer
            else cls(**blocks.get(cls.name, {}))
            for cls in STATELESS
        ]
        self.pipeline = Pipeline(stateless, [self.exact, self.near], workers, doc_timeout_s)

    def run(
        self, batches: Iterable[list[Document]]
    ) -> Iterator[tuple[list[Document], list[Decision]]]:
        return self.pipeline.run(batches)

    def commit(self) -> None:
        """Add this dump's survivors to the index; call once its partition is written."""
        commit(self.index, self.dump, self.exact, self.near)


def raw_batches(paths: list[Path], batch_size: int) -> Iterator[list[Document]]:
    """Stream raw_crawl Parquet parts as batches of documents whose text is the raw content."""
    for path in paths:
        for batch in pq.ParquetFile(path).iter_batches(batch_size, columns=RAW_COLUMNS):
            columns = batch.to_pydict()
            yield [
                Document(doc_id, content, {"url": url, "content_type": content_type})
                for doc_id, url, content_type, content in zip(
                    *(columns[c] for c in RAW_COLUMNS), strict=True
                )
            ]
