"""The models: a local Hugging Face causal LM, or a small Llama built from a config.

The published runs continue the pre-training of Llama-3 and fine-tune a Qwen chat model as the
alignment worker; nothing can be downloaded here, so the CPU defaults are Llama-architecture
models with random weights: a bare one for pre-training, and one with its own byte-level BPE and
a ChatML-like template for the worker. Either way every checkpoint is a standard Hugging Face
folder that AutoModelForCausalLM, vLLM and lm-eval load.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from native_pipeline.lm.tokenizer import train_tokenizer
from native_pipeline.settings import TinyChatModel, TinyModelSettings

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase

HEAD_DIM = 64  # vLLM's CPU attention needs head_dim >= 64
# The tiny chat model's template: one special token per role, the turn closed by END.
END = "<|end|>"
PAD = "<|pad|>"
ROLES = ("system", "user", "assistant")
SPECIAL_TOKENS = [PAD, END, *(f"<|{role}|>" for role in ROLES)]
CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}"
    + END
    + "\n{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
# Dense bf16 peak of one GPU, by a substring of torch.cuda.get_device_name(), for MFU.
PEAK_BF16_FLOPS = {"H100": 989e12, "H200": 989e12, "A100": 312e12}


def llama_config(
    *,
    vocab_size: int,
    eos_token_id: int | None,
    pad_token_id: int | None,
    hidden_size: int = 128,
    layers: int = 2,
    heads: int | None = None,
    max_positions: int = 2048,
):  # -> transformers.LlamaConfig
    """A Llama-3-style config: SwiGLU MLP 4x wide, RoPE, RMSNorm, tied embeddings."""
    from transformers import LlamaConfig

    heads = heads or hidden_size // HEAD_DIM
    return LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        intermediate_size=4 * hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        head_dim=hidden_size // heads,
        max_position_embeddings=max_positions,
        bos_token_id=None,
        eos_token_id=eos_token_id,
        pad_token_id=pad_token_id,
        tie_word_embeddings=True,
    )


def model_config(
    base_model: Path | None,
    *,
    vocab_size: int,
    eos_token_id: int | None,
    pad_token_id: int | None,
    tiny: TinyModelSettings,
):  # -> transformers.PretrainedConfig
    """The config of `base_model` (a local folder), or of a Llama sized by `tiny`."""
    from transformers import AutoConfig

    if base_model is not None:
        return AutoConfig.from_pretrained(base_model, local_files_only=True)
    return llama_config(
        vocab_size=vocab_size,
        eos_token_id=eos_token_id,
        pad_token_id=pad_token_id,
        **tiny.model_dump(include=set(TinyModelSettings.model_fields)),
    )


def build_model(
    base_model: Path | None,
    *,
    vocab_size: int,
    eos_token_id: int,
    pad_token_id: int | None,
    tiny: TinyModelSettings,
    seed: int,
    meta: bool = False,
):  # -> transformers.PreTrainedModel
    """`base_model` (a local folder) in float32, or a random Llama sized by `tiny`.

    `meta`: the base model's parameters are created on the meta device, without storage: the
    training loop shards them and fills each rank's shards from the folder.
    """
    import torch
    from transformers import AutoModelForCausalLM, LlamaForCausalLM

    config = model_config(
        base_model,
        vocab_size=vocab_size,
        eos_token_id=eos_token_id,
        pad_token_id=pad_token_id,
        tiny=tiny,
    )
    if base_model is None:
        torch.manual_seed(seed)  # the initial weights are part of the run
        return LlamaForCausalLM(config)
    if meta:
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    else:
        model = AutoModelForCausalLM.from_pretrained(
            base_model, dtype=torch.float32, local_files_only=True
        )
    if model.get_input_embeddings().num_embeddings < vocab_size:
        raise ValueError(
            f"the tokenizer has {vocab_size} ids but {base_model} embeds only "
            f"{model.get_input_embeddings().num_embeddings}: use the base model's tokenizer"
        )
    return model


def save_initial_model(
    folder: Path | str,
    tokenizer_folder: Path | str,
    base_model: Path | None,
    *,
    tiny: TinyModelSettings,
    seed: int,
) -> Path:
    """The model every variant's continued pre-training starts from, as a Hugging Face folder:
    `base_model` itself when one is configured; else the random Llama that
    training.run.train_from_spec builds (the same tokenizer, `tiny` and seed), written to
    `folder` with the tokenizer. Evaluated once, it is the zero line of the ablation."""
    from transformers import AutoTokenizer

    if base_model is not None:
        return Path(base_model)
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_folder)
    return _save_random(folder, tokenizer, tiny, seed)


def _save_random(
    folder: Path | str, tokenizer: PreTrainedTokenizerBase, tiny: TinyModelSettings, seed: int
) -> Path:
    """A random-weight Llama sized for `tokenizer`, written with it to `folder`."""
    model = build_model(
        None,
        vocab_size=len(tokenizer),
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tiny=tiny,
        seed=seed,
    )
    folder = Path(folder)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


def create_tiny_chat_model(
    folder: Path | str, texts: Iterable[str], tiny: TinyChatModel | None = None, seed: int = 0
) -> Path:
    """Write a random-weight Llama and a BPE tokenizer trained on `texts`, with the chat
    template, to `folder` (safetensors); return it. The worker's CPU default and the tests'."""
    tiny = tiny or TinyChatModel()
    tokenizer = train_tokenizer(
        texts,
        tiny.vocab_size,
        special_tokens=SPECIAL_TOKENS,
        eos=END,
        pad=PAD,
        chat_template=CHAT_TEMPLATE,
    )
    return _save_random(folder, tokenizer, tiny, seed)


def n_params(model: torch.nn.Module) -> int:
    """Parameters, tied ones counted once."""
    return sum(p.numel() for p in model.parameters())


def flops_per_token(model, seq_len: int) -> float:
    """Training FLOPs per token: 6N for the matmuls plus attention (PaLM appendix B, nanoGPT).

    N leaves out an untied input embedding, a lookup rather than a matmul.
    """
    config = model.config
    n = n_params(model)
    if not config.tie_word_embeddings:
        n -= model.get_input_embeddings().weight.numel()
    width = config.num_attention_heads * config.head_dim
    return 6 * n + 12 * config.num_hidden_layers * width * seq_len


def peak_flops(device_name: str) -> float | None:
    """The GPU's dense bf16 peak, or None for a GPU not in the table."""
    return next((v for k, v in PEAK_BF16_FLOPS.items() if k in device_name), None)


def mfu(tokens_per_second: float, token_flops: float, peak: float) -> float:
    """Model FLOPs utilisation: achieved training FLOPs (`token_flops` a token) over the peak."""
    return tokens_per_second * token_flops / peak
