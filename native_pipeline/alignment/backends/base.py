"""What every rewriting backend offers: chat completions, or a rewrite of segments."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from native_pipeline.alignment.conduct import CodeOfConduct, Message
from native_pipeline.settings import Sampling


@dataclass
class Completion:
    text: str
    input_tokens: int = 0
    output_tokens: int = 0
    cached: bool = False  # served from the on-disk cache, nothing paid
    error: str | None = None  # the request failed after its retries; `text` is then empty
    truncated: bool = False  # generation stopped at max_tokens: the text is cut off


class ChatBackend(Protocol):
    """An LLM behind a chat interface: openai (HTTP), vllm, transformers."""

    def identity(self) -> dict[str, str]:
        """backend, model and checkpoint: recorded in every row the backend produces."""
        ...

    def chat(self, conversations: Sequence[list[Message]], sampling: Sampling) -> list[Completion]:
        """One completion per conversation, in order."""
        ...


class Rewriter(Protocol):
    """Turns segments into raw outputs (wrapped rewrites, or whatever a model said)."""

    def identity(self) -> dict[str, str]: ...

    def rewrite(self, segments: Sequence[str], sampling: Sampling) -> list[Completion]: ...


class ChatRewriter:
    """An LLM rewriting under the code of conduct."""

    def __init__(self, backend: ChatBackend, conduct: CodeOfConduct) -> None:
        self.backend = backend
        self.conduct = conduct

    def identity(self) -> dict[str, str]:
        return {**self.backend.identity(), "prompt": self.conduct.prompt_hash}

    def rewrite(self, segments: Sequence[str], sampling: Sampling) -> list[Completion]:
        return self.backend.chat([self.conduct.messages(s) for s in segments], sampling)


def checkpoint_hash(path: Path | str) -> str:
    """A short hash of a model folder's weights and configs: which checkpoint wrote a row."""
    digest = hashlib.sha256()
    folder = Path(path)
    for file in sorted(folder.glob("*")):
        if file.suffix in {".safetensors", ".json", ".bin", ".model"}:
            digest.update(file.name.encode())
            with file.open("rb") as f:
                while block := f.read(1 << 20):
                    digest.update(block)
    return digest.hexdigest()[:16]
