"""MinHash signatures and LSH band keys over word n-grams, vectorised over a whole batch.

Input texts are already folded (`normalize.fold`). Words are runs of the characters that
`normalize.words` keeps together, so punctuation never changes a shingle. The whole batch is
one NumPy array of code points: word hashes, n-gram hashes and all permutations are array
operations, with no Python loop over words or shingles.

Hashes are defined here (xxhash-derived constants, fixed formulas), not by NumPy's random
streams or Python's `hash`, so signatures written to the dedup index stay comparable across
processes, machines and library versions.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import xxhash
from numpy.typing import NDArray

from native_pipeline.text.blocks import Amount, AtLeastOne, Count, Share
from native_pipeline.text.normalize import words

# Bump when any hash formula below changes: signatures of different schemes must never meet.
SCHEME = "mh1"

U64 = np.uint64
_FMIX1 = U64(0xFF51AFD7ED558CCD)
_FMIX2 = U64(0xC4CEB9FE1A85EC53)
_CHUNK = 8192  # shingles per permutation chunk: a (num_perm, _CHUNK) uint64 buffer, ~8 MiB
_GROUP_CHARS = 1 << 19  # characters per group of texts shingled together


@dataclass(frozen=True, slots=True)
class MinHashParams:
    """Defaults: 5-grams, 128 permutations as 16 bands x 8 rows, Jaccard threshold 0.8.

    `optimal_bands(0.8, 128, fp_weight=0.2, fn_weight=0.8)` gives (16, 8), a missed pair
    weighing more than an extra candidate: its S-curve 1 - (1 - s^8)^16 passes 0.5 near
    s = 0.71 and finds a pair with s = 0.8 / 0.85 / 0.9 with probability 0.947 / 0.994 /
    0.9999, so few true pairs are lost; the candidates it adds below 0.8 are cheap since every
    candidate is verified on the full signature.
    """

    num_perm: AtLeastOne = 128
    bands: AtLeastOne = 16
    rows: AtLeastOne = 8
    ngram: AtLeastOne = 5
    seed: Count = 1
    threshold: Share = 0.8
    # A signature estimates Jaccard with a standard error of sqrt(J(1-J)/num_perm) (0.035 at
    # 0.8 with 128 permutations): accepting `margin_sd` errors below the threshold keeps ~98 %
    # of the pairs at the threshold instead of half of them, at the price of some just below.
    margin_sd: Amount = 2.0

    def __post_init__(self) -> None:
        if self.bands * self.rows != self.num_perm:
            raise ValueError(f"bands * rows must be num_perm: {self.bands}*{self.rows}")
        if self.ngram < 1 or not 0.0 < self.threshold <= 1.0:
            raise ValueError("ngram must be >= 1 and threshold in (0, 1]")

    @property
    def accept_at(self) -> float:
        """The estimated Jaccard from which a candidate pair counts as a near duplicate."""
        error = math.sqrt(self.threshold * (1 - self.threshold) / self.num_perm)
        return self.threshold - self.margin_sd * error

    def scheme(self) -> dict[str, int | str]:
        """What signatures depend on (not the thresholds): must match to compare them."""
        fields = asdict(self)
        del fields["threshold"], fields["margin_sd"]
        return {"scheme": SCHEME, **fields}


def _constants(label: str, count: int, seed: int) -> NDArray[np.uint64]:
    """Stable pseudo-random 64-bit constants, derived with xxhash from (label, index, seed)."""
    return np.array(
        [xxhash.xxh3_64_intdigest(f"{label}:{i}".encode(), seed=seed) for i in range(count)],
        dtype=U64,
    )


def _fmix64(x: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """MurmurHash3's finaliser, in place: spreads every input bit over the whole word."""
    x ^= x >> U64(33)
    x *= _FMIX1
    x ^= x >> U64(33)
    x *= _FMIX2
    x ^= x >> U64(33)
    return x


_CHAR_MULT = _constants("char", 64, 0) | U64(1)


@functools.cache
def _word_chars() -> NDArray[np.bool_]:
    """Lookup table over all code points: True where `normalize.words` counts it a letter."""
    table = np.zeros(0x110000, dtype=np.bool_)
    # Every code point as its own space-separated candidate: words() returns those it keeps.
    text = " ".join(map(chr, range(0x110000)))
    table[[ord(w) for w in words(text)]] = True
    return table


