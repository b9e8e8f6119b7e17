from __future__ import annotations

import json

import pytest
from tokenizers import normalizers, processors

from native_pipeline.lm.tokenizer import (
    EOS,
    PAD,
    fertility,
    load_tokenizer,
    tokenizer_hash,
    train_tokenizer,
)

ARABIC = [
    "أعلنت الجامعة عن برنامج جديد لدراسة علوم البحار، ويبدأ التسجيل في الشهر المقبل.",
    "وقال رئيس القسم إن البرنامج يجمع بين الدراسة النظرية والعمل الميداني على السواحل.",
    "وتشمل الرحلات الميدانية زيارة المحميات الطبيعية ومراكز الأبحاث في المدينة.",
    "ويمكن للطلاب التقديم عبر موقع الجامعة حتى نهاية العام الدراسي.",
]


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer(ARABIC * 5, vocab_size=400)


def test_special_tokens_come_first_and_every_string_encodes(tokenizer):
    assert (tokenizer.pad_token_id, tokenizer.eos_token_id) == (0, 1)
    assert tokenizer.convert_ids_to_tokens([0, 1]) == [PAD, EOS]
    unseen = "مرحبا 你好 🙂 naïve"  # scripts and symbols absent from the training texts
    ids = tokenizer(unseen, add_special_tokens=False)["input_ids"]
    assert tokenizer.unk_token_id is None
    assert tokenizer.decode(ids) == unseen


def test_eos_and_pad_must_be_special_tokens():
    with pytest.raises(ValueError, match="special tokens"):
        train_tokenizer(ARABIC, 300, special_tokens=[PAD], eos="<|end|>")


def test_hash_is_stable_and_tells_tokenizers_apart(tokenizer, tmp_path):
    again = train_tokenizer(ARABIC * 5, vocab_size=400)
    assert tokenizer_hash(again) == tokenizer_hash(tokenizer)
    tokenizer.save_pretrained(tmp_path)
    assert tokenizer_hash(load_tokenizer(tmp_path)) == tokenizer_hash(tokenizer)
    # transformers leaves padding switched on the backend after such a call: same ids, same hash
    again(ARABIC, padding="max_length", max_length=64)
    assert tokenizer_hash(again) == tokenizer_hash(tokenizer)

    smaller = train_tokenizer(ARABIC * 5, vocab_size=350)
    assert tokenizer_hash(smaller) != tokenizer_hash(tokenizer)
    normalized = train_tokenizer(ARABIC * 5, vocab_size=400)
    normalized.backend_tokenizer.normalizer = normalizers.NFKC()
    assert tokenizer_hash(normalized) != tokenizer_hash(tokenizer)
    other_eos = load_tokenizer(tmp_path, eos=PAD)
    assert tokenizer_hash(other_eos) != tokenizer_hash(tokenizer)


def test_fertility_counts_tokens_per_word_on_arabic(tokenizer):
    words = sum(len(text.split()) for text in ARABIC)
    tokens = sum(len(tokenizer(text, add_special_tokens=False)["input_ids"]) for text in ARABIC)
    assert fertility(tokenizer, ARABIC) == pytest.approx(tokens / words)
    # A larger vocabulary learns whole Arabic words; a byte-level pre-tokenizer never joins two.
    larger = train_tokenizer(ARABIC * 5, vocab_size=1000)
    assert 1.0 <= fertility(larger, ARABIC) < 1.5 < fertility(tokenizer, ARABIC)
    with pytest.raises(ValueError, match="at least one word"):
        fertility(tokenizer, ["", "  "])


def test_load_a_folder_and_a_tokenizer_json(tokenizer, tmp_path):
    tokenizer.save_pretrained(tmp_path)
    for path in (tmp_path, tmp_path / "tokenizer.json"):
        loaded = load_tokenizer(path)
        assert loaded.eos_token == EOS
        assert loaded(ARABIC)["input_ids"] == tokenizer(ARABIC)["input_ids"]


def test_load_a_llama3_style_folder_with_its_own_eos(tmp_path):
    bos, eos = "<|begin_of_text|>", "<|end_of_text|>"
    trained = train_tokenizer(ARABIC, 300, special_tokens=[bos, eos], eos=eos, pad=eos)
    backend = trained.backend_tokenizer
    backend.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", special_tokens=[(bos, backend.token_to_id(bos))]
    )
    backend.save(str(tmp_path / "tokenizer.json"))
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": bos, "eos_token": eos}
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config))

    loaded = load_tokenizer(tmp_path)
    assert loaded.eos_token == eos
    assert loaded("مرحبا")["input_ids"][0] == backend.token_to_id(bos)


def test_a_tokenizer_without_eos_is_refused(tmp_path):
    no_eos = train_tokenizer(ARABIC, 300)
    no_eos.eos_token = None
    no_eos.save_pretrained(tmp_path / "model")
    with pytest.raises(ValueError, match="no eos token"):
        load_tokenizer(tmp_path / "model")

    # A bare tokenizer.json names no eos: EOS by default, which this vocabulary lacks.
    bare = train_tokenizer(ARABIC, 300, special_tokens=[PAD, "<|end|>"], eos="<|end|>")
    bare.backend_tokenizer.save(str(tmp_path / "tokenizer.json"))
    with pytest.raises(ValueError, match="not in the vocabulary"):
        load_tokenizer(tmp_path / "tokenizer.json")
    assert load_tokenizer(tmp_path / "tokenizer.json", eos="<|end|>").eos_token_id == 1

    with pytest.raises(FileNotFoundError):
        load_tokenizer(tmp_path / "missing")
