"""The memory plan of a training run: what one GPU holds, computed before the first step.

Parameters, gradients and optimizer states are counted exactly from the model's shapes: FSDP2
shards each tensor along its first dimension (rank 0 holds the largest piece, ceil(rows /
world) rows), DDP and a single process hold them whole. AdamW keeps two float32 moments and a
step counter per tensor.

Activations are an estimate per token from the Hugging Face Llama's own autograd graph (what
its ops save for the backward pass, counted once per storage by `saved_activation_bytes`):
each decoder layer keeps its two RMSNorms' input and output in float32 (HF computes the norm
in float32), q, k, v and the attention output (SDPA's fused kernels keep no s x s matrix, only
a log-sum-exp) and the MLP's gate, up, activation and product; the head keeps the final norm
and the loss's log-softmax (float32, vocabulary wide). With activation checkpointing a layer
keeps only its input. On top come the transient buffers: FSDP's unsharded root (embeddings),
the layer being computed and the prefetched one, one layer's unsharded gradients, the layer
recomputed under checkpointing, and the logits with their float32 copy during the loss.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch

GIB = 1024**3
NORM_BYTES = 4  # Hugging Face's RMSNorm computes in float32 whatever the compute dtype
ADAM_STEP_BYTES = 4  # AdamW's `step`: a float32 scalar per tensor


@dataclass(frozen=True)
class ModelDims:
    """The shapes of a Llama-architecture decoder, read from its config."""

    vocab_size: int
    hidden_size: int
    layers: int
    heads: int
    kv_heads: int
    intermediate_size: int
    tied_embeddings: bool
    head_dim: int | None = None

    @classmethod
    def of(cls, config) -> ModelDims:
        """From a transformers config (LlamaConfig and kin)."""
        return cls(
            vocab_size=config.vocab_size,
            hidden_size=config.hidden_size,
            layers=config.num_hidden_layers,
            heads=config.num_attention_heads,
            kv_heads=config.num_key_value_heads or config.num_attention_heads,
            intermediate_size=config.intermediate_size,
            tied_embeddings=bool(config.tie_word_embeddings),
            head_dim=getattr(config, "head_dim", None),
        )

    @property
    def q_width(self) -> int:
        return self.heads * (self.head_dim or self.hidden_size // self.heads)

    @property
    def kv_width(self) -> int:
        return self.kv_heads * (self.head_dim or self.hidden_size // self.heads)

    def layer_shapes(self) -> list[tuple[int, ...]]:
        """One decoder layer's parameters: attention, MLP, two norms."""
        h, i = self.hidden_size, self.intermediate_size
        attention = [(self.q_width, h), (self.kv_width, h), (self.kv_width, h), (h, self.q_width)]
        return [*attention, (i, h), (i, h), (h, i), (h,), (h,)]

    def root_shapes(self) -> list[tuple[int, ...]]:
        """What is outside the layers: embeddings, final norm, the output head when untied."""
        head = [] if self.tied_embeddings else [(self.vocab_size, self.hidden_size)]
        return [(self.vocab_size, self.hidden_size), (self.hidden_size,), *head]

    def shapes(self) -> list[tuple[int, ...]]:
        return self.root_shapes() + self.layer_shapes() * self.layers

    def n_params(self) -> int:
        return sum(math.prod(shape) for shape in self.shapes())


# Published configs (config.json of each model), so that a plan needs no download.
PRESETS = {
    "llama-3-8b": ModelDims(128256, 4096, 32, 32, 8, 14336, False),
    "llama-3-70b": ModelDims(128256, 8192, 80, 64, 8, 28672, False),
    # The GPU check's model: Llama-3.2-1B's shapes.
    "llama-3.2-1b": ModelDims(128256, 2048, 16, 32, 8, 8192, True),
}


