"""Where a model runs and in what precision: one choice for training, rewriting and evaluation."""

from __future__ import annotations

from typing import Literal

Dtype = Literal["auto", "float32", "bfloat16", "float16"]


def pick_device(requested: str | None = None) -> str:
    """`requested`, else cuda when a GPU is visible, else cpu."""
    import torch

    return requested or ("cuda" if torch.cuda.is_available() else "cpu")


def use_bf16(device: str, requested: bool | None = None) -> bool:
    """bf16 autocast: as requested, else on GPUs only (CPU bf16 is slow and changes results)."""
    return device.startswith("cuda") if requested is None else requested


def weights_dtype(device: str, requested: Dtype = "auto") -> str:
    """The dtype to load weights in: `auto` is bfloat16 on GPUs (it halves an 8B model) and
    float32 on CPUs (where the lm-eval parity is measured)."""
    if requested != "auto":
        return requested
    return "bfloat16" if device.startswith("cuda") else "float32"
