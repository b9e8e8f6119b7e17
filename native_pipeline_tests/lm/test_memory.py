"""The memory plan against a measured tiny run: parameters, gradients and optimizer states to
the byte, the activations kept for the backward pass against what autograd saves."""

from __future__ import annotations

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from native_pipeline.lm.loop import adamw
from native_pipeline.lm.memory import (
    GIB,
    PRESETS,
    ModelDims,
    check_fits,
    plan_memory,
    saved_activation_bytes,
)
from native_pipeline.settings import PretrainLoop

# Grouped-query attention, an MLP not 4x wide, untied embeddings: every shape term differs.
CONFIG = LlamaConfig(
    vocab_size=300,
    hidden_size=128,
    intermediate_size=384,
    num_hidden_layers=2,
    num_attention_heads=2,
    num_key_value_heads=1,
    head_dim=64,
    tie_word_embeddings=False,
)


def tensor_bytes(tensors) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


def one_step(model: torch.nn.Module, batch: torch.Tensor) -> torch.optim.Optimizer:
    optimizer = adamw(model, PretrainLoop(), torch.device("cpu"))
    logits = model(input_ids=batch, use_cache=False).logits
    torch.nn.functional.cross_entropy(logits.flatten(0, 1).float(), batch.flatten()).backward()
    optimizer.step()
    return optimizer


@pytest.mark.parametrize("tied", [False, True])
def test_parameters_gradients_and_optimizer_states_to_the_byte(tied):
    config = CONFIG.to_dict() | {"tie_word_embeddings": tied}
    model = LlamaForCausalLM(LlamaConfig(**config))
    dims = ModelDims.of(model.config)
    plan = plan_memory(
        dims,
        world_size=1,
        strategy="fsdp",
        micro_batch=2,
        seq_len=16,
        bf16=False,
        activation_checkpointing=False,
    )
    assert sorted(dims.shapes()) == sorted(tuple(p.shape) for p in model.parameters())
    optimizer = one_step(model, torch.randint(0, 300, (2, 16)))
    assert plan.parameters == tensor_bytes(model.parameters())
    assert plan.gradients == tensor_bytes(p.grad for p in model.parameters())
    states = [t for state in optimizer.state.values() for t in state.values()]
    assert plan.optimizer == tensor_bytes(states)


@pytest.mark.parametrize("checkpointing", [False, True])
def test_activations_against_what_autograd_saves(checkpointing):
    """What the forward pass and the loss keep for the backward pass, measured with
    saved-tensor hooks (each storage once), within 3 % of the plan. The model is cast to bf16,
    the dtype a GPU step computes in (FSDP's param_dtype); in float32 the CPU's matmuls also
    keep weight-sized copies, which are not activations."""
    torch.manual_seed(0)
    model = LlamaForCausalLM(CONFIG)
    model.train()
    if checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.to(torch.bfloat16)
    batch = torch.randint(0, 300, (4, 64))

    def step() -> None:
        logits = model(input_ids=batch, use_cache=False).logits
        torch.nn.functional.cross_entropy(logits.flatten(0, 1).float(), batch.flatten())

    measured = saved_activation_bytes(model, step)
    plan = plan_memory(
        ModelDims.of(model.config),
        world_size=1,
        strategy="ddp",
        micro_batch=4,
        seq_len=64,
        bf16=True,
        activation_checkpointing=checkpointing,
    )
    assert plan.activations == pytest.approx(measured, rel=0.03)


def test_presets_have_the_published_sizes():
    assert PRESETS["llama-3-8b"].n_params() == 8_030_261_248
    assert PRESETS["llama-3-70b"].n_params() == 70_553_706_496
    assert PRESETS["llama-3.2-1b"].n_params() == 1_235_814_400


def test_sharding_divides_the_states_and_a_plan_that_cannot_fit_says_why():
    kwargs = dict(micro_batch=1, seq_len=8192, bf16=True, activation_checkpointing=True)
    one = plan_memory(PRESETS["llama-3-8b"], world_size=1, strategy="fsdp", **kwargs)
    eight = plan_memory(PRESETS["llama-3-8b"], world_size=8, strategy="fsdp", **kwargs)
    assert one.parameters / 8 <= eight.parameters < one.parameters / 8 + 8 * 128256 * 4
    assert eight.optimizer == pytest.approx(2 * eight.parameters, rel=1e-6)
    check_fits(eight, 80 * GIB, 0.9)  # 8B on 8 x 80 GB fits
    with pytest.raises(ValueError, match=r"does not fit the GPU.*more GPUs"):
        check_fits(one, 80 * GIB, 0.9)
