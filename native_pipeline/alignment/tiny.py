"""A tiny Llama with random weights and a byte-level BPE tokenizer trained on the corpus.

Nothing can be downloaded here, so the CPU default of the alignment worker, the tests and the
benchmarks build their model from a config. Heads are 64 wide: vLLM's CPU attention needs
head_dim >= 64. The chat template is ChatML-like, with one special token per role.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from native_pipeline.training.model import llama_config
from native_pipeline.training.tokenizer import train_tokenizer

END = "<|end|>"
PAD = "<|pad|>"
ROLES = ("system", "user", "assistant")
SPECIAL_TOKENS = [PAD, END, *(f"<|{role}|>" for role in ROLES)]
CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}"
    + END
    + "\n{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def create_tiny_llama(
    folder: Path | str,
    texts: Iterable[str],
    *,
    vocab_size: int = 4096,
    hidden_size: int = 128,
    layers: int = 2,
    heads: int = 2,
    max_positions: int = 4096,
    seed: int = 0,
) -> Path:
    """Write a random-weight Llama and its tokenizer to `folder` (safetensors); return it."""
    import torch
    from transformers import LlamaForCausalLM

    tokenizer = train_tokenizer(
        texts,
        vocab_size,
        special_tokens=SPECIAL_TOKENS,
        eos=END,
        pad=PAD,
        chat_template=CHAT_TEMPLATE,
    )
    config = llama_config(
        vocab_size=len(tokenizer),
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        hidden_size=hidden_size,
        layers=layers,
        heads=heads,
        max_positions=max_positions,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    folder = Path(folder)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder
