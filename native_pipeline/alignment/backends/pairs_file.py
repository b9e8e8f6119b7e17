"""The `pairs_file` expert: rewrites that an expert already made, read from a file, so that the
alignment worker can be trained on published seed data (the authors' 96K GPT-4 pairs,
`rewrite_seed_data.json` in FreedomIntelligence/AceGPT-v2-AlignmentData) and the pairs pass the
same validation and audit as any expert's output.

The file is a JSON array or JSONL, one pair per record, in any of these layouts:
- fields: `original` and `rewritten` (or `input`/`output`, `original_text`/`rewritten_text`,
  `text`/`rewritten`, `source`/`target`);
- a conversation under `conversations` (`from`: human/gpt, `value`) or `messages` (`role`:
  user/assistant, `content`): the last user turn is the original (a system prompt before it is
  not), the assistant's answer after it the rewrite.
The published file's layout could not be confirmed from here (a 249 MB Git LFS object); these
are the layouts pair data is published in, and a record in none of them is an error naming it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from native_pipeline.alignment.backends.base import Completion, Sampling
from native_pipeline.alignment.conduct import wrap

FIELD_PAIRS = (
    ("original", "rewritten"),
    ("input", "output"),
    ("original_text", "rewritten_text"),
    ("text", "rewritten"),
    ("source", "target"),
)
USER, ASSISTANT = {"human", "user"}, {"gpt", "assistant"}


def _records(path: Path) -> Iterator[tuple[str, Any]]:
    """(where, record) of a JSON array or a JSONL file."""
    with path.open(encoding="utf-8") as handle:
        head = handle.read(1)
        while head.isspace():
            head = handle.read(1)
        handle.seek(0)
        if head == "[":
            for number, record in enumerate(json.load(handle)):
                yield f"{path}[{number}]", record
            return
        for number, line in enumerate(handle, 1):
            if line.strip():
                try:
                    yield f"{path}:{number}", json.loads(line)
                except json.JSONDecodeError as error:
                    raise ValueError(f"{path}:{number}: not JSON ({error.msg})") from None


def _turns(record: dict[str, Any]) -> list[tuple[str, str]] | None:
    if isinstance(record.get("conversations"), list):
        return [(t.get("from", ""), t.get("value", "")) for t in record["conversations"]]
    if isinstance(record.get("messages"), list):
        return [(t.get("role", ""), t.get("content", "")) for t in record["messages"]]
    return None


def pair_of(record: Any) -> tuple[str, str] | None:
    """(original, rewritten) of one record, or None when it is in no known layout."""
    if not isinstance(record, dict):
        return None
    for original, rewritten in FIELD_PAIRS:
        if isinstance(record.get(original), str) and isinstance(record.get(rewritten), str):
            return record[original], record[rewritten]
    turns = _turns(record)
    if not turns:
        return None
    for i in range(len(turns) - 1, 0, -1):  # the last user turn answered by the assistant
        if turns[i][0] in ASSISTANT and turns[i - 1][0] in USER:
            original, rewritten = turns[i - 1][1], turns[i][1]
            if isinstance(original, str) and isinstance(rewritten, str):
                return original, rewritten
    return None


def read_pairs(path: Path) -> list[tuple[str, str]]:
    """Every (original, rewritten) pair of the file, in order; a record in no known layout or
    with an empty text is an error naming where it is."""
    pairs = []
    for where, record in _records(Path(path)):
        pair = pair_of(record)
        if pair is None or not pair[0].strip() or not pair[1].strip():
            keys = sorted(record) if isinstance(record, dict) else type(record).__name__
            raise ValueError(
                f"{where}: not an (original, rewritten) pair with text (keys: {keys}); "
                "see native_pipeline/alignment/backends/pairs_file.py for the layouts"
            )
        pairs.append(pair)
    if not pairs:
        raise ValueError(f"{path}: no pairs")
    return pairs


class PairsFileRewriter:
    """The rewrite of each segment as the file has it (matched on the text without its outer
    spaces); a segment the file lacks is a failed request, never a silent copy."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.pairs = read_pairs(self.path)
        self.rewrites = {original.strip(): rewritten for original, rewritten in self.pairs}
        self.digest = hashlib.sha256(self.path.read_bytes()).hexdigest()[:16]

    def identity(self) -> dict[str, str]:
        return {"backend": "pairs_file", "model": self.path.name, "checkpoint": self.digest}

    def rewrite(self, segments: Sequence[str], sampling: Sampling) -> list[Completion]:
        return [
            Completion(wrap(self.rewrites[s.strip()]), cached=True)
            if s.strip() in self.rewrites
            else Completion("", error=f"not in the pairs file {self.path.name}")
            for s in segments
        ]
