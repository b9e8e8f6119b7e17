"""Reproducible draws by hashing keys: a key falls the same way on every machine and in every
order of the input, and a draw made with another seed is independent of it."""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl
import xxhash


def stable_hash(key: str, seed: int) -> int:
    """A 64-bit hash of `key` under `seed`."""
    return xxhash.xxh64_intdigest(key.encode(), seed)


def unit(key: str, seed: int) -> float:
    """A uniform number in [0, 1) for `key` under `seed`."""
    return stable_hash(key, seed) / 2**64


def units(keys: Iterable[str], seed: int) -> pl.Series:
    return pl.Series([unit(key, seed) for key in keys], dtype=pl.Float64)
