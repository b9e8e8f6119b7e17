"""A tiny pre-training setup shared by the loop and the distributed tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from native_pipeline.lm.model import build_model
from native_pipeline.settings import TinyModelSettings

TINY = TinyModelSettings(hidden_size=64, layers=1, max_positions=64)  # head_dim 64: one head


def pattern_stream(n_tokens: int, eos: int = 1) -> np.ndarray:
    """Documents of one repeated 6-token sentence: a pattern the model learns in a few steps."""
    document = np.array([40, 41, 42, 43, 44, eos], dtype=np.uint32)
    return np.resize(document, n_tokens)


def tiny_model(seed: int = 0) -> torch.nn.Module:
    return build_model(None, vocab_size=300, eos_token_id=1, pad_token_id=0, tiny=TINY, seed=seed)


def meta_model(folder: Path | None) -> torch.nn.Module:
    """A base model on the meta device shaped like the default tiny Llama of vocabulary 300
    (the folders the sharded-load tests write), its weights still to be loaded from `folder`."""
    return build_model(
        folder,
        vocab_size=300,
        eos_token_id=1,
        pad_token_id=0,
        tiny=TinyModelSettings(),
        seed=0,
        meta=True,
    )
