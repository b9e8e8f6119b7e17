from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from native_pipeline.settings import HarmSettings
from native_pipeline.text.blocks import Document
from native_pipeline.text.harm import (
    CATEGORIES,
    HARM_KEYS,
    HarmScorer,
    chunks,
    make_scorer,
    text_harm,
)
from native_pipeline.text.harm.offline import BUNDLED, Featurizer, OfflineModel, bundled, load

NEUTRAL = "الطقس اليوم جميل والسماء صافية، وخرجت العائلات إلى الحدائق العامة."
INSULT = "يا حمار يا غبي يا ابن الكلب يا حقير"
SLUR = "اليهود كلاب يجب طردهم من البلاد"
NEWS = "أعلن الاتحاد تأجيل بطولة كرة القدم إلى الشهر المقبل بسبب سوء الأحوال الجوية."

ARTICLE = "\n\n".join(
    [
        "أعلنت وزارة الصحة اليوم عن افتتاح مستشفى جديد في مدينة الرياض، ويضم المستشفى "
        "أكثر من مئتي سرير وعددا من الأقسام المتخصصة في أمراض القلب والأطفال والطوارئ.",
        "وأضاف الوزير أن المستشفى سيعمل بكامل طاقته خلال الأشهر الثلاثة المقبلة، بعد أن "
        "يكتمل تدريب الكوادر الطبية على الأجهزة الحديثة التي تم توريدها من عدة دول.",
        "ويرى خبراء في القطاع الصحي أن نجاح هذه المشاريع يعتمد على توفير عدد كاف من "
        "الأطباء والممرضين، وعلى تطوير أنظمة المواعيد الإلكترونية في المستشفيات.",
    ]
)


def test_scores_are_probabilities_with_all_keys() -> None:
    scorer = make_scorer()
    (scores,) = scorer.score([NEUTRAL])
    assert set(scores) == set(HARM_KEYS)
    assert all(0.0 <= v <= 1.0 for v in scores.values())
    assert scores["harm_max"] == max(v for k, v in scores.items() if k != "harm_max")
    assert scorer.score([]) == []
    # The offline model has no sexual or violence data: only the written rules score those.
    assert scorer.categories == CATEGORIES
    assert scores["harm_sexual"] == scores["harm_violence"] == 0.0


def test_offensive_and_hateful_posts_rank_above_clean_text() -> None:
    neutral, news, insult, slur = make_scorer().score([NEUTRAL, NEWS, INSULT, SLUR])
    assert insult["harm_harassment"] > 0.9 > 0.2 > max(neutral["harm_max"], news["harm_max"])
    assert slur["harm_hate"] > 2 * max(neutral["harm_hate"], news["harm_hate"])


def test_the_scorer_is_built_once_per_settings() -> None:
    assert make_scorer() is make_scorer(HarmSettings())
    with pytest.raises(ValidationError):
        HarmSettings(backend="offline", threshold=0.5)  # extra keys are refused


def test_chunks_split_paragraphs_and_long_lines() -> None:
    assert chunks("أ ب\n\nج د", 300) == ["أ ب", "ج د"]
    long_line = " ".join(["كلمة"] * 200)
    pieces = chunks(long_line, 300)
    assert len(pieces) > 1 and all(len(p) <= 300 for p in pieces)
    assert chunks("", 300) == [""]


def test_block_flags_one_harmful_paragraph_in_a_long_article() -> None:
    block = pickle.loads(pickle.dumps(HarmScorer()))
    docs = [Document("clean", ARTICLE), Document("mixed", ARTICLE + "\n\n" + INSULT)]
    kept = block(docs)
    assert kept == docs  # scores only, never removes
    clean, mixed = (d.meta for d in kept)
    assert set(HARM_KEYS) <= set(clean)
    assert clean["harm_max"] < 0.2
    assert mixed["harm_harassment"] > 0.9
    # Scored as one text, the insult is diluted by the article: chunking is what finds it (for
    # the model; a written rule matches anywhere).
    (whole,) = make_scorer(HarmSettings(lexicon_score=0)).score([ARTICLE + "\n\n" + INSULT])
    assert whole["harm_harassment"] < mixed["harm_harassment"] - 0.3
    assert text_harm([ARTICLE + "\n\n" + INSULT])[0]["harm_max"] == pytest.approx(
        mixed["harm_max"], abs=1e-4
    )
    assert block.drain()[0] == []


def test_features_of_a_text_do_not_depend_on_its_batch() -> None:
    featurizer = Featurizer(char_bits=12, word_bits=10)
    together = featurizer.transform([INSULT, NEUTRAL, ""]).toarray()
    alone = featurizer.transform([NEUTRAL]).toarray()
    np.testing.assert_allclose(together[1], alone[0])
    assert not together[2].any()  # an empty text has no features
    # Each block (characters, words) is L2-normed on its own.
    assert np.linalg.norm(together[0][: 1 << 12]) == pytest.approx(1.0, abs=1e-5)
    assert np.linalg.norm(together[0][1 << 12 :]) == pytest.approx(1.0, abs=1e-5)
    # Folding: diacritics, alef forms and letters stretched for emphasis do not change a word.
    a, b = featurizer.transform(["أنت غبيييييي", "انت غَبيي"]).toarray()
    np.testing.assert_allclose(a, b)


