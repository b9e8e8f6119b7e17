"""Harm scores from the bundled `arabic-toxic` classifier (TF-IDF + linear model, CPU).

The model was trained on short texts (posts), so a document is scored paragraph by paragraph
(long paragraphs cut to about `chunk_chars`) and each category keeps its maximum: one hateful
paragraph in a long article must still show. Documents are never removed here; the rewrite
step reads the scores.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from native_pipeline.text.blocks import Block, Document

# The method's moderation categories and the model labels that feed each one; a category's
# score is the highest probability among its labels.
CATEGORIES: dict[str, tuple[str, ...]] = {
    "harm_hate": ("Hatred", "Racial"),
    "harm_harassment": ("Cussing", "Appearance"),
    "harm_sexual": ("Sexual",),
    "harm_violence": ("Violence",),
}
HARM_KEYS = (*CATEGORIES, "harm_max")


class CharFeatures:
    """A fitted `char_wb` TfidfVectorizer's transform, with each word's n-gram ids cached.

    sklearn cuts every word into its n-grams and looks each up, in Python, for every document;
    words repeat across documents, so here each distinct word is cut once. The result is the
    vectorizer's own (same counts, then its fitted TF-IDF weighting).
    """

    MAX_WORDS = 500_000  # the cache starts afresh past this many words

    def __init__(self, vectorizer: Any) -> None:
        if vectorizer.analyzer != "char_wb" or vectorizer.preprocessor or vectorizer.strip_accents:
            raise ValueError("CharFeatures replicates a plain char_wb vectorizer only")
        self.vectorizer = vectorizer
        self.vocabulary: dict[str, int] = vectorizer.vocabulary_
        self.ngram_range: tuple[int, int] = vectorizer.ngram_range
        self.cache: dict[str, list[int]] = {}

    def _word_ids(self, word: str) -> list[int]:
        # sklearn's _char_wb_ngrams: the word padded with one space each side; a word shorter
        # than n gives itself once, for the smallest such n.
        padded, ids = f" {word} ", []
        for n in range(self.ngram_range[0], self.ngram_range[1] + 1):
            grams = [padded[i : i + n] for i in range(max(len(padded) - n + 1, 1))]
            ids += [self.vocabulary[g] for g in grams if g in self.vocabulary]
            if len(padded) <= n:
                break
        return ids

    def transform(self, texts: list[str]) -> Any:
        from scipy.sparse import csr_matrix

        if len(self.cache) > self.MAX_WORDS:
            self.cache.clear()
        indptr, indices = [0], []
        for text in texts:
            for word in (text.lower() if self.vectorizer.lowercase else text).split():
                ids = self.cache.get(word)
                if ids is None:
                    ids = self.cache[word] = self._word_ids(word)
                indices += ids
            indptr.append(len(indices))
        counts = csr_matrix(
            (np.ones(len(indices), dtype=self.vectorizer.dtype), indices, indptr),
            shape=(len(texts), len(self.vocabulary)),
        )
        counts.sum_duplicates()
        return self.vectorizer._tfidf.transform(counts, copy=False)


@dataclass
class _Model:
    features: list[Any]  # transformers of the FeatureUnion, in order
    classifier: Any
    labels: list[str]
    normalize: Callable[[str], str]

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        from scipy.sparse import hstack

        normalized = [self.normalize(t) for t in texts]
        return self.classifier.predict_proba(
            hstack([f.transform(normalized) for f in self.features]).tocsr()
        )


@cache
def _model() -> _Model:
    """The bundled model, loaded once per process, its character features made fast."""
    from arabic_toxic import classifier
    from sklearn.exceptions import InconsistentVersionWarning

    # arabic-toxic 0.2.3 pins scikit-learn<1.8 but ships a model pickled with 1.8.0; the
    # TF-IDF + SGD pipeline loads and predicts the same, so the version warning is muted.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InconsistentVersionWarning)
        bundle = classifier._load_bundle()
    pipeline = bundle["pipeline"]
    union = pipeline.named_steps["features"]
    features = [
        CharFeatures(v) if getattr(v, "analyzer", None) == "char_wb" else v
        for _, v in union.transformer_list
    ]
    return _Model(
        features, pipeline.named_steps["clf"], list(bundle["labels"]), classifier.normalize_arabic
    )


def _category_scores(row: dict[str, float]) -> dict[str, float]:
    scores = {cat: max(row[label] for label in labels) for cat, labels in CATEGORIES.items()}
    scores["harm_max"] = max(scores.values())
    return scores


def harm_scores(texts: list[str]) -> list[dict[str, float]]:
    """Category scores in [0, 1] for each text, scored as a whole in one batched call."""
    if not texts:
        return []
    model = _model()
    return [
        _category_scores(dict(zip(model.labels, map(float, row), strict=True)))
        for row in model.predict_proba(texts)
    ]


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


def text_harm(texts: list[str], chunk_chars: int = 300) -> list[dict[str, float]]:
    """Category scores of each text: the maximum over its chunks, all scored in one call
    (TF-IDF and the linear model vectorise well)."""
    pieces = [chunks(text, chunk_chars) for text in texts]
    flat = harm_scores([chunk for text_chunks in pieces for chunk in text_chunks])
    scores, start = [], 0
    for text_chunks in pieces:
        rows = flat[start : start + len(text_chunks)]
        start += len(text_chunks)
        scores.append({key: max(row[key] for row in rows) for key in HARM_KEYS})
    return scores


class HarmScorer(Block):
    """Set meta harm_hate, harm_harassment, harm_sexual, harm_violence and harm_max."""

    name = "harm"

    def __init__(self, chunk_chars: int = 300, digits: int = 4) -> None:
        super().__init__()
        self.chunk_chars = chunk_chars
        self.digits = digits

    def process(self, docs: list[Document]) -> list[Document]:
        for doc, scores in zip(
            docs, text_harm([d.text for d in docs], self.chunk_chars), strict=True
        ):
            for key in HARM_KEYS:
                doc.meta[key] = round(scores[key], self.digits)
        return docs