class MinHasher:
    """Computes signatures (uint32, num_perm per text) and band keys (uint64, one per band)."""

    def __init__(self, params: MinHashParams) -> None:
        self.params = params
        # h_k(x) = (a_k * x + b_k) mod 2^64 >> 32 for 32-bit x: multiply-add-shift, strongly
        # universal (Dietzfelbinger 1996) because the 64-bit word has room for the 32-bit key
        # and the 32-bit output; a row per permutation lets reduceat run on contiguous rows.
        self._a = _constants("perm-a", params.num_perm, params.seed)[:, None]
        self._b = _constants("perm-b", params.num_perm, params.seed)[:, None]
        self._ngram_mult = _constants("ngram", params.ngram, 0) | U64(1)
        self._row_mult = _constants("band-row", params.rows, 0) | U64(1)
        self._band_salt = _constants("band", params.bands, 0)

    def signatures(self, texts: Sequence[str]) -> NDArray[np.uint32]:
        """(len(texts), num_perm) MinHash signatures of the texts' word n-gram sets."""
        parts = [np.zeros((0, self.params.num_perm), dtype=np.uint32)]
        for lo, hi in _groups(texts):
            shingles, offsets = self.shingles(texts[lo:hi])
            parts.append(self._minimums(shingles, offsets))
        return np.concatenate(parts)

    def band_keys(self, signatures: NDArray[np.uint32]) -> NDArray[np.uint64]:
        """(n, bands) LSH keys: a hash of each band's rows, salted by the band's number so a
        single table can hold all bands."""
        p = self.params
        rows = signatures.reshape(len(signatures), p.bands, p.rows).astype(U64)
        keys = (rows * self._row_mult).sum(axis=2, dtype=U64) + self._band_salt
        return _fmix64(keys)

    def shingles(self, texts: Sequence[str]) -> tuple[NDArray[np.uint32], NDArray[np.int64]]:
        """32-bit hashes of every text's word n-grams, concatenated, and each text's start in
        them (len(texts) + 1 offsets). A text with fewer than `ngram` words is one shingle:
        the hash of the whole text, so short texts still get a signature."""
        n = self.params.ngram
        tokens, token_doc = _word_hashes(texts)
        windows = max(len(tokens) - n + 1, 0)
        mixed = np.zeros(windows, dtype=U64)
        for k in range(n):  # order matters: each position has its own odd multiplier
            mixed += tokens[k : k + windows] * self._ngram_mult[k]
        valid = token_doc[:windows] == token_doc[n - 1 : n - 1 + windows]
        hashes = _fmix64(mixed[valid])
        shingle_doc = token_doc[:windows][valid]
        counts = np.bincount(shingle_doc, minlength=len(texts))
        short = np.flatnonzero(counts == 0)
        if len(short):
            whole = [xxhash.xxh3_64_intdigest(texts[i].strip().encode()) for i in short]
            at = np.searchsorted(shingle_doc, short)
            hashes = np.insert(hashes, at, np.array(whole, dtype=U64))
            counts[short] = 1
        offsets = np.zeros(len(texts) + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        return (hashes >> U64(32)).astype(np.uint32), offsets

    def _minimums(
        self, shingles: NDArray[np.uint32], offsets: NDArray[np.int64]
    ) -> NDArray[np.uint32]:
        """Per text, the minimum of every permutation over its shingles. Works through the
        shingles in fixed-size chunks, so a huge text never needs a huge buffer."""
        out = np.full((self.params.num_perm, len(offsets) - 1), np.iinfo(np.uint32).max, np.uint32)
        x = shingles.astype(U64)
        buf = np.empty((self.params.num_perm, _CHUNK), dtype=U64)
        for lo in range(0, len(x), _CHUNK):
            hi = min(lo + _CHUNK, len(x))
            h = buf[:, : hi - lo]
            np.multiply(self._a, x[lo:hi], out=h)
            h += self._b
            # High 32 bits of each uint64 (little-endian: the odd uint32 words).
            top = h.view(np.uint32)[:, 1::2]
            first, last = np.searchsorted(offsets, [lo, hi - 1], side="right") - 1
            starts = np.maximum(offsets[first : last + 1], lo) - lo
            part = np.minimum.reduceat(top, starts, axis=1)
            np.minimum(out[:, first : last + 1], part, out=out[:, first : last + 1])
        return np.ascontiguousarray(out.T)


def _groups(texts: Sequence[str]) -> list[tuple[int, int]]:
    """Consecutive ranges of texts of about _GROUP_CHARS characters: per-character arrays
    stay cache-sized, where whole-batch arrays are slowed down by fresh-page faults."""
    ends = np.cumsum([len(t) + 1 for t in texts])
    cuts = np.searchsorted(
        ends, np.arange(_GROUP_CHARS, ends[-1] if len(ends) else 0, _GROUP_CHARS)
    )
    bounds = np.unique(np.concatenate(([0], cuts + 1, [len(texts)])))
    return list(zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True))


