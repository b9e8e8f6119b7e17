from __future__ import annotations

from pathlib import Path

import pytest

from native_pipeline.lm.tokenizer import train_tokenizer


@pytest.fixture(scope="module")
def tokenizer_folder(tmp_path_factory) -> Path:
    """A byte-level BPE of 300 ids: the tiny model's vocabulary."""
    texts = ["افتتحت المكتبة العامة فرعا جديدا", "ارتفعت درجات الحرارة اليوم"] * 5
    folder = tmp_path_factory.mktemp("tokenizer")
    train_tokenizer(texts, vocab_size=300).save_pretrained(folder)
    return folder
