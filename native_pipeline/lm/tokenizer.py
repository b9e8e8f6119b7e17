"""The tokenizer of the model steps: train a byte-level BPE, load a base model's own, hash it.

Token shards record `tokenizer_hash`, so a training run can refuse shards that were cut with a
different tokenizer. `transformers` is imported inside the functions: it takes seconds to import
and tiny.py, which the Dagster definitions import, imports this module.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

# Pre-training tokens: documents in a shard are separated by EOS; PAD fills batches.
EOS = "<|endoftext|>"
PAD = "<|pad|>"


def train_tokenizer(
    texts: Iterable[str],
    vocab_size: int,
    *,
    special_tokens: Sequence[str] = (PAD, EOS),
    eos: str = EOS,
    pad: str = PAD,
    chat_template: str | None = None,
) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer trained on `texts`: every string encodes, whatever its script.

    The special tokens take the first ids, in the order given; `eos` and `pad` must be among them.
    """
    from transformers import PreTrainedTokenizerFast

    missing = [token for token in (eos, pad) if token not in special_tokens]
    if missing:
        raise ValueError(f"eos and pad must be special tokens; not in special_tokens: {missing}")
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(special_tokens),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    bpe.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe, eos_token=eos, pad_token=pad, chat_template=chat_template
    )


def load_tokenizer(path: Path, *, eos: str | None = None) -> PreTrainedTokenizerFast:
    """A model folder's own tokenizer (local files only), or a bare tokenizer.json file.

    `eos` names the end-of-document token; without it, the folder's configured eos token, or
    EOS for a tokenizer.json (which names none). It must be a token of the vocabulary: shards
    separate documents with it.
    """
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    path = Path(path)
    if path.is_dir():
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        if not isinstance(tokenizer, PreTrainedTokenizerFast):
            raise ValueError(f"{path}: no fast tokenizer (tokenizer.json) in this folder")
    elif path.is_file():
        tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(path))
        eos = eos or EOS
    else:
        raise FileNotFoundError(f"no tokenizer at {path}")
    if eos is not None:
        # Checked first: transformers would silently add an unknown eos as a new token.
        if tokenizer.backend_tokenizer.token_to_id(eos) is None:
            raise ValueError(f"{path}: eos token {eos!r} is not in the vocabulary")
        tokenizer.eos_token = eos
    if tokenizer.eos_token_id is None:
        raise ValueError(
            f"{path}: the tokenizer has no eos token (set eos_token in tokenizer_config.json "
            "or pass eos=...): token shards separate documents with it"
        )
    return tokenizer


def tokenizer_hash(tokenizer: PreTrainedTokenizerFast) -> str:
    """sha256 of what decides the token ids: the backend's vocabulary, merges, normalizer,
    pre-tokenizer, added tokens, and the eos token.

    Padding and truncation are left out: transformers switches them on the backend per call.
    """
    spec = json.loads(tokenizer.backend_tokenizer.to_str())
    spec.pop("padding", None)
    spec.pop("truncation", None)
    spec["eos"] = tokenizer.eos_token
    canonical = json.dumps(spec, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def fertility(tokenizer: PreTrainedTokenizerFast, texts: Iterable[str]) -> float:
    """Tokens per whitespace-separated word over `texts` (no special tokens)."""
    texts = list(texts)
    words = sum(len(text.split()) for text in texts)
    if words == 0:
        raise ValueError("fertility needs texts with at least one word")
    encodings = tokenizer.backend_tokenizer.encode_batch_fast(texts, add_special_tokens=False)
    return sum(len(encoding) for encoding in encodings) / words
