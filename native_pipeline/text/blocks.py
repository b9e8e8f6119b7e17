"""Small pipeline blocks, each with one job and its own statistics (after datatrove).

A block takes a batch of documents and returns the ones it keeps. A block that removes or
changes a document records a `Decision`, so every document's fate can be traced:
raw records = kept + removed + quarantined.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import Field

# The bounds of the blocks' numeric arguments, written in the constructors' annotations: the
# config model (settings.py) checks them when the file is loaded, so `dg check defs` fails on a
# score of -5 or a Jaccard threshold of 2.
Share = Annotated[float, Field(ge=0, le=1)]  # a share, a fraction or a score in [0, 1]
Amount = Annotated[float, Field(ge=0)]  # a length or a ratio that may pass 1
Count = Annotated[int, Field(ge=0)]
AtLeastOne = Annotated[int, Field(ge=1)]


@dataclass(slots=True)
class Document:
    doc_id: str
    text: str
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Decision:
    doc_id: str
    stage: str
    action: str  # "removed" or "modified"
    reason: str
    score: float | None = None
    detail: str | None = None  # e.g. the doc_id a duplicate was matched to


@dataclass
class BlockStats:
    docs_in: int = 0
    docs_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    seconds: float = 0.0
    reasons: Counter[str] = field(default_factory=Counter)

    def merge(self, other: BlockStats) -> None:
        self.docs_in += other.docs_in
        self.docs_out += other.docs_out
        self.bytes_in += other.bytes_in
        self.bytes_out += other.bytes_out
        self.seconds += other.seconds
        self.reasons.update(other.reasons)

    def as_dict(self) -> dict[str, Any]:
        return {
            "docs_in": self.docs_in,
            "docs_out": self.docs_out,
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "seconds": round(self.seconds, 4),
            "reasons": dict(self.reasons),
        }


def _size(docs: Iterable[Document]) -> int:
    return sum(len(d.text.encode("utf-8")) for d in docs)


class Block:
    """One job over a batch of documents. Subclasses implement `process`."""

    name: str = "block"

    def __init__(self) -> None:
        self.stats = BlockStats()
        self.decisions: list[Decision] = []

    def process(self, docs: list[Document]) -> list[Document]:
        raise NotImplementedError

    def remove(
        self, doc: Document, reason: str, score: float | None = None, detail: str | None = None
    ) -> None:
        self._record(doc, "removed", reason, score, detail)

    def modify(
        self, doc: Document, reason: str, score: float | None = None, detail: str | None = None
    ) -> None:
        self._record(doc, "modified", reason, score, detail)

    def _record(
        self, doc: Document, action: str, reason: str, score: float | None, detail: str | None
    ) -> None:
        self.stats.reasons[reason] += 1
        self.decisions.append(Decision(doc.doc_id, self.name, action, reason, score, detail))

    def __call__(self, docs: list[Document]) -> list[Document]:
        start = time.perf_counter()
        self.stats.docs_in += len(docs)
        self.stats.bytes_in += _size(docs)
        kept = self.process(docs)
        self.stats.docs_out += len(kept)
        self.stats.bytes_out += _size(kept)
        self.stats.seconds += time.perf_counter() - start
        return kept

    def drain(self) -> tuple[list[Decision], BlockStats]:
        """Hand over what was recorded since the last drain and start counting afresh."""
        decisions, stats = self.decisions, self.stats
        self.decisions, self.stats = [], BlockStats()
        return decisions, stats


class Filter(Block):
    """A block that judges documents one at a time: each is kept or removed with a reason.
    `reject` may annotate a document it keeps, or tidy its text (recording a `modify`)."""

    def reject(self, doc: Document) -> tuple[str, float | None] | None:
        """Return (reason, score) to remove the document, or None to keep it."""
        raise NotImplementedError

    def process(self, docs: list[Document]) -> list[Document]:
        kept = []
        for doc in docs:
            verdict = self.reject(doc)
            if verdict is None:
                kept.append(doc)
            else:
                self.remove(doc, *verdict)
        return kept