@dataclass(frozen=True)
class MemoryPlan:
    """Bytes on the most loaded GPU (rank 0), by kind, and what they were computed for."""

    n_params: int
    world_size: int
    strategy: str
    micro_batch: int  # sequences per GPU per micro-batch
    seq_len: int
    compute_dtype: str
    activation_checkpointing: bool
    parameters: int
    gradients: int
    optimizer: int
    activations: int  # saved for the backward pass
    transient: int  # unsharded layers, gradients in flight, the loss's logits

    @property
    def total(self) -> int:
        return self.parameters + self.gradients + self.optimizer + self.activations + self.transient

    def as_metadata(self) -> dict[str, Any]:
        gib = {k: round(getattr(self, k) / GIB, 2) for k in BYTE_FIELDS}
        settings = {k: v for k, v in asdict(self).items() if k not in BYTE_FIELDS}
        return {**settings, **{f"{k}_gib": v for k, v in gib.items()}}

    def describe(self) -> str:
        """The plan in one line for the log."""
        parts = ", ".join(f"{k} {getattr(self, k) / GIB:.2f}" for k in BYTE_FIELDS)
        return (
            f"memory plan per GPU ({self.n_params / 1e9:.2f}B parameters, {self.strategy} over "
            f"{self.world_size}, micro-batch {self.micro_batch} x {self.seq_len}, "
            f"{self.compute_dtype}, activation checkpointing "
            f"{'on' if self.activation_checkpointing else 'off'}): {parts} GiB"
        )


BYTE_FIELDS = ("parameters", "gradients", "optimizer", "activations", "transient", "total")


def sharded_numel(shape: tuple[int, ...], world: int) -> int:
    """Elements of rank 0's FSDP2 shard of a tensor: dim 0 split in ceil(rows / world) rows."""
    rows = math.ceil(shape[0] / world)
    return min(rows, shape[0]) * math.prod(shape[1:])


def layer_activation_bytes(dims: ModelDims, element: int) -> int:
    """Bytes one token keeps in one decoder layer for the backward pass."""
    h, i = dims.hidden_size, dims.intermediate_size
    norms = 2 * 2 * h * NORM_BYTES  # two RMSNorms, each its float32 input and output
    matmuls = element * (dims.q_width + h + 2 * dims.kv_width + 4 * i)  # q, out, k, v; MLP
    return norms + matmuls + 4 * dims.heads + 2 * NORM_BYTES  # SDPA's log-sum-exp, 1/rms


def activation_bytes_per_token(dims: ModelDims, element: int, checkpointing: bool) -> int:
    """Bytes one token's forward pass keeps for the backward pass (see the module's doc)."""
    head = 2 * dims.hidden_size * NORM_BYTES + 4 * dims.vocab_size  # final norm, log-softmax
    if checkpointing:  # each layer keeps only its input
        return dims.layers * element * dims.hidden_size + head
    return dims.layers * layer_activation_bytes(dims, element) + head


def plan_memory(
    dims: ModelDims,
    *,
    world_size: int,
    strategy: str,
    micro_batch: int,
    seq_len: int,
    bf16: bool,
    activation_checkpointing: bool,
    reduce_dtype: str = "float32",
) -> MemoryPlan:
    """The plan of one GPU: `micro_batch` sequences of `seq_len` tokens on each of
    `world_size` processes, float32 master weights, AdamW."""
    fsdp = strategy == "fsdp" and world_size > 1
    world = world_size if fsdp else 1
    shapes = dims.shapes()
    local = sum(sharded_numel(shape, world) for shape in shapes)
    element = 2 if bf16 else 4
    parameters = 4 * local
    gradients = 4 * local
    optimizer = 2 * 4 * local + ADAM_STEP_BYTES * len(shapes)
    tokens = micro_batch * seq_len
    activations = tokens * activation_bytes_per_token(dims, element, activation_checkpointing)
    # The loss: the logits in the compute dtype and their float32 copy.
    transient = tokens * (element + 4) * dims.vocab_size
    if activation_checkpointing:  # the layer recomputed in the backward pass
        transient += tokens * layer_activation_bytes(dims, element)
    layer = sum(math.prod(shape) for shape in dims.layer_shapes())
    if fsdp:
        root = sum(math.prod(shape) for shape in dims.root_shapes())
        reduce = 4 if reduce_dtype == "float32" else 2
        # The unsharded root, the layer computed and the one prefetched, one layer's gradients
        # unsharded in the compute dtype and again in the reduce dtype.
        transient += element * (root + 2 * layer) + (element + reduce) * layer
    else:
        if bf16:  # autocast keeps a bf16 copy of every weight for the step's forward
            transient += 2 * dims.n_params()
        if world_size > 1:  # DDP's gradient buckets are a second copy of the gradients
            transient += gradients
    return MemoryPlan(
        n_params=dims.n_params(),
        world_size=world_size,
        strategy=strategy if world_size > 1 else "one process",
        micro_batch=micro_batch,
        seq_len=seq_len,
        compute_dtype="bfloat16" if bf16 else "float32",
        activation_checkpointing=activation_checkpointing,
        parameters=parameters,
        gradients=gradients,
        optimizer=optimizer,
        activations=activations,
        transient=transient,
    )


