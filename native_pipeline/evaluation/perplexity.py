"""Token-level perplexity and bits per byte of held-out documents.

Windows as lm-eval's loglikelihood_rolling makes them: a document's tokens (no special tokens)
are cut into disjoint windows of `context_length` predicted tokens, the first token predicted
after the BOS token (EOS when the tokenizer has none). A full window sees the one token before
it; the last, shorter one sees as many earlier tokens as fill `context_length` inputs. Each
token is predicted once, so the sums add up over documents. A window is never longer than the
model's context (lm-eval's rolling windows are the model's max length): past its positions a
model's scores mean nothing, and vLLM refuses the prompt.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from native_pipeline.evaluation.loglik import Group, max_length, score_groups


@dataclass(frozen=True)
class PerplexityResult:
    perplexity: float  # exp(total NLL / tokens)
    bits_per_byte: float  # total NLL in bits / UTF-8 bytes of the texts
    nll: float  # total negative log-likelihood, nats
    tokens: int
    bytes: int
    documents: int


def windows(tokens: list[int], prefix: int, context_length: int) -> list[Group]:
    """Disjoint windows of one document, each a Group: its context and its targets."""
    inputs = [prefix, *tokens]  # inputs[i] comes just before tokens[i]
    groups = []
    for start in range(0, len(tokens), context_length):
        end = min(start + context_length, len(tokens))
        groups.append(Group(inputs[max(0, end - context_length) : start + 1], [tokens[start:end]]))
    return groups


def perplexity(
    model: Any,
    tokenizer: Any,
    texts: Sequence[str],
    *,
    context_length: int = 1024,
    batch_size: int = 8,
) -> PerplexityResult:
    if context_length < 1:
        raise ValueError("context_length must be at least 1")
    context_length = min(context_length, max_length(model, tokenizer))
    prefix = tokenizer.bos_token_id
    if prefix is None:
        prefix = tokenizer.eos_token_id
    encoded = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
    groups = [group for tokens in encoded for group in windows(tokens, prefix, context_length)]
    if not groups:
        raise ValueError("no tokens to score")
    scores = score_groups(model, groups, batch_size=batch_size)
    nll = -sum(group_scores[0].logprob for group_scores in scores)
    n_tokens = sum(map(len, encoded))
    n_bytes = sum(len(text.encode("utf-8")) for text in texts)
    return PerplexityResult(
        perplexity=math.exp(nll / n_tokens),
        bits_per_byte=nll / math.log(2) / n_bytes,
        nll=nll,
        tokens=n_tokens,
        bytes=n_bytes,
        documents=len(texts),
    )


class TextPerplexity:
    """A causal LM's perplexity of one text at a time (a Hugging Face folder: the base model or
    the alignment worker): the audit's fluency before and after rewriting, as the paper scores
    it. `name` says which model scored."""

    def __init__(self, folder: Path, context_length: int = 512, dtype: str = "auto") -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from native_pipeline.lm.device import pick_device, weights_dtype

        device = pick_device()
        weights = getattr(torch, weights_dtype(device, dtype))
        self.model = AutoModelForCausalLM.from_pretrained(folder, dtype=weights).to(device).eval()
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.context_length = context_length
        self.name = f"causal LM {folder}"

    def __call__(self, text: str) -> float:
        """The text's token perplexity; NaN for a text without tokens."""
        if not self.tokenizer(text, add_special_tokens=False)["input_ids"]:
            return math.nan
        return perplexity(
            self.model, self.tokenizer, [text], context_length=self.context_length, batch_size=1
        ).perplexity
