"""Sharded weights in one process: a meta-device model filled from a Hugging Face folder, and a
folder written in several safetensors files that transformers loads. (Several processes:
training/test_fsdp.py.)"""

from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

from native_pipeline.lm import parallel
from native_pipeline_tests.training.tiny import meta_model


def llama(tied: bool) -> LlamaForCausalLM:
    config = LlamaConfig(
        vocab_size=300,
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=64,
        tie_word_embeddings=tied,
    )
    torch.manual_seed(1)
    return LlamaForCausalLM(config)


@pytest.mark.parametrize("tied", [True, False])
def test_a_meta_model_is_filled_like_an_eager_load(tmp_path, tied):
    llama(tied).save_pretrained(tmp_path)
    eager = AutoModelForCausalLM.from_pretrained(tmp_path)
    model = meta_model(tmp_path)
    tied_names = parallel.tied_names(model)
    assert tied_names == ({"lm_head.weight"} if tied else set())
    parallel.materialize(model, torch.device("cpu"))
    parallel.load_hf_weights(model, tmp_path, tied_names)
    assert (model.lm_head.weight is model.model.embed_tokens.weight) == tied
    state = model.state_dict()
    for name, tensor in eager.state_dict().items():
        assert torch.equal(state[name], tensor), name
    for name, buffer in eager.named_buffers():  # recomputed: no checkpoint holds them
        assert torch.equal(model.get_buffer(name), buffer), name
    batch = torch.randint(0, 300, (1, 12))
    assert torch.equal(model(input_ids=batch).logits, eager(input_ids=batch).logits)


def test_weights_larger_than_a_file_are_split_and_load(tmp_path, monkeypatch):
    model = llama(tied=True)
    monkeypatch.setattr(parallel, "MAX_FILE_BYTES", 200_000)  # a few tensors a file
    parallel.save_hf_weights(model, tmp_path, parallel.tied_names(model), rank=0)
    model.config.save_pretrained(tmp_path)
    files = sorted(p.name for p in tmp_path.glob("*.safetensors"))
    index = json.loads((tmp_path / "model.safetensors.index.json").read_text())
    assert len(files) > 2 and sorted(set(index["weight_map"].values())) == files
    assert "lm_head.weight" not in index["weight_map"]  # tied: stored once
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path)
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name
    assert not (tmp_path / "sharded").exists()