def check_fits(plan: MemoryPlan, gpu_bytes: int, headroom: float) -> None:
    """A clear error, before anything starts, when the plan does not fit one GPU."""
    budget = gpu_bytes * headroom
    if plan.total <= budget:
        return
    hints = []
    if not plan.activation_checkpointing:
        hints.append("loop.activation_checkpointing: true")
    if plan.micro_batch > 1:
        hints.append("a smaller loop.batch_size with a larger loop.grad_accum")
    if plan.strategy != "fsdp":
        hints.append("loop.strategy: fsdp")
    hints.append("more GPUs (training.distributed.nproc_per_node, nnodes)")
    raise ValueError(
        f"the training run does not fit the GPU: {plan.describe()}; the budget is "
        f"{budget / GIB:.1f} GiB ({headroom:.0%} of {gpu_bytes / GIB:.1f} GiB). "
        f"Try {'; or '.join(hints)}"
    )


def saved_activation_bytes(model: torch.nn.Module, run) -> int:
    """Bytes that `run()` (a forward pass and its loss) keeps for the backward pass: every
    tensor autograd saves, each storage counted once, the model's parameters left out. The
    measurement the activation estimate is checked against."""
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    saved: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in params:
            saved[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        run()
    return sum(saved.values())


def main(argv: list[str] | None = None) -> None:
    """`python -m native_pipeline.lm.memory --model llama-3-8b --gpus 8 ...`: a plan from the
    command line, for a preset or a Hugging Face folder's config.json."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help=f"{', '.join(PRESETS)} or a folder")
    parser.add_argument("--gpus", type=int, default=8, help="processes, all nodes together")
    parser.add_argument("--strategy", choices=["fsdp", "ddp"], default="fsdp")
    parser.add_argument("--micro-batch", type=int, default=1, help="sequences per GPU")
    parser.add_argument("--seq-len", type=int, default=4096)
    parser.add_argument("--fp32", action="store_true", help="compute in float32, not bf16")
    parser.add_argument("--checkpointing", action="store_true", help="activation checkpointing")
    parser.add_argument("--gpu-memory-gib", type=float, default=80.0)
    parser.add_argument("--headroom", type=float, default=0.9)
    args = parser.parse_args(argv)
    if args.model in PRESETS:
        dims = PRESETS[args.model]
    else:
        from transformers import AutoConfig

        dims = ModelDims.of(AutoConfig.from_pretrained(args.model, local_files_only=True))
    plan = plan_memory(
        dims,
        world_size=args.gpus,
        strategy=args.strategy,
        micro_batch=args.micro_batch,
        seq_len=args.seq_len,
        bf16=not args.fp32,
        activation_checkpointing=args.checkpointing,
    )
    print(plan.describe())
    try:
        check_fits(plan, int(args.gpu_memory_gib * GIB), args.headroom)
        print(f"fits {args.headroom:.0%} of {args.gpu_memory_gib:g} GiB")
    except ValueError as error:
        raise SystemExit(str(error)) from None


if __name__ == "__main__":
    main()
