from __future__ import annotations

from pathlib import Path

import pytest
from transformers import AutoTokenizer

from native_pipeline.alignment.backends.base import ChatRewriter, Sampling, checkpoint_hash
from native_pipeline.alignment.backends.transformers import TransformersBackend
from native_pipeline.alignment.conduct import CodeOfConduct
from native_pipeline.alignment.tiny import create_tiny_llama

CONDUCT = CodeOfConduct("Rewrite the segment: remove ads, keep everything else.", ())
SEGMENTS = [
    "مرحبا",
    "افتتحت المكتبة العامة فرعا جديدا في وسط المدينة",
    "ارتفعت درجات الحرارة اليوم في معظم مناطق البلاد، اضغط هنا للاشتراك",
]


@pytest.fixture(scope="module")
def model_path(tmp_path_factory) -> Path:
    texts = [CONDUCT.system_prompt, *SEGMENTS]
    return create_tiny_llama(tmp_path_factory.mktemp("tiny") / "model", texts, vocab_size=512)


@pytest.fixture(scope="module")
def backend(model_path) -> TransformersBackend:
    return TransformersBackend(model_path, batch_size=2)  # 3 conversations: 2 batches


def conversations() -> list[list[dict[str, str]]]:
    return [CONDUCT.messages(s) for s in SEGMENTS]


def test_identity_names_the_checkpoint(backend, model_path):
    assert backend.identity() == {
        "backend": "transformers",
        "model": str(model_path),
        "checkpoint": checkpoint_hash(model_path),
    }


def test_one_completion_per_conversation_in_order(backend, model_path):
    completions = backend.chat(conversations(), Sampling(max_tokens=6))
    assert len(completions) == len(SEGMENTS)
    # The segments differ in length: each count is that of its own prompt, so the order holds.
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    prompt_lengths = [
        len(tokenizer.apply_chat_template(c, add_generation_prompt=True)["input_ids"])
        for c in conversations()
    ]
    assert [c.input_tokens for c in completions] == prompt_lengths
    assert len(set(prompt_lengths)) == len(SEGMENTS)
    for completion in completions:
        assert 0 < completion.output_tokens <= 6
        assert completion.error is None and not completion.cached


def test_greedy_is_deterministic_and_respects_max_tokens(backend):
    greedy = Sampling(temperature=0.0, max_tokens=8)
    first = backend.chat(conversations(), greedy)
    second = backend.chat(conversations(), greedy.with_seed(7))  # no sampling: seed is moot
    assert [c.text for c in first] == [c.text for c in second]
    short = backend.chat(conversations(), Sampling(max_tokens=2))
    assert all(0 < c.output_tokens <= 2 for c in short)


def test_sampling_is_reproducible_with_its_seed(backend):
    sampling = Sampling(temperature=1.5, top_p=0.95, max_tokens=12, seed=3)
    first = [c.text for c in backend.chat(conversations(), sampling)]
    assert first == [c.text for c in backend.chat(conversations(), sampling)]
    # A random-weight model at a high temperature: another seed draws other tokens.
    assert first != [c.text for c in backend.chat(conversations(), sampling.with_seed(4))]


def test_serves_a_chat_rewriter(backend):
    rewriter = ChatRewriter(backend, CONDUCT)
    assert rewriter.identity()["prompt"] == CONDUCT.prompt_hash
    assert len(rewriter.rewrite(SEGMENTS, Sampling(max_tokens=3))) == len(SEGMENTS)
