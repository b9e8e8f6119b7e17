"""Cut documents into rewrite units on paragraph boundaries.

A segment is a run of whole paragraphs of at most `max_tokens` tokens; a paragraph longer than
that is cut at sentence ends, and a sentence longer than that at word boundaries. Each segment
keeps its character offsets into the document, and the text between two segments (the newline
or space they were cut at) is never part of either, so the aligned document is the original
with each segment's span replaced, in order (see `reassemble`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import polars as pl

from native_pipeline.tables import SEGMENTS, frame

TokenCounter = Callable[[str], int]

# Words and single punctuation marks: close to a subword tokenizer's count on Arabic prose
# (about 1.2 to 2 tokens per word), used when no tokenizer is configured.
_PIECES = re.compile(r"\w+|[^\w\s]")
_PARAGRAPH = re.compile(r"[^\n]+")
_SENTENCE = re.compile(r"[^.!?؟։።\n]+(?:[.!?؟։።]+|$)")
_WORD = re.compile(r"\S+")


def count_pieces(text: str) -> int:
    return len(_PIECES.findall(text))


def token_counter(tokenizer: Path | str | None) -> TokenCounter:
    """Counts with a Hugging Face tokenizer (a tokenizer.json or a model folder), or words and
    punctuation marks when none is given."""
    if tokenizer is None:
        return count_pieces
    from tokenizers import Tokenizer

    path = Path(tokenizer)
    encoder = Tokenizer.from_file(str(path / "tokenizer.json" if path.is_dir() else path))
    return lambda text: len(encoder.encode(text, add_special_tokens=False).ids)


@dataclass(frozen=True)
class Segment:
    doc_id: str
    segment_id: str  # "<doc_id>:<index>"
    index: int
    start: int  # character offsets into the document text
    end: int
    text: str
    n_tokens: int


def _spans(text: str, pattern: re.Pattern[str], start: int, end: int) -> Iterator[tuple[int, int]]:
    """Spans of `pattern` in text[start:end], leading and trailing spaces trimmed off."""
    for match in pattern.finditer(text, start, end):
        a, b = match.span()
        while a < b and text[a].isspace():
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        if a < b:
            yield a, b


_LEVELS = (_PARAGRAPH, _SENTENCE, _WORD)


def _runs(
    text: str, start: int, end: int, max_tokens: int, count: TokenCounter, level: int = 0
) -> Iterator[tuple[int, int]]:
    """Spans of consecutive units of text[start:end] that fit together. A unit over the limit
    is cut at the next level down, and its pieces are packed among themselves only, so that a
    segment never joins part of one paragraph with the next."""
    run: tuple[int, int] | None = None
    tokens = 0
    for a, b in _spans(text, _LEVELS[level], start, end):
        n = count(text[a:b])
        if n > max_tokens and level + 1 < len(_LEVELS):
            if run:
                yield run
            run, tokens = None, 0
            yield from _runs(text, a, b, max_tokens, count, level + 1)
            continue
        if run and tokens + n > max_tokens:
            yield run
            run, tokens = None, 0
        # Summed unit counts approximate the joined count; the segment records the exact one.
        run, tokens = (run[0] if run else a, b), tokens + n
    if run:
        yield run  # a single word over the limit stays whole


def segment_document(
    doc_id: str, text: str, max_tokens: int, count: TokenCounter = count_pieces
) -> list[Segment]:
    if max_tokens < 1:
        raise ValueError("max_tokens must be at least 1")
    return [
        Segment(doc_id, f"{doc_id}:{i}", i, a, b, text[a:b], count(text[a:b]))
        for i, (a, b) in enumerate(_runs(text, 0, len(text), max_tokens, count))
    ]


def segment_frame(docs: pl.DataFrame, max_tokens: int, count: Callable[[str], int]) -> pl.DataFrame:
    """The segments (SEGMENTS schema) of a frame of documents (doc_id, text), in order."""
    rows = [
        asdict(segment)
        for doc_id, text in docs.select("doc_id", "text").iter_rows()
        for segment in segment_document(doc_id, text, max_tokens, count)
    ]
    return frame(rows, SEGMENTS)


def reassemble(text: str, spans: Sequence[tuple[int, int]], replacements: Sequence[str]) -> str:
    """The document with each span, in order, replaced by its rewrite."""
    pieces, last = [], 0
    for (start, end), new in zip(spans, replacements, strict=True):
        if start < last:
            raise ValueError("segment spans overlap or are out of order")
        pieces += [text[last:start], new]
        last = end
    return "".join(pieces) + text[last:]
