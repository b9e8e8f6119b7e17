from __future__ import annotations

import math

import pytest
import torch

from native_pipeline.evaluation.perplexity import perplexity, windows

TEXTS = [
    "السؤال: ما عاصمة مصر؟ الإجابة: القاهرة، وهي أكبر مدن العالم العربي.",
    "تقدم القهوة العربية عادة مع التمر.",
]


def naive_nll(model, tokenizer, text: str) -> tuple[float, int]:
    """The whole document in one pass after the prefix token: total NLL and token count."""
    tokens = tokenizer(text, add_special_tokens=False)["input_ids"]
    ids = [tokenizer.eos_token_id, *tokens]  # the tiny tokenizer has no BOS
    with torch.no_grad():
        logprobs = torch.log_softmax(model(torch.tensor([ids[:-1]])).logits[0], dim=-1)
    return -sum(float(logprobs[i, t]) for i, t in enumerate(tokens)), len(tokens)


def test_perplexity_is_exp_of_mean_nll(tiny_lm):
    _, model, tokenizer = tiny_lm
    nlls, counts = zip(*(naive_nll(model, tokenizer, t) for t in TEXTS), strict=True)
    result = perplexity(model, tokenizer, TEXTS, context_length=512, batch_size=2)
    assert result.tokens == sum(counts) and result.documents == 2
    assert result.nll == pytest.approx(sum(nlls), rel=1e-5)
    assert result.perplexity == pytest.approx(math.exp(sum(nlls) / sum(counts)), rel=1e-5)
    n_bytes = sum(len(t.encode()) for t in TEXTS)
    assert result.bytes == n_bytes
    assert result.bits_per_byte == pytest.approx(sum(nlls) / math.log(2) / n_bytes, rel=1e-5)


def test_windows_are_disjoint_and_the_last_fills_its_context():
    assert [(g.context, g.continuations) for g in windows([5, 6, 7, 8, 9], 0, 2)] == [
        ([0], [[5, 6]]),
        ([6], [[7, 8]]),
        ([7, 8], [[9]]),
    ]


def test_windowed_perplexity_differs_from_whole_document(tiny_lm):
    _, model, tokenizer = tiny_lm
    whole = perplexity(model, tokenizer, TEXTS[:1], context_length=512)
    cut = perplexity(model, tokenizer, TEXTS[:1], context_length=3)
    assert cut.tokens == whole.tokens and cut.nll != pytest.approx(whole.nll, rel=1e-6)


def test_windows_stop_at_the_models_context_length(tiny_lm, monkeypatch):
    _, model, tokenizer = tiny_lm
    monkeypatch.setattr(model.config, "max_position_embeddings", 4)
    longer = perplexity(model, tokenizer, TEXTS, context_length=512)
    assert longer.nll == pytest.approx(perplexity(model, tokenizer, TEXTS, context_length=4).nll)


def test_no_tokens_is_an_error(tiny_lm):
    _, model, tokenizer = tiny_lm
    with pytest.raises(ValueError, match="no tokens"):
        perplexity(model, tokenizer, [""])
