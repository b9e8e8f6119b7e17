"""What every chat backend owes its callers, checked the same way for each real backend."""

from __future__ import annotations

from pathlib import Path

from transformers import AutoTokenizer

from native_pipeline.alignment.backends.base import ChatBackend, Sampling, checkpoint_hash
from native_pipeline.alignment.conduct import Message


def check_identity(backend: ChatBackend, name: str, model_path: Path) -> None:
    assert backend.identity() == {
        "backend": name,
        "model": str(model_path),
        "checkpoint": checkpoint_hash(model_path),
    }


def check_order_and_counts(
    backend: ChatBackend, model_path: Path, conversations: list[list[Message]], max_tokens: int
) -> None:
    """One completion per conversation, in order: conversations of different lengths, each
    completion counting its own prompt's tokens; the same texts come back for the reversed list."""
    completions = backend.chat(conversations, Sampling(max_tokens=max_tokens))
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    prompt_lengths = [
        len(tokenizer.apply_chat_template(c, add_generation_prompt=True)["input_ids"])
        for c in conversations
    ]
    assert len(set(prompt_lengths)) == len(conversations)
    assert [c.input_tokens for c in completions] == prompt_lengths
    for completion in completions:
        assert 0 < completion.output_tokens <= max_tokens
        assert completion.error is None and not completion.cached
        # cut off at max_tokens: a random model hardly ever writes its end token
        assert completion.truncated == (completion.output_tokens == max_tokens)
    reversed_texts = [
        c.text for c in backend.chat(conversations[::-1], Sampling(max_tokens=max_tokens))
    ]
    assert reversed_texts == [c.text for c in completions][::-1]
    assert backend.chat([], Sampling()) == []


def check_seeds(backend: ChatBackend, conversations: list[list[Message]]) -> None:
    """Greedy output ignores the seed; sampled output follows it."""
    greedy = Sampling(temperature=0.0, max_tokens=12)
    first = [c.text for c in backend.chat(conversations, greedy)]
    assert first == [c.text for c in backend.chat(conversations, greedy.with_seed(5))]
    sampled = Sampling(temperature=1.5, top_p=0.95, max_tokens=12, seed=7)
    texts = [c.text for c in backend.chat(conversations, sampled)]
    assert texts == [c.text for c in backend.chat(conversations, sampled)]
    # a random-weight model at a high temperature: another seed draws other tokens
    assert texts != [c.text for c in backend.chat(conversations, sampled.with_seed(8))]
