"""Parallelism and sharded weights for the one training loop, each a small function (as
torchtitan does): activation checkpointing per decoder layer, FSDP2 with a mixed-precision
policy or DDP, a model created on the meta device made real, and Hugging Face safetensors read
and written shard by shard through `torch.distributed.checkpoint` (each rank reads only the
slices of its shards; the consolidated folder is stitched from the ranks' files, never
gathered in one process's memory).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import torch
import torch.distributed.checkpoint as dcp
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    set_model_state_dict,
)

# Hugging Face's own limit per safetensors file when a model is saved in several.
MAX_FILE_BYTES = 5 * 1024**3
SINGLE_FILE = "model.safetensors"


def apply_activation_checkpointing(model: torch.nn.Module) -> None:
    """Recompute each decoder layer in the backward pass (Hugging Face's per-layer hook,
    non-reentrant so that it composes with FSDP2)."""
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})


def apply_fsdp(model: torch.nn.Module, bf16: bool, reduce_dtype: str) -> torch.nn.Module:
    """FSDP2: one shard group per decoder layer and the root; float32 master weights, computed
    in bf16 when asked, gradients reduced in `reduce_dtype`."""
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    policy = MixedPrecisionPolicy(
        param_dtype=torch.bfloat16 if bf16 else None,
        reduce_dtype=getattr(torch, reduce_dtype) if bf16 else None,
    )
    layers = model.model.layers  # Hugging Face decoder-only models keep them here
    for i, layer in enumerate(layers):
        # The last layer is the first the backward pass needs: not resharded in between.
        fully_shard(layer, mp_policy=policy, reshard_after_forward=i < len(layers) - 1)
    fully_shard(model, mp_policy=policy)
    return model


def apply_ddp(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


def materialize(model: torch.nn.Module, device: torch.device) -> None:
    """Give a model created on the meta device (sharded or not) real, uninitialised storage,
    and recompute what no checkpoint holds (the rotary frequencies)."""
    tied = bool(tied_names(model))
    model.to_empty(device=device)
    if tied:  # an unsharded module's to_empty gives each home of a tied parameter its own
        model.tie_weights()
    for module in model.modules():
        if module._non_persistent_buffers_set:
            model._init_weights(module)  # transformers' init recomputes such buffers


def is_meta(model: torch.nn.Module) -> bool:
    return any(p.is_meta for p in model.parameters())


def tied_names(model: torch.nn.Module) -> set[str]:
    """State-dict names of a tied parameter's second home (lm_head.weight), which a Hugging
    Face folder does not hold."""
    unique = {name for name, _ in [*model.named_parameters(), *model.named_buffers()]}
    return set(model.state_dict()) - unique


def _weights(model: torch.nn.Module, tied: set[str]) -> dict[str, torch.Tensor]:
    """The model's state dict as each rank holds it (its shards), without the tied names."""
    state = get_model_state_dict(model)
    return {name: tensor for name, tensor in state.items() if name not in tied}


def load_hf_weights(model: torch.nn.Module, folder: Path, tied: set[str]) -> None:
    """Fill `model` (sharded or not) from a Hugging Face folder's safetensors: every rank
    reads only the slices of the tensors it holds."""
    from torch.distributed.checkpoint import HuggingFaceStorageReader

    state = _weights(model, tied)
    reader = HuggingFaceStorageReader(str(folder))
    dcp.load(state, storage_reader=reader)
    set_model_state_dict(model, state, options=StateDictOptions(strict=False))


def _file_indices(state: dict[str, torch.Tensor], max_bytes: int) -> dict[str, int]:
    """Consecutive tensors into files of at most `max_bytes`, numbered from 1."""
    indices, index, size = {}, 1, 0
    for name, tensor in state.items():
        nbytes = tensor.numel() * tensor.element_size()  # the whole tensor, not this rank's
        if size and size + nbytes > max_bytes:
            index, size = index + 1, 0
        indices[name] = index
        size += nbytes
    return indices


def save_hf_weights(model: torch.nn.Module, folder: Path, tied: set[str], rank: int) -> None:
    """Write the weights into `folder` as Hugging Face safetensors: each rank writes its
    shards, then they are stitched into whole tensors file by file (DCP's consolidation). One
    file is named model.safetensors, as `save_pretrained` names it."""
    from torch.distributed.checkpoint import HuggingFaceStorageWriter

    state = _weights(model, tied)
    indices = _file_indices(state, MAX_FILE_BYTES)
    writer = HuggingFaceStorageWriter(
        str(folder),
        fqn_to_index_mapping=indices,
        save_distributed=True,
        enable_consolidation=True,
        thread_count_consolidation=min(8, max(indices.values())),  # output files in parallel
    )
    dcp.save(state, storage_writer=writer)
    if rank == 0:
        shutil.rmtree(folder / "sharded")  # the ranks' pieces, now stitched
        files = sorted(folder.glob("*.safetensors"))
        if len(files) == 1:
            files[0].rename(folder / SINGLE_FILE)
            (folder / "model.safetensors.index.json").unlink()
