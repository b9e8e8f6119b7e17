"""Harm scores in [0, 1] per category, from the one scorer the config chooses (`harm.backend`).

Backends (see README, "Which harm backend"):
- `offline` (default, CPU): the bundled calibrated n-gram model (offline.py);
- `moderation_api`: an OpenAI-compatible /v1/moderations endpoint (remote.py);
- `hf_classifier`: a local Hugging Face sequence classifier, batched on CPU or GPU (hf.py);
- `llm_judge`: the expert's chat endpoint with a written rubric (remote.py).

Every consumer (cleaning's `harm` block, the policy rewriter, validation through
alignment.rewrite.measure, the audit, harmlessness) scores through `make_scorer(settings)`.
Every backend returns all HARM_KEYS; the categories it does not score are 0 and left out of its
`categories`. A document is scored paragraph by paragraph (long paragraphs cut to about
`chunk_chars`) and each category keeps its maximum: one hateful paragraph in a long article must
still show. Documents are never removed here; the rewrite step reads the scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Protocol

from native_pipeline.settings import HarmSettings
from native_pipeline.text.blocks import AtLeastOne, Block, Count, Document

CATEGORIES = ("harm_hate", "harm_harassment", "harm_sexual", "harm_violence")
HARM_KEYS = (*CATEGORIES, "harm_max")

__all__ = ["CATEGORIES", "HARM_KEYS", "HarmBackend", "HarmSettings", "make_scorer", "text_harm"]


class HarmBackend(Protocol):
    name: str
    categories: tuple[str, ...]  # those of CATEGORIES it really scores

    def score(self, texts: list[str]) -> list[dict[str, float]]:
        """Every HARM_KEYS key for each text, the text scored as a whole."""
        ...


def complete(scores: dict[str, float]) -> dict[str, float]:
    """All categories (0 where the backend has none), clipped to [0, 1], and their maximum."""
    out = {cat: min(max(float(scores.get(cat, 0.0)), 0.0), 1.0) for cat in CATEGORIES}
    out["harm_max"] = max(out.values())
    return out


class OfflineScorer:
    """The `offline` backend: offensive -> harm_harassment, hate -> harm_hate."""

    name = "offline"
    categories = ("harm_hate", "harm_harassment")

    def __init__(self, model_path: str | None = None, bundled: str = "v2") -> None:
        from native_pipeline.text.harm import offline

        self.model = offline.load(model_path) if model_path else offline.bundled(bundled)

    def score(self, texts: list[str]) -> list[dict[str, float]]:
        p = self.model.predict(texts)
        return [
            complete({"harm_hate": h, "harm_harassment": o})
            for o, h in zip(p["offensive"], p["hate"], strict=True)
        ]


class WithLexicon:
    """A backend and the written rules (lexicon.yaml): a category a rule matches scores at least
    `score`."""

    def __init__(self, backend: HarmBackend, rules_path: Path, score: float) -> None:
        from native_pipeline.text.harm import lexicon

        self.backend = backend
        self.rules = lexicon.load(rules_path)
        self.score_on_match = score
        self.name = backend.name
        self.categories = tuple(c for c in CATEGORIES if c in backend.categories or c in self.rules)

    def score(self, texts: list[str]) -> list[dict[str, float]]:
        return self.lift(texts, self.backend.score(texts))

    def lift(self, texts: Sequence[str], scores: list[dict[str, float]]) -> list[dict[str, float]]:
        """`scores` of `texts`, each category a rule matches raised to the rules' score."""
        from native_pipeline.text.harm.lexicon import matches

        out = []
        for text, row in zip(texts, scores, strict=True):
            hits = matches(text, self.rules)
            lifted = {c: max(row[c], self.score_on_match * (c in hits)) for c in CATEGORIES}
            out.append(complete(lifted) if hits else row)
        return out


@cache
def _scorer(settings_json: str) -> HarmBackend:
    settings = HarmSettings.model_validate_json(settings_json)
    backend = _backend(settings)
    if not settings.lexicon_score:
        return backend
    from native_pipeline.text.harm.lexicon import BUNDLED

    return WithLexicon(backend, settings.lexicon or BUNDLED, settings.lexicon_score)


def _backend(settings: HarmSettings) -> HarmBackend:
    if settings.backend == "offline":
        return OfflineScorer(settings.model, settings.offline_model)
    if settings.backend == "hf_classifier":
        from native_pipeline.text.harm.hf import HFClassifierScorer

        return HFClassifierScorer(settings)
    from native_pipeline.text.harm.remote import LLMJudgeScorer, ModerationScorer

    return (
        ModerationScorer(settings)
        if settings.backend == "moderation_api"
        else LLMJudgeScorer(settings)
    )


def make_scorer(settings: HarmSettings | None = None) -> HarmBackend:
    """The configured scorer, built once per process and settings (models load once)."""
    return _scorer((settings or HarmSettings()).model_dump_json())


def chunks(text: str, chunk_chars: int) -> list[str]:
    """Each paragraph (line) on its own, long ones cut at spaces into pieces of about
    `chunk_chars`: merging paragraphs would dilute a short harmful one in its neighbours' words."""
    pieces = []
    for line in text.split("\n"):
        piece: list[str] = []
        size = 0
        for word in line.split():
            if piece and size + len(word) > chunk_chars:
                pieces.append(" ".join(piece))
                piece, size = [], 0
            piece.append(word)
            size += len(word) + 1
        if piece:
            pieces.append(" ".join(piece))
    return pieces or [text]


def text_harm(
    texts: Sequence[str], scorer: HarmBackend | None = None, chunk_chars: int = 300
) -> list[dict[str, float]]:
    """Category scores of each text: the maximum over its chunks, all scored in one call."""
    scorer = scorer or make_scorer()
    # The written rules read each text whole, once: a phrase is found wherever chunks cut it,
    # and a long document costs one pass instead of one per chunk.
    model = scorer.backend if isinstance(scorer, WithLexicon) else scorer
    pieces = [chunks(text, chunk_chars) for text in texts]
    flat = model.score([chunk for text_chunks in pieces for chunk in text_chunks])
    scores, start = [], 0
    for text_chunks in pieces:
        rows = flat[start : start + len(text_chunks)]
        start += len(text_chunks)
        scores.append({key: max(row[key] for row in rows) for key in HARM_KEYS})
    return scorer.lift(texts, scores) if isinstance(scorer, WithLexicon) else scores


class HarmScorer(Block):
    """Set meta harm_hate, harm_harassment, harm_sexual, harm_violence and harm_max."""

    name = "harm"

    def __init__(
        self,
        chunk_chars: AtLeastOne = 300,
        digits: Count = 4,
        settings: HarmSettings | None = None,
    ) -> None:
        super().__init__()
        self.chunk_chars = chunk_chars
        self.digits = digits
        # Settings, not a scorer, travel to the worker processes; each builds its own scorer.
        self.settings = settings or HarmSettings()

    def process(self, docs: list[Document]) -> list[Document]:
        scores = text_harm([d.text for d in docs], make_scorer(self.settings), self.chunk_chars)
        for doc, row in zip(docs, scores, strict=True):
            for key in HARM_KEYS:
                doc.meta[key] = round(row[key], self.digits)
        return docs
