from __future__ import annotations

from pathlib import Path

import pytest

from native_pipeline.alignment.backends.base import ChatRewriter, Sampling
from native_pipeline.alignment.backends.transformers import TransformersBackend
from native_pipeline.alignment.conduct import CodeOfConduct
from native_pipeline.lm.model import create_tiny_chat_model
from native_pipeline.settings import TinyChatModel
from native_pipeline_tests.alignment.chat_contract import (
    check_identity,
    check_order_and_counts,
    check_seeds,
)

CONDUCT = CodeOfConduct("Rewrite the segment: remove ads, keep everything else.", ())
SEGMENTS = [
    "مرحبا",
    "افتتحت المكتبة العامة فرعا جديدا في وسط المدينة",
    "ارتفعت درجات الحرارة اليوم في معظم مناطق البلاد، اضغط هنا للاشتراك",
]


@pytest.fixture(scope="module")
def model_path(tmp_path_factory) -> Path:
    texts = [CONDUCT.system_prompt, *SEGMENTS]
    folder = tmp_path_factory.mktemp("tiny") / "model"
    return create_tiny_chat_model(folder, texts, TinyChatModel(vocab_size=512))


@pytest.fixture(scope="module")
def backend(model_path) -> TransformersBackend:
    return TransformersBackend(model_path, batch_size=2)  # 3 conversations: 2 batches


def conversations() -> list[list[dict[str, str]]]:
    return [CONDUCT.messages(s) for s in SEGMENTS]


def test_identity_names_the_checkpoint(backend, model_path):
    check_identity(backend, "transformers", model_path)


def test_one_completion_per_conversation_in_order(backend, model_path):
    check_order_and_counts(backend, model_path, conversations(), max_tokens=6)


def test_seeds(backend):
    check_seeds(backend, conversations())


def test_respects_max_tokens(backend):
    short = backend.chat(conversations(), Sampling(max_tokens=2))
    assert all(0 < c.output_tokens <= 2 for c in short)


def test_serves_a_chat_rewriter(backend):
    rewriter = ChatRewriter(backend, CONDUCT)
    assert rewriter.identity()["prompt"] == CONDUCT.prompt_hash
    assert len(rewriter.rewrite(SEGMENTS, Sampling(max_tokens=3))) == len(SEGMENTS)
