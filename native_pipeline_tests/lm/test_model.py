from __future__ import annotations

import pytest
import torch
from transformers import LlamaForCausalLM

from native_pipeline.lm.model import (
    build_model,
    flops_per_token,
    llama_config,
    mfu,
    n_params,
    peak_flops,
)
from native_pipeline.settings import TinyModelSettings


def test_config_has_64_wide_heads_and_tied_embeddings():
    config = llama_config(vocab_size=500, eos_token_id=1, pad_token_id=0, hidden_size=256)
    assert (config.num_attention_heads, config.head_dim) == (4, 64)
    assert config.intermediate_size == 1024 and config.tie_word_embeddings


def test_random_model_is_seeded_and_a_base_model_loads_as_saved(tmp_path):
    tiny = TinyModelSettings(hidden_size=64, layers=1, max_positions=32)
    args = {"vocab_size": 100, "eos_token_id": 1, "pad_token_id": 0, "tiny": tiny}
    a, b = build_model(None, **args, seed=0), build_model(None, **args, seed=0)
    c = build_model(None, **args, seed=1)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert not torch.equal(a.lm_head.weight, c.lm_head.weight)

    a.save_pretrained(tmp_path / "base")
    loaded = build_model(tmp_path / "base", **args, seed=7)  # the seed is for random models
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), loaded.parameters(), strict=True))
    with pytest.raises(ValueError, match="use the base model's tokenizer"):
        build_model(tmp_path / "base", **{**args, "vocab_size": 101}, seed=0)


def test_flops_per_token_counts_matmuls_and_attention():
    args = {"vocab_size": 1000, "eos_token_id": 1, "pad_token_id": 0}
    config = llama_config(**args, hidden_size=128, layers=2)
    tied = build_model(None, **args, tiny=TinyModelSettings(hidden_size=128, layers=2), seed=0)
    # Every parameter of a tied model is a matmul weight (norms aside): 6 FLOPs each a token.
    assert flops_per_token(tied, 1) == 6 * n_params(tied) + 12 * 2 * 128
    # Attention grows with the context: 12 * layers * width FLOPs per token of context.
    assert flops_per_token(tied, 1024) - flops_per_token(tied, 512) == 12 * 2 * 128 * 512
    # Untying adds an output matrix but the input embedding is a lookup: the same compute.
    config.tie_word_embeddings = False
    untied = LlamaForCausalLM(config)
    assert n_params(untied) == n_params(tied) + 1000 * 128
    assert flops_per_token(untied, 256) == flops_per_token(tied, 256)


def test_mfu_against_the_gpu_peak():
    assert peak_flops("NVIDIA H100 80GB HBM3") == 989e12
    assert peak_flops("Some other GPU") is None
    # 1B-parameter model (6e9 FLOPs a token) at 82 425 tokens/s on one H100: 50 %.
    assert mfu(82_425, 6e9, 989e12) == pytest.approx(0.5, rel=1e-3)