def _word_hashes(texts: Sequence[str]) -> tuple[NDArray[np.uint64], NDArray[np.int64]]:
    """64-bit hash of every word of every text, in order, and the index of its text.

    A word hashes to fmix64(sum of code point * C[position in word]) with random odd C
    (positions past 63 share C[63]): order-sensitive, and all of it array operations.
    """
    # "\n" is not a word character, so no word runs across two texts.
    joined = "\n".join(texts).encode("utf-32-le", "surrogatepass")
    cps = np.frombuffer(joined, dtype=np.uint32)
    is_word = _word_chars()[cps]
    edges = np.flatnonzero(np.diff(is_word.view(np.int8), prepend=np.int8(0), append=np.int8(0)))
    starts, ends = edges[0::2], edges[1::2]  # words are [start, end)
    # Position in its word for every character: index minus the start of the latest word.
    jumps = np.zeros(len(cps), dtype=np.int64)
    jumps[starts] = np.diff(starts, prepend=0)
    position = np.arange(len(cps), dtype=np.int64) - np.cumsum(jumps)
    values = cps.astype(U64) * _CHAR_MULT[np.minimum(position, len(_CHAR_MULT) - 1)]
    # A word's sum is a difference of prefix sums (uint64 wraps, which is what we want).
    prefix = np.concatenate(([U64(0)], np.cumsum(values, dtype=U64)))
    token_hash = _fmix64(prefix[ends] - prefix[starts])
    text_ends = np.cumsum([len(t) + 1 for t in texts])
    per_text = np.diff(np.searchsorted(starts, text_ends), prepend=0)
    token_doc = np.repeat(np.arange(len(texts), dtype=np.int64), per_text)
    return token_hash, token_doc


def estimate_jaccard(a: NDArray[np.uint32], b: NDArray[np.uint32]) -> NDArray[np.float64]:
    """Estimated Jaccard similarity: the share of equal signature positions (last axis)."""
    return np.count_nonzero(a == b, axis=-1) / a.shape[-1]


def _integral(y: NDArray[np.float64], x: NDArray[np.float64]) -> float:
    return float(np.sum((y[1:] + y[:-1]) * np.diff(x)) / 2)


def optimal_bands(
    threshold: float, num_perm: int, fp_weight: float = 0.5, fn_weight: float = 0.5
) -> tuple[int, int]:
    """(bands, rows) with bands * rows == num_perm minimising the weighted areas of false
    positives (candidate probability below the threshold) and false negatives (miss
    probability above it), as datasketch's MinHashLSH does (it also allows b * r < num_perm)."""
    below = np.linspace(0.0, threshold, 1001)
    above = np.linspace(threshold, 1.0, 1001)
    best, best_error = (num_perm, 1), float("inf")
    for bands in (b for b in range(1, num_perm + 1) if num_perm % b == 0):
        rows = num_perm // bands

        def found(s: NDArray[np.float64], b: int = bands, r: int = rows) -> NDArray[np.float64]:
            return 1.0 - (1.0 - s**r) ** b

        fp = _integral(found(below), below)
        fn = _integral(1.0 - found(above), above)
        error = fp_weight * fp + fn_weight * fn
        if error < best_error:
            best, best_error = (bands, rows), error
    return best
