"""One rank of the sharded-load test (test_fsdp.py), in a module of its own: spawned processes
import it, and it imports no more than the ranks need (no Dagster)."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.distributed as dist
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict
from transformers import AutoModelForCausalLM

from native_pipeline.lm.loop import adamw
from native_pipeline.lm.memory import ModelDims, plan_memory
from native_pipeline.lm.parallel import apply_fsdp, load_hf_weights, materialize, tied_names
from native_pipeline.settings import PretrainLoop
from native_pipeline_tests.training.tiny import meta_model


def sharded_rank(rank: int, world: int, init: str, folder: Path) -> None:
    """Load `folder`'s weights into a meta-device model sharded over `world` ranks; check them
    against an eager load, the mixed-precision policy, and the bytes held against the plan."""
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    try:
        eager = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
        model = meta_model(folder)
        tied = tied_names(model)
        apply_fsdp(model, bf16=True, reduce_dtype="float32")
        materialize(model, torch.device("cpu"))
        load_hf_weights(model, folder, tied)

        # Meta-device load equals eager load: every weight, and the recomputed rotary buffers.
        full = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True))
        for name, tensor in eager.state_dict().items():
            assert torch.equal(full[name], tensor), name
        for name, buffer in eager.named_buffers():
            assert torch.equal(model.get_buffer(name), buffer), name

        # The mixed-precision policy: bf16 in the forward pass, float32 master weights.
        seen: list[torch.dtype] = []
        q_proj = model.model.layers[0].self_attn.q_proj
        q_proj.register_forward_hook(lambda module, args, out: seen.append(module.weight.dtype))
        optimizer = adamw(model, PretrainLoop(), torch.device("cpu"))
        batch = torch.randint(0, 300, (2, 16))
        logits = model(input_ids=batch, use_cache=False).logits
        torch.nn.functional.cross_entropy(logits.flatten(0, 1).float(), batch.flatten()).backward()
        optimizer.step()
        assert seen == [torch.bfloat16] and logits.dtype == torch.bfloat16
        assert {p.dtype for p in model.parameters()} == {torch.float32}

        # The plan's states against what rank 0 holds, to the byte (rank 0's shards are the
        # largest: FSDP2 gives every rank ceil(rows / world) rows but the last).
        plan = plan_memory(
            ModelDims.of(eager.config),
            world_size=world,
            strategy="fsdp",
            micro_batch=2,
            seq_len=16,
            bf16=True,
            activation_checkpointing=False,
        )
        local = [p.to_local() for p in model.parameters()]
        grads = [p.grad.to_local() for p in model.parameters()]
        states = [
            t.to_local() if hasattr(t, "to_local") else t
            for state in optimizer.state.values()
            for t in state.values()
        ]

        def nbytes(tensors) -> int:
            return sum(t.numel() * t.element_size() for t in tensors)

        held = (nbytes(local), nbytes(grads), nbytes(states))
        planned = (plan.parameters, plan.gradients, plan.optimizer)
        assert (
            held == planned
            if rank == 0
            else all(h <= p for h, p in zip(held, planned, strict=True))
        )
    finally:
        dist.destroy_process_group()
