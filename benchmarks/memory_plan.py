"""The memory plan against a measured run on a CPU, one process.

    python benchmarks/memory_plan.py [--hidden 512 --layers 4 --kv-heads 2 --batch 4 --seq-len 256]

A Llama of the given shapes (random weights, untied embeddings, grouped-query attention) takes
one optimizer step, in bf16 (the dtype FSDP computes in on GPUs), with and without activation
checkpointing. Measured: the bytes of the parameters, of their gradients and of AdamW's states
(exact: the tensors themselves), and the bytes the forward pass and the loss keep for the
backward pass (`saved_activation_bytes`: every tensor autograd saves, each storage once). The
CPU has no allocator statistics to set the transient buffers against: that is the GPU check's
(`fsdp_train.py`, against `torch.cuda.max_memory_allocated`).
"""

from __future__ import annotations

import argparse

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from native_pipeline.lm.loop import adamw
from native_pipeline.lm.memory import ModelDims, plan_memory, saved_activation_bytes
from native_pipeline.settings import PretrainLoop


def nbytes(tensors) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


def measure(args: argparse.Namespace, checkpointing: bool) -> None:
    config = LlamaConfig(
        vocab_size=args.vocab,
        hidden_size=args.hidden,
        intermediate_size=args.hidden * 8 // 3 // 64 * 64,
        num_hidden_layers=args.layers,
        num_attention_heads=args.hidden // 64,
        num_key_value_heads=args.kv_heads,
        head_dim=64,
        tie_word_embeddings=False,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    model.train()
    if checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    batch = torch.randint(0, args.vocab, (args.batch, args.seq_len))
    plan = plan_memory(
        ModelDims.of(config),
        world_size=1,
        strategy="fsdp",
        micro_batch=args.batch,
        seq_len=args.seq_len,
        bf16=True,
        activation_checkpointing=checkpointing,
    )
    # The float32 master weights' states, then the bf16 forward pass's activations.
    optimizer = adamw(model, PretrainLoop(), torch.device("cpu"))
    logits = model(input_ids=batch, use_cache=False).logits
    torch.nn.functional.cross_entropy(logits.flatten(0, 1).float(), batch.flatten()).backward()
    optimizer.step()
    measured = {
        "parameters": nbytes(model.parameters()),
        "gradients": nbytes(p.grad for p in model.parameters()),
        "optimizer": nbytes(t for s in optimizer.state.values() for t in s.values()),
    }
    model.to(torch.bfloat16)

    def forward() -> None:
        out = model(input_ids=batch, use_cache=False).logits
        torch.nn.functional.cross_entropy(out.flatten(0, 1).float(), batch.flatten())

    measured["activations"] = saved_activation_bytes(model, forward)
    print(f"activation checkpointing {'on' if checkpointing else 'off'}:")
    for kind, value in measured.items():
        planned = getattr(plan, kind)
        print(
            f"  {kind:12s} plan {planned:>13,} B  measured {value:>13,} B  "
            f"plan/measured {planned / value:.4f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--kv-heads", type=int, default=2)
    parser.add_argument("--vocab", type=int, default=8192)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seq-len", type=int, default=256)
    args = parser.parse_args()
    print(
        f"Llama {args.hidden} x {args.layers} layers, {args.kv_heads} kv heads, vocab "
        f"{args.vocab}, batch {args.batch} x {args.seq_len}, bf16"
    )
    for checkpointing in (False, True):
        measure(args, checkpointing)


if __name__ == "__main__":
    main()