def test_a_saved_model_loads_and_scores_the_same(tmp_path: Path) -> None:
    model = bundled("v2")
    model.save(tmp_path / "model.npz")
    again = load(tmp_path / "model.npz")
    texts = [NEUTRAL, INSULT, SLUR]
    for head, p in model.predict(texts).items():
        np.testing.assert_allclose(again.predict(texts)[head], p, atol=1e-6)
    settings = HarmSettings(model=str(tmp_path / "model.npz"))
    assert make_scorer(settings) is not make_scorer()
    np.testing.assert_allclose(
        [s["harm_max"] for s in make_scorer(settings).score(texts)],
        [s["harm_max"] for s in make_scorer().score(texts)],
        atol=1e-6,
    )


def test_mark_tokens_and_a_characters_only_featurizer() -> None:
    marks = Featurizer(char_bits=12, word_bits=10, marks=True)
    plain, shout, shout_more = marks.transform(["انت غبي", "انت غبي!!", "انت غبي!!!!!"]).toarray()
    assert (plain[: 1 << 12] == shout[: 1 << 12]).all()  # marks live in the word block only
    assert not np.allclose(plain, shout)
    np.testing.assert_allclose(shout, shout_more)  # repeated marks are cut to two, like letters
    chars = Featurizer(char_bits=12, word_bits=0)
    assert chars.size == 1 << 12 == chars.transform([INSULT]).shape[1]
    # Without a word block, marks count among the characters.
    chars_marks = Featurizer(char_bits=12, word_bits=0, marks=True)
    a, b = chars_marks.transform(["انت غبي", "انت غبي!!"]).toarray()
    assert a.shape == (1 << 12,) and not np.allclose(a, b)
    loose = Featurizer(char_bits=12, word_bits=10, loose=True)
    a, b = loose.transform(["هذا ظالم", "هدا ضالم"]).toarray()  # dialect spelling, same words
    np.testing.assert_allclose(a, b)


def test_a_format_1_file_loads_and_an_unknown_format_is_refused(tmp_path: Path) -> None:
    featurizer = Featurizer(char_bits=12, word_bits=10)
    weights = np.random.default_rng(0).normal(size=(featurizer.size, 2)).astype(np.float32)
    model = OfflineModel(featurizer, weights, np.zeros(2, np.float32), np.array([[1.0, 0], [1, 0]]))
    fields = {"weights": weights, "bias": model.bias, "platt": model.platt}
    old = tmp_path / "format1.npz"  # format 1: four shape values, no version key
    np.savez(old, **fields, shape=np.array([12, 10, 2, 5]))
    again = load(old)
    assert again.featurizer == featurizer
    np.testing.assert_allclose(again.predict([INSULT])["hate"], model.predict([INSULT])["hate"])
    newer = tmp_path / "format9.npz"
    np.savez(newer, **fields, shape=np.array([12, 10, 2, 5, 0, 1]), version=np.array(9))
    with pytest.raises(ValueError, match="format 9"):
        load(newer)


@pytest.mark.parametrize("name", ["v1", "v2"])
def test_each_bundled_model_is_selectable_and_ranks_insults_above_clean_text(name: str) -> None:
    scorer = make_scorer(HarmSettings(offline_model=name, lexicon_score=0))
    neutral, insult = (s["harm_max"] for s in scorer.score([NEUTRAL, INSULT]))
    assert insult > neutral
    np.testing.assert_allclose(
        [neutral, insult],
        [
            s["harm_max"]
            for s in make_scorer(HarmSettings(model=str(BUNDLED[name]))).score([NEUTRAL, INSULT])
        ],
        atol=1e-6,
    )
    # the two are different weights, not one file under two names
    other = make_scorer(HarmSettings(offline_model="v2" if name == "v1" else "v1", lexicon_score=0))
    assert other.score([NEUTRAL])[0]["harm_max"] != pytest.approx(neutral, abs=1e-3)


def test_an_unknown_bundled_model_is_refused() -> None:
    with pytest.raises(ValidationError, match="offline_model"):
        HarmSettings(offline_model="v3")
    with pytest.raises(ValueError, match="no bundled offline model 'v3'"):
        bundled("v3")


def test_policy_thresholds_follow_the_offline_model_unless_the_config_sets_them() -> None:
    from native_pipeline.settings import Settings

    default = Settings()
    assert default.harm.offline_model == "v2"
    assert default.alignment.rewriter.harm_threshold == 0.7
    assert default.alignment.limits.harm_removal_min == 0.7
    v1 = Settings.model_validate({"harm": {"offline_model": "v1"}})
    assert (v1.alignment.rewriter.harm_threshold, v1.alignment.limits.harm_removal_min) == (
        0.8,
        0.8,
    )
    pinned = Settings.model_validate(
        {"harm": {"offline_model": "v1"}, "alignment": {"limits": {"harm_removal_min": 0.6}}}
    )
    assert pinned.alignment.limits.harm_removal_min == 0.6
    assert pinned.alignment.rewriter.harm_threshold == 0.8
