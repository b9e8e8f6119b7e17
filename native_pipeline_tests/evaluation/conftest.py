from __future__ import annotations

import pytest

from native_pipeline.evaluation.suite import SAMPLE_PATHS, SAMPLES
from native_pipeline.evaluation.tasks import load_task

__all__ = ["SAMPLES", "SAMPLE_PATHS", "sample_items"]


def sample_items(format: str):
    """(test items, dev items) of a layout's bundled sample."""
    task = load_task(format, SAMPLE_PATHS[format])
    return task.test, task.dev


@pytest.fixture(scope="session")
def tiny_lm(tmp_path_factory):
    """(folder, model, tokenizer): a random tiny Llama whose tokenizer knows the samples."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from native_pipeline.lm.model import create_tiny_chat_model
    from native_pipeline.settings import TinyChatModel

    texts = [
        item.question + " " + " ".join(item.choices)
        for format in SAMPLE_PATHS
        for items in sample_items(format)
        for item in items
    ]
    tiny = TinyChatModel(vocab_size=800, hidden_size=64, layers=1, heads=1)
    folder = create_tiny_chat_model(tmp_path_factory.mktemp("tiny"), texts, tiny)
    model = AutoModelForCausalLM.from_pretrained(folder)
    return folder, model.eval(), AutoTokenizer.from_pretrained(folder)
