"""The `offline` harm scorer: hashed character n-grams (words and marks optional), two
calibrated linear heads.

Trained by `benchmarks/harm/train_offline.py` on public labelled Arabic posts (see its data
card); the model file holds only the weights and the featurizer's shape, so loading it needs
numpy and scipy only, and scoring a batch is one sparse matrix product. Heads: `offensive` (insults,
abuse, profanity, hate) and `hate` (offensive language aimed at a group or at a person for who
they are). Each head's raw probability is mapped through a Platt curve fitted on held-out posts
(each training set weighing the same), so 0.8 means about four in five such posts of those sets
are offensive (or hateful) as labelled by people; on other sets it means less (see
docs/benchmarks/real_data.md).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import ClassVar

import numpy as np
from scipy.sparse import csr_matrix

from native_pipeline.text.normalize import fold, words

# The bundled weights, by name (`harm.offline_model`): v1, shipped until 2026-12-01 (C=4,
# character 2-5-grams and words); v2, its retrained successor (C=1, character 3-6-grams and
# marks, training sets weighed equally). benchmarks/harm/select_default.py chose the default
# on sources neither model was trained on (docs/benchmarks/real_data.md).
BUNDLED = {name: Path(__file__).with_name(f"offline_model_{name}.npz") for name in ("v1", "v2")}
HEADS = ("offensive", "hate")
# Version of the model file's `shape` field: 1 = [char_bits, word_bits, char_min, char_max];
# 2 adds `marks` and `loose`. A version-1 file (no `version` key) loads with both off, as it
# was trained.
FORMAT = 2

_URL = re.compile(r"https?://\S+|www\.\S+")
_REPEAT = re.compile(r"(.)\1{2,}")  # "ههههه" and "كلبببب" -> two letters
_MARK = re.compile(r"[^\w\s]")  # emoji and punctuation, one character each
# Letters that dialects pronounce, and so often write, as another: ظ as ض, ذ as د, ث as ت.
_LOOSE = str.maketrans("ظذث", "ضدت")


def _clean(text: str) -> str:
    """Folded, URLs dropped, letters (and marks) repeated for emphasis cut to two."""
    return _REPEAT.sub(r"\1\1", fold(_URL.sub(" ", text)))


def _bucket(gram: str, bits: int) -> int:
    return zlib.crc32(gram.encode()) & ((1 << bits) - 1)


@dataclass(frozen=True)
class Featurizer:
    """Counts of hashed character n-grams (inside each word, padded with spaces, as sklearn's
    `char_wb`) and of hashed word unigrams and bigrams, each block log-scaled and L2-normed.
    `word_bits=0`: no word block. `marks`: emoji and punctuation marks ("؟", "!", "😡") count
    as tokens of their own (dialect-free signals of tone), in the word block if there is one,
    else in the character block. `loose`: letters
    that dialects swap are merged first (see _LOOSE)."""

    char_bits: int = 18
    word_bits: int = 17
    char_min: int = 2
    char_max: int = 5
    marks: bool = False
    loose: bool = False
    # Each distinct word's feature ids (its n-grams and itself): words repeat across texts and
    # batches, so each is cut and hashed once. Started afresh past MAX_WORDS words.
    cache: dict[str, list[int]] = field(default_factory=dict, compare=False, repr=False)
    MAX_WORDS: ClassVar[int] = 500_000

    @property
    def size(self) -> int:
        return (1 << self.char_bits) + ((1 << self.word_bits) if self.word_bits else 0)

    @property
    def shape(self) -> list[int]:
        """What the model file stores to rebuild this featurizer (see FORMAT)."""
        f = [self.char_bits, self.word_bits, self.char_min, self.char_max]
        return [*f, int(self.marks), int(self.loose)]

    def _word_ids(self, word: str) -> list[int]:
        padded = f" {word} "
        ids = [
            _bucket(padded[i : i + n], self.char_bits)
            for n in range(self.char_min, self.char_max + 1)
            for i in range(max(len(padded) - n + 1, 1))
        ]
        if self.word_bits:
            ids.append((1 << self.char_bits) + _bucket(word, self.word_bits))
        return ids

    def transform(self, texts: Sequence[str]) -> csr_matrix:
        if len(self.cache) > self.MAX_WORDS:
            self.cache.clear()
        offset = 1 << self.char_bits
        mark_offset, mark_bits = (offset, self.word_bits) if self.word_bits else (0, self.char_bits)
        indptr, indices = [0], []
        for text in texts:
            cleaned = _clean(text).translate(_LOOSE) if self.loose else _clean(text)
            toks = words(cleaned)
            for tok in toks:
                ids = self.cache.get(tok)
                if ids is None:
                    ids = self.cache[tok] = self._word_ids(tok)
                indices += ids
            if self.word_bits:
                indices += [offset + _bucket(f"{a} {b}", self.word_bits) for a, b in pairwise(toks)]
            if self.marks:
                # "\x01" keeps a mark's bucket apart from an n-gram's that hashes the same text.
                indices += [
                    mark_offset + _bucket("\x01" + m, mark_bits) for m in _MARK.findall(cleaned)
                ]
            indptr.append(len(indices))
        counts = csr_matrix(
            (np.ones(len(indices), dtype=np.float32), indices, indptr),
            shape=(len(texts), self.size),
        )
        counts.sum_duplicates()
        counts.data = np.log1p(counts.data)
        # L2 per block, so a long text's many characters do not drown its few words.
        rows = np.repeat(np.arange(len(texts)), np.diff(counts.indptr))
        in_words = counts.indices >= offset
        for block in (~in_words, in_words):
            norms = np.sqrt(np.bincount(rows[block], counts.data[block] ** 2, len(texts)))
            counts.data[block] /= np.maximum(norms, 1e-12)[rows[block]]
        return counts


@dataclass(frozen=True)
class OfflineModel:
    featurizer: Featurizer
    weights: np.ndarray  # (features, heads)
    bias: np.ndarray  # (heads,)
    platt: np.ndarray  # (heads, 2): calibrated p = sigmoid(a * logit + b)

    def predict(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Calibrated probability per head, one value per text."""
        if not texts:
            return {head: np.zeros(0) for head in HEADS}
        return self.predict_features(self.featurizer.transform(texts))

    def predict_features(self, x: csr_matrix) -> dict[str, np.ndarray]:
        """`predict` of texts already featurized (training and model selection reuse them)."""
        z = (x @ self.weights + self.bias) * self.platt[:, 0] + self.platt[:, 1]
        p = 1.0 / (1.0 + np.exp(-z))
        return {head: p[:, i] for i, head in enumerate(HEADS)}

    def save(self, path: Path) -> None:
        f = self.featurizer
        np.savez_compressed(
            path,
            # float16 weights halve the file; scores move by under 1e-3.
            weights=self.weights.astype(np.float16),
            bias=self.bias,
            platt=self.platt,
            version=np.array(FORMAT),
            shape=np.array(f.shape),
        )


def load(path: Path | str) -> OfflineModel:
    with np.load(path) as data:
        version = int(data["version"]) if "version" in data else 1
        shape = [int(v) for v in data["shape"]]
        if version > FORMAT or len(shape) != {1: 4, 2: 6}.get(version):
            raise ValueError(
                f"{path}: model file format {version} with shape {shape} is not one this code "
                f"reads (format {FORMAT} or older); retrain it: benchmarks/harm/train_offline.py"
            )
        char_bits, word_bits, char_min, char_max, marks, loose = [*shape, 0, 0][:6]
        featurizer = Featurizer(char_bits, word_bits, char_min, char_max, bool(marks), bool(loose))
        weights = data["weights"].astype(np.float32)
        if weights.shape != (featurizer.size, len(HEADS)):
            raise ValueError(f"{path}: weights of shape {weights.shape} do not fit the featurizer")
        return OfflineModel(featurizer, weights, data["bias"], data["platt"])


@cache
def bundled(name: str) -> OfflineModel:
    """A shipped model (a key of BUNDLED), loaded once per process."""
    if name not in BUNDLED:
        raise ValueError(f"no bundled offline model {name!r}; choose from {sorted(BUNDLED)}")
    return load(BUNDLED[name])
